"""Code injection: a user input that adds capabilities to what ``eval``/``exec``/``compile`` run.

The source is parsed with :mod:`ast` as given and with every occurrence of the input
replaced by the literal ``0``. The same node-label sequence means the input was data (a
number, or text inside a string literal). A different one means the input is code, and
the code is judged by what it can reach, not by its shape: calculator expressions are
accepted (numbers, arithmetic, comparisons, conditionals, lists/tuples, subscripts, string
literals as arguments, and calls to :data:`SAFE_NAMES` such as ``round``, ``min``,
``len``, ``str`` and ``math.<function>``). Anything else is reported: other names
(``open``, ``__import__``, ``globals``, application variables), attribute access beyond
``math.``, dunders anywhere, lambdas, comprehensions, assignment expressions, imports and
statements. Input that leaves the source unparseable, where the placeholder does not, is
reported at lower confidence.

Text assembled from fragments is reported too (:func:`assembles_text`): ``+`` or ``*``
with a string operand (``'rmp' + str(1000+337) + 'x'``, ``'o' + 's'``), an f-string that
mixes literal text with a formatted value, ``%`` formatting whose format string holds
literal words (``'rmp%dx' % 1337``) or whose arguments are text, and text cut out of a
string constant (``'x7331pmr'[::-1]``). A calculator never needs to build a string: it is
the filter-evasion primitive and the usual proof-of-evaluation probe. Turning text into
numbers, or numbers into text alone, stays calculator use (``int('42') + 1``,
``len('hello')``, ``str(12.5)``, ``'%.2f' % 12.5``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurring

__all__ = ["SAFE_MODULES", "SAFE_NAMES", "assembles_text", "capabilities", "detect", "is_arithmetic"]

_report = Reporter("code", "code_injection")

SAFE_NAMES = frozenset(
    {
        "abs",
        "all",
        "any",
        "bin",
        "bool",
        "complex",
        "divmod",
        "float",
        "hex",
        "int",
        "len",
        "list",
        "max",
        "min",
        "oct",
        "pow",
        "range",
        "round",
        "sorted",
        "str",
        "sum",
        "tuple",
        "True",
        "False",
        "None",
    }
)
SAFE_MODULES = frozenset({"math", "cmath", "statistics"})
_CALCULATOR: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Expr,
    ast.Module,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.Subscript,
    ast.Slice,
    ast.Call,
    ast.Name,
    ast.Attribute,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.keyword,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
    ast.expr_context,
)
_LABELS: dict[type[ast.AST], str] = {
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.NamedExpr: "an assignment expression",
    ast.Import: "an import",
    ast.ImportFrom: "an import",
}
_MAX_SOURCE = 20_000
_DIGITS_AND_OPERATORS = re.compile(r"[\d\s.+\-*/%()]*")
# Builtins whose result is text: calling them turns a number into a string fragment.
_TEXT_CALLS = frozenset({"str", "chr", "format", "repr", "ascii", "hex", "oct", "bin"})
# A printf-style conversion specifier (``%d``, ``%.2f``, ``%(name)s``, ``%%``).
_SPECIFIER = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsab%]")
_WORD = re.compile(r"\w")


def _parse(source: str) -> ast.AST | None:
    for mode in ("eval", "exec"):
        try:
            return ast.parse(source, mode=mode)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
    return None


def _label(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        numeric = isinstance(node.value, int | float | complex) and not isinstance(node.value, bool)
        return "Constant:number" if numeric else f"Constant:{type(node.value).__name__}"
    return type(node).__name__


def _shape(tree: ast.AST) -> list[str]:
    """Node labels in walk order; numbers are one kind, other constants keep their type."""
    return [_label(node) for node in ast.walk(tree) if not isinstance(node, ast.expr_context)]


def is_arithmetic(text: str) -> bool:
    """True when ``text`` is an expression of numeric literals and arithmetic operators only."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float | complex):
                return False
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.operator | ast.unaryop):
            return False
    return True


def _is_text(node: ast.AST, depth: int = 4) -> bool:
    """True when ``node`` evaluates to text: a string literal or an expression that builds one.

    Looks ``depth`` levels down only: the walk in :func:`capabilities` meets every deeper
    operator on its own, and a long ``'a' + 'a' + ...`` chain must not recurse.
    """
    if _is_literal_text(node) or isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in _TEXT_CALLS
    if depth == 0:
        return False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        return _is_text(node.left, depth - 1) or _is_text(node.right, depth - 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_text(node.left, depth - 1)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body, depth - 1) or _is_text(node.orelse, depth - 1)
    return False


def _is_literal_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


def _has_words(fmt: str | bytes) -> bool:
    """True when a printf-style format holds word characters outside its conversion specifiers."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    return _WORD.search(_SPECIFIER.sub("", text)) is not None


def _format_arguments(right: ast.expr) -> list[ast.expr]:
    """The values a ``%`` format is filled with: a tuple's items, a dict's values, or one value."""
    if isinstance(right, ast.Tuple):
        return right.elts
    if isinstance(right, ast.Dict):
        return right.values
    return [right]


def assembles_text(node: ast.AST) -> str | None:
    """Why ``node`` builds text out of fragments at evaluation time, None when it does not."""
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add | ast.Mult) and (_is_text(node.left) or _is_text(node.right)):
            return "text assembled from fragments"
        fmt = node.left.value if isinstance(node.left, ast.Constant) else None
        filled = isinstance(fmt, str | bytes) and (
            _has_words(fmt) or any(_is_text(value) for value in _format_arguments(node.right))
        )
        if isinstance(node.op, ast.Mod) and filled:
            return "text assembled by % formatting"
    elif isinstance(node, ast.JoinedStr):
        literal = any(isinstance(part, ast.Constant) and part.value for part in node.values)
        if literal and any(isinstance(part, ast.FormattedValue) for part in node.values):
            return "text assembled by an f-string"
    elif isinstance(node, ast.Subscript) and _is_literal_text(node.value):
        return "text cut from a string constant"
    return None


def capabilities(tree: ast.AST) -> list[str]:
    """What ``tree`` can reach beyond a calculator (empty for calculator expressions)."""
    found: list[str] = []
    for node in ast.walk(tree):
        label: str | None = None
        if isinstance(node, ast.Name):
            if node.id.startswith("__"):
                label = f"dunder name {node.id}"
            elif node.id not in SAFE_NAMES and node.id not in SAFE_MODULES:
                label = f"name {node.id!r}"
        elif isinstance(node, ast.Attribute):
            base = node.value
            if node.attr.startswith("_"):
                label = f"private attribute .{node.attr}"
            elif not (isinstance(base, ast.Name) and base.id in SAFE_MODULES):
                label = f"attribute .{node.attr}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            label = "dunder string"
        elif not isinstance(node, _CALCULATOR):
            label = _LABELS.get(type(node), f"a {type(node).__name__} node")
        else:
            label = assembles_text(node)
        if label is not None and label not in found:
            found.append(label)
    return found


@register("code")
def detect(source: str | bytes, inputs: Sequence[UserInput], *, strict: bool = False) -> Detection | None:
    """Flag a user input that is code beyond a calculator expression in ``source``.

    ``strict`` narrows the calculator to arithmetic of numeric literals: names, strings,
    calls and every other construct are then reported too.
    """
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if not isinstance(source, str) or len(source) > _MAX_SOURCE:
        return None
    for item in occurring(source, inputs):
        value: str = item.value
        if _DIGITS_AND_OPERATORS.fullmatch(value):
            continue  # no letters, quotes or brackets: no name, string, call or attribute
        tree = _parse(source)
        safe = _parse(source.replace(value, "0"))
        if tree is None:
            if safe is not None:
                return _report(0.7, "input breaks the syntax of evaluated code", value, item.source)
            continue
        if safe is not None and _shape(tree) == _shape(safe):
            continue
        own = _parse(value.strip())
        reached = capabilities(own if own is not None else tree)
        if strict and not reached and not is_arithmetic(value):
            reached = ["names, strings or calls (strict)"]
        if own is None and not reached:
            reached = ["code outside a string literal"]
        if reached:
            dunder = any("dunder" in r or "private" in r for r in reached)
            only_text = all(r.startswith("text ") for r in reached)
            return _report(
                0.95 if dunder or own is None else 0.85 if only_text else 0.9,
                f"input adds Python code ({', '.join(reached[:3])})",
                value,
                item.source,
            )
    return None
