"""Request and response shapes of WHMCS's api.php: PHP form arrays in, JSON / XML / NVP out."""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.datastructures import MultiDict

LIST_ACTIONS = frozenset(
    {"getclients", "getclientsproducts", "getinvoices", "getcredits", "getproducts", "getorders", "gettickets"}
)
"""Actions WHMCS answers in XML when `responsetype` is omitted; the others default to NVP."""

_ARRAY_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")

PHP_FATAL_PAGE = (
    "<html><head><title>500 Internal Server Error</title></head><body>\n"
    "<b>Fatal error</b>: Uncaught Error: Call to a member function fetch() on null in "
    "/var/www/whmcs/vendor/whmcs/whmcs-foundation/lib/Api/V1/Handler.php:182\n</body></html>\n"
)

LOST_REPLY_PAGE = (
    "<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>\n"
)


def php_params(values: MultiDict) -> dict[str, Any]:
    """Merge form fields the way PHP does: `a[b]=1` becomes {"a": {"b": "1"}} and `a[]` appends."""
    params: dict[str, Any] = {}
    for key, value in values.items(multi=True):
        match = _ARRAY_KEY.match(key)
        if not match:
            params[key] = value
            continue
        node = params.setdefault(match.group(1), {})
        if not isinstance(node, dict):
            node = params[match.group(1)] = {}
        parts = re.findall(r"\[([^\[\]]*)\]", match.group(2))
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            name: Any = part if part != "" else len(node)
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    return params


def action_name(raw: str) -> str:
    """Normalise an action as WHMCS does: lower-case, alphanumerics only."""
    return re.sub(r"[^a-z0-9]", "", raw.lower())


def to_xml(payload: dict[str, Any]) -> str:
    """Render a reply as WHMCS's `<whmcsapi>` XML document."""
    return f'<?xml version="1.0" encoding="utf-8"?>\n<whmcsapi version="8.7.2">\n{_xml_items(payload)}</whmcsapi>\n'


def _xml_items(value: Any) -> str:
    parts = []
    for key, item in value.items():
        if isinstance(item, list):
            parts.extend(
                f"<{key}>\n{_xml_items(entry) if isinstance(entry, dict) else escape(str(entry))}</{key}>\n"
                for entry in item
            )
        elif isinstance(item, dict):
            parts.append(f"<{key}>\n{_xml_items(item)}</{key}>\n")
        else:
            parts.append(f"<{key}>{escape(str(item))}</{key}>\n")
    return "".join(parts)


def to_nvp(payload: dict[str, Any]) -> str:
    """Render a flat reply as WHMCS's `key=value;` NVP text."""
    return "".join(f"{key}={value};" for key, value in payload.items() if not isinstance(value, (dict, list)))
