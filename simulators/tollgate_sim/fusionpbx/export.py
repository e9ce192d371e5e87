"""FusionPBX's CDR export page `/app/xml_cdr/xml_cdr_export.php` over the simulated database (integrations.md §1.3).

Values are rendered as PHP prints PDO results: PostgreSQL's text form for numbers and stamps (in
the database session's time zone), `1` / empty for booleans, empty for NULL; every value wrapped
in double quotes with embedded quotes left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from urllib.parse import quote_plus

from flask import Flask, Response, request
from psycopg import sql

from .schema import connect

EXPORT_PATH = "/app/xml_cdr/xml_cdr_export.php"
DEFAULT_EXPORT_PERMISSIONS = frozenset({"xml_cdr_export", "xml_cdr_export_csv"})
# FusionPBX only tries an API key longer than this (core/authentication plugins/database.php).
MIN_API_KEY_LENGTH = 31
LIKE_FILTERS = ("caller_id_name", "caller_id_number", "caller_destination", "destination_number")
EXACT_FILTERS = ("direction", "extension_uuid", "accountcode", "hangup_cause", "status", "xml_cdr_uuid")
STAMP_FILTERS = ("start_stamp", "answer_stamp", "end_stamp")
STAMP_FORMATS = {"24h": "%Y-%m-%d %H:%M", "12h": "%Y-%m-%d %I:%M %p"}
TIME_OF_DAY_FORMATS = {"24h": "HH24:MI:SS", "12h": "HH12:MI:SS am"}
FETCH_ROWS = 5_000


def create_export_app(
    db_url: str,
    api_key: str,
    permissions: Iterable[str] = DEFAULT_EXPORT_PERMISSIONS,
    *,
    domain_name: str | None = None,
    domain_timezone: str | None = None,
    time_format: str = "24h",
) -> Flask:
    """Build the export page app for one API-key user of `domain_name` (default: the first domain by name).

    `permissions` may add `xml_cdr_account_code`, `xml_cdr_pdd`, `xml_cdr_mos` (extra columns) and
    `xml_cdr_all` (honour `show=all`). `domain_timezone` (default: the database's) is how stamp
    filters and the formatted date/time columns are read; `time_format` is `24h` or `12h`.
    """
    if time_format not in STAMP_FORMATS:
        raise ValueError("time_format must be '24h' or '12h'")
    app = Flask(__name__)
    app.config.update(
        FUSIONPBX_DB_URL=db_url,
        FUSIONPBX_API_KEY=api_key,
        FUSIONPBX_PERMISSIONS=frozenset(permissions),
        FUSIONPBX_DOMAIN_NAME=domain_name,
        FUSIONPBX_DOMAIN_TIMEZONE=domain_timezone,
        FUSIONPBX_TIME_FORMAT=time_format,
    )

    @app.get("/")
    def login_page() -> str:
        """Show the login form unauthenticated requests are redirected to."""
        return "<html><body><form method='post' action='/core/authentication/login.php'>Login</form></body></html>"

    @app.route(EXPORT_PATH, methods=["GET", "POST"])
    def export_cdrs() -> Response:
        """Export the user's CDRs as CSV, filtered like xml_cdr_inc.php."""
        params = request.values
        key = params.get("key", "")
        if len(key) < MIN_API_KEY_LENGTH or key != app.config["FUSIONPBX_API_KEY"]:
            # check_auth.php sends unauthenticated requests to the login page with PHP's urlencode(REQUEST_URI).
            return Response(
                status=302, headers={"Location": "/?path=" + quote_plus(request.full_path.rstrip("?"), safe="")}
            )
        granted = app.config["FUSIONPBX_PERMISSIONS"]
        if not {"xml_cdr_export", "xml_cdr_export_csv"} <= granted:
            return Response("access denied", mimetype="text/html")
        if params.get("export_format") != "csv":
            # PDF exports are not simulated; FusionPBX prints nothing without a format.
            return Response("", mimetype="text/html")
        exporter = CsvExport(app.config, dict(params))
        filename = f"cdr_{exporter.domain_name}_{datetime.now().strftime('%Y%m%d_%H%M%S')}.csv"
        return Response(
            exporter.lines(),
            mimetype="application/octet-binary",
            headers={"Content-Disposition": f"attachment; filename={filename}"},
        )

    return app


class CsvExport:
    """One export request: builds xml_cdr_inc.php's query for the user's domain and renders its CSV lines."""

    def __init__(self, config: dict, params: dict[str, str]) -> None:
        self.db_url = config["FUSIONPBX_DB_URL"]
        self.permissions = config["FUSIONPBX_PERMISSIONS"]
        self.time_format = config["FUSIONPBX_TIME_FORMAT"]
        self.params = params
        with connect(self.db_url) as connection:
            self.timezone = config["FUSIONPBX_DOMAIN_TIMEZONE"] or connection.execute("SHOW TimeZone").fetchone()[0]
            self.cdr_columns = {
                name
                for (name,) in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'v_xml_cdr'"
                )
            }
            self.domain_uuid, self.domain_name = self._user_domain(connection, config["FUSIONPBX_DOMAIN_NAME"])
        self.show_all = params.get("show") == "all" and "xml_cdr_all" in self.permissions

    def lines(self) -> Iterator[str]:
        """Yield the header line, then one line per CDR, each value double-quoted and unescaped."""
        names, expressions = zip(*self._select_list(), strict=True)
        where, arguments = self._where()
        query = sql.SQL("SELECT {} FROM v_xml_cdr c LEFT JOIN v_extensions e ON e.extension_uuid = c.extension_uuid")
        query = query.format(sql.SQL(", ").join(expressions)) + where + self._order_by()
        yield ",".join(f'"{name}"' for name in names) + "\n"
        with connect(self.db_url) as connection, connection.cursor(name="cdr_export") as cursor:
            cursor.itersize = FETCH_ROWS
            cursor.execute(query, arguments)
            for row in cursor:
                yield ",".join(f'"{"" if value is None else value}"' for value in row) + "\n"

    def _select_list(self) -> list[tuple[str, sql.Composable]]:
        def column(name: str, source: str | None = None) -> tuple[str, sql.Composable]:
            return name, sql.SQL("(c.{})::text AS {}").format(sql.Identifier(source or name), sql.Identifier(name))

        tz = sql.Literal(self.timezone)
        time_of_day = sql.Literal(TIME_OF_DAY_FORMATS[self.time_format])
        selected = [
            column("domain_uuid"),
            column("sip_call_id"),
            ("extension", sql.SQL("e.extension")),
            ("extension_name", sql.SQL("concat(e.directory_first_name, ' ', e.directory_last_name) AS extension_name")),
            column("start_stamp"),
            column("end_stamp"),
            (
                "start_date_formatted",
                sql.SQL("to_char(timezone({}, c.start_stamp), 'DD Mon YYYY') AS start_date_formatted").format(tz),
            ),
            (
                "start_time_formatted",
                sql.SQL("to_char(timezone({}, c.start_stamp), {}) AS start_time_formatted").format(tz, time_of_day),
            ),
            column("start_epoch"),
            column("hangup_cause"),
            column("duration", "billsec"),
            column("billmsec"),
            # PHP prints a PDO boolean as 1 or nothing.
            ("missed_call", sql.SQL("CASE WHEN c.missed_call THEN '1' ELSE '' END AS missed_call")),
            column("record_path"),
            column("record_name"),
            column("xml_cdr_uuid"),
            column("bridge_uuid"),
            column("direction"),
            column("billsec"),
            column("caller_id_name"),
            column("caller_id_number"),
            column("caller_destination"),
            column("source_number"),
            column("destination_number"),
            column("leg"),
            column("read_codec"),
            column("write_codec"),
            column("cc_side"),
        ]
        if "xml_cdr_account_code" in self.permissions:
            selected.append(column("accountcode"))
        selected += [column(name) for name in ("answer_stamp", "status", "sip_hangup_disposition")]
        if "xml_cdr_pdd" in self.permissions:
            selected.append(column("pdd_ms"))
        if "xml_cdr_mos" in self.permissions:
            selected.append(column("rtp_audio_in_mos"))
        selected += [column("wait", "waitsec"), ("tta", sql.SQL("(c.answer_epoch - c.start_epoch)::text AS tta"))]
        if self.show_all:
            selected.append(column("domain_name"))
        computed = {"extension", "extension_name", "start_date_formatted", "start_time_formatted", "missed_call", "tta"}
        sources = {"duration": "billsec", "wait": "waitsec"}
        return [item for item in selected if item[0] in computed or sources.get(item[0], item[0]) in self.cdr_columns]

    def _where(self) -> tuple[sql.Composable, list]:
        conditions: list[sql.Composable] = []
        arguments: list = []

        def add(condition: str, *values: object, name: str | None = None) -> None:
            if name is None:
                conditions.append(sql.SQL(condition))
            else:
                conditions.append(sql.SQL(condition).format(sql.Identifier(name)))
            arguments.extend(values)

        if not self.show_all:
            add("c.domain_uuid = %s", self.domain_uuid)
        leg = self.params.get("leg", "a")
        if leg:
            add("c.leg = %s", leg)
        for name in LIKE_FILTERS:
            if self.params.get(name):
                add("c.{} LIKE %s", self.params[name].replace("*", "%"), name=name)
        for name in EXACT_FILTERS:
            if self.params.get(name) and name in self.cdr_columns:
                add("c.{}::text = %s", self.params[name], name=name)
        for name in STAMP_FILTERS:
            begin = self._domain_time(self.params.get(f"{name}_begin"))
            end = self._domain_time(self.params.get(f"{name}_end"))
            if begin is not None:
                add("c.{} >= timezone(%s, %s::timestamp)", self.timezone, begin, name=name)
            if end is not None:
                # The end is a minute (Y-m-d H:i) and includes that whole minute.
                add("c.{} < timezone(%s, %s::timestamp)", self.timezone, end + timedelta(minutes=1), name=name)
        if self.params.get("start_epoch") and self.params.get("stop_epoch"):
            add("c.start_epoch BETWEEN %s AND %s", int(self.params["start_epoch"]), int(self.params["stop_epoch"]))
        if not conditions:
            return sql.SQL(""), arguments
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions), arguments

    def _order_by(self) -> sql.Composable:
        order_by = self.params.get("order_by") or "start_epoch"
        direction = "ASC" if self.params.get("order", "desc").lower() == "asc" else "DESC"
        if order_by not in self.cdr_columns:
            order_by = "start_epoch"
        return sql.SQL(" ORDER BY c.{} " + direction).format(sql.Identifier(order_by))

    def _domain_time(self, value: str | None) -> datetime | None:
        if not value:
            return None
        try:
            return datetime.strptime(value.strip(), STAMP_FORMATS[self.time_format])
        except ValueError:
            # An unparsable stamp filter is ignored: the simulator's choice, FusionPBX's own is unverified.
            return None

    @staticmethod
    def _user_domain(connection, domain_name: str | None) -> tuple[str, str]:
        if domain_name is None:
            found = connection.execute("SELECT domain_uuid::text, domain_name FROM v_domains ORDER BY domain_name")
        else:
            found = connection.execute(
                "SELECT domain_uuid::text, domain_name FROM v_domains WHERE domain_name = %s", [domain_name]
            )
        row = found.fetchone()
        if row is None:
            raise LookupError(f"no FusionPBX domain {domain_name or '(any)'} for the API-key user")
        return row[0], row[1]
