"""LesNet simulator: per-account CDR text files rewritten every 24 hours, and a fake peer/DID enable-disable API.

Les.net's real file format is unknown (integrations.md §3.2); this is the documented default the
product's configurable parser starts from (also in docs/providers/lesnet-format.md):

- URL `/cdr/<account>_0000.txt`; 404 for an unknown account.
- UTF-8, comma-delimited, LF line endings, no quoting (no value holds a comma), one header line:
  `Date,Time,Peer,Source,Destination,Direction,Duration`.
- `Date` `YYYY-MM-DD` and `Time` `HH:MM:SS`: the call's start in Les.net's local time,
  America/Winnipeg, without an offset.
- `Peer`: the 13-character upper-case hex Peer ID the call went through.
- `Source` / `Destination`: calling and called numbers, NANP ones as 11 digits with the leading 1.
  On an inbound call the DID is `Destination`; on an outbound call it is `Source`.
- `Direction`: `IN` or `OUT`.
- `Duration`: billed seconds, an integer; `0` for an attempt that was not answered.
- Rows are sorted by start. The file is rewritten once every 24 hours with the calls that ended
  in the 7 days before the rewrite, so consecutive files overlap and a row can be fetched up to 7
  times; an account with no such calls gets an empty (0-byte) file.
"""

from __future__ import annotations

import random
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

HEADER = "Date,Time,Peer,Source,Destination,Direction,Duration"
DEFAULT_TIMEZONE = "America/Winnipeg"
RETENTION_DAYS = 7
REGENERATION_INTERVAL = timedelta(hours=24)
FILE_NAME = re.compile(r"^(\w+)_0000\.txt$")
DIRECTIONS = ("IN", "OUT")


class UnknownName(LookupError):
    """An account, peer or DID Les.net does not have (answered 404)."""


class CallRefused(ValueError):
    """A call through a disabled peer or to a disabled DID: Les.net would not have carried it."""


@dataclass
class Peer:
    """A SIP peer of an account and the DIDs attached to it, each enabled or not."""

    peer_id: str
    account: str
    enabled: bool = True
    dids: dict[str, bool] = field(default_factory=dict)

    def as_json(self) -> dict:
        """The peer as the fake API shows it."""
        return {
            "peer": self.peer_id,
            "account": self.account,
            "enabled": self.enabled,
            "dids": [{"did": did, "enabled": enabled} for did, enabled in self.dids.items()],
        }


@dataclass(frozen=True)
class Call:
    """One call as Les.net bills it."""

    start: datetime
    peer: str
    source: str
    destination: str
    direction: str
    duration: int

    @property
    def end(self) -> datetime:
        """When the call ended."""
        return self.start + timedelta(seconds=self.duration)


class LesnetState:
    """Accounts, peers, DIDs and calls, a simulated clock, and the CDR files last written under `files_dir`."""

    def __init__(
        self, files_dir: str | Path | None = None, timezone: str = DEFAULT_TIMEZONE, now: datetime | None = None
    ) -> None:
        self.files_dir = Path(files_dir) if files_dir else Path(tempfile.mkdtemp(prefix="lesnet-cdr-"))
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.timezone = ZoneInfo(timezone)
        self.fixed_now = now
        self.peers: dict[str, Peer] = {}
        self.calls: dict[str, list[Call]] = {}
        self.generated_at: datetime | None = None

    def now(self) -> datetime:
        """The simulated time: a fixed clock once set, the real time otherwise."""
        return self.fixed_now or datetime.now(UTC)

    def add_account(self, account: str, peers: dict[str, list[str]] | None = None) -> None:
        """Create an account with its peers (Peer ID -> attached DIDs), all enabled."""
        self.calls.setdefault(account, [])
        for peer_id, dids in (peers or {}).items():
            self.peers[peer_id] = Peer(peer_id, account, dids=dict.fromkeys(dids, True))

    def add_call(
        self, start: datetime, peer: str, source: str, destination: str, direction: str, duration: int
    ) -> Call:
        """Record a call through `peer`; refused when the peer, or the inbound DID, is disabled."""
        owner = self.get_peer(peer)
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        if not owner.enabled or (direction == "IN" and owner.dids.get(destination) is False):
            raise CallRefused(f"{peer} or {destination} is disabled")
        call = Call(start, peer, source, destination, direction, duration)
        self.calls[owner.account].append(call)
        return call

    def generate_calls(self, account: str, count: int, start: datetime, end: datetime, seed: int = 0) -> list[Call]:
        """Add `count` deterministic random calls of the account's enabled peers, starting in [start, end)."""
        rng = random.Random(seed)
        peers = [peer for peer in self.peers.values() if peer.account == account and peer.enabled and peer.dids]
        if not peers:
            raise UnknownName(f"account {account} has no enabled peer with a DID")
        added = []
        span = int((end - start).total_seconds())
        for _ in range(count):
            peer = rng.choice(peers)
            did = rng.choice(sorted(peer.dids))
            other = f"1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            direction = rng.choice(DIRECTIONS)
            source, destination = (other, did) if direction == "IN" else (did, other)
            duration = 0 if rng.random() < 0.15 else rng.randint(1, 1800)
            call_start = start + timedelta(seconds=rng.randrange(span))
            added.append(self.add_call(call_start, peer.peer_id, source, destination, direction, duration))
        return added

    def set_clock(self, now: datetime) -> None:
        """Move the simulated clock; files are rewritten on the next read if a 24-hour boundary passed."""
        self.fixed_now = now

    def refresh(self) -> None:
        """Rewrite the files when the first read happens or when 24 hours passed since the last rewrite."""
        now = self.now()
        if self.generated_at is None:
            self.regenerate(now)
        elif now >= self.generated_at + REGENERATION_INTERVAL:
            periods = (now - self.generated_at) // REGENERATION_INTERVAL
            self.regenerate(self.generated_at + periods * REGENERATION_INTERVAL)

    def regenerate(self, at: datetime | None = None) -> None:
        """Rewrite every account's file with the calls that ended in the retention window before `at`."""
        at = at or self.now()
        window_start = at - timedelta(days=RETENTION_DAYS)
        for account, calls in self.calls.items():
            rows = sorted((call for call in calls if window_start <= call.end <= at), key=lambda call: call.start)
            self.file_path(account).write_text(self.render(rows), encoding="utf-8")
        self.generated_at = at

    def render(self, calls: list[Call]) -> str:
        """The file text for `calls`: the header and one row each, or nothing at all without calls."""
        if not calls:
            return ""
        lines = [HEADER]
        for call in calls:
            local = call.start.astimezone(self.timezone)
            lines.append(
                f"{local:%Y-%m-%d},{local:%H:%M:%S},{call.peer},{call.source},{call.destination},"
                f"{call.direction},{call.duration}"
            )
        return "\n".join(lines) + "\n"

    def file_path(self, account: str) -> Path:
        """Where the account's CDR file lives."""
        return self.files_dir / f"{account}_0000.txt"

    def get_peer(self, peer_id: str) -> Peer:
        """The peer `peer_id`; UnknownName (404) when there is none."""
        if peer_id not in self.peers:
            raise UnknownName(f"unknown peer {peer_id}")
        return self.peers[peer_id]

    def peer_of_did(self, did: str) -> Peer:
        """The peer a DID is attached to; UnknownName (404) when the DID is unknown."""
        for peer in self.peers.values():
            if did in peer.dids:
                return peer
        raise UnknownName(f"unknown DID {did}")


cdr_files = Blueprint("lesnet_cdr", __name__)
sim = Blueprint("lesnet_sim", __name__, url_prefix="/_sim")


def create_app(files_dir: str | Path | None = None, *, state: LesnetState | None = None) -> Flask:
    """Build the LesNet simulator over `state`, or over a new state writing its files to `files_dir`.

    Files already in `files_dir` that belong to no simulated account (fixtures) are served as they are.
    """
    app = Flask(__name__)
    app.extensions["lesnet"] = state or LesnetState(files_dir)
    app.register_blueprint(cdr_files)
    app.register_blueprint(sim)
    app.register_error_handler(UnknownName, lambda error: (jsonify(error=str(error)), 404))
    app.register_error_handler(CallRefused, lambda error: (jsonify(error=str(error)), 409))
    app.register_error_handler(HTTPException, lambda error: Response(status=error.code))
    return app


def lesnet_state() -> LesnetState:
    """The state of the running app."""
    return current_app.extensions["lesnet"]


@cdr_files.get("/cdr/<name>")
def cdr_file(name: str) -> Response:
    """Serve an account's CDR file as last rewritten."""
    state = lesnet_state()
    if not FILE_NAME.match(name):
        abort(404)
    state.refresh()
    path = state.files_dir / name
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="text/plain", max_age=0)


@sim.post("/accounts")
def sim_add_account() -> tuple[Response, int]:
    """Test hook: add an account `{account, peers: {peer_id: [did, ...]}}`."""
    body = request.get_json()
    lesnet_state().add_account(str(body["account"]), body.get("peers"))
    return jsonify(account=str(body["account"])), 201


@sim.post("/accounts/<account>/calls")
def sim_add_calls(account: str) -> tuple[Response, int]:
    """Test hook: add calls `[{start (ISO 8601 with offset), peer, source, destination, direction, duration}]`."""
    state = lesnet_state()
    if account not in state.calls:
        raise UnknownName(f"unknown account {account}")
    for call in request.get_json():
        state.add_call(datetime.fromisoformat(call.pop("start")), **call)
    return jsonify(calls=len(state.calls[account])), 201


@sim.get("/accounts/<account>/peers")
def sim_account_peers(account: str) -> Response:
    """Fake API: the account's peers with their DIDs and enabled flags."""
    state = lesnet_state()
    if account not in state.calls:
        raise UnknownName(f"unknown account {account}")
    return jsonify([peer.as_json() for peer in state.peers.values() if peer.account == account])


@sim.route("/peers/<peer_id>", methods=["GET", "PUT"])
def sim_peer(peer_id: str) -> Response:
    """Fake API: read a peer, or enable/disable it with `{"enabled": bool}`."""
    peer = lesnet_state().get_peer(peer_id)
    if request.method == "PUT":
        peer.enabled = _enabled_flag()
    return jsonify(peer.as_json())


@sim.route("/dids/<did>", methods=["GET", "PUT"])
def sim_did(did: str) -> Response:
    """Fake API: read a DID, or enable/disable it with `{"enabled": bool}`."""
    peer = lesnet_state().peer_of_did(did)
    if request.method == "PUT":
        peer.dids[did] = _enabled_flag()
    return jsonify(did=did, peer=peer.peer_id, enabled=peer.dids[did])


@sim.put("/clock")
def sim_clock() -> Response:
    """Test hook: set the simulated time `{"now": ISO 8601}` (files follow on the next read)."""
    lesnet_state().set_clock(datetime.fromisoformat(request.get_json()["now"]))
    return jsonify(now=lesnet_state().now().isoformat())


@sim.post("/regenerate")
def sim_regenerate() -> Response:
    """Test hook: rewrite the files now (or `{"at": ISO 8601}`), as the daily job would."""
    at = (request.get_json(silent=True) or {}).get("at")
    lesnet_state().regenerate(datetime.fromisoformat(at) if at else None)
    return jsonify(generated_at=lesnet_state().generated_at.isoformat())


@sim.get("/state")
def sim_state() -> Response:
    """Test hook: clock, last rewrite, and each account's peers and call count."""
    state = lesnet_state()
    return jsonify(
        now=state.now().isoformat(),
        generated_at=state.generated_at.isoformat() if state.generated_at else None,
        accounts={
            account: {
                "calls": len(calls),
                "peers": [peer.as_json() for peer in state.peers.values() if peer.account == account],
            }
            for account, calls in state.calls.items()
        },
    )


def _enabled_flag() -> bool:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        abort(400)
    return body["enabled"]
