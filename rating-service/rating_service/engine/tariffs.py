"""Compiled tariff versions: a dict of prefix -> rate probed from the longest prefix length down."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from .cost import mark_up


class TariffRate(NamedTuple):
    """One prefix of a tariff version, money in millionths so rating needs no Decimal arithmetic."""

    prefix: str
    description: str
    rate_micro: int
    first: int
    step: int
    connect_micro: int
    grace_seconds: int


class MarkedRate(NamedTuple):
    """A tariff rate after a package's markup: what the client pays per minute and per connection."""

    rate_micro: int
    connect_micro: int


class PrefixTable:
    """Longest-prefix lookup over a dict: try each prefix length present, longest first."""

    __slots__ = ("by_prefix", "lengths")

    def __init__(self, by_prefix: dict[str, object]):
        self.by_prefix = by_prefix
        self.lengths = sorted({len(prefix) for prefix in by_prefix}, reverse=True)

    def lookup(self, number: str) -> object | None:
        """Return the entry of the longest prefix of `number`, or None; an empty prefix matches all."""
        get = self.by_prefix.get
        size = len(number)
        for length in self.lengths:
            if length <= size:
                entry = get(number[:length])
                if entry is not None:
                    return entry
        return None

    def __len__(self) -> int:
        return len(self.by_prefix)


class CompiledTariff(PrefixTable):
    """One immutable tariff version ready for rating, with memoised marked-up rates per markup."""

    __slots__ = ("_marked", "version_id", "version_number")

    def __init__(self, version_id: int, version_number: int, rates: Iterable[TariffRate]):
        super().__init__({rate.prefix: rate for rate in rates})
        self.version_id = version_id
        self.version_number = version_number
        self._marked: dict[Decimal, dict[str, MarkedRate]] = {}

    def marked(self, rate: TariffRate, markup_percent: Decimal) -> MarkedRate:
        """Return `rate` with the markup applied to its rate and connect fee (memoised per prefix)."""
        memo = self._marked.get(markup_percent)
        if memo is None:
            memo = self._marked.setdefault(markup_percent, {})
        marked = memo.get(rate.prefix)
        if marked is None:
            marked = MarkedRate(mark_up(rate.rate_micro, markup_percent), mark_up(rate.connect_micro, markup_percent))
            memo[rate.prefix] = marked
        return marked


@dataclass(frozen=True, slots=True)
class VersionRef:
    """Where a tariff version sits in time: its id, number and start as a UTC timestamp."""

    version_id: int
    number: int
    effective_from: float


class VersionTimeline:
    """The versions of one tariff by `effective_from`; a call before the first version uses the first."""

    __slots__ = ("refs", "starts")

    def __init__(self, refs: Iterable[VersionRef]):
        self.refs = sorted(refs, key=lambda ref: (ref.effective_from, ref.number))
        self.starts = [ref.effective_from for ref in self.refs]

    def at(self, timestamp: float) -> VersionRef | None:
        """Return the version in force at `timestamp` (the latest that started at or before it)."""
        if not self.refs:
            return None
        index = bisect_right(self.starts, timestamp) - 1
        return self.refs[max(index, 0)]


class TariffCache:
    """Compiled versions per process, least recently used dropped first; versions never change once made.

    Only *which* version is in force can change (a new import), and that is read from the database per
    batch, so every process sees a new version on its next batch without any invalidation message.
    """

    def __init__(self, loader: Callable[[int], CompiledTariff], max_versions: int = 8):
        self.loader = loader
        self.max_versions = max_versions
        self._versions: OrderedDict[int, CompiledTariff] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int) -> CompiledTariff:
        """Return the compiled version, loading and compiling it on first use."""
        with self._lock:
            compiled = self._versions.get(version_id)
            if compiled is not None:
                self._versions.move_to_end(version_id)
                return compiled
        compiled = self.loader(version_id)
        with self._lock:
            self._versions[version_id] = compiled
            while len(self._versions) > self.max_versions:
                self._versions.popitem(last=False)
        return compiled
