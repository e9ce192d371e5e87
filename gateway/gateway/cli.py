"""The `tollgate` command: API keys (local), and the operator's everyday commands over the gateway."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tollgate_common.service import get_db

from .client import ApiError, GatewayClient
from .keys import SCOPES, create_key, list_keys, revoke_key

console = Console(stderr=True)


def default_key() -> str | None:
    """TOLLGATE_KEY, else the admin key `make run` keeps in var/admin.key."""
    if os.environ.get("TOLLGATE_KEY"):
        return os.environ["TOLLGATE_KEY"]
    stored = Path(os.environ.get("TOLLGATE_VAR_DIR", "var")) / "admin.key"
    return stored.read_text().strip() if stored.exists() else None


@click.group()
@click.option("--url", envvar="TOLLGATE_URL", default="http://127.0.0.1:8080", show_default=True, help="Gateway URL.")
@click.option("--key", envvar="TOLLGATE_KEY", default=None, help="API key (default: var/admin.key).")
@click.pass_context
def cli(ctx: click.Context, url: str, key: str | None) -> None:
    """Tollgate: VoIP usage billing for WHMCS."""
    ctx.obj = {"url": url, "key": key}


def gateway(ctx: click.Context) -> GatewayClient:
    key = ctx.obj["key"] or default_key()
    if not key:
        raise click.UsageError("no API key: pass --key, set TOLLGATE_KEY, or run from the checkout after `make run`")
    return GatewayClient(ctx.obj["url"], key)


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def main() -> None:
    """Entry point that turns API errors into one readable line and exit status 1."""
    try:
        cli(standalone_mode=True)
    except ApiError as error:
        console.print(f"[red]error[/red] {error}")
        if error.details:
            console.print_json(data=error.details)
        sys.exit(1)


# -- keys (local: they are stored in the gateway's database) ---------------------------------------


@cli.group()
def keys() -> None:
    """Manage gateway API keys (run on the gateway host)."""


@keys.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES), help="Repeatable.")
@click.option("--name", default="", help="What the key is for, e.g. 'WHMCS module'.")
def keys_create(scopes: tuple[str, ...], name: str) -> None:
    """Create a key and print it once; only its hash is stored."""
    from . import create_app

    app = create_app()
    with app.app_context(), get_db().session() as session:
        key, row = create_key(session, list(scopes), name or f"{'+'.join(scopes)} key")
        console.print(f"created key {row.id} ({row.scopes})")
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys (prefix, scopes, state); the keys themselves cannot be shown again."""
    from . import create_app

    app = create_app()
    table = Table("id", "prefix", "scopes", "state", "name")
    with app.app_context(), get_db().session() as session:
        for row in list_keys(session):
            table.add_row(
                str(row.id), row.key_prefix + "…", row.scopes, "revoked" if row.revoked_at else "active", row.name
            )
    Console().print(table)


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key by id; requests with it get 401 from then on."""
    from . import create_app

    app = create_app()
    with app.app_context(), get_db().session() as session:
        revoke_key(session, key_id)
    console.print(f"revoked key {key_id}")


# -- runs and jobs ----------------------------------------------------------------------------------


def run_job(ctx: click.Context, route: str, wait: bool, **params: Any) -> None:
    """Trigger a cron route; with --wait, show the job's progress until it ends."""
    client = gateway(ctx)
    report = client.trigger(route, **params)
    if not wait:
        emit(report)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(report["run_key"], total=None)

        def show(job: dict[str, Any]) -> None:
            step = job.get("progress") or {}
            message = step.get("message") or job["status"]
            progress.update(
                task,
                completed=step.get("done") or 0,
                total=step.get("total"),
                description=f"{report['run_key']}: {message}",
            )

        final = client.wait_for_job(report["job_id"], show)
    emit(final)
    if final["status"] != "finished":
        sys.exit(1)


@cli.command("cdr-sync")
@click.option("--run-key", default=None, help="Name the run (default: the current 5-minute slot).")
@click.option("--wait", is_flag=True, help="Wait and show progress.")
@click.pass_context
def cdr_sync(ctx: click.Context, run_key: str | None, wait: bool) -> None:
    """Fetch new CDRs from every server and rate them."""
    run_job(ctx, "/cron/cdr-sync", wait, run_key=run_key)


@cli.command()
@click.option("--mode", type=click.Choice(["daily", "frequent"]), default="daily", show_default=True)
@click.option("--run-key", default=None, help="Name the run (default: today, or the 5-minute slot).")
@click.option("--wait", is_flag=True, help="Wait and show progress.")
@click.pass_context
def autobill(ctx: click.Context, mode: str, run_key: str | None, wait: bool) -> None:
    """Charge rated usage to WHMCS (prepaid credit or next invoice)."""
    run_job(ctx, "/cron/autobill", wait, mode=mode, run_key=run_key)


@cli.command()
@click.option("--run-key", default=None, help="Name the run (default: the current 5-minute slot).")
@click.option("--wait", is_flag=True, help="Wait and show progress.")
@click.pass_context
def autosuspend(ctx: click.Context, run_key: str | None, wait: bool) -> None:
    """Suspend or restore VoIP clients by balance."""
    run_job(ctx, "/cron/autosuspend", wait, run_key=run_key)


@cli.command("job")
@click.argument("job_id")
@click.pass_context
def job(ctx: click.Context, job_id: str) -> None:
    """Show a job by id or run key."""
    emit(gateway(ctx).job(job_id))


@cli.group()
def runs() -> None:
    """Autobill and autosuspend runs and their reports."""


@runs.command("list")
@click.pass_context
def runs_list(ctx: click.Context) -> None:
    """List recent runs."""
    emit(gateway(ctx).call("GET", "/v1/runs"))


@runs.command("show")
@click.argument("run_id")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str) -> None:
    """Show one run's report: charged, unrated, quarantined, failures."""
    emit(gateway(ctx).call("GET", f"/v1/runs/{run_id}"))


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Say whether every service is ready."""
    emit(gateway(ctx).call("GET", "/readyz"))


# -- tariffs and packages --------------------------------------------------------------------------


@cli.group()
def tariffs() -> None:
    """Carrier tariffs: create, import rate decks, export."""


@tariffs.command("create")
@click.argument("name")
@click.option("--currency", default="USD", show_default=True)
@click.pass_context
def tariffs_create(ctx: click.Context, name: str, currency: str) -> None:
    """Create an empty tariff."""
    emit(gateway(ctx).call("POST", "/v1/tariffs", json={"name": name, "currency": currency}))


@tariffs.command("import")
@click.argument("tariff_id", type=int)
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a CSV column to Description, Prefix, RateValue, Increment, ... (repeatable).",
)
@click.option("--effective-from", default=None, help="ISO date-time the version takes effect (default now).")
@click.pass_context
def tariffs_import(
    ctx: click.Context, tariff_id: int, csv_file: Path, pairs: tuple[str, ...], effective_from: str | None
) -> None:
    """Import a rate deck as a new version, with an upload progress bar."""
    mapping = {}
    for pair in pairs:
        column, _, field = pair.partition("=")
        if not field:
            raise click.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--map")
        mapping[column] = field
    with Progress(
        TextColumn("uploading"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("upload", total=csv_file.stat().st_size)
        result = gateway(ctx).upload_tariff(
            tariff_id,
            csv_file,
            mapping or None,
            effective_from,
            lambda sent, total: progress.update(task, completed=sent, total=total),
        )
    emit(result)


@tariffs.command("export")
@click.argument("tariff_id", type=int)
@click.pass_context
def tariffs_export(ctx: click.Context, tariff_id: int) -> None:
    """Print the tariff's current version as CSV."""
    click.echo(gateway(ctx).call("GET", f"/v1/tariffs/{tariff_id}/export"), nl=False)


@cli.group()
def packages() -> None:
    """Product packages: rating settings linked to WHMCS products."""


@packages.command("list")
@click.pass_context
def packages_list(ctx: click.Context) -> None:
    emit(gateway(ctx).call("GET", "/v1/packages"))


@packages.command("create")
@click.argument("json_file", type=click.File("r"))
@click.pass_context
def packages_create(ctx: click.Context, json_file: Any) -> None:
    """Create a package from a JSON file (the fields of POST /v1/packages)."""
    emit(gateway(ctx).call("POST", "/v1/packages", json=json.load(json_file)))


@packages.command("update")
@click.argument("package_id", type=int)
@click.argument("json_file", type=click.File("r"))
@click.pass_context
def packages_update(ctx: click.Context, package_id: int, json_file: Any) -> None:
    """Change some fields of a package from a JSON file."""
    emit(gateway(ctx).call("PATCH", f"/v1/packages/{package_id}", json=json.load(json_file)))


# -- the demo of `make run` ------------------------------------------------------------------------


@cli.group()
def demo() -> None:
    """The seeded demo: simulated WHMCS clients and PBX traffic, billed by Tollgate (see docs/demo.md)."""


def demo_runner(ctx: click.Context) -> Any:
    from .demo import Demo, DemoEnvironment

    key = ctx.obj["key"] or default_key()
    if not key:
        raise click.UsageError("no API key: pass --key, set TOLLGATE_KEY, or run from the checkout after `make run`")
    return Demo(DemoEnvironment.from_env(ctx.obj["url"], key))


@demo.command("seed")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def demo_seed(ctx: click.Context, as_json: bool) -> None:
    """Seed the simulators and Tollgate (servers, tariff, packages, services); safe to run again."""
    from .demo import try_next

    runner = demo_runner(ctx)
    report = runner.seed()
    if as_json:
        emit(report.as_dict())
        return
    for title, groups in (("created", report.created), ("already there", report.kept)):
        for kind, labels in groups.items():
            click.echo(f"  {title:>13}  {kind}: {', '.join(labels)}")
    click.echo("\n  Try next:\n" + try_next(runner.env))


@demo.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON only.")
@click.pass_context
def demo_show(ctx: click.Context, as_json: bool) -> None:
    """Show the demo's clients, services and ids, and the commands to try."""
    from .demo import try_next

    runner = demo_runner(ctx)
    emit(runner.describe())
    if not as_json:
        click.echo("\nTry:\n" + try_next(runner.env))


@demo.command("topup")
@click.argument("client_id", type=int)
@click.option("--amount", default="20.00", show_default=True, help="Credit to add in WHMCS.")
@click.pass_context
def demo_topup(ctx: click.Context, client_id: int, amount: str) -> None:
    """Top a client up in the WHMCS simulator, pay its invoices and send the payment event."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not an amount", param_hint="--amount") from None
    emit(demo_runner(ctx).topup(client_id, value))


@demo.command("calls")
@click.option("--count", default=30, show_default=True, help="Calls to add to the demo FusionPBX tenant.")
@click.pass_context
def demo_calls(ctx: click.Context, count: int) -> None:
    """Add calls of the last hour to the demo FusionPBX tenant, for another round of autobill."""
    inserted = demo_runner(ctx).add_fusionpbx_calls(count)
    click.echo(f"{inserted} CDR rows added to the demo FusionPBX tenant")
