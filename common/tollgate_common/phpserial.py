"""PHP serialize()/unserialize() for the values WHMCS exchanges: strings, numbers, booleans, null, arrays."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any


def dumps(value: Any) -> bytes:
    """Serialise `value` the way PHP's serialize() does; dicts and lists become PHP arrays."""
    if value is None:
        return b"N;"
    if isinstance(value, bool):
        return b"b:%d;" % int(value)
    if isinstance(value, int):
        return b"i:%d;" % value
    if isinstance(value, (float, Decimal)):
        return b"d:" + format(value, "f").encode() + b";"
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return b's:%d:"' % len(raw) + raw + b'";'
    if isinstance(value, bytes):
        return b's:%d:"' % len(value) + value + b'";'
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        body = b"".join(dumps(_array_key(key)) + dumps(item) for key, item in value.items())
        return b"a:%d:{" % len(value) + body + b"}"
    raise TypeError(f"cannot serialise {type(value).__name__} for PHP")


def loads(data: bytes | str) -> Any:
    """Parse one PHP-serialised value; arrays come back as dicts keyed by int or str."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    value, end = _parse(raw, 0)
    if end != len(raw):
        raise ValueError(f"trailing data after PHP value at byte {end}")
    return value


def encode_base64(value: Any) -> str:
    """Return base64(serialize(value)), the form WHMCS expects for customfields and customvars."""
    return base64.b64encode(dumps(value)).decode("ascii")


def decode_base64(text: str) -> Any:
    """Reverse `encode_base64`; raises ValueError on anything that is not base64 of a PHP value."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
    return loads(raw)


def _array_key(key: Any) -> Any:
    # PHP turns integer-like string keys into integers, so "12" and 12 are one key.
    if isinstance(key, str) and key.isdigit() and (key == "0" or not key.startswith("0")):
        return int(key)
    if isinstance(key, (int, str)):
        return key
    raise TypeError(f"PHP array keys are int or str, not {type(key).__name__}")


def _parse(raw: bytes, pos: int) -> tuple[Any, int]:
    kind = raw[pos : pos + 1]
    if kind == b"N":
        _expect(raw, pos + 1, b";")
        return None, pos + 2
    if kind in (b"b", b"i", b"d"):
        _expect(raw, pos + 1, b":")
        end = raw.index(b";", pos + 2)
        text = raw[pos + 2 : end].decode("ascii")
        if kind == b"b":
            return text == "1", end + 1
        if kind == b"i":
            return int(text), end + 1
        return Decimal(text), end + 1
    if kind == b"s":
        _expect(raw, pos + 1, b":")
        colon = raw.index(b":", pos + 2)
        length = int(raw[pos + 2 : colon])
        start = colon + 2
        _expect(raw, colon + 1, b'"')
        _expect(raw, start + length, b'";')
        return raw[start : start + length].decode("utf-8"), start + length + 2
    if kind == b"a":
        _expect(raw, pos + 1, b":")
        colon = raw.index(b":", pos + 2)
        count = int(raw[pos + 2 : colon])
        _expect(raw, colon + 1, b"{")
        cursor = colon + 2
        result: dict[Any, Any] = {}
        for _ in range(count):
            key, cursor = _parse(raw, cursor)
            if not isinstance(key, (int, str)):
                raise ValueError(f"PHP array key at byte {cursor} is not int or str")
            result[key], cursor = _parse(raw, cursor)
        _expect(raw, cursor, b"}")
        return result, cursor + 1
    raise ValueError(f"unsupported PHP value {kind!r} at byte {pos}")


def _expect(raw: bytes, pos: int, token: bytes) -> None:
    if raw[pos : pos + len(token)] != token:
        raise ValueError(f"expected {token!r} at byte {pos}")
