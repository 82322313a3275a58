"""Server-side template injection: a user input that adds Jinja2 syntax to a template source.

The template source is lexed with Jinja2's own lexer twice: as given, and with the input
replaced by a plain placeholder. Different token kinds mean the input added syntax
(``{{ }}``, ``{% %}``, ``{# #}``) or broke it.

- Input embedded in the application's own template: any added syntax is injection (the
  application never meant its users to write template code).
- Input that *is* the whole template (an endpoint that renders user-authored templates,
  like lab L11): what counts is the ``level`` option (:data:`LEVELS`). ``gadgets``
  (default) reports sandbox-escape gadgets (``__class__``, ``__globals__``,
  ``cycler``, ``lipsum``, ``attr``, ``\x5f`` escapes...) and statements that reach other
  templates or files (``include``, ``import``, ``extends``, ``from``); ``expressions``
  adds attribute access, calls, arithmetic and ``set``/``macro``/``call``/``filter``/
  ``with``; ``any`` reports every piece of template syntax.

Every level also reports text assembled from constant fragments (:func:`assembled`): the
template is parsed with Jinja2's parser and a ``~`` concatenation, a ``+`` with a text
operand, a ``join`` of a literal list holding text, or ``%``/``format`` formatting whose
format string holds literal words (``'rmp%dx' | format(1337)``) is reported when every
operand is statically constant (decided from the tree; nothing is evaluated), names the
template itself binds to constants with a statement (``{% set %}``, ``{% with %}``) included. A
legitimate author writes constant text directly; building it at render time is the
filter-evasion primitive (``'_' ~ '_cla' ~ 'ss_' ~ '_'``) and the usual
proof-of-evaluation probe (``{{ 'rmp' ~ (1000+337) ~ 'x' }}``). Anything that reads the
render context stays unreported (``{{ shop ~ ' - ' ~ 'summer sale' }}``), as do arithmetic
and filters on constants (``{{ 1000 + 42 }}``, ``{{ '%.2f' | format(12.5) }}``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["LEVELS", "assembled", "detect"]

_report = Reporter("template", "ssti")

Grade = tuple[float, str]

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
# Operators without which no expression can assemble text: a template lacking them is not parsed.
_ASSEMBLING = frozenset({"~", "+", "%", "|", "(", "["})
_MAX_PARSE = 20_000
# Parser node kinds that are constant when every child node is (names, attributes are not).
_CONSTANT_KINDS = frozenset(
    {
        "Const",
        "TemplateData",
        "List",
        "Tuple",
        "Dict",
        "Pair",
        "Keyword",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "FloorDiv",
        "Mod",
        "Pow",
        "And",
        "Or",
        "Neg",
        "Pos",
        "Not",
        "CondExpr",
        "Compare",
        "Operand",
        "Concat",
        "Filter",
        "Test",
        "Getitem",
        "Slice",
    }
)
# Jinja2's default globals that read nothing: ``range(1000, 1338)`` is as constant as a list.
_PURE_GLOBALS = frozenset({"range", "dict"})
_TEXT_FILTERS = frozenset(
    {
        "string",
        "format",
        "join",
        "upper",
        "lower",
        "title",
        "capitalize",
        "replace",
        "trim",
        "center",
        "reverse",
    }
)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_WORD = re.compile(r"\w")
_ASSEMBLED: Grade = (0.85, "text assembled from constant fragments")
_CUT: Grade = (0.85, "text cut from a string constant")


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


def _kind(node: Any) -> str:
    return type(node).__name__


def _is_str(node: Any) -> bool:
    return _kind(node) == "Const" and isinstance(node.value, str)


def _is_text(node: Any, depth: int = 4) -> bool:
    """True when ``node`` evaluates to text (``depth`` levels down; the walk meets the rest)."""
    kind = _kind(node)
    if kind in ("Concat", "TemplateData") or _is_str(node):
        return True
    if kind == "Filter":
        return bool(node.name in _TEXT_FILTERS)
    if depth == 0:
        return False
    if kind == "Add":
        return _is_text(node.left, depth - 1) or _is_text(node.right, depth - 1)
    if kind == "Mod":
        return _is_str(node.left)
    if kind == "CondExpr":
        return _is_text(node.expr1, depth - 1) or (node.expr2 is not None and _is_text(node.expr2, depth - 1))
    return False


def _constancy(order: list[Any], bound: frozenset[str] = frozenset()) -> dict[int, bool]:
    """Which nodes of ``order`` (a pre-order walk) are statically constant, by ``id``.

    Decided from the tree alone, children before parents and without recursion: nothing is
    evaluated (``as_const`` would compute ``'a' * 10**9``). A name in ``bound`` (set by the
    template itself to a constant) reads as constant.
    """
    constant: dict[int, bool] = {}
    for node in reversed(order):
        kind = _kind(node)
        children = list(node.iter_child_nodes())
        if kind == "Call":  # only Jinja2's pure globals, with constant arguments
            children = [child for child in children if child is not node.node]
            ok = _kind(node.node) == "Name" and node.node.name in _PURE_GLOBALS
        elif kind in ("Filter", "Test"):
            ok = node.node is not None  # a ``{% filter %}`` block's filter applies to the body
        elif kind == "Name":
            ok = node.ctx == "load" and node.name in bound
        else:
            ok = kind in _CONSTANT_KINDS  # not Getattr, blocks...
        constant[id(node)] = ok and all(constant[id(child)] for child in children)
    return constant


def _bound_constants(order: list[Any], constant: dict[int, bool]) -> frozenset[str]:
    """Names the template binds to constants with a statement (``{% set a = 'rmp' %}``,
    ``{% with a = 'rmp' %}``): reading them later computes from constants, like an
    expression would."""
    names: set[str] = set()
    for node in order:
        kind = _kind(node)
        if kind == "Assign" and _kind(node.target) == "Name" and constant[id(node.node)]:
            names.add(node.target.name)
        elif kind == "With":
            for target, value in zip(node.targets, node.values, strict=False):
                if _kind(target) == "Name" and constant[id(value)]:
                    names.add(target.name)
    return frozenset(names)


def _arguments(node: Any) -> list[Any]:
    return [*node.args, *(keyword.value for keyword in node.kwargs)]


def _formats_text(fmt: Any, fields: re.Pattern[str], args: list[Any]) -> bool:
    """A constant format string with literal words, or filled with text."""
    if not _is_str(fmt):
        return False
    return _WORD.search(fields.sub("", fmt.value)) is not None or any(map(_is_text, args))


def _joins_text(items: Any) -> bool:
    """A literal list or tuple holding text."""
    return _kind(items) in ("List", "Tuple") and any(map(_is_text, items.items))


def _judge_node(node: Any, constant: Callable[[Any], bool]) -> Grade | None:
    """The grade of one parser node that builds text from constants, None otherwise."""
    kind = _kind(node)
    builds = False
    if kind == "Concat":
        builds = constant(node)
    elif kind == "Add":
        builds = (_is_text(node.left) or _is_text(node.right)) and constant(node)
    elif kind == "Mod":
        right = node.right
        values = right.items if _kind(right) in ("Tuple", "List") else [right]
        builds = _formats_text(node.left, _PRINTF, values) and constant(right)
    elif kind == "Filter" and node.node is not None:
        shaped = (node.name == "format" and _formats_text(node.node, _PRINTF, _arguments(node))) or (
            node.name == "join" and _joins_text(node.node)
        )
        builds = shaped and constant(node)
    elif kind == "Call" and _kind(node.node) == "Getattr" and _is_str(node.node.node):
        args, method = _arguments(node), node.node.attr
        shaped = (method == "format" and _formats_text(node.node.node, _FORMAT_FIELD, args)) or (
            method == "join" and bool(args) and _joins_text(args[0])
        )
        builds = shaped and node.dyn_args is None and node.dyn_kwargs is None and all(map(constant, args))
    elif kind == "Getitem" and _is_str(node.node) and constant(node.arg):
        return _CUT
    return _ASSEMBLED if builds else None


def assembled(source: str) -> Grade | None:
    """How template ``source`` builds text from constant fragments, None when it does not.

    Parses with Jinja2's parser (nothing is compiled or rendered); a source that does not
    parse, or is longer than 20,000 characters, is not judged here.
    """
    if len(source) > _MAX_PARSE:
        return None
    try:
        tree = _environment().parse(source)
    except Exception:  # TemplateSyntaxError, RecursionError on absurd nesting
        return None
    order: list[Any] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.iter_child_nodes())
    known = _constancy(order)
    bound = _bound_constants(order, known)
    if bound:  # one more round: names bound to constants may bind others (a = 'x'; b = a ~ 'y')
        known = _constancy(order, _bound_constants(order, _constancy(order, bound)))

    def constant(node: Any) -> bool:
        return known[id(node)]

    for node in order:
        found = _judge_node(node, constant)
        if found is not None:
            return found
    return None


@register("template")
def detect(source: str, inputs: Sequence[UserInput], *, level: str = "gadgets") -> Detection | None:
    """Flag a user input that adds Jinja2 syntax to ``source``.

    Input embedded in the application's template: any added syntax. Input that is the
    whole template: what :data:`LEVELS` ``[level]`` flags (default: gadgets only), and at
    every level text assembled from constant fragments (:func:`assembled`).
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
        if whole and (graded is None or graded[0] < _ASSEMBLED[0]) and any(v in _ASSEMBLING for _, v in own):
            graded = assembled(source) or graded
        if graded is None and not whole:
            graded = (0.8, "template syntax")
        if graded is not None:
            where = "" if whole else " to the application's template"
            return _report(graded[0], f"input adds {graded[1]}{where}", value, item.source)
    return None
