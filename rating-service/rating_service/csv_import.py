"""Read a carrier rate deck (CSV) as a stream: one header row, a column mapping, every bad line named."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import IO, NamedTuple

from .engine.cost import RATE_DECIMALS, decimals_of
from .engine.increments import IncrementError, parse_increment
from .engine.numbers import E164_MAX_DIGITS

REQUIRED_TARGETS = ("Description", "Prefix", "RateValue", "Increment")
OPTIONAL_TARGETS = ("ConnectFee", "GraceSeconds", "ShortDescription", "Lastratechangedate", "Oldrate", "RatePremium")
TARGETS = REQUIRED_TARGETS + OPTIONAL_TARGETS
IGNORED = ("", "ignore", "not used")
"""Mapping values that leave a column out, like the reference product's "Select Column Mapping (not used)"."""

EXPORT_COLUMNS = TARGETS
"""An export writes one column per target, named after it, so it maps onto itself when imported again."""

MAX_REPORTED_ERRORS = 1000
"""A deck with a wrong delimiter can fail on every line; the first thousand say enough, the count says the rest."""

MAX_GRACE_SECONDS = 3600
DELIMITERS = (",", ";", "\t")


class DeckRow(NamedTuple):
    """One valid line of a deck, ready to store."""

    prefix: str
    description: str
    rate: Decimal
    first: int
    step: int
    connect_fee: Decimal
    grace_seconds: int
    short_description: str
    last_rate_change: str
    old_rate: str
    rate_premium: str


class LineError(NamedTuple):
    """A rejected line: its 1-based physical line number and why."""

    line: int
    error: str


class DeckFormatError(ValueError):
    """The file or the mapping cannot be read at all (no header, wrong encoding, unmapped columns)."""


def validate_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """Return {csv column: target} without ignored columns, or raise DeckFormatError naming the problem."""
    if not isinstance(mapping, dict):
        raise DeckFormatError("mapping must be a JSON object of {csv column: target}")
    result: dict[str, str] = {}
    by_target: dict[str, str] = {}
    for column, target in mapping.items():
        target_text = str(target or "").strip()
        if target_text.lower() in IGNORED:
            continue
        if target_text not in TARGETS:
            raise DeckFormatError(f"mapping: column {column!r} maps to {target_text!r}, not one of {list(TARGETS)}")
        if target_text in by_target:
            first = by_target[target_text]
            raise DeckFormatError(f"mapping: columns {first!r} and {column!r} both map to {target_text}")
        by_target[target_text] = column
        result[str(column)] = target_text
    missing = [target for target in REQUIRED_TARGETS if target not in by_target]
    if missing:
        raise DeckFormatError(f"mapping: required target(s) {missing} not mapped to any column")
    return result


def identity_mapping(columns: Iterable[str]) -> dict[str, str] | None:
    """Map columns named after the targets (an export, or a deck laid out that way) onto themselves."""
    by_lower = {target.lower(): target for target in TARGETS}
    mapping = {column: by_lower[column.strip().lower()] for column in columns if column.strip().lower() in by_lower}
    if all(target in mapping.values() for target in REQUIRED_TARGETS):
        return mapping
    return None


class DeckReader:
    """Streams a deck from a binary file: decodes line by line, detects the delimiter from the header."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.decode_errors: dict[int, str] = {}
        self._line = 0
        lines = self._decoded_lines()
        header_line = next(lines, None)
        if header_line is None or not header_line.strip():
            raise DeckFormatError("line 1: the file is empty or its first line is blank; it must be the header row")
        if 1 in self.decode_errors:
            raise DeckFormatError(f"line 1: {self.decode_errors[1]}")
        self.delimiter = max(DELIMITERS, key=header_line.count)
        self._lines = lines
        self.columns = [name.strip() for name in next(csv.reader([header_line], delimiter=self.delimiter))]

    def _decoded_lines(self) -> Iterator[str]:
        for raw in self.stream:
            self._line += 1
            if self._line == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise DeckFormatError("line 1: the file is UTF-16; save it as UTF-8 (with or without BOM)")
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.decode_errors[self._line] = (
                    f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8 "
                    "(the file looks Latin-1 or Windows-1252); save it as UTF-8"
                )
                yield raw.decode("utf-8", errors="replace")

    def rows(self, mapping: dict[str, str], errors: list[LineError]) -> Iterator[DeckRow]:
        """Yield every valid row; append each bad line to `errors` (capped), counting all in `self.rejected`."""
        self.rejected = 0
        positions = {target: None for target in TARGETS}
        missing = [column for column in mapping if column not in self.columns]
        if missing:
            raise DeckFormatError(
                f"line 1: the header has no column {missing[0]!r} named in the mapping; "
                f"its columns are {self.columns} (the file must have exactly one header row)"
            )
        for column, target in mapping.items():
            positions[target] = self.columns.index(column)
        header_values = {self.columns[positions[target]] for target in REQUIRED_TARGETS}
        width = len(self.columns)
        seen: dict[str, int] = {}
        reader = csv.reader(self._lines, delimiter=self.delimiter)
        next_line = 2
        for fields in reader:
            # The reader starts after the header, so its count of lines read is one short of the file's.
            line, last_line = next_line, reader.line_num + 1
            next_line = last_line + 1
            problems = self._problems_of_line(line, last_line)
            if not any(value.strip() for value in fields):
                problems.append("blank line")
            elif len(fields) != width:
                problems.append(f"ragged line: {len(fields)} fields, the header has {width}")
            elif {fields[positions[target]].strip() for target in REQUIRED_TARGETS} == header_values:
                problems.append("a second header row; the file must have exactly one header row")
            else:
                row = parse_row(fields, positions, problems)
                if row is not None and not problems:
                    earlier = seen.setdefault(row.prefix, line)
                    if earlier != line:
                        problems.append(f"duplicate prefix {row.prefix}: also on line {earlier}")
                    else:
                        yield row
                        continue
            self.rejected += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(LineError(line, "; ".join(problems)))

    def _problems_of_line(self, first: int, last: int) -> list[str]:
        if not self.decode_errors:
            return []
        return [self.decode_errors[number] for number in range(first, last + 1) if number in self.decode_errors]


def parse_row(fields: list[str], positions: dict[str, int | None], problems: list[str]) -> DeckRow | None:
    """Validate one line's mapped fields; append a reason per bad field and return None if any."""

    def value(target: str) -> str:
        position = positions[target]
        return fields[position].strip() if position is not None else ""

    prefix = value("Prefix").removeprefix("+")
    if not prefix:
        problems.append("Prefix is empty")
    elif not (prefix.isascii() and prefix.isdigit()):
        problems.append(f"Prefix {prefix!r} is not digits")
    elif len(prefix) > E164_MAX_DIGITS:
        problems.append(f"Prefix {prefix!r} is longer than {E164_MAX_DIGITS} digits")
    description = value("Description")
    if not description:
        problems.append("Description is empty")
    rate = parse_amount("RateValue", value("RateValue"), problems, required=True)
    first = step = 0
    increment = value("Increment")
    if not increment:
        problems.append("Increment is empty")
    else:
        try:
            first, step = parse_increment(increment)
        except IncrementError as exc:
            problems.append(str(exc))
    connect_fee = parse_amount("ConnectFee", value("ConnectFee"), problems, required=False)
    grace = value("GraceSeconds")
    grace_seconds = 0
    if grace:
        if not grace.isdigit() or int(grace) > MAX_GRACE_SECONDS:
            problems.append(f"GraceSeconds {grace!r} is not whole seconds from 0 to {MAX_GRACE_SECONDS}")
        else:
            grace_seconds = int(grace)
    if problems or rate is None or connect_fee is None:
        return None
    return DeckRow(
        prefix,
        description,
        rate,
        first,
        step,
        connect_fee,
        grace_seconds,
        value("ShortDescription"),
        value("Lastratechangedate"),
        value("Oldrate"),
        value("RatePremium"),
    )


def parse_amount(target: str, text: str, problems: list[str], *, required: bool) -> Decimal | None:
    """Parse a non-negative amount of at most 6 decimals; blank is 0 unless required."""
    if not text:
        if required:
            problems.append(f"{target} is empty")
            return None
        return Decimal(0)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        problems.append(f"{target} {text!r} is not a number")
        return None
    if not amount.is_finite():
        problems.append(f"{target} {text!r} is not a number")
        return None
    if amount < 0:
        problems.append(f"{target} {text!r} is negative")
        return None
    if decimals_of(amount) > RATE_DECIMALS:
        problems.append(f"{target} {text!r} has more than {RATE_DECIMALS} decimals")
        return None
    return amount


def canonical_amount(amount: Decimal) -> str:
    """Write an amount without trailing zeros or exponent (`0.010000` -> `0.01`)."""
    normal = amount.normalize()
    return format(normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal, "f")


class ContentDigest:
    """An order-independent digest of a deck's rows: identical content gives the same digest in any order."""

    MODULUS = 1 << 256

    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def add(self, row: DeckRow) -> None:
        """Fold one row, in its normalised form, into the digest."""
        text = "\x1f".join(
            (
                row.prefix,
                row.description,
                canonical_amount(row.rate),
                str(row.first),
                str(row.step),
                canonical_amount(row.connect_fee),
                str(row.grace_seconds),
                row.short_description,
                row.last_rate_change,
                row.old_rate,
                row.rate_premium,
            )
        )
        self.total = (self.total + int.from_bytes(hashlib.blake2b(text.encode(), digest_size=32).digest())) % (
            self.MODULUS
        )
        self.count += 1

    def hexdigest(self) -> str:
        """Return the row count and the digest, as stored on the version."""
        return f"{self.count}:{self.total:064x}"
