"""Per-server call filters (billing-rules §3): comma-separated digit patterns and keywords."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

KEYWORDS = frozenset({"[inbound]", "[outbound]", "[local]"})
_TOKEN = re.compile(r"[0-9xX*#]+")


class FilterSyntaxError(ValueError):
    """A pattern list holds a token outside the grammar; `token` and `position` say which."""

    def __init__(self, token: str, position: int):
        super().__init__(
            f"pattern {position} {token!r} is not digits, x (one digit), * or #, nor one of {sorted(KEYWORDS)}"
        )
        self.token = token
        self.position = position


@dataclass(frozen=True, slots=True)
class PatternList:
    """One compiled list: its keywords and one anchored regex for all digit patterns."""

    text: str
    keywords: frozenset[str]
    regex: re.Pattern[str] | None

    def matches(self, candidates: Iterable[str], direction: str, is_local: bool) -> bool:
        """True when a keyword applies to the call or a pattern matches a candidate whole."""
        if self.keywords:
            if f"[{direction}]" in self.keywords:
                return True
            if is_local and "[local]" in self.keywords:
                return True
        if self.regex is not None:
            fullmatch = self.regex.fullmatch
            return any(candidate and fullmatch(candidate) for candidate in candidates)
        return False


EMPTY = PatternList("", frozenset(), None)


def parse_patterns(text: str | None) -> PatternList:
    """Compile a comma-separated list; blanks between commas are ignored, anything else must parse."""
    keywords: set[str] = set()
    alternatives: list[str] = []
    for position, raw in enumerate((text or "").split(","), start=1):
        token = raw.strip()
        if not token:
            continue
        if token.lower() in KEYWORDS:
            keywords.add(token.lower())
        elif _TOKEN.fullmatch(token):
            alternatives.append("".join(r"\d" if ch in "xX" else re.escape(ch) for ch in token))
        else:
            raise FilterSyntaxError(token, position)
    regex = re.compile("(?:" + "|".join(alternatives) + ")") if alternatives else None
    return PatternList(text or "", frozenset(keywords), regex)


@dataclass(frozen=True, slots=True)
class ServerFilters:
    """The two lists of one server: suppressed calls are hidden, excluded calls are shown but not billed."""

    suppress: PatternList = EMPTY
    exclude_from_billing: PatternList = EMPTY


NO_FILTERS = ServerFilters()


def compile_filters(suppress: str | None, exclude_from_billing: str | None) -> ServerFilters:
    """Compile both lists; a FilterSyntaxError names the bad token (the caller adds the field)."""
    return ServerFilters(parse_patterns(suppress), parse_patterns(exclude_from_billing))
