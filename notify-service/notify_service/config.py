"""Settings of notify_service, read from `NOTIFY_*` and shared `TOLLGATE_*` variables."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings, shared

from .defaults import BACKOFF_BASE_SECONDS, CLAIM_LEASE_SECONDS, MAX_ATTEMPTS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    service_name: str = "notify"
    balance_url: str = shared(
        "balance_url", default="http://127.0.0.1:8083", description="balance-service, source of client merge data."
    )
    delivery: Literal["smtp", "whmcs"] = Field(
        default="smtp",
        description="`smtp`: Tollgate renders and sends by SMTP; `whmcs`: WHMCS SendEmail renders and sends.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(default=2525, ge=1, le=65535, description="SMTP relay port (587 STARTTLS, 465 SSL).")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="`starttls` upgrades a plain connection; `ssl` is TLS from the first byte."
    )
    smtp_ca_file: str = Field(
        default="", description="PEM file of the CA that signed the relay's certificate; empty uses the system CAs."
    )
    smtp_username: str = Field(default="", description="SMTP login; empty sends without AUTH.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_from: str = Field(default="billing@localhost", description="From address of every email.")
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, description="SMTP connect and command timeout.")
    admin_email: str = Field(
        default="", description='Where admin templates (e.g. "VoIP Manual Action") go; empty refuses them.'
    )
    whmcs_url: str = Field(default="", description="WHMCS base URL (or its includes/api.php) for SendEmail.")
    whmcs_identifier: str = Field(default="", description="WHMCS API identifier.")
    whmcs_secret: SecretStr = Field(default=SecretStr(""), description="WHMCS API secret.")
    whmcs_accesskey: SecretStr = Field(
        default=SecretStr(""), description="WHMCS API access key, when IPs are not allow-listed."
    )
    whmcs_timeout_seconds: float = Field(default=20.0, gt=0, description="WHMCS API request timeout.")
    retry_base_seconds: int = Field(
        default=BACKOFF_BASE_SECONDS, ge=1, description="First retry delay; each later one doubles."
    )
    max_attempts: int = Field(
        default=MAX_ATTEMPTS, ge=1, description="Delivery attempts before a message stays failed."
    )
    claim_lease_seconds: int = Field(
        default=CLAIM_LEASE_SECONDS, ge=5, description="How long one worker owns a message while delivering it."
    )
