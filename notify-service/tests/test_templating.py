"""WHMCS template syntax: translation, sandboxed rendering, escaping and validation, without Flask."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from notify_service.defaults import DEFAULT_TEMPLATES
from notify_service.merge import CATALOGUE, client_merge_fields, custom_field_key, merged
from notify_service.templating import TemplateSyntaxError, compile_template, render

CLIENT = {
    "client_id": 42,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company_name": "Analytical Engines",
    "email": "ada@example.com",
    "credit": "1234.5",
    "due_invoices_balance": "20.10",
    "currency_prefix": "$",
    "currency_suffix": "USD",
    "custom_fields": {"Low Balance Threshold": "10", "VoIP Suspended": "None"},
    "services": [
        {"service_id": 7, "product": "SIP Trunk", "usage_current_period": "3.2"},
        {"service_id": 8, "product": "Hosted PBX", "usage_current_period": "1.05"},
    ],
}


def fields(**client_overrides):
    return client_merge_fields({**CLIENT, **client_overrides}, date(2026, 11, 25))


def text(template, **client_overrides):
    return render(template, fields(**client_overrides), CATALOGUE)


@pytest.mark.smoke
def test_merge_fields_are_built_as_whmcs_builds_them():
    """Names, credit and custom fields come out as WHMCS would merge them."""
    data = fields()
    assert data["client_id"] == "42"
    assert data["client_name"] == "Ada Lovelace (Analytical Engines)"
    assert data["client_credit"] == "$1,234.50 USD"
    assert data["client_due_invoices_balance"] == "$20.10 USD"
    assert data["client_custom_field_lowbalancethreshold"] == "10"
    assert data["client_custom_field_voipsuspended"] == "None"
    assert data["voip_usage_current_period"] == "$4.25 USD"
    assert fields(company_name="")["client_name"] == "Ada Lovelace"


def test_custom_field_names_are_lowercased_and_stripped():
    """Custom field keys keep only [0-9a-z] of the lower-cased name, as WHMCS does."""
    assert custom_field_key("Low Balance Threshold") == "client_custom_field_lowbalancethreshold"
    assert custom_field_key("Auto VoIP Top-Up #2") == "client_custom_field_autovoiptopup2"


@pytest.mark.smoke
def test_variables_and_modifiers_render():
    """`{$field}` prints the value and modifiers change it."""
    assert text("Dear {$client_first_name|upper}, you owe {$client_due_invoices_balance}.") == (
        "Dear ADA, you owe $20.10 USD."
    )
    assert text("{$client_company_name|default:'no company'}", company_name="") == "no company"
    assert text("{$client_name|truncate:10}") == "Ada Lov..."


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("$client_credit > 0", "yes"),
        ("$client_credit > 5000", "no"),
        ("$client_credit >= 1234.50", "yes"),
        ("$client_custom_field_lowbalancethreshold == 10", "yes"),
        ("$client_custom_field_lowbalancethreshold eq '10' and $client_id gt 40", "yes"),
        ("!$client_company_name", "no"),
        ("$client_custom_field_voipsuspended == 'Yes' || $client_id == 42", "yes"),
        ("($client_id == 1 or $client_id == 2) and $client_credit > 0", "no"),
    ],
)
def test_conditions_compare_money_as_numbers(condition, expected):
    """`{if}` compares formatted money and numbers numerically and strings as text."""
    assert text("{if " + condition + "}yes{else}no{/if}") == expected


def test_elseif_and_foreach():
    """`{elseif}` picks the first true branch and `{foreach}` walks the client's services."""
    template = (
        "{if $client_credit < 0}negative{elseif $client_credit < 2000}low{else}high{/if}:"
        "{foreach $voip_services as $service}[{$service.product}={$service.usage_current_period}]"
        "{foreachelse}none{/foreach}"
    )
    assert text(template) == "low:[SIP Trunk=$3.20 USD][Hosted PBX=$1.05 USD]"
    assert text(template, services=[]) == "low:none"


@pytest.mark.smoke
def test_client_data_that_looks_like_a_template_comes_out_literally():
    """Jinja or WHMCS syntax inside client data is printed, never evaluated."""
    rendered = text(
        "{$client_first_name} / {$client_last_name}",
        first_name="{{ 7*7 }}",
        last_name="{$client_credit} {% raw %}",
    )
    assert rendered == "{{ 7*7 }} / {$client_credit} {% raw %}"


def test_jinja_syntax_in_a_template_is_plain_text():
    """An operator's template cannot run Jinja: `{{ ... }}` is only text there."""
    assert text("{{ 7*7 }} {{ ''.__class__ }}") == "{{ 7*7 }} {{ ''.__class__ }}"
    with pytest.raises(TemplateSyntaxError, match="unsupported tag"):
        compile_template("{% if true %}x{% endif %}", CATALOGUE)
    assert text("a { b } {ldelim}x{rdelim} {literal}{$client_id}{/literal}{* gone *}") == "a { b } {x} {$client_id}"


def test_html_bodies_escape_values_but_keep_the_template_markup():
    """In an HTML body, client values are escaped and the operator's HTML is kept."""
    html = render(
        "<p>{$client_name}</p>",
        fields(first_name="<script>alert(1)</script>", company_name=""),
        CATALOGUE,
        html=True,
    )
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; Lovelace</p>"


def test_extra_fields_override_client_fields_as_customvars_do():
    """Extra values override the client's merge fields, like WHMCS customvars."""
    data = merged(fields(), {"client_first_name": "Countess", "task_action": "suspend"})
    assert render("{$client_first_name} {$task_action}", data, CATALOGUE) == "Countess suspend"


@pytest.mark.smoke
def test_unknown_fields_are_reported_with_their_line():
    """Every unknown field is reported with the first line that names it."""
    _, unknown = compile_template("Hi {$client_first_name}\n{$nope} {if $also_nope > 1}x{/if}", CATALOGUE)
    assert unknown == {"nope": 2, "also_nope": 2}
    _, unknown = compile_template("{foreach $voip_services as $s}{$s.price}{/foreach}", CATALOGUE)
    assert unknown == {"s.price": 1}
    _, unknown = compile_template("{$client_custom_field_anything2}", CATALOGUE)
    assert unknown == {}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{if $client_id > 1}open", "{if} is never closed"),
        ("{/if}", "outside {if}"),
        ("{$client_id|php}", "unknown modifier |php"),
        ("{if $client_id > }x{/if}", "condition ends too early"),
        ("{if $client_id.__class__}x{/if}", "has no fields"),
        ("{php}echo 1;{/php}", "unsupported tag"),
        ("{if $client_id > 1 + 1}x{/if}", "cannot read condition"),
        ("{foreach $client_id as $x}{/foreach}", "is not a list"),
        ("line one\n{$client_id|truncate:many}", "line 2"),
    ],
)
def test_broken_templates_are_refused_with_a_reason(template, message):
    """Syntax the translator does not support is refused with what and where."""
    with pytest.raises(TemplateSyntaxError) as error:
        compile_template(template, CATALOGUE)
    assert message in str(error.value)


def test_default_templates_use_only_known_fields_and_render():
    """Every shipped template compiles, names known fields only and renders the client's figures."""
    data = merged(fields(), {"task_id": "9", "task_action": "suspend", "task_service_id": "7", "task_server": "pbx1"})
    for template in DEFAULT_TEMPLATES.values():
        for part in (template.subject, template.text, template.html):
            if part is None:
                continue
            assert compile_template(part, CATALOGUE)[1] == {}
            assert "{$" not in render(part, data, CATALOGUE, html=part is template.html)
    low = render(DEFAULT_TEMPLATES["Low Balance Alert"].text, data, CATALOGUE)
    assert "$1,234.50 USD" in low
    assert "SIP Trunk (service 7): $3.20 USD" in low
    zero = render(DEFAULT_TEMPLATES["VoIP Zero Balance"].text, data, CATALOGUE)
    assert "Hello Ada Lovelace (Analytical Engines)" in zero
    assert "$20.10 USD" in zero


@settings(max_examples=200, deadline=None)
@given(value=st.text())
def test_any_client_value_renders_verbatim(value):
    """Whatever a client's name contains, the text body prints it as is and the HTML body escapes it."""
    data = {"client_first_name": value}
    assert render("{$client_first_name}", data, CATALOGUE) == value
    assert render("{$client_first_name}", data, CATALOGUE, html=True) == str(escape(value))


@settings(max_examples=200, deadline=None)
@given(text_without_tags=st.text().filter(lambda value: "{" not in value))
def test_template_text_without_tags_is_kept_verbatim(text_without_tags):
    """Operator text outside merge tags is never interpreted, whatever characters it holds."""
    assert render(text_without_tags, {}, CATALOGUE) == text_without_tags
