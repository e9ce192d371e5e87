"""Settings of balance_service, read from `BALANCE_*` and shared `TOLLGATE_*` variables."""

from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BALANCE_")

    service_name: str = "balance"
