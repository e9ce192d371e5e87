"""Settings of cdr_service, read from `CDR_*` and shared `TOLLGATE_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings, shared


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CDR_")

    service_name: str = "cdr"
    secret_key: str = Field(
        default="",
        description="Fernet key (urlsafe base64, 32 bytes) that encrypts server credentials at rest; "
        "required before a server with credentials can be saved.",
    )
    rating_url: str = shared("rating_url", default="http://127.0.0.1:8082", description="Base URL of rating-service.")
    rate_batch_size: int = Field(
        default=5000, ge=1, le=50000, description="CDRs sent to rating-service per rate-batch request."
    )
    fetch_batch_size: int = Field(
        default=10000, ge=100, description="Rows read from a PBX and stored per transaction during a sync."
    )
    sync_overlap_seconds: int = Field(
        default=3600,
        ge=0,
        description="How far before the last watermark each sync re-reads, so rows inserted late are caught.",
    )
    initial_sync_days: int = Field(default=35, ge=1, description="How far back the first sync of a new server reaches.")
    lesnet_allowed_hosts: str = Field(
        default="portal.les.net",
        description="Comma-separated host names a LesNet CDR Link may point at (HTTPS only).",
    )
    allow_http_loopback: bool = Field(
        default=False,
        description="Dev/test only: let a LesNet CDR Link use plain HTTP on 127.0.0.1 (the simulator). Off in "
        "production.",
    )
    provider_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of each HTTP or database call to a PBX or carrier."
    )
    validator_days: int = Field(default=30, ge=1, description="How many days of CDRs the E.164 validator checks.")
