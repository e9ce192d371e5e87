"""Importing rate decks: formats accepted, every bad line named, versions, mapping reuse, export round trip."""

import csv
import io

import pytest

STANDARD_MAPPING = {"Description": "Description", "Prefix": "Prefix", "Rate": "RateValue", "Increment": "Increment"}
GOOD_DECK = "Description,Prefix,Rate,Increment\nCanada - 204 Manitoba,1204,0.01,6\nUK,+44,0.02,30/6\n"


def current_rates(client, tariff_id):
    """Return (version, rates by prefix) in force for a tariff."""
    response = client.get(f"/v1/tariffs/{tariff_id}/rates")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["version"], {rate["prefix"]: rate for rate in body["rates"]}


@pytest.fixture
def tariff_id(api):
    """A tariff whose version 1 holds GOOD_DECK."""
    tariff_id = api.create_tariff()
    api.import_ok(tariff_id, GOOD_DECK)
    return tariff_id


@pytest.mark.smoke
def test_import_stores_rates_as_version_one(api, client):
    """A good deck becomes version 1 with every row, a leading + stripped from prefixes."""
    tariff_id = api.create_tariff()
    result = api.import_ok(tariff_id, GOOD_DECK)
    assert (result["version"], result["imported"], result["rejected"]) == (1, 2, [])
    version, rates = current_rates(client, tariff_id)
    assert version == 1
    assert rates["1204"]["rate"] == "0.01"
    assert rates["44"]["increment"] == "30/6"
    assert rates["1204"]["description"] == "Canada - 204 Manitoba"


@pytest.mark.parametrize(
    ("content", "expected_line", "expected_error"),
    [
        (
            "Description,Prefix,Rate\nCanada,1204,0.01\n",
            1,
            "no column 'Increment'",
        ),
        (
            "Description,Prefix,Rate,Increment\nDescription,Prefix,Rate,Increment\nCanada,1204,0.01,6\n",
            2,
            "second header row",
        ),
        ("Description,Prefix,Rate,Increment\nCanada,1204,abc,6\n", 2, "RateValue 'abc' is not a number"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,-0.01,6\n", 2, "RateValue '-0.01' is negative"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.01,6/0\n", 2, "the step must be at least 1 second"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.01,six\n", 2, "increment 'six' is not I or F/N"),
        (
            "Description,Prefix,Rate,Increment\nCanada,1204,0.01,6\nUK,44,0.02,6\nManitoba,1204,0.02,6\n",
            4,
            "duplicate prefix 1204: also on line 2",
        ),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.01,6\n\nUK,44,0.02,6\n", 3, "blank line"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.01,6\n,,,\n", 3, "blank line"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.01\n", 2, "ragged line: 3 fields, the header has 4"),
        ("Description,Prefix,Rate,Increment\n,1204,0.01,6\n", 2, "Description is empty"),
        ("Description,Prefix,Rate,Increment\nCanada,12a4,0.01,6\n", 2, "Prefix '12a4' is not digits"),
        ("Description,Prefix,Rate,Increment\nCanada,1204,0.0000001,6\n", 2, "more than 6 decimals"),
        (
            "Description,Prefix,Rate,Increment\nCanada,1204,0.01,6\nM\xe9xico,52,0.05,60\n".encode("latin-1"),
            3,
            "byte 0xe9 at column 2 is not UTF-8",
        ),
    ],
    ids=[
        "missing-required-column",
        "two-header-rows",
        "non-numeric-rate",
        "negative-rate",
        "zero-step-increment",
        "bad-increment",
        "duplicate-prefix",
        "blank-line",
        "delimiter-only-line",
        "ragged-line",
        "missing-description",
        "non-digit-prefix",
        "too-many-decimals",
        "latin-1-bytes",
    ],
)
def test_bad_deck_names_the_line_and_keeps_the_previous_version(
    api, client, tariff_id, content, expected_line, expected_error
):
    """Each kind of bad line gives a 422 naming line and reason; nothing is imported, version 1 stays."""
    response = api.upload(tariff_id, content, STANDARD_MAPPING)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "deck_rejected"
    rejected = error["details"]["rejected"]
    assert any(item["line"] == expected_line and expected_error in item["error"] for item in rejected), rejected
    version, rates = current_rates(client, tariff_id)
    assert version == 1
    assert set(rates) == {"1204", "44"}
    assert len(client.get(f"/v1/tariffs/{tariff_id}").get_json()["versions"]) == 1


def test_every_bad_line_is_reported_not_only_the_first(api, tariff_id):
    """Three bad lines give three entries, in file order."""
    deck = "Description,Prefix,Rate,Increment\nA,1,x,6\nB,2,0.1,6\nC,3,-1,6\nD,,0.1,6\n"
    rejected = api.upload(tariff_id, deck, STANDARD_MAPPING).get_json()["error"]["details"]["rejected"]
    assert [item["line"] for item in rejected] == [2, 4, 5]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_and_bom_are_accepted(api, client, delimiter):
    """Comma, semicolon and tab decks, with a UTF-8 BOM, import the same rates."""
    tariff_id = api.create_tariff()
    rows = [["Description", "Prefix", "Rate", "Increment"], ["Côte d'Ivoire", "225", "0.15", "60/60"]]
    content = "\ufeff" + "\n".join(delimiter.join(row) for row in rows) + "\n"
    api.import_ok(tariff_id, content.encode("utf-8"))
    _, rates = current_rates(client, tariff_id)
    assert rates["225"]["description"] == "Côte d'Ivoire"
    assert rates["225"]["increment"] == "60"


def test_unmapped_columns_are_ignored_and_optional_ones_kept(api, client):
    """Extra carrier columns are ignored; optional targets like ShortDescription and Oldrate are stored."""
    tariff_id = api.create_tariff()
    deck = "Code,Name,Price,Billing,Notes,Short,Old\n1204,Manitoba,0.01,1/1,call us,MB,0.011\n"
    mapping = {
        "Code": "Prefix",
        "Name": "Description",
        "Price": "RateValue",
        "Billing": "Increment",
        "Notes": "",
        "Short": "ShortDescription",
        "Old": "Oldrate",
    }
    api.import_ok(tariff_id, deck, mapping)
    _, rates = current_rates(client, tariff_id)
    assert (rates["1204"]["short_description"], rates["1204"]["old_rate"]) == ("MB", "0.011")


def test_saved_mapping_is_reused_when_the_next_file_has_none(api, client):
    """The second upload without a mapping is read with the first one's."""
    tariff_id = api.create_tariff()
    mapping = {"Code": "Prefix", "Name": "Description", "Price": "RateValue", "Billing": "Increment"}
    api.import_ok(tariff_id, "Code,Name,Price,Billing\n1204,Manitoba,0.01,6\n", mapping)
    result = api.import_ok(tariff_id, "Code,Name,Price,Billing\n1204,Manitoba,0.02,6\n", mapping=None)
    assert result["version"] == 2
    assert client.get(f"/v1/tariffs/{tariff_id}").get_json()["mapping"] == mapping


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Description": "Description", "Prefix": "Prefix", "Rate": "RateValue"}, "required target(s) ['Increment']"),
        ({**STANDARD_MAPPING, "Rate": "Price"}, "not one of"),
        ({**STANDARD_MAPPING, "Increment": "Prefix"}, "both map to Prefix"),
    ],
)
def test_bad_mapping_is_a_clear_422(api, mapping, message):
    """A mapping without a required target, with an unknown target or a target twice is refused."""
    tariff_id = api.create_tariff()
    response = api.upload(tariff_id, GOOD_DECK, mapping)
    assert response.status_code == 422
    assert message in response.get_json()["error"]["message"]


def test_identical_content_makes_no_new_version(api, client, tariff_id):
    """Re-importing the same rates (in another order) answers version 1 and creates nothing."""
    reordered = "Description,Prefix,Rate,Increment\nUK,44,0.020,30/6\nCanada - 204 Manitoba,1204,0.01,6/6\n"
    result = api.import_ok(tariff_id, reordered)
    assert (result["version"], result["created"], result["imported"]) == (1, False, 0)
    assert len(client.get(f"/v1/tariffs/{tariff_id}").get_json()["versions"]) == 1


def test_new_version_is_used_from_its_effective_date(api):
    """Calls before a future version's effective_from use the old rate, calls after it the new one."""
    tariff_id = api.create_tariff()
    api.import_ok(tariff_id, GOOD_DECK, effective_from="2026-01-01T00:00:00Z")
    changed = GOOD_DECK.replace("0.01,6", "0.03,6")
    assert api.import_ok(tariff_id, changed, effective_from="2026-06-01T00:00:00Z")["version"] == 2
    package = api.create_package(tariff_id=tariff_id)
    before = api.quote(package["id"], "12045550100", 60, start="2026-05-31T23:59:59Z")
    after = api.quote(package["id"], "12045550100", 60, start="2026-06-01T00:00:00Z")
    early = api.quote(package["id"], "12045550100", 60, start="2025-12-01T00:00:00Z")
    assert (before["rate_per_minute"], before["tariff_version"]) == ("0.01", 1)
    assert (after["rate_per_minute"], after["tariff_version"]) == ("0.03", 2)
    assert early["tariff_version"] == 1


def test_export_then_import_gives_identical_rates(api, client):
    """An exported version imported into a new tariff (no mapping needed) has the very same rates."""
    tariff_id = api.create_tariff()
    deck = (
        "Description,Prefix,Rate,Increment,Setup,Grace,Short\n"
        '"Canada, Manitoba",1204,0.0100,6,0.05,3,MB\n'
        "UK,44,0.02,30/6,0,0,\n"
    )
    mapping = {**STANDARD_MAPPING, "Setup": "ConnectFee", "Grace": "GraceSeconds", "Short": "ShortDescription"}
    api.import_ok(tariff_id, deck, mapping)
    exported = client.get(f"/v1/tariffs/{tariff_id}/export")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    copy_id = api.create_tariff("Copy")
    response = api.upload(copy_id, exported.data)
    assert response.status_code == 200, response.get_json()
    assert current_rates(client, copy_id)[1] == current_rates(client, tariff_id)[1]
    again = api.upload(tariff_id, exported.data)
    assert again.get_json()["created"] is False


def test_old_versions_stay_readable_and_exportable(api, client, tariff_id):
    """After version 2 lands, version 1 can still be listed and exported."""
    api.import_ok(tariff_id, GOOD_DECK.replace("0.01,6", "0.03,6"))
    assert client.get(f"/v1/tariffs/{tariff_id}/rates?version=1").get_json()["rates"][0]["rate"] == "0.01"
    rows = list(csv.DictReader(io.StringIO(client.get(f"/v1/tariffs/{tariff_id}/export?version=1").text)))
    assert {row["Prefix"]: row["RateValue"] for row in rows} == {"1204": "0.01", "44": "0.02"}


def test_rates_search_by_prefix_and_description(api, client, tariff_id):
    """`prefix` narrows to prefixes starting with it, `q` to descriptions containing it."""
    assert [r["prefix"] for r in client.get(f"/v1/tariffs/{tariff_id}/rates?prefix=12").get_json()["rates"]] == ["1204"]
    assert [r["prefix"] for r in client.get(f"/v1/tariffs/{tariff_id}/rates?q=uk").get_json()["rates"]] == ["44"]


def test_unknown_tariff_is_404(api):
    """Importing into a tariff that does not exist is a 404, not a new tariff."""
    assert api.upload(999, GOOD_DECK, STANDARD_MAPPING).status_code == 404


def test_duplicate_tariff_name_is_409(api):
    """Two tariffs cannot share a name."""
    api.create_tariff("Telnyx_Outbound_2026_11")
    response = api.client.post("/v1/tariffs", json={"name": "Telnyx_Outbound_2026_11"})
    assert response.status_code == 409


def test_a_deck_failing_everywhere_lists_the_first_thousand_lines_and_counts_all(api, tariff_id):
    """1,200 bad lines give 1,000 listed entries and rejected_total 1,200."""
    deck = "Description,Prefix,Rate,Increment\n" + "".join(f"D{n},{n},bad,6\n" for n in range(1, 1201))
    details = api.upload(tariff_id, deck, STANDARD_MAPPING).get_json()["error"]["details"]
    assert (len(details["rejected"]), details["rejected_total"]) == (1000, 1200)


def test_effective_from_without_zone_is_utc_and_a_missing_file_is_named(api, client):
    """`2026-12-01T00:00:00` is read as UTC; an upload with no file part is a 422 naming `file`."""
    tariff_id = api.create_tariff()
    result = api.import_ok(tariff_id, GOOD_DECK, effective_from="2026-12-01T00:00:00")
    assert result["effective_from"].startswith("2026-12-01T00:00:00") and result["effective_from"].endswith("+00:00")
    response = client.post(f"/v1/tariffs/{tariff_id}/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["details"]["fields"]


def test_header_without_rates_imports_nothing(api, tariff_id):
    """A file with only its header row is refused; version 1 stays."""
    response = api.upload(tariff_id, "Description,Prefix,Rate,Increment\n", STANDARD_MAPPING)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["rejected"] == [
        {"line": 2, "error": "no rate lines after the header"}
    ]


def test_a_deck_spooled_to_disk_by_the_upload_imports_whole(api, client):
    """A 40,000-row deck (over 1 MB, so the upload is spooled to a temporary file) imports every row."""
    tariff_id = api.create_tariff()
    rows = "".join(f"Destination number {n},{100000 + n},0.0{n % 9 + 1},6\n" for n in range(40000))
    result = api.import_ok(tariff_id, "Description,Prefix,Rate,Increment\n" + rows)
    assert result["imported"] == 40000
    assert client.get(f"/v1/tariffs/{tariff_id}/rates?prefix=139999").get_json()["rates"][0]["rate"] == "0.04"


def test_tariffs_are_listed_with_their_versions(api, client, tariff_id):
    """GET /v1/tariffs shows each tariff, its saved mapping and its versions with their row counts."""
    api.create_tariff("Empty")
    listed = {tariff["name"]: tariff for tariff in client.get("/v1/tariffs").get_json()}
    assert [(version["number"], version["rate_count"]) for version in listed["Carrier"]["versions"]] == [(1, 2)]
    assert listed["Carrier"]["mapping"] == STANDARD_MAPPING
    assert listed["Empty"]["versions"] == []


def test_import_form_is_documented_as_one_multipart_body(client):
    """The OpenAPI document shows the deck and its text parts in one multipart/form-data body."""
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/tariffs/{tariff_id}/import"]["post"]
    assert all(parameter["in"] in {"path", "query", "header"} for parameter in operation.get("parameters", []))
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    form = spec["components"]["schemas"][body]
    assert set(form["properties"]) == {"file", "mapping", "effective_from"}
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert form["required"] == ["file"]
