"""The template store: an operator's saved version of a template, or the shipped default, validated on save."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tollgate_common.errors import InvalidInput, NotFound

from .defaults import DEFAULT_TEMPLATES, RECIPIENT_CLIENT
from .merge import CATALOGUE
from .models import Template
from .templating import TemplateSyntaxError, compile_template

TEMPLATE_PARTS = ("subject", "text", "html")


@dataclass(frozen=True)
class TemplateContent:
    """What a template says and who receives it; `is_default` when no operator has saved one."""

    name: str
    subject: str
    text: str
    html: str | None
    recipient: str
    is_default: bool
    updated_at: datetime | None = None


def find_template(session: Session, name: str) -> TemplateContent | None:
    """Return the saved template called `name`, else the default of that name, else None."""
    row = session.get(Template, name)
    if row is not None:
        return TemplateContent(
            row.name, row.subject, row.text_body, row.html_body, row.recipient, False, row.updated_at
        )
    default = DEFAULT_TEMPLATES.get(name)
    if default is None:
        return None
    return TemplateContent(default.name, default.subject, default.text, default.html, default.recipient, True)


def load_template(session: Session, name: str) -> TemplateContent:
    """Return the template called `name` or raise NotFound listing the ones that exist."""
    template = find_template(session, name)
    if template is None:
        raise NotFound(f"no template named {name!r}", {"templates": list_template_names(session)})
    return template


def list_template_names(session: Session) -> list[str]:
    """Every template name: the defaults and the operator's own."""
    saved = session.query(Template.name).all()
    return sorted(set(DEFAULT_TEMPLATES) | {name for (name,) in saved})


def validate_template(subject: str, text: str, html: str | None) -> None:
    """Refuse a template whose syntax is unsupported or that names a field we do not know."""
    syntax: dict[str, str] = {}
    unknown: dict[str, dict[str, int]] = {}
    for part, source in zip(TEMPLATE_PARTS, (subject, text, html), strict=True):
        if source is None:
            continue
        try:
            _, names = compile_template(source, CATALOGUE)
        except TemplateSyntaxError as exc:
            syntax[part] = str(exc)
            continue
        if names:
            unknown[part] = names
    if syntax:
        summary = "; ".join(f"{part}: {message}" for part, message in syntax.items())
        raise InvalidInput(f"template syntax error: {summary}", {"fields": syntax})
    if unknown:
        names = sorted({name for found in unknown.values() for name in found})
        raise InvalidInput(
            f"unknown merge field(s): {', '.join(names)}",
            {
                "unknown_fields": {
                    part: [f"{name} (line {line})" for name, line in found.items()] for part, found in unknown.items()
                },
                "known_fields": CATALOGUE.listing(),
            },
        )


def save_template(
    session: Session, name: str, subject: str, text: str, html: str | None, recipient: str = RECIPIENT_CLIENT
) -> TemplateContent:
    """Validate and store the operator's version of template `name`, replacing any earlier one."""
    validate_template(subject, text, html)
    row = session.get(Template, name) or Template(name=name)
    row.subject, row.text_body, row.html_body, row.recipient = subject, text, html, recipient
    row.updated_at = datetime.now(UTC)
    session.add(row)
    session.flush()
    return find_template(session, name)  # type: ignore[return-value]
