"""Credentials sealed at rest: unreadable without the key, clear errors naming the key's variable."""

import pytest
from cryptography.fernet import Fernet

from tollgate_common.errors import ConfigError
from tollgate_common.secrets import SecretBox


@pytest.mark.smoke
def test_seal_and_open_round_trip():
    """What is sealed opens back to the same dict, and the token does not contain the secret."""
    box = SecretBox(Fernet.generate_key().decode(), "CDR_SECRET_KEY")
    token = box.seal({"password": "ClueCon", "api_key": "k" * 40})
    assert "ClueCon" not in token
    assert box.open(token) == {"password": "ClueCon", "api_key": "k" * 40}
    assert box.seal({}) is None and box.open(None) == {}


def test_wrong_or_missing_key_names_the_variable():
    """A malformed key, a changed key and a missing key each say which variable to fix."""
    with pytest.raises(ConfigError, match="BALANCE_SECRET_KEY is not a Fernet key"):
        SecretBox("not-a-key", "BALANCE_SECRET_KEY")
    token = SecretBox(Fernet.generate_key().decode(), "CDR_SECRET_KEY").seal({"password": "x"})
    with pytest.raises(ConfigError, match="CDR_SECRET_KEY changed"):
        SecretBox(Fernet.generate_key().decode(), "CDR_SECRET_KEY").open(token)
    with pytest.raises(ConfigError, match="CDR_SECRET_KEY is not set"):
        SecretBox("", "CDR_SECRET_KEY").seal({"password": "x"})
