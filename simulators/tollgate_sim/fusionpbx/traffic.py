"""Deterministic, realistic v_xml_cdr rows shaped the way FusionPBX's importer fills them (integrations.md §1.2)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from .schema import connect

DIRECTIONS = ("inbound", "outbound", "local", "")
UNANSWERED_STATUSES = ("no_answer", "cancelled", "busy", "failed", "missed")
FEATURE_CODES = ("*97", "*98", "*72", "*73", "*411")
# Unanswered status -> (hangup_cause, hangup_cause_q850, sip_hangup_disposition), per the status rules of xml_cdr.php.
HANGUP_FOR_STATUS = {
    "no_answer": ("NO_ANSWER", 19, "send_cancel"),
    "cancelled": ("ORIGINATOR_CANCEL", 487, "recv_cancel"),
    "busy": ("USER_BUSY", 17, "recv_refuse"),
    "failed": ("CALL_REJECTED", 21, "recv_refuse"),
    "missed": ("LOSE_RACE", 502, "send_cancel"),
}
# FusionPBX stores an unanswered call's answer_epoch 0 as this stamp (integrations.md §1.2, unconfirmed).
UNANSWERED_ANSWER_STAMP = datetime(1970, 1, 1, tzinfo=UTC)
INSERT_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class Tenant:
    """A FusionPBX domain as the generator needs it: ids, extensions, gateways and DIDs."""

    domain_uuid: str
    domain_name: str
    extensions: list[tuple[str, str]]
    gateway_uuids: list[str]
    dids: list[str]


class TrafficGenerator:
    """Produces v_xml_cdr rows for seeded tenants, deterministic for a given seed, and bulk-inserts them.

    Rows are dicts keyed by v_xml_cdr column and hold only the columns the database's FusionPBX
    version has (no `status` on 5.0/5.1, for instance). Stamps are aware datetimes in the server
    time zone and always describe the same instant as the matching epoch column.
    """

    def __init__(self, db_url: str, seed: int = 0, server_timezone: str = "America/Toronto") -> None:
        self.db_url = db_url
        self.random = random.Random(seed)
        self.server_timezone = ZoneInfo(server_timezone)
        with connect(db_url) as connection:
            self.columns = [
                name
                for (name,) in connection.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = 'v_xml_cdr' AND table_schema = current_schema() ORDER BY ordinal_position"
                )
            ]
        if not self.columns:
            raise LookupError("v_xml_cdr does not exist; run create_schema first")
        self._column_set = frozenset(self.columns)
        # 5.2 started filling `duration` from billsec; status arrived in the same release.
        self.duration_is_billsec = "status" in self._column_set
        self._tenants: dict[str, Tenant] = {}

    def tenant(self, domain_name: str) -> Tenant:
        """Load (once) the domain's uuid, extensions, gateways and DIDs from the FusionPBX tables."""
        if domain_name not in self._tenants:
            self._tenants[domain_name] = self._load_tenant(domain_name)
        return self._tenants[domain_name]

    def generate(
        self,
        domain: str,
        count: int,
        start: datetime,
        end: datetime,
        *,
        b_leg_ratio: float = 0.15,
        unanswered_ratio: float = 0.25,
        dids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return `count` rows (A legs and some B legs) for calls of `domain` starting in [start, end).

        About `b_leg_ratio` of answered calls bring their B leg, `unanswered_ratio` of calls are not
        answered; inbound calls come in on `dids` (default: the extensions' outbound caller IDs).
        """
        return list(
            self.iter_rows(
                domain, count, start, end, b_leg_ratio=b_leg_ratio, unanswered_ratio=unanswered_ratio, dids=dids
            )
        )

    def generate_late(
        self, domain: str, count: int, start: datetime, end: datetime, insert_date: datetime, **options: Any
    ) -> list[dict[str, Any]]:
        """Return `count` rows for calls in [start, end) that FusionPBX imported late, from `insert_date` on."""
        rows = self.generate(domain, count, start, end, **options)
        for row in rows:
            row["insert_date"] = insert_date + timedelta(seconds=self.random.randint(0, 59))
        return rows

    def iter_rows(
        self,
        domain: str,
        count: int,
        start: datetime,
        end: datetime,
        *,
        b_leg_ratio: float = 0.15,
        unanswered_ratio: float = 0.25,
        dids: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield `count` rows lazily (for bulk loads): every answered call may bring its B leg right after it."""
        tenant = self.tenant(domain)
        tenant_dids = dids or tenant.dids
        first, last = int(start.timestamp()), int(end.timestamp())
        produced = 0
        while produced < count:
            a_leg = self._random_call(tenant, tenant_dids, self.random.randrange(first, last), unanswered_ratio)
            yield a_leg
            produced += 1
            if produced < count and a_leg["billsec"] > 0 and self.random.random() < b_leg_ratio:
                yield self._b_leg(a_leg)
                produced += 1

    def make_call(
        self,
        domain: str,
        direction: str,
        number: str,
        billsec: int,
        start: datetime | float,
        extension: str | None = None,
        leg: str = "a",
        *,
        did: str | None = None,
        status: str | None = None,
        ring_seconds: int = 4,
        insert_date: datetime | None = None,
        originating_leg_uuid: str | None = None,
        **columns: Any,
    ) -> dict[str, Any]:
        """Build one hand-written row; `number` is the remote party (dialled, calling, or the other extension).

        `did` is the tenant's number: the outbound caller ID, or the DID an inbound call came in on
        (its caller_destination). `billsec=0` makes an unanswered call (`status`, default
        no_answer). Any other v_xml_cdr column can be set through `columns`.
        """
        tenant = self.tenant(domain)
        start_epoch = int(start.timestamp()) if isinstance(start, datetime) else int(start)
        own_extension = self._extension(tenant, extension)
        row = self._call_row(
            tenant,
            direction,
            own_extension,
            number,
            did or tenant.dids[0],
            start_epoch,
            ring_seconds,
            billsec,
            status or ("answered" if billsec > 0 else "no_answer"),
        )
        if leg == "b":
            row = self._b_leg(row, originating_leg_uuid)
        if insert_date is not None:
            row["insert_date"] = insert_date
        unknown = set(columns) - self._column_set
        if unknown:
            raise ValueError(f"not v_xml_cdr columns in this FusionPBX version: {sorted(unknown)}")
        row.update(columns)
        return row

    def insert(self, rows: Iterable[dict[str, Any]]) -> int:
        """COPY rows into v_xml_cdr in one transaction; return how many were inserted."""
        inserted = 0
        iterator = iter(rows)
        with connect(self.db_url) as connection, connection.cursor() as cursor:
            while chunk := list(islice(iterator, INSERT_CHUNK_ROWS)):
                present = set().union(*chunk)
                unknown = present - self._column_set
                if unknown:
                    raise ValueError(f"not v_xml_cdr columns in this FusionPBX version: {sorted(unknown)}")
                names = [name for name in self.columns if name in present]
                with cursor.copy(f"COPY v_xml_cdr ({', '.join(names)}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row([row.get(name) for name in names])
                inserted += len(chunk)
        return inserted

    def _load_tenant(self, domain_name: str) -> Tenant:
        with connect(self.db_url) as connection:
            found = connection.execute(
                "SELECT domain_uuid FROM v_domains WHERE domain_name = %s", [domain_name]
            ).fetchone()
            if found is None:
                raise LookupError(f"no FusionPBX domain named {domain_name!r}; seed it with seed_tenant first")
            domain_uuid = str(found[0])
            extensions = connection.execute(
                "SELECT extension_uuid, extension, outbound_caller_id_number FROM v_extensions"
                " WHERE domain_uuid = %s ORDER BY extension",
                [domain_uuid],
            ).fetchall()
            gateways = connection.execute(
                "SELECT gateway_uuid FROM v_gateways WHERE domain_uuid = %s ORDER BY gateway", [domain_uuid]
            ).fetchall()
        if not extensions:
            raise LookupError(f"domain {domain_name!r} has no extensions to place calls from")
        dids = sorted({caller_id for _, _, caller_id in extensions if caller_id})
        # A tenant seeded without caller IDs still needs a DID; derive a stable one from its name.
        fallback = "1519555" + str(sum(domain_name.encode()) % 10_000).zfill(4)
        return Tenant(
            domain_uuid=domain_uuid,
            domain_name=domain_name,
            extensions=[(str(extension_uuid), extension) for extension_uuid, extension, _ in extensions],
            gateway_uuids=[str(gateway_uuid) for (gateway_uuid,) in gateways],
            dids=dids or [fallback],
        )

    def _random_call(self, tenant: Tenant, dids: list[str], start_epoch: int, unanswered_ratio: float) -> dict:
        rng = self.random
        kind = rng.choices(("outbound", "inbound", "local", "feature", "odd"), weights=(45, 30, 17, 5, 3))[0]
        own_extension = rng.choice(tenant.extensions)
        did = rng.choice(dids)
        direction = {"feature": "local", "odd": ""}.get(kind, kind)
        if kind == "outbound":
            number = self._external_number(for_dialling=True)
        elif kind == "inbound":
            number = self._external_number(for_dialling=False)
        elif kind == "feature":
            number = rng.choice(FEATURE_CODES)
        elif kind == "local" and len(tenant.extensions) > 1:
            number = rng.choice([ext for ext in tenant.extensions if ext != own_extension])[1]
        else:
            number = rng.choice((own_extension[1], "0", "9999"))
        answered = kind == "feature" or rng.random() >= unanswered_ratio
        if answered:
            billsec = min(3600, max(1, int(rng.expovariate(1 / 150))))
            status = "answered"
        else:
            billsec = 0
            choices = UNANSWERED_STATUSES if direction == "inbound" else UNANSWERED_STATUSES[:4]
            status = rng.choice(choices)
        return self._call_row(
            tenant, direction, own_extension, number, did, start_epoch, rng.randint(1, 25), billsec, status
        )

    def _call_row(
        self,
        tenant: Tenant,
        direction: str,
        own_extension: tuple[str, str],
        number: str,
        did: str,
        start_epoch: int,
        ring_seconds: int,
        billsec: int,
        status: str,
    ) -> dict[str, Any]:
        rng = self.random
        extension_uuid, extension = own_extension
        call_uuid = self._uuid()
        answered = billsec > 0
        answer_epoch = start_epoch + ring_seconds if answered else 0
        end_epoch = answer_epoch + billsec if answered else start_epoch + ring_seconds
        billmsec = billsec * 1000 + rng.randint(0, 999) if answered else 0
        if direction == "inbound":
            # Public context: the carrier's caller, the DID as caller_destination, the DID (or a rewrite) dialled.
            caller_id_name, caller_id_number = number, number
            destination_number = did if rng.random() < 0.8 else did[-10:]
            caller_destination, context, source_number = did, "public", number
        elif direction == "outbound":
            caller_id_name, caller_id_number = tenant.domain_name, did
            destination_number = caller_destination = number
            context, source_number = tenant.domain_name, extension
        else:
            caller_id_name, caller_id_number = f"Extension {extension}", extension
            destination_number = caller_destination = number
            context, source_number = tenant.domain_name, extension
        if answered:
            hangup_cause, q850, disposition = "NORMAL_CLEARING", 16, rng.choice(("send_bye", "recv_bye"))
        else:
            hangup_cause, q850, disposition = HANGUP_FOR_STATUS[status]
        if direction == "outbound" and tenant.gateway_uuids:
            last_app, last_arg = "bridge", f"sofia/gateway/{rng.choice(tenant.gateway_uuids)}/{number}"
        elif number in FEATURE_CODES:
            last_app, last_arg = "lua", "app.lua voicemail"
        else:
            last_app, last_arg = "bridge", f"user/{extension}@{tenant.domain_name}"
        stamp = self._stamp
        row = {
            "xml_cdr_uuid": call_uuid,
            "domain_uuid": tenant.domain_uuid,
            "extension_uuid": extension_uuid,
            "sip_call_id": f"{call_uuid[:18]}@203.0.113.{rng.randint(1, 254)}",
            "domain_name": tenant.domain_name,
            "accountcode": tenant.domain_name,
            "direction": direction,
            "default_language": "en",
            "context": context,
            "caller_id_name": caller_id_name,
            "caller_id_number": caller_id_number,
            "caller_destination": caller_destination,
            "source_number": source_number,
            "destination_number": destination_number,
            "start_epoch": start_epoch,
            "start_stamp": stamp(start_epoch),
            "answer_stamp": stamp(answer_epoch) if answered else UNANSWERED_ANSWER_STAMP,
            "answer_epoch": answer_epoch,
            "end_epoch": end_epoch,
            "end_stamp": stamp(end_epoch),
            "duration": billsec if self.duration_is_billsec else end_epoch - start_epoch,
            "mduration": billmsec if self.duration_is_billsec else (end_epoch - start_epoch) * 1000,
            "billsec": billsec,
            "billmsec": billmsec,
            "hold_accum_seconds": 0,
            "bridge_uuid": self._uuid() if answered else None,
            "read_codec": "PCMU",
            "read_rate": "8000",
            "write_codec": "PCMU",
            "write_rate": "8000",
            "remote_media_ip": f"198.51.100.{rng.randint(1, 254)}" if answered else None,
            "network_addr": f"192.0.2.{rng.randint(1, 254)}",
            "leg": "a",
            "pdd_ms": rng.randint(80, 2500),
            "rtp_audio_in_mos": round(rng.uniform(3.8, 4.5), 2) if answered else None,
            "last_app": last_app,
            "last_arg": last_arg,
            "voicemail_message": False,
            "missed_call": direction == "inbound" and not answered,
            "waitsec": ring_seconds if answered else None,
            "status": status,
            "hangup_cause": hangup_cause,
            "hangup_cause_q850": q850,
            "sip_hangup_disposition": disposition,
            # The importer runs within seconds of the hangup; late arrivals are made by generate_late.
            "insert_date": stamp(end_epoch + rng.randint(1, 5)),
        }
        return {name: value for name, value in row.items() if name in self._column_set}

    def _b_leg(self, a_leg: dict[str, Any], originating_leg_uuid: str | None = None) -> dict[str, Any]:
        b_leg = dict(a_leg)
        b_leg.update(
            xml_cdr_uuid=a_leg.get("bridge_uuid") or self._uuid(),
            leg="b",
            originating_leg_uuid=originating_leg_uuid or a_leg["xml_cdr_uuid"],
            bridge_uuid=a_leg["xml_cdr_uuid"],
            sip_call_id=f"{self._uuid()[:18]}@192.0.2.10",
        )
        return {name: value for name, value in b_leg.items() if name in self._column_set}

    def _extension(self, tenant: Tenant, extension: str | None) -> tuple[str, str]:
        if extension is None:
            return tenant.extensions[0]
        for own in tenant.extensions:
            if own[1] == extension:
                return own
        raise LookupError(f"domain {tenant.domain_name!r} has no extension {extension!r}")

    def _external_number(self, for_dialling: bool) -> str:
        rng = self.random
        subscriber = f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        shapes = ("nanp11", "nanp10", "tollfree", "international", "plus") if for_dialling else ("nanp11", "nanp10")
        shape = rng.choices(shapes, weights=(50, 25, 8, 12, 5)[: len(shapes)])[0]
        if shape == "nanp10":
            return subscriber
        if shape == "tollfree":
            return "1800" + subscriber[3:]
        if shape == "international":
            return rng.choice(("01144", "01133", "01149", "01152")) + subscriber
        if shape == "plus":
            # A '+' survives in a dialled destination_number; only caller_id_number is sanitised.
            return "+1" + subscriber
        return "1" + subscriber

    def _stamp(self, epoch: int) -> datetime:
        return datetime.fromtimestamp(epoch, self.server_timezone)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))
