"""Settings of rating_service, read from `RATING_*` and shared `TOLLGATE_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RATING_")

    service_name: str = "rating"
    tariff_cache_versions: int = Field(
        default=8, ge=1, description="Compiled tariff versions kept in memory per process (least recently used go)."
    )
    max_deck_megabytes: int = Field(default=1024, ge=1, description="Largest rate-deck upload accepted, in megabytes.")
