"""Provider adapters behind one interface (test, fetch a window, suspend, unsuspend), built from server settings."""

from __future__ import annotations

from typing import Any

from .base import ProviderAdapter


def build_adapter(
    kind: str, settings: dict[str, Any], *, timezone: str, options: dict[str, Any] | None = None
) -> ProviderAdapter:
    """Return the adapter for a server of `kind` with its full (decrypted) settings."""
    options = options or {}
    timeout = float(options.get("timeout_seconds", 30.0))
    if kind == "fusionpbx":
        from .fusionpbx import FusionPbxAdapter

        return FusionPbxAdapter(settings, timeout_seconds=timeout, batch_size=int(options.get("batch_size", 10000)))
    if kind == "vodia":
        from .vodia import VodiaAdapter

        return VodiaAdapter(settings, timezone=timezone, timeout_seconds=timeout)
    if kind == "lesnet":
        from .lesnet import LesnetAdapter

        return LesnetAdapter(settings, options=options)
    raise ValueError(f"no adapter for server kind {kind!r}")
