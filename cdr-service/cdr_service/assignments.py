"""Parse the WHMCS service fields (domain, username, custom fields) into what a service bills, per provider."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tollgate_common.errors import InvalidInput

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
PEER_ID_PATTERN = re.compile(r"^[0-9A-F]{13}$")
EXTENSION_MAX_DIGITS = 6
"""Vodia domain fields mix DIDs and extensions; a token this short or shorter is an extension."""

LESNET_FIELD_ALIASES = {
    "peerid": "peer_id",
    "didsattachedtopeer": "dids",
    "dids": "dids",
    "did": "dids",
    "cdrlink": "cdr_link",
}
"""LesNet product custom fields, by their name lower-cased with everything outside [0-9a-z] removed."""


@dataclass(frozen=True)
class ParsedAssignment:
    """What a WHMCS service bills: the tenant (domain or peer), its DIDs and extensions."""

    tenant: str
    main_did: str | None = None
    dids: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    billed_number: str | None = None
    cdr_link: str | None = None


def split_field(value: str | None) -> list[str]:
    """Split a `a | b | c` field, tolerant of spacing and empty parts."""
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def clean_number(token: str) -> str:
    """Drop the punctuation people type into phone numbers (`+1 (519) 222-9000`)."""
    return re.sub(r"[\s().+-]", "", token)


def parse_assignment(
    kind: str, domain: str | None, username: str | None, custom_fields: dict[str, str] | None
) -> ParsedAssignment:
    """Parse the fields for a server of `kind`, or raise InvalidInput naming each malformed field."""
    parsers = {"fusionpbx": parse_fusionpbx, "vodia": parse_vodia, "lesnet": parse_lesnet}
    try:
        parser = parsers[kind]
    except KeyError:
        raise InvalidInput(f"server kind {kind!r} has no service fields", {"fields": {"server_id": kind}}) from None
    return parser(domain or "", username or "", custom_fields or {})


def parse_fusionpbx(domain: str, username: str, _custom: dict[str, str]) -> ParsedAssignment:
    """`tenant | main DID` in the domain field; `2112 | 2113 | 2114` (the billed extensions) in username."""
    errors: dict[str, str] = {}
    parts = split_field(domain)
    tenant, main_did = (parts[0] if parts else ""), None
    if not parts or not TENANT_PATTERN.match(tenant):
        errors["domain"] = f"expected 'tenant-domain | main DID', got {domain!r}"
    elif len(parts) > 2:
        errors["domain"] = f"expected 'tenant-domain | main DID' (two parts), got {len(parts)} parts"
    elif len(parts) == 2:
        main_did = clean_number(parts[1])
        if not is_did(main_did):
            errors["domain"] = f"main DID {parts[1]!r} is not a phone number of 7 to 15 digits"
    extensions = [clean_number(part) for part in split_field(username)]
    bad = [part for part in extensions if not part.isdigit()]
    if bad:
        errors["username"] = f"extensions must be digits separated by '|', e.g. '2112 | 2113'; bad: {bad}"
    raise_if(errors)
    return ParsedAssignment(
        tenant=tenant.lower(), main_did=main_did, dids=[main_did] if main_did else [], extensions=extensions
    )


def parse_vodia(domain: str, username: str, _custom: dict[str, str]) -> ParsedAssignment:
    """`tenant | DID | DID | ext` in the domain field; the billed DID or extension in username."""
    errors: dict[str, str] = {}
    parts = split_field(domain)
    tenant = parts[0] if parts else ""
    dids: list[str] = []
    extensions: list[str] = []
    if not parts or not TENANT_PATTERN.match(tenant):
        errors["domain"] = f"expected 'tenant | DID | DID | ext', got {domain!r}"
    else:
        for token in parts[1:]:
            number = clean_number(token)
            if number.isdigit() and len(number) <= EXTENSION_MAX_DIGITS:
                extensions.append(number)
            elif is_did(number):
                dids.append(number)
            else:
                errors["domain"] = f"{token!r} is neither a DID (7-15 digits) nor an extension"
    billed = clean_number(username.strip()) if username.strip() else None
    if billed is not None and not billed.isdigit():
        errors["username"] = f"expected the billed DID or extension (digits), got {username!r}"
    raise_if(errors)
    return ParsedAssignment(
        tenant=tenant.lower(),
        main_did=dids[0] if dids else None,
        dids=dids,
        extensions=extensions,
        billed_number=billed,
    )


def parse_lesnet(domain: str, username: str, custom: dict[str, str]) -> ParsedAssignment:
    """`Peer | DID` in the domain field, plus the custom fields Peer ID, DID(s) and CDR Link."""
    errors: dict[str, str] = {}
    fields = {LESNET_FIELD_ALIASES[key]: value for key, value in normalised_fields(custom).items()}
    parts = split_field(domain)
    peer = (parts[0] if parts else fields.get("peer_id", "")).strip().upper()
    if not PEER_ID_PATTERN.match(peer):
        errors["domain"] = f"expected 'Peer | DID' with a 13-hex-digit peer ID, got {domain!r}"
    custom_peer = fields.get("peer_id", "").strip().upper()
    if custom_peer and custom_peer != peer:
        errors["custom_fields.Peer ID"] = f"{custom_peer!r} differs from the peer in the domain field {peer!r}"
    dids = [clean_number(part) for part in split_field(parts[1] if len(parts) > 1 else "")]
    dids += [clean_number(part) for part in re.split(r"[|,;\s]+", fields.get("dids", "")) if part.strip()]
    bad = [did for did in dids if not is_did(did)]
    if bad:
        errors["custom_fields.DID(s)"] = f"not phone numbers of 7 to 15 digits: {bad}"
    link = fields.get("cdr_link", "").strip()
    if not link:
        errors["custom_fields.CDR Link"] = "the CDR Link (URL of the LesNet CDR file) is required"
    elif not re.match(r"^https?://[^\s/]+/\S*$", link):
        errors["custom_fields.CDR Link"] = f"{link!r} is not a URL"
    billed = clean_number(username.strip()) if username.strip() else None
    if billed is not None and not billed.isdigit():
        errors["username"] = f"expected the billed DID (digits), got {username!r}"
    raise_if(errors)
    unique_dids = list(dict.fromkeys(dids))
    return ParsedAssignment(
        tenant=peer,
        main_did=unique_dids[0] if unique_dids else None,
        dids=unique_dids,
        billed_number=billed,
        cdr_link=link,
    )


def normalised_fields(custom: dict[str, str]) -> dict[str, str]:
    """Key custom fields the way WHMCS merge fields do (lower-case, [0-9a-z] only), keeping known ones."""
    result = {}
    for name, value in custom.items():
        key = re.sub(r"[^0-9a-z]", "", str(name).lower())
        if key in LESNET_FIELD_ALIASES:
            result[key] = "" if value is None else str(value)
    return result


def is_did(number: str) -> bool:
    """Say whether `number` is a phone number of 7 to 15 digits."""
    return number.isdigit() and 7 <= len(number) <= 15


def raise_if(errors: dict[str, str]) -> None:
    """Raise one InvalidInput naming every malformed field, if any."""
    if errors:
        names = ", ".join(sorted(errors))
        raise InvalidInput(f"invalid service fields: {names}", {"fields": errors})
