"""Server-side template injection: a user input that adds Jinja2 syntax to a template source.

The template source is lexed with Jinja2's own lexer twice: as given, and with the input
replaced by a plain placeholder. Different token kinds mean the input added syntax
(``{{ }}``, ``{% %}``, ``{# #}``) or broke it.

- Input embedded in the application's own template: any added syntax is injection (the
  application never meant its users to write template code).
- Input that *is* the whole template (an endpoint that renders user-authored templates,
  like lab L11): what counts is the ``level`` option (:data:`LEVELS`). ``gadgets``
  (default) reports only sandbox-escape gadgets (``__class__``, ``__globals__``,
  ``cycler``, ``lipsum``, ``attr``, ``\x5f`` escapes...) and statements that reach other
  templates or files (``include``, ``import``, ``extends``, ``from``); ``expressions``
  adds attribute access, calls, arithmetic and ``set``/``macro``/``call``/``filter``/
  ``with``; ``any`` reports every piece of template syntax.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from inprocess.context import UserInput
from inprocess.detectors import Detection, register
from inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["LEVELS", "detect"]

_report = Reporter("template", "ssti")

_PLACEHOLDER = "rmpsafe"
_SYNTAX_CHARS = re.compile(r"[{}%#]")
_SKIP = frozenset({"whitespace", "data", "comment"})
_GADGETS = frozenset(
    {
        "cycler",
        "joiner",
        "namespace",
        "lipsum",
        "config",
        "request",
        "self",
        "url_for",
        "get_flashed_messages",
        "application",
        "os",
        "popen",
        "subprocess",
        "builtins",
        "globals",
        "mro",
        "subclasses",
        "import",
        "eval",
        "exec",
        "attr",
        "environment",
    }
)
_FILE_STATEMENTS = frozenset({"include", "import", "extends", "from"})
_DEFINING_STATEMENTS = frozenset({"set", "macro", "call", "filter", "with"})
_ACCESS = frozenset({".", "[", "("})
_ARITHMETIC = frozenset({"*", "**", "+", "-", "/", "//", "%", "~"})
_SYNTAX_KINDS = frozenset({"variable_begin", "block_begin", "comment_begin", "linestatement_begin"})


def _in_data(source: str, at: int) -> bool:
    """True when offset ``at`` is outside any ``{{ }}``, ``{% %}`` or ``{# #}`` block."""
    before = source[:at]
    opened = max(before.rfind("{{"), before.rfind("{%"), before.rfind("{#"))
    closed = max(before.rfind("}}"), before.rfind("%}"), before.rfind("#}"))
    return opened == -1 or closed > opened


@cache
def _environment() -> Any:
    import jinja2  # deferred: only needed once an input reaches a template source

    return jinja2.Environment(autoescape=False)  # noqa: S701 - lexing only, nothing is rendered


def _kinds(source: str) -> list[str] | None:
    try:
        return [kind for _, kind, _ in _environment().lex(source) if kind not in _SKIP]
    except Exception:  # jinja2.TemplateSyntaxError and lexer errors
        return None


def _tokens(source: str) -> list[tuple[str, str]] | None:
    try:
        return [(kind, value) for _, kind, value in _environment().lex(source) if kind not in _SKIP]
    except Exception:
        return None


Grade = tuple[float, str]


def _gadget(kind: str, value: str, after_block: bool) -> Grade | None:
    if kind == "name" and (value in _GADGETS or (value.startswith("__") and value.endswith("__"))):
        return 0.95, f"template gadget {value!r}"
    if kind == "string" and ("__" in value or "\\x5f" in value or "\\u005f" in value):
        return 0.95, "dunder name built from a string"
    if kind == "name" and after_block and value in _FILE_STATEMENTS:
        return 0.9, f"template statement {value!r} that reaches other templates or files"
    return None


def _expression(kind: str, value: str, after_block: bool) -> Grade | None:
    found = _gadget(kind, value, after_block)
    if found is not None:
        return found
    if kind == "name" and after_block and value in _DEFINING_STATEMENTS:
        return 0.85, f"template statement {value!r}"
    if kind == "operator" and value in _ACCESS:
        return 0.85, "attribute access or call in template syntax"
    if kind == "operator" and value in _ARITHMETIC:
        return 0.8, "expression evaluated by the template engine"
    return None


def _any(kind: str, value: str, after_block: bool) -> Grade | None:
    found = _expression(kind, value, after_block)
    if found is None and kind in _SYNTAX_KINDS:
        return 0.8, "template syntax"
    return found


# What counts in a template the user wrote whole (``level``); embedded input always uses "any".
LEVELS: dict[str, Callable[[str, str, bool], Grade | None]] = {
    "gadgets": _gadget,
    "expressions": _expression,
    "any": _any,
}


def _grade(tokens: list[tuple[str, str]], judge: Callable[[str, str, bool], Grade | None]) -> Grade | None:
    """The most severe grade ``judge`` gives any token, None when it flags none."""
    worst: Grade | None = None
    after_block = False
    for kind, value in tokens:
        grade = judge(kind, value, after_block)
        after_block = kind == "block_begin"
        if grade is not None and (worst is None or grade[0] > worst[0]):
            worst = grade
    return worst


@register("template")
def detect(source: str, inputs: Sequence[UserInput], *, level: str = "gadgets") -> Detection | None:
    """Flag a user input that adds Jinja2 syntax to ``source``.

    Input embedded in the application's template: any added syntax. Input that is the
    whole template: what :data:`LEVELS` ``[level]`` flags (default: gadgets only).
    """
    try:
        authored = LEVELS[level]
    except KeyError:
        raise ValueError(f"unknown template level {level!r}; use one of {', '.join(LEVELS)}") from None
    if not isinstance(source, str) or "{" not in source:
        return None
    for item in occurring(source, inputs):
        value: str = item.value
        if not _SYNTAX_CHARS.search(value) and all(_in_data(source, at) for at in occurrences(source, value)):
            continue  # brace-free text between blocks stays text
        with_input = _kinds(source)
        placeholder = _kinds(source.replace(value, _PLACEHOLDER))
        if with_input == placeholder:
            continue
        if with_input is None:
            if placeholder is None:
                continue
            return _report(0.7, "input breaks the template's syntax", value, item.source)
        own = _tokens(value)
        if not own:  # the input alone is not template syntax: it extends a block of the source
            before = Counter(_tokens(source.replace(value, _PLACEHOLDER)) or [])
            own = list((Counter(_tokens(source) or []) - before).elements())
        whole = value.strip() == source.strip()
        graded = _grade(own, authored if whole else _any)
        if graded is None and not whole:
            graded = (0.8, "template syntax")
        if graded is not None:
            where = "" if whole else " to the application's template"
            return _report(graded[0], f"input adds {graded[1]}{where}", value, item.source)
    return None
