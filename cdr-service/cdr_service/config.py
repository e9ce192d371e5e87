"""Settings of cdr_service, read from `CDR_*` and shared `TOLLGATE_*` variables."""

from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CDR_")

    service_name: str = "cdr"
