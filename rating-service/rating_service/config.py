"""Settings of rating_service, read from `RATING_*` and shared `TOLLGATE_*` variables."""

from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RATING_")

    service_name: str = "rating"
