"""Parsing the WHMCS service fields of each provider into tenant, DIDs and extensions."""

import pytest

from cdr_service.assignments import parse_assignment
from tollgate_common.errors import InvalidInput


@pytest.mark.smoke
def test_fusionpbx_fields_tolerate_spacing():
    """`tenant | main DID` and `2112|2113 |  2114` parse whatever the spacing."""
    parsed = parse_assignment("fusionpbx", " mcon.wat7.ictvoip.ca|5192229000 ", "2112|2113 |  2114", {})
    assert parsed.tenant == "mcon.wat7.ictvoip.ca"
    assert parsed.main_did == "5192229000"
    assert parsed.extensions == ["2112", "2113", "2114"]


def test_fusionpbx_without_extensions_bills_the_whole_tenant():
    """An empty username field means every extension of the tenant."""
    parsed = parse_assignment("fusionpbx", "acme.pbx.example", "", {})
    assert parsed.extensions == [] and parsed.main_did is None


def test_vodia_fields_split_dids_and_extensions():
    """`tenant | DID | DID | ext` keeps DIDs and extensions apart; username is the billed number."""
    parsed = parse_assignment("vodia", "rucken.wat1.ictvoip.ca | 5484815577 | 5197830020 | 8300", "8300", {})
    assert parsed.tenant == "rucken.wat1.ictvoip.ca"
    assert parsed.dids == ["5484815577", "5197830020"]
    assert parsed.extensions == ["8300"]
    assert parsed.billed_number == "8300"


def test_lesnet_fields_and_custom_fields():
    """`Peer | DID` plus Peer ID, DID(s) Attached to Peer and CDR Link custom fields."""
    parsed = parse_assignment(
        "lesnet",
        "d4e3cd2bfc791 | 12046664021",
        "12046664021",
        {
            "Peer ID": "D4E3CD2BFC791",
            "DID(s) Attached to Peer": "12046664021, 12046664022",
            "CDR Link": "https://portal.les.net/cdr/11330_0000.txt",
        },
    )
    assert parsed.tenant == "D4E3CD2BFC791"
    assert parsed.dids == ["12046664021", "12046664022"]
    assert parsed.cdr_link == "https://portal.les.net/cdr/11330_0000.txt"


@pytest.mark.parametrize(
    ("kind", "domain", "username", "custom", "field"),
    [
        ("fusionpbx", "", "2112", {}, "domain"),
        ("fusionpbx", "acme.example | 12ab", "2112", {}, "domain"),
        ("fusionpbx", "acme.example | 5192229000 | extra", "", {}, "domain"),
        ("fusionpbx", "acme.example", "2112 | sales", {}, "username"),
        ("vodia", "tenant.example | 12ab34", "8300", {}, "domain"),
        ("vodia", "tenant.example", "ext 8300", {}, "username"),
        ("lesnet", "NOTAPEER | 12046664021", "", {"CDR Link": "https://portal.les.net/x.txt"}, "domain"),
        ("lesnet", "D4E3CD2BFC791 | 12046664021", "", {}, "custom_fields.CDR Link"),
        ("lesnet", "D4E3CD2BFC791", "", {"CDR Link": "https://x/y", "DID(s)": "12ab"}, "custom_fields.DID(s)"),
    ],
)
def test_malformed_field_is_named(kind, domain, username, custom, field):
    """A malformed field is rejected with its name in the error details."""
    with pytest.raises(InvalidInput) as caught:
        parse_assignment(kind, domain, username, custom)
    assert field in caught.value.details["fields"]
