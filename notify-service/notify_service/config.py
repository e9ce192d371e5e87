"""Settings of notify_service, read from `NOTIFY_*` and shared `TOLLGATE_*` variables."""

from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    service_name: str = "notify"
