"""Encrypt server credentials at rest with a Fernet key from the environment (CDR_SECRET_KEY)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tollgate_common.errors import ConfigError


class SecretBox:
    """Seals and opens the credential part of a server's settings."""

    def __init__(self, key: str):
        self._fernet: Fernet | None = None
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except (ValueError, TypeError):
                raise ConfigError(
                    "CDR_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
                    "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
                ) from None

    def seal(self, secrets: dict[str, Any]) -> str | None:
        """Encrypt `secrets` (None when there are none)."""
        if not secrets:
            return None
        return self._require().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        """Decrypt a sealed token back into the secrets dict."""
        if not token:
            return {}
        try:
            return json.loads(self._require().decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError(
                "server credentials cannot be decrypted: CDR_SECRET_KEY changed since they were saved"
            ) from None

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise ConfigError("CDR_SECRET_KEY is not set, so server credentials cannot be stored or read")
        return self._fernet
