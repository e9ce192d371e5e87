"""Settings of the gateway, read from `GATEWAY_*` and shared `TOLLGATE_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings, shared


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    service_name: str = "gateway"
    admin_key: str = shared(
        "admin_key",
        default="",
        description="Bootstrap admin API key, stored hashed on start-up when set (at least 24 characters).",
    )
    cdr_url: str = shared("cdr_url", default="http://127.0.0.1:8081", description="Base URL of cdr-service.")
    rating_url: str = shared("rating_url", default="http://127.0.0.1:8082", description="Base URL of rating-service.")
    balance_url: str = shared(
        "balance_url", default="http://127.0.0.1:8083", description="Base URL of balance-service."
    )
    notify_url: str = shared("notify_url", default="http://127.0.0.1:8084", description="Base URL of notify-service.")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests one API key may make per minute before getting 429."
    )
    proxy_timeout_seconds: int = Field(
        default=120, ge=1, description="How long the gateway waits for a service (large imports take time)."
    )
    cron_wait_max_seconds: int = Field(default=600, ge=0, description="Longest `?wait=` a cron call may ask for.")

    def service_urls(self) -> dict[str, str]:
        return {"cdr": self.cdr_url, "rating": self.rating_url, "balance": self.balance_url, "notify": self.notify_url}
