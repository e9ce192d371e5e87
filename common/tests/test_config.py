"""Settings: per-service prefixes, shared TOLLGATE_ variables, failing fast with the variable's name."""

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate_common.config import ServiceSettings, describe, load_settings
from tollgate_common.errors import ConfigError


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    service_name: str = "demo"
    batch_size: int = Field(default=100, ge=1, description="CDRs per batch.")


@pytest.mark.smoke
def test_prefixed_and_shared_variables(monkeypatch, tmp_path):
    """`DEMO_*` sets this service's fields; `TOLLGATE_*` the shared ones."""
    monkeypatch.setenv("DEMO_BATCH_SIZE", "500")
    monkeypatch.setenv("TOLLGATE_INTERNAL_TOKEN", "x" * 20)
    monkeypatch.setenv("TOLLGATE_REDIS_URL", "redis://example:6379/3")
    monkeypatch.setenv("TOLLGATE_VAR_DIR", str(tmp_path))
    settings = load_settings(DemoSettings)
    assert settings.batch_size == 500
    assert settings.redis_url == "redis://example:6379/3"
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'demo.db'}"


def test_missing_and_malformed_values_name_the_variable(monkeypatch):
    """A missing token and a non-numeric batch size are both reported by variable name."""
    monkeypatch.delenv("TOLLGATE_INTERNAL_TOKEN", raising=False)
    monkeypatch.setenv("DEMO_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError) as caught:
        load_settings(DemoSettings)
    assert "TOLLGATE_INTERNAL_TOKEN" in caught.value.message
    assert "DEMO_BATCH_SIZE" in caught.value.message


def test_database_url_setting(monkeypatch):
    """`<SERVICE>_DATABASE_URL` switches the service to that database."""
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = load_settings(DemoSettings, {"internal_token": "y" * 16})
    assert settings.resolved_database_url() == "postgresql+psycopg://u@h/db"


def test_describe_lists_variables_for_the_docs():
    """The configuration reference comes from the settings classes."""
    rows = {row["variable"]: row for row in describe(DemoSettings)}
    assert rows["DEMO_BATCH_SIZE"]["default"] == 100
    assert rows["TOLLGATE_INTERNAL_TOKEN"]["required"] is True
    assert rows["DEMO_DATABASE_URL"]["description"]
