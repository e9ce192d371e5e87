"""Vodia PBX REST simulator: session and Basic auth, domain CDRs, trunks, users and settings (integrations.md §2).

Choices where Vodia is unconfirmed, kept in one place so they can change once verified:
- `cdrs?start=&end=` take `YYYYMMDD` days by default, read in the state's time zone, both days
  included; `cdr_date_format = "epoch"` takes epoch seconds instead, `start <= call start < end`.
- CDRs come oldest first (by id); `size` defaults to 100; a page past the end is `[]`.
- An unanswered call has no `connect` key, or `connect: ""` when built with `unanswered_connect="empty"`.
- Error responses have an empty body; writes answer 200 with an empty body.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

DEFAULT_ADMIN = ("admin", "password")
DEFAULT_PAGE_SIZE = 100
SESSION_ID_LENGTH = 20
CDR_DATE_FORMATS = ("yyyymmdd", "epoch")


def day_text(day: date) -> str:
    """A date as the `YYYYMMDD` the cdrs endpoint takes by default."""
    return day.strftime("%Y%m%d")


class UnknownName(LookupError):
    """A domain, account or trunk the PBX does not have (answered 404)."""


@dataclass
class Admin:
    """A PBX login: `domain` set for a tenant admin (`admin@tenant`), None for the system admin."""

    password: str
    api_access: bool = True
    domain: str | None = None


@dataclass
class Domain:
    """A tenant: accounts (flat string settings, `disabled` among them), trunks by id and CDR records."""

    name: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    trunks: dict[int, dict[str, Any]] = field(default_factory=dict)
    cdrs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class VodiaState:
    """Everything the simulated PBX knows; tests seed it directly or through `/_sim/`."""

    admins: dict[str, Admin] = field(default_factory=lambda: {DEFAULT_ADMIN[0]: Admin(DEFAULT_ADMIN[1])})
    domains: dict[str, Domain] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    cdr_date_format: str = "yyyymmdd"
    timezone: str = "UTC"
    next_cdr_id: int = 20000

    def add_admin(self, username: str, password: str, api_access: bool = True) -> Admin:
        """Add a login; `name@domain` makes a tenant admin limited to that domain."""
        admin = Admin(password, api_access, username.split("@", 1)[1] if "@" in username else None)
        self.admins[username] = admin
        return admin

    def add_domain(self, name: str) -> Domain:
        """Create (or return) the tenant `name`."""
        return self.domains.setdefault(name, Domain(name))

    def add_account(
        self, domain: str, account: str, usertype: str = "extensions", displayname: str | None = None, **settings: Any
    ) -> dict[str, Any]:
        """Add an account (extension by default), enabled unless `disabled="true"` is given."""
        values = {
            "usertype": usertype,
            "display_name": displayname or f"Extension {account}",
            "alias": "",
            "ani": "",
            "dial_plan": "",
            "cfa": "",
            "dnd": "false",
            "email_address": "",
            "block_cid": "false",
            "disabled": "false",
            **{name: _setting_text(value) for name, value in settings.items()},
        }
        self.get_domain(domain).accounts[account] = values
        return values

    def add_trunk(self, domain: str, trunk_id: int, name: str, **settings: Any) -> dict[str, Any]:
        """Add a trunk with its numeric id (the id CDRs list in `trunks`)."""
        trunk = {"id": trunk_id, "name": name, "type": "register", "disabled": False, **settings}
        self.get_domain(domain).trunks[trunk_id] = trunk
        return trunk

    def add_cdr(self, domain: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a raw CDR record as the PBX would return it, giving it the next id when it has none."""
        stored = dict(record)
        if "id" not in stored:
            stored["id"] = self.next_cdr_id
            self.next_cdr_id += 1
        self.get_domain(domain).cdrs.append(stored)
        return stored

    def add_call(
        self,
        domain: str,
        direction: str,
        extension: str,
        number: str,
        start: float,
        billsec: int,
        *,
        trunk: int | None = None,
        did: str | None = None,
        ring_seconds: float = 4.0,
        unanswered_connect: str = "missing",
        call_id: str | None = None,
    ) -> dict[str, Any]:
        """Store the CDR Vodia writes for a call; `number` is the remote party, `billsec=0` an unanswered call.

        Outbound: the extension calls `number` over `trunk`. Inbound: `number` calls `did` (default
        the extension) over `trunk` and the extension answers. Local: the extension calls the
        extension `number`, with no trunk.
        """
        account = self.get_domain(domain).accounts.get(extension, {})
        name = account.get("display_name", extension)
        if direction == "outbound":
            caller, callee = _name_addr(name, extension, domain), _name_addr(number, number, domain)
            extensions, trunks = [_account_id(extension)], [trunk] if trunk is not None else []
        elif direction == "inbound":
            callee_number = did or extension
            caller, callee = _name_addr(number, number, domain), _name_addr(callee_number, callee_number, domain)
            extensions, trunks = [_account_id(extension)], [trunk] if trunk is not None else []
        elif direction == "local":
            caller, callee = _name_addr(name, extension, domain), _name_addr(number, number, domain)
            extensions, trunks = [_account_id(extension), _account_id(number)], []
        else:
            raise ValueError("direction must be inbound, outbound or local")
        connect = start + ring_seconds
        end = connect + billsec if billsec > 0 else connect
        record: dict[str, Any] = {
            "call_id": call_id or f"{secrets.token_hex(5)}@10.0.0.{secrets.randbelow(250) + 1}",
            "from": caller,
            "to": callee,
            "start": f"{start:.3f}",
        }
        if billsec > 0:
            record["connect"] = f"{connect:.3f}"
        elif unanswered_connect == "empty":
            record["connect"] = ""
        record.update(end=f"{end:.3f}", rating="", pcap=False, extensions=extensions, trunks=trunks)
        return self.add_cdr(domain, record)

    def generate_calls(
        self, domain: str, count: int, start: float, end: float, seed: int = 0, trunk: int | None = None
    ) -> list[dict[str, Any]]:
        """Store `count` deterministic random calls of the domain's extensions, starting in [start, end) epochs."""
        rng = random.Random(seed)
        tenant = self.get_domain(domain)
        extensions = sorted(name for name, settings in tenant.accounts.items() if settings["usertype"] == "extensions")
        if not extensions:
            raise UnknownName(f"domain {domain} has no extensions to place calls from")
        trunk_id = trunk if trunk is not None else min(tenant.trunks, default=None)
        records = []
        for _ in range(count):
            extension = rng.choice(extensions)
            direction = rng.choices(("outbound", "inbound", "local"), weights=(50, 35, 15))[0]
            if direction == "local" and len(extensions) > 1:
                number = rng.choice([other for other in extensions if other != extension])
            else:
                direction = "outbound" if direction == "local" else direction
                number = f"1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            billsec = 0 if rng.random() < 0.2 else rng.randint(1, 1200)
            call_start = round(rng.uniform(start, end), 3)
            records.append(
                self.add_call(
                    domain,
                    direction,
                    extension,
                    number,
                    call_start,
                    billsec,
                    trunk=None if direction == "local" else trunk_id,
                    ring_seconds=round(rng.uniform(1, 20), 3),
                    unanswered_connect=rng.choice(("missing", "empty")),
                    call_id=f"{rng.getrandbits(40):010x}@10.0.0.{rng.randint(1, 250)}",
                )
            )
        return records

    def set_disabled(self, domain: str, account: str, disabled: bool) -> None:
        """Disable or enable an account, as a PUT of user_settings {"disabled": ...} does."""
        self.get_account(domain, account)["disabled"] = _setting_text(disabled)

    def cdr_page(self, domain: str, start: str | None, end: str | None, page: int, size: int) -> list[dict]:
        """The `page`-th (1-based) slice of `size` CDRs whose start falls in the requested range."""
        low, high = self._range(start, end)
        matching = [record for record in self.get_domain(domain).cdrs if low <= float(record["start"]) < high]
        matching.sort(key=lambda record: record["id"])
        return matching[(page - 1) * size : page * size]

    def users(self, domain: str) -> list[dict[str, Any]]:
        """The `users` listing: one entry per account, `disabled` as a boolean."""
        return [
            {
                "id": _account_id(account),
                "name": account,
                "alias": [alias for alias in settings["alias"].split(" ") if alias],
                "ani": [ani for ani in settings["ani"].split(" ") if ani],
                "displayname": settings["display_name"],
                "disabled": settings["disabled"] == "true",
                "license": "",
                "visible": True,
                "usertype": settings["usertype"],
            }
            for account, settings in self.get_domain(domain).accounts.items()
        ]

    def _range(self, start: str | None, end: str | None) -> tuple[float, float]:
        if self.cdr_date_format == "epoch":
            return float(start or "-inf"), float(end or "inf")
        zone = ZoneInfo(self.timezone)

        def day_start(text: str) -> float:
            day = datetime.strptime(text, "%Y%m%d").date()
            return datetime.combine(day, datetime.min.time(), zone).timestamp()

        low = day_start(start) if start else float("-inf")
        high = day_start(end) + timedelta(days=1).total_seconds() if end else float("inf")
        return low, high

    def get_domain(self, name: str) -> Domain:
        """The tenant `name`; UnknownName (404) when the PBX has none."""
        if name not in self.domains:
            raise UnknownName(f"unknown domain {name}")
        return self.domains[name]

    def get_account(self, domain: str, account: str) -> dict[str, Any]:
        """The settings of `account` in `domain`; UnknownName (404) when either is unknown."""
        accounts = self.get_domain(domain).accounts
        if account not in accounts:
            raise UnknownName(f"unknown account {account}@{domain}")
        return accounts[account]


rest = Blueprint("vodia_rest", __name__, url_prefix="/rest")
sim = Blueprint("vodia_sim", __name__, url_prefix="/_sim")


def create_app(state: VodiaState | None = None) -> Flask:
    """Build the Vodia simulator over `state` (a fresh PBX with admin/password when None)."""
    app = Flask(__name__)
    app.extensions["vodia"] = state or VodiaState()
    app.register_blueprint(rest)
    app.register_blueprint(sim)
    app.register_error_handler(UnknownName, lambda error: Response(status=404))
    # Vodia's error body is unconfirmed: answer the bare status so clients rely on it alone.
    app.register_error_handler(HTTPException, lambda error: Response(status=error.code))
    return app


def vodia_state() -> VodiaState:
    """The state of the running app."""
    return current_app.extensions["vodia"]


@rest.put("/system/session")
def login() -> Response:
    """Log in with `{"name": "auth", "value": "<user> <md5(password)>"}`; answer the session id as a JSON string."""
    body = request.get_json(silent=True) or {}
    username, _, password_md5 = str(body.get("value", "")).partition(" ")
    admin = vodia_state().admins.get(username)
    if body.get("name") != "auth" or admin is None or _md5(admin.password) != password_md5.lower():
        abort(401)
    if not admin.api_access:
        abort(403)
    session_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(SESSION_ID_LENGTH))
    vodia_state().sessions[session_id] = username
    return jsonify(session_id)


@rest.before_request
def authenticate() -> None:
    """Admit a valid session cookie or Basic credentials: 401 otherwise, 403 without API access or domain rights."""
    if request.endpoint == "vodia_rest.login":
        return
    state = vodia_state()
    username = state.sessions.get(request.cookies.get("session", ""))
    if username is None:
        username = _basic_user(state)
    if username is None:
        abort(401)
    admin = state.admins[username]
    if not admin.api_access:
        abort(403)
    domain = (request.view_args or {}).get("domain")
    if admin.domain is not None and domain != admin.domain:
        abort(403)


@rest.get("/system/domaininfo")
def domain_info() -> Response:
    """List the tenants with their account counts."""
    state = vodia_state()
    return jsonify(
        [
            {
                "id": index,
                "name": domain.name,
                "alias": [],
                "country": "1",
                "extensions": sum(1 for a in domain.accounts.values() if a["usertype"] == "extensions"),
                "accounts": len(domain.accounts),
                "visible": True,
                "registrations": 0,
                "regs": 0,
            }
            for index, domain in enumerate(state.domains.values(), start=1)
        ]
    )


@rest.get("/system/domains")
def domains() -> Response:
    """List the tenant names."""
    return jsonify(list(vodia_state().domains))


@rest.get("/domain/<domain>/cdrs")
def domain_cdrs(domain: str) -> Response:
    """Return one page of the domain's CDRs as a bare JSON array."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        size = max(1, int(request.args.get("size", DEFAULT_PAGE_SIZE)))
        records = vodia_state().cdr_page(domain, request.args.get("start"), request.args.get("end"), page, size)
    except ValueError:
        abort(400)
    return jsonify(records)


@rest.get("/domain/<domain>/domain_trunks")
def domain_trunks(domain: str) -> Response:
    """List the domain's trunks (id and name map the ids CDRs carry)."""
    return jsonify(list(vodia_state().get_domain(domain).trunks.values()))


@rest.route("/domain/<domain>/edit_trunk/<int:trunk_id>", methods=["GET", "PUT"])
def edit_trunk(domain: str, trunk_id: int) -> Response:
    """Read or change one trunk's settings."""
    trunks = vodia_state().get_domain(domain).trunks
    if trunk_id not in trunks:
        abort(404)
    if request.method == "GET":
        return jsonify(trunks[trunk_id])
    trunks[trunk_id].update(_json_object())
    return Response(status=200)


@rest.get("/domain/<domain>/users")
def domain_users(domain: str) -> Response:
    """List the domain's accounts with their `disabled` flag."""
    return jsonify(vodia_state().users(domain))


@rest.route("/domain/<domain>/user_settings/<account>", methods=["GET", "PUT"])
def user_settings(domain: str, account: str) -> Response:
    """Read an account's flat string settings, or merge new ones (`disabled` suspends it)."""
    settings = vodia_state().get_account(domain, account)
    if request.method == "GET":
        return jsonify(settings)
    settings.update({name: _setting_text(value) for name, value in _json_object().items()})
    return Response(status=200)


@sim.post("/admins")
def sim_add_admin() -> Response:
    """Test hook: add a login `{username, password, api_access}`."""
    body = _json_object()
    vodia_state().add_admin(body["username"], body["password"], body.get("api_access", True))
    return Response(status=201)


@sim.post("/domains")
def sim_add_domain() -> Response:
    """Test hook: add a domain `{name, accounts: [{account, ...settings}], trunks: [{id, name, ...}]}`."""
    body = _json_object()
    state = vodia_state()
    state.add_domain(body["name"])
    for account in body.get("accounts", []):
        state.add_account(body["name"], **account)
    for trunk in body.get("trunks", []):
        state.add_trunk(body["name"], trunk.pop("id"), trunk.pop("name"), **trunk)
    return Response(status=201)


@sim.post("/domains/<domain>/accounts")
def sim_add_account(domain: str) -> Response:
    """Test hook: add one account `{account, usertype, displayname, ...settings}`."""
    return jsonify(vodia_state().add_account(domain, **_json_object())), 201


@sim.post("/domains/<domain>/trunks")
def sim_add_trunk(domain: str) -> Response:
    """Test hook: add one trunk `{id, name, ...settings}`."""
    body = _json_object()
    return jsonify(vodia_state().add_trunk(domain, body.pop("id"), body.pop("name"), **body)), 201


@sim.post("/domains/<domain>/cdrs")
def sim_add_cdrs(domain: str) -> Response:
    """Test hook: store raw CDR records (a JSON array) as given."""
    state = vodia_state()
    return jsonify([state.add_cdr(domain, record) for record in request.get_json()]), 201


@sim.post("/domains/<domain>/calls")
def sim_add_calls(domain: str) -> Response:
    """Test hook: store the CDRs of calls given as `add_call` arguments (a JSON array)."""
    state = vodia_state()
    return jsonify([state.add_call(domain, **call) for call in request.get_json()]), 201


@sim.post("/domains/<domain>/generate")
def sim_generate_calls(domain: str) -> tuple[Response, int]:
    """Test hook: store `{count, start, end, seed, trunk}` random calls (epoch range) for demos and benchmarks."""
    body = _json_object()
    records = vodia_state().generate_calls(
        domain,
        int(body["count"]),
        float(body["start"]),
        float(body["end"]),
        int(body.get("seed", 0)),
        body.get("trunk"),
    )
    return jsonify(generated=len(records)), 201


@sim.put("/settings")
def sim_settings() -> Response:
    """Test hook: set `cdr_date_format` (yyyymmdd|epoch) and `timezone`."""
    body = _json_object()
    state = vodia_state()
    if body.get("cdr_date_format", state.cdr_date_format) not in CDR_DATE_FORMATS:
        abort(400)
    state.cdr_date_format = body.get("cdr_date_format", state.cdr_date_format)
    state.timezone = body.get("timezone", state.timezone)
    return Response(status=200)


@sim.get("/state")
def sim_state() -> Response:
    """Test hook: everything the PBX holds, to assert on after the product acted."""
    state = vodia_state()
    return jsonify(
        {
            "domains": {name: asdict(domain) for name, domain in state.domains.items()},
            "sessions": len(state.sessions),
            "cdr_date_format": state.cdr_date_format,
            "timezone": state.timezone,
        }
    )


def _basic_user(state: VodiaState) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    admin = state.admins.get(username)
    return username if admin is not None and secrets.compare_digest(admin.password, password) else None


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _setting_text(value: Any) -> str:
    """Vodia settings are strings; booleans become "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _account_id(account: str) -> int | str:
    return int(account) if account.isdigit() else account


def _name_addr(display: str, user: str, domain: str) -> str:
    return f'"{display}" <sip:{user}@{domain}>'
