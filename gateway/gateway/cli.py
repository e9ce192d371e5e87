"""The `tollgate` command: API keys (and, over HTTP, the operator's everyday commands)."""

from __future__ import annotations

import click

from tollgate_common.service import get_db

from . import create_app
from .keys import SCOPES, create_key, list_keys, revoke_key


@click.group()
def cli() -> None:
    """Tollgate: VoIP usage billing for WHMCS."""


@cli.group()
def keys() -> None:
    """Manage gateway API keys."""


@keys.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeatable.")
@click.option("--name", default="", help="What the key is for, e.g. 'WHMCS module'.")
def keys_create(scopes: tuple[str, ...], name: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    app = create_app()
    with app.app_context(), get_db().session() as session:
        key, row = create_key(session, list(scopes), name or f"{'+'.join(scopes)} key")
        click.echo(f"created key {row.id} ({row.scopes}): {key}", err=True)
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys (prefix, scopes, state); the keys themselves cannot be shown again."""
    app = create_app()
    with app.app_context(), get_db().session() as session:
        for row in list_keys(session):
            state = "revoked" if row.revoked_at else "active"
            click.echo(f"{row.id}\t{row.key_prefix}…\t{row.scopes}\t{state}\t{row.name}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key by id; requests with it get 401 from then on."""
    app = create_app()
    with app.app_context(), get_db().session() as session:
        revoke_key(session, key_id)
    click.echo(f"revoked key {key_id}")
