"""API keys: creation, hashing, lookup and the bootstrap admin key."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollgate_common.errors import InvalidInput, NotFound

from .models import ApiKey

SCOPES = ("admin", "whmcs", "cron")
KEY_PREFIX = "tg_"
MIN_BOOTSTRAP_KEY_LENGTH = 24


def hash_key(key: str) -> str:
    """Digest a key for storage; keys are long random tokens, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(session: Session, scopes: list[str], name: str, key: str | None = None) -> tuple[str, ApiKey]:
    """Store a new key with `scopes` and return (the plaintext key, its row); the plaintext is not kept."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise InvalidInput(f"scopes: choose from {', '.join(SCOPES)}", {"field": "scopes", "unknown": unknown})
    key = key or generate_key()
    row = ApiKey(
        name=name,
        key_prefix=key[:12],
        key_hash=hash_key(key),
        scopes=",".join(sorted(set(scopes))),
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return key, row


def find_key(session: Session, key: str) -> ApiKey | None:
    """Return the active key row for a presented key, or None."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def ensure_bootstrap_admin(session: Session, key: str) -> None:
    """Store TOLLGATE_ADMIN_KEY as an admin key unless it is already there."""
    if len(key) < MIN_BOOTSTRAP_KEY_LENGTH:
        raise InvalidInput(f"TOLLGATE_ADMIN_KEY must be at least {MIN_BOOTSTRAP_KEY_LENGTH} characters")
    if session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))) is None:
        create_key(session, ["admin"], "bootstrap admin (TOLLGATE_ADMIN_KEY)", key=key)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    return row
