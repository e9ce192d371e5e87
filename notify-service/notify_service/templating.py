"""WHMCS (Smarty) template syntax translated to Jinja2 and rendered in Jinja's immutable sandbox.

Only the translator writes Jinja source: operator text and quoted strings go into a table of
constants, so neither a template nor client data can ever reach Jinja's parser or Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

TAG = re.compile(r"\{\*.*?\*\}|\{literal\}.*?\{/literal\}|\{(?!\s)[^{}]*\}", re.DOTALL)
"""A Smarty tag: `{` followed by something other than white space (Smarty's auto-literal rule)."""

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
VARIABLE = re.compile(rf"\$({NAME})((?:\.{NAME})*)")
MODIFIER = re.compile(rf"\|({NAME})((?::(?:\"[^\"]*\"|'[^']*'|[^|:\"']+))*)")
MODIFIER_ARGUMENT = re.compile(r":(\"[^\"]*\"|'[^']*'|[^|:\"']+)")
FOREACH = re.compile(rf"^foreach\s+\$({NAME})\s+as\s+\$({NAME})$")
CONDITION_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<string>"[^"]*"|'[^']*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<variable>\$(?:{NAME})(?:\.{NAME})*)
      | (?P<operator>===|!==|==|!=|<>|>=|<=|>|<|&&|\|\||!|\(|\))
      | (?P<word>{NAME})
    )""",
    re.VERBOSE,
)
COMPARISON_WORDS = {
    "eq": "==",
    "ne": "!=",
    "neq": "!=",
    "gt": ">",
    "lt": "<",
    "gte": ">=",
    "ge": ">=",
    "lte": "<=",
    "le": "<=",
}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<=", "===", "!==", "<>"}
MODIFIERS = {
    "upper": 0,
    "lower": 0,
    "capitalize": 0,
    "ucfirst": 0,
    "trim": 0,
    "escape": 0,
    "nl2br": 0,
    "default": 1,
    "truncate": 1,
}
"""Smarty modifiers we support, with how many arguments each takes at most."""


class TemplateSyntaxError(ValueError):
    """A template breaks the supported WHMCS syntax; `line` is 1-based."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


@dataclass(frozen=True)
class MergeField:
    """A name a template may use; `item_fields` lists the keys of each item when it is a list."""

    name: str
    description: str
    item_fields: tuple[str, ...] = ()


@dataclass
class FieldCatalogue:
    """The merge fields a template may name: fixed ones plus any name matching a pattern."""

    fields: dict[str, MergeField]
    patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    def knows(self, name: str) -> bool:
        """Say whether a template may name `name`."""
        return name in self.fields or any(pattern.fullmatch(name) for pattern, _ in self.patterns)

    def listing(self) -> list[str]:
        """Every known name, patterns written as `prefix<name>`, for error messages and docs."""
        return sorted(self.fields) + [label for _, label in self.patterns]


@dataclass
class CompiledTemplate:
    """Jinja source produced by the translation and the constants it refers to."""

    source: str
    constants: list[str]


@dataclass
class Translator:
    """Turns one WHMCS template into Jinja source, checking every field against the catalogue."""

    catalogue: FieldCatalogue
    constants: list[str] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)
    loop_items: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def constant(self, value: str) -> str:
        """Store `value` in the constants table and return the Jinja expression that reads it."""
        self.constants.append(value)
        return f"_const[{len(self.constants) - 1}]"

    def translate(self, text: str) -> CompiledTemplate:
        """Translate a whole template, checking that every block it opens is closed."""
        parts: list[str] = []
        blocks: list[tuple[str, int]] = []
        position = 0
        for match in TAG.finditer(text):
            if match.start() > position:
                parts.append(self.literal(text[position : match.start()]))
            line = text.count("\n", 0, match.start()) + 1
            parts.append(self.tag(match.group(0), line, blocks))
            position = match.end()
        if position < len(text):
            parts.append(self.literal(text[position:]))
        if blocks:
            kind, line = blocks[-1]
            raise TemplateSyntaxError(f"{{{kind}}} is never closed with {{/{kind}}}", line)
        return CompiledTemplate("".join(parts), self.constants)

    def literal(self, text: str) -> str:
        """Emit operator text as a constant, so Jinja never parses it."""
        return "{{ " + self.constant(text) + " }}"

    def tag(self, tag: str, line: int, blocks: list[tuple[str, int]]) -> str:
        """Translate one Smarty tag, tracking open `{if}` and `{foreach}` blocks."""
        if tag.startswith("{*"):
            return ""
        if tag.startswith("{literal}"):
            return self.literal(tag[len("{literal}") : -len("{/literal}")])
        body = tag[1:-1].strip()
        if body == "ldelim":
            return self.literal("{")
        if body == "rdelim":
            return self.literal("}")
        if body.startswith("$"):
            return "{{ " + self.output(body, line) + " }}"
        keyword = body.split(None, 1)[0]
        if keyword == "if":
            blocks.append(("if", line))
            return "{% if " + self.condition(body[2:], line) + " %}"
        if keyword == "elseif":
            self.expect_open(blocks, "if", body, line)
            return "{% elif " + self.condition(body[6:], line) + " %}"
        if body == "else":
            self.expect_open(blocks, "if", body, line)
            return "{% else %}"
        if body == "/if":
            self.close(blocks, "if", line)
            return "{% endif %}"
        if keyword == "foreach":
            return self.foreach(body, line, blocks)
        if body == "foreachelse":
            self.expect_open(blocks, "foreach", body, line)
            return "{% else %}"
        if body == "/foreach":
            self.close(blocks, "foreach", line)
            # Loops nest, so the loop being closed is the one opened last.
            self.loop_items.popitem()
            return "{% endfor %}"
        raise TemplateSyntaxError(f"unsupported tag {tag!r}", line)

    def expect_open(self, blocks: list[tuple[str, int]], kind: str, body: str, line: int) -> None:
        """Refuse `{else}`, `{elseif}` or a closing tag outside the block it belongs to."""
        if not blocks or blocks[-1][0] != kind:
            raise TemplateSyntaxError(f"{{{body}}} outside {{{kind}}}", line)

    def close(self, blocks: list[tuple[str, int]], kind: str, line: int) -> None:
        """Close the innermost block, which must be of `kind`."""
        self.expect_open(blocks, kind, "/" + kind, line)
        blocks.pop()

    def foreach(self, body: str, line: int, blocks: list[tuple[str, int]]) -> str:
        """Translate `{foreach $list as $item}`; the item's fields become known inside the loop."""
        match = FOREACH.match(body)
        if not match:
            raise TemplateSyntaxError("write loops as {foreach $list as $item}", line)
        source, item = match.groups()
        if self.catalogue.knows(item) or item in self.loop_items:
            raise TemplateSyntaxError(f"loop item ${item} hides a merge field of the same name", line)
        listed = self.catalogue.fields.get(source)
        if listed is not None and not listed.item_fields:
            raise TemplateSyntaxError(f"${source} is not a list", line)
        if listed is None:
            self.unknown.setdefault(source, line)
        self.loop_items[item] = listed.item_fields if listed else ()
        blocks.append(("foreach", line))
        return "{% for v_" + item + " in v_" + source + " %}"

    def variable(self, name: str, keys: str, line: int) -> str:
        """Translate `$name` or `$item.key`, noting names the catalogue does not know."""
        path = [key for key in keys.split(".") if key]
        if name in self.loop_items:
            if len(path) > 1:
                raise TemplateSyntaxError(f"${name}.{'.'.join(path)}: list items have one level of fields", line)
            if path and path[0] not in self.loop_items[name]:
                self.unknown.setdefault(f"{name}.{path[0]}", line)
            return "v_" + name + "".join(f"[{self.constant(key)}]" for key in path)
        if path:
            raise TemplateSyntaxError(f"${name} has no fields ({'.'.join(path)})", line)
        if not self.catalogue.knows(name):
            self.unknown.setdefault(name, line)
        return "v_" + name

    def output(self, body: str, line: int) -> str:
        """Translate `{$name|modifier:arg…}` into a Jinja expression."""
        match = VARIABLE.match(body)
        assert match is not None
        expression = self.variable(match.group(1), match.group(2), line)
        rest = body[match.end() :]
        while rest:
            modifier = MODIFIER.match(rest)
            if not modifier:
                raise TemplateSyntaxError(f"cannot read {rest!r} after the variable", line)
            expression = self.modifier(expression, modifier.group(1), modifier.group(2), line)
            rest = rest[modifier.end() :]
        return expression

    def modifier(self, expression: str, name: str, arguments: str, line: int) -> str:
        """Wrap `expression` in the helper of a supported modifier."""
        if name not in MODIFIERS:
            raise TemplateSyntaxError(f"unknown modifier |{name}; supported: {', '.join(sorted(MODIFIERS))}", line)
        values = [unquote(value) for value in MODIFIER_ARGUMENT.findall(arguments)]
        if len(values) > MODIFIERS[name]:
            raise TemplateSyntaxError(f"|{name} takes at most {MODIFIERS[name]} argument(s)", line)
        if name == "truncate":
            if values and not values[0].isdigit():
                raise TemplateSyntaxError("|truncate takes a number of characters", line)
            length = int(values[0]) if values else 80
            return f"_truncate({expression}, {length})"
        if name == "default":
            return f"_default({expression}, {self.constant(values[0] if values else '')})"
        return f"_{name}({expression})"

    def condition(self, text: str, line: int) -> str:
        """Translate the condition of `{if}` or `{elseif}`."""
        tokens = tokenize_condition(text, line)
        return ConditionParser(tokens, line, self).parse()


def unquote(value: str) -> str:
    """Strip one pair of matching quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def tokenize_condition(text: str, line: int) -> list[tuple[str, str]]:
    """Split a condition into strings, numbers, variables and operators (word operators normalised)."""
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = CONDITION_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise TemplateSyntaxError(f"cannot read condition at {text[position:].strip()!r}", line)
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word":
            lowered = value.lower()
            if lowered in COMPARISON_WORDS:
                kind, value = "operator", COMPARISON_WORDS[lowered]
            elif lowered in {"and", "or", "not"}:
                kind, value = "operator", {"and": "&&", "or": "||", "not": "!"}[lowered]
            elif lowered in {"true", "false", "null"}:
                kind, value = "number", {"true": "1", "false": "0", "null": ""}[lowered]
            else:
                raise TemplateSyntaxError(f"unknown word {value!r} in condition", line)
        tokens.append((kind, value))
        position = match.end()
    if not tokens:
        raise TemplateSyntaxError("empty condition", line)
    return tokens


class ConditionParser:
    """Recursive descent over `or`, `and`, `not`, comparisons and operands, emitting Jinja calls."""

    def __init__(self, tokens: list[tuple[str, str]], line: int, translator: Translator):
        self.tokens = tokens
        self.index = 0
        self.line = line
        self.translator = translator

    def parse(self) -> str:
        """Parse the whole condition into one Jinja expression."""
        expression = self.disjunction()
        if self.index != len(self.tokens):
            raise TemplateSyntaxError(f"unexpected {self.tokens[self.index][1]!r} in condition", self.line)
        return expression

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str) -> bool:
        token = self.peek()
        if token and token[0] == "operator" and token[1] == value:
            self.index += 1
            return True
        return False

    def disjunction(self) -> str:
        parts = [self.conjunction()]
        while self.take("||"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def conjunction(self) -> str:
        parts = [self.negation()]
        while self.take("&&"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def negation(self) -> str:
        if self.take("!"):
            return "(not " + self.negation() + ")"
        return self.comparison()

    def comparison(self) -> str:
        left = self.operand()
        token = self.peek()
        if token and token[0] == "operator" and token[1] in COMPARISONS:
            self.index += 1
            right = self.operand()
            operator = self.translator.constant(token[1])
            return f"_compare({left}, {operator}, {right})"
        return f"_truthy({left})"

    def operand(self) -> str:
        token = self.peek()
        if token is None:
            raise TemplateSyntaxError("condition ends too early", self.line)
        kind, value = token
        self.index += 1
        if kind == "operator" and value == "(":
            inner = self.disjunction()
            if not self.take(")"):
                raise TemplateSyntaxError("missing ) in condition", self.line)
            return f"_truthy_value({inner})"
        if kind == "variable":
            match = VARIABLE.match(value)
            assert match is not None
            return self.translator.variable(match.group(1), match.group(2), self.line)
        if kind in {"string", "number"}:
            return self.translator.constant(unquote(value))
        raise TemplateSyntaxError(f"unexpected {value!r} in condition", self.line)


def as_number(value: Any) -> Decimal | None:
    """Read a merge value as a number the way an operator means it: "$1,234.50 USD" is 1234.50."""
    if isinstance(value, Undefined) or value is None:
        return None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    text = str(value).replace(",", "").strip()
    match = re.fullmatch(r"(-?)[^\d\s-]*\s*(\d+(?:\.\d+)?)\s*[A-Za-z]*", text)
    if not match:
        return None
    try:
        return Decimal(match.group(1) + match.group(2))
    except InvalidOperation:
        return None


def as_text(value: Any) -> str:
    """Return a merge value as text; a missing value is empty."""
    return "" if isinstance(value, Undefined) or value is None else str(value)


def compare(left: Any, operator: str, right: Any) -> bool:
    """Compare like PHP's loose comparison for the values templates see: numerically when both are numbers."""
    left_number, right_number = as_number(left), as_number(right)
    if left_number is not None and right_number is not None:
        a: Any = left_number
        b: Any = right_number
    else:
        a, b = as_text(left), as_text(right)
    if operator in {"==", "==="}:
        return bool(a == b)
    if operator in {"!=", "!==", "<>"}:
        return bool(a != b)
    return bool({">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[operator])


def truthy(value: Any) -> bool:
    """PHP truthiness of strings and lists: "", "0" and an empty list are false."""
    if isinstance(value, (list, tuple)):
        return bool(value)
    return as_text(value) not in {"", "0"}


def truthy_value(value: Any) -> str:
    """Turn a parenthesised condition's result into a value PHP rules read back the same way."""
    return "1" if value else ""


def keep_markup(function: Callable[[str], str]) -> Callable[[Any], Any]:
    """Wrap a string function so HTML-escaped values stay escaped and plain values stay plain."""

    def apply(value: Any) -> Any:
        if isinstance(value, Markup):
            return Markup(function(str(value)))
        return function(as_text(value))

    return apply


def nl2br(value: Any) -> Any:
    """Escape the value, then put `<br />` before each line break, as Smarty's nl2br does."""
    return Markup(str(escape(as_text(value)) if not isinstance(value, Markup) else value).replace("\n", "<br />\n"))


def truncate(value: Any, length: int) -> str:
    """Cut text to `length` characters, ending with "..." when cut."""
    text = as_text(value)
    return text if len(text) <= length else text[: max(length - 3, 0)] + "..."


def default(value: Any, fallback: str) -> Any:
    """Use `fallback` when the value is empty."""
    return value if as_text(value) != "" else fallback


HELPERS: dict[str, Any] = {
    "_compare": compare,
    "_truthy": truthy,
    "_truthy_value": truthy_value,
    "_upper": keep_markup(str.upper),
    "_lower": keep_markup(str.lower),
    "_capitalize": keep_markup(lambda text: " ".join(word[:1].upper() + word[1:] for word in text.split(" "))),
    "_ucfirst": keep_markup(lambda text: text[:1].upper() + text[1:]),
    "_trim": keep_markup(str.strip),
    "_escape": lambda value: escape(as_text(value)),
    "_nl2br": nl2br,
    "_truncate": truncate,
    "_default": default,
}


def make_environment(html: bool) -> ImmutableSandboxedEnvironment:
    """A sandbox that escapes values in HTML bodies and keeps text bodies verbatim."""
    environment = ImmutableSandboxedEnvironment(autoescape=html, keep_trailing_newline=True)
    environment.globals.clear()
    return environment


TEXT_ENVIRONMENT = make_environment(html=False)
HTML_ENVIRONMENT = make_environment(html=True)


def compile_template(text: str, catalogue: FieldCatalogue) -> tuple[CompiledTemplate, dict[str, int]]:
    """Translate `text`; return it with the unknown fields it names (field -> first line)."""
    translator = Translator(catalogue)
    compiled = translator.translate(text)
    return compiled, translator.unknown


def render(text: str, merge: Mapping[str, Any], catalogue: FieldCatalogue, *, html: bool = False) -> str:
    """Render a WHMCS template with merge data; in HTML, values are escaped and template markup kept."""
    compiled, _ = compile_template(text, catalogue)
    environment = HTML_ENVIRONMENT if html else TEXT_ENVIRONMENT
    constants = [Markup(value) if html else value for value in compiled.constants]
    template = environment.from_string(compiled.source)
    context = {f"v_{name}": value for name, value in merge.items()}
    return template.render(_const=constants, **HELPERS, **context)
