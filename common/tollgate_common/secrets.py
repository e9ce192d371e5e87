"""Encrypt credentials at rest (PBX logins, WHMCS API secrets) with a Fernet key from the environment."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tollgate_common.errors import ConfigError


class SecretBox:
    """Seals and opens a dict of credentials; `variable` names the setting that holds the key."""

    def __init__(self, key: str, variable: str):
        self.variable = variable
        self._fernet: Fernet | None = None
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except (ValueError, TypeError):
                raise ConfigError(
                    f"{variable} is not a Fernet key (32 url-safe base64-encoded bytes); "
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
                f"stored credentials cannot be decrypted: {self.variable} changed since they were saved"
            ) from None

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise ConfigError(f"{self.variable} is not set, so credentials cannot be stored or read")
        return self._fernet
