"""`tollgate-sim`: run each simulator from the command line, and serve simulator apps in background threads."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import click
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server, run_simple

# How often a background server checks for stop(); short, so tests that stop servers stay fast.
SHUTDOWN_POLL_SECONDS = 0.05


class BackgroundServer:
    """A WSGI app served over real HTTP by werkzeug in a daemon thread; `url` is its base URL once started."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:40123`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Bind (port 0 picks a free port), serve in a thread, and return the base URL."""
        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(app: Flask, host: str, port: int) -> None:
    """Serve `app` in the foreground until interrupted."""
    run_simple(host, port, app, threaded=True, use_reloader=False)


@click.group()
def main() -> None:
    """Run the simulators of the systems Tollgate talks to (WHMCS, FusionPBX, Vodia, LesNet, SMTP)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
def whmcs(host: str, port: int) -> None:
    """Serve the WHMCS External API simulator."""
    from tollgate_sim.whmcs import create_app

    serve(create_app(), host, port)


@main.command("fusionpbx-init")
@click.option("--db-url", required=True, help="PostgreSQL URL of the (existing) FusionPBX database.")
@click.option("--version", "fusionpbx_version", default="5.5", show_default=True, help="FusionPBX version, 5.0-5.5.")
def fusionpbx_init(db_url: str, fusionpbx_version: str) -> None:
    """Create FusionPBX's v_domains, v_extensions, v_gateways and v_xml_cdr tables."""
    from tollgate_sim.fusionpbx import create_schema

    create_schema(db_url, version=fusionpbx_version)
    click.echo(f"FusionPBX {fusionpbx_version} schema ready")


@main.command("fusionpbx-seed")
@click.option("--db-url", required=True)
@click.option("--domain", "domain_name", required=True, help="Tenant domain name, e.g. acme.pbx.example.")
@click.option("--extension", "extensions", multiple=True, default=["101", "102"], show_default=True)
@click.option("--did", "dids", multiple=True, help="Tenant DIDs (11 digits); the first goes on the first extension.")
@click.option("--gateway", "gateways", multiple=True, default=["carrier"], show_default=True)
@click.option("--calls", default=500, show_default=True, help="CDR rows to generate.")
@click.option("--days", default=7, show_default=True, help="Spread the calls over this many days up to now.")
@click.option("--seed", default=0, show_default=True)
def fusionpbx_seed(
    db_url: str,
    domain_name: str,
    extensions: tuple[str, ...],
    dids: tuple[str, ...],
    gateways: tuple[str, ...],
    calls: int,
    days: int,
    seed: int,
) -> None:
    """Seed a tenant (extensions, gateways) and generated CDRs for demos."""
    from tollgate_sim.fusionpbx import TrafficGenerator, seed_tenant

    rows = [
        {"extension": extension, "outbound_caller_id_number": did}
        for extension, did in zip(extensions, list(dids) + [None] * len(extensions), strict=False)
    ]
    ids = seed_tenant(db_url, domain_name, extensions=rows, gateways=list(gateways))
    generator = TrafficGenerator(db_url, seed=seed)
    end = datetime.now(UTC)
    inserted = generator.insert(generator.iter_rows(domain_name, calls, end - timedelta(days=days), end))
    click.echo(f"domain {domain_name} ({ids.domain_uuid}): {inserted} CDR rows")


@main.command("fusionpbx-export")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8091, show_default=True)
@click.option("--db-url", required=True)
@click.option("--api-key", required=True, help="The API-key user's key (FusionPBX wants more than 30 characters).")
@click.option("--domain", "domain_name", default=None, help="The API-key user's domain (default: the first).")
@click.option("--permission", "permissions", multiple=True, help="Extra permissions, e.g. xml_cdr_all.")
def fusionpbx_export(
    host: str, port: int, db_url: str, api_key: str, domain_name: str | None, permissions: tuple[str, ...]
) -> None:
    """Serve FusionPBX's CDR export page over the given database."""
    from tollgate_sim.fusionpbx import DEFAULT_EXPORT_PERMISSIONS, create_export_app

    app = create_export_app(
        db_url, api_key, permissions=DEFAULT_EXPORT_PERMISSIONS | set(permissions), domain_name=domain_name
    )
    serve(app, host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8021, show_default=True)
@click.option("--password", default="ClueCon", show_default=True)
def esl(host: str, port: int, password: str) -> None:
    """Run the fake FreeSWITCH event socket and print each command it receives."""
    from tollgate_sim.esl import EventSocketServer

    server = EventSocketServer(host=host, port=port, password=password)
    click.echo(f"event socket listening on {host}:{server.start()}")
    printed = 0
    try:
        while True:
            time.sleep(0.5)
            for command in server.commands[printed:]:
                click.echo(command)
                printed += 1
    except KeyboardInterrupt:
        server.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8092, show_default=True)
def vodia(host: str, port: int) -> None:
    """Serve the Vodia PBX REST simulator."""
    from tollgate_sim.vodia import create_app

    serve(create_app(), host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8093, show_default=True)
@click.option("--files-dir", default=None, help="Where the CDR files live (default: a temporary folder).")
def lesnet(host: str, port: int, files_dir: str | None) -> None:
    """Serve the LesNet CDR file simulator."""
    from tollgate_sim.lesnet import create_app

    serve(create_app(files_dir=files_dir), host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--smtp-port", default=2525, show_default=True)
@click.option("--port", default=8094, show_default=True, help="HTTP port of the sink's inspection API.")
def smtp(host: str, smtp_port: int, port: int) -> None:
    """Run the SMTP sink and its HTTP inspection API."""
    from tollgate_sim.smtp_sink import SmtpSink, create_app

    sink = SmtpSink(host, smtp_port)
    sink.start()
    try:
        serve(create_app(sink), host, port)
    finally:
        sink.stop()
