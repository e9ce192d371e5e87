"""Settings of balance_service, read from `BALANCE_*` and shared `TOLLGATE_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings, shared


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BALANCE_")

    service_name: str = "balance"
    cdr_url: str = shared("cdr_url", default="http://127.0.0.1:8081", description="Base URL of cdr-service.")
    rating_url: str = shared("rating_url", default="http://127.0.0.1:8082", description="Base URL of rating-service.")
    whmcs_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Seconds per WHMCS call; a write that times out is looked up, never resent."
    )
    whmcs_read_retries: int = Field(
        default=3, ge=0, description="Retries of a failed WHMCS read (writes are never retried blindly)."
    )
    whmcs_concurrency: int = Field(
        default=8, ge=1, le=64, description="Parallel WHMCS connections (autosuspend reads, autobill clients)."
    )
    claim_concurrency: int = Field(
        default=4, ge=1, le=32, description="Parallel claims to cdr-service (each with its ledger record) in a run."
    )
    cdr_sync_wait_seconds: int = Field(
        default=600,
        ge=0,
        description="How long autobill waits for the CDR sync it triggers before charging what is already rated.",
    )
    low_balance_reminders: bool = Field(
        default=True, description="Send a daily low-balance reminder while credit stays at or below the threshold."
    )
