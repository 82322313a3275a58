"""``detect_sqli``: a small SQL lexer that flags input which leaves a literal and builds SQL.

The input is lexed three ways: as an unquoted (numeric) value, and as if it sat inside a
single- or a double-quoted literal. In the quoted readings the first quote the input closes is
the *breakout*; the tokens right after it must form an attack structure (tautology or boolean
test, UNION SELECT, stacked query, comment truncation, time/error function) for a match.
Prose with apostrophes (``O'Brien``, ``it's a union of select people``) never shows such a
structure right after its quote, which keeps false positives low.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["SqliDetector", "find_sqli", "tokenize"]

_SPACE = frozenset(" \t\n\r\f\v\xa0")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$@.")
_OPERATORS = (
    "<=>",
    "<=",
    ">=",
    "<>",
    "!=",
    "||",
    "&&",
    "::",
    "=",
    "<",
    ">",
    "!",
    "|",
    "&",
    "^",
    "~",
    "+",
    "-",
    "*",
    "/",
    "%",
)
_OPERATORS_BY_FIRST: dict[str, tuple[str, ...]] = {
    first: tuple(op for op in _OPERATORS if op[0] == first) for first in {op[0] for op in _OPERATORS}
}
_CONTINUATION_WORDS = (
    "or",
    "and",
    "xor",
    "div",
    "union",
    "order",
    "group",
    "having",
    "waitfor",
    "into",
    "procedure",
    "rlike",
    "regexp",
)
_CONTINUATION_CHARS = frozenset(";=<>#+|&!-/")
_COMPARE_OPS = frozenset({"=", "<", ">", "<=", ">=", "<>", "!=", "<=>"})
_COMPARE_WORDS = frozenset({"like", "rlike", "regexp", "is", "in", "between", "sounds", "glob", "ilike"})
_LOGIC_WORDS = frozenset({"or", "and", "xor", "div"})
_LOGIC_OPS = frozenset({"||", "&&"})
_TRUTHY = frozenset({"true", "false", "null", "not"})
_STACKED = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "drop",
        "create",
        "alter",
        "truncate",
        "exec",
        "execute",
        "declare",
        "shutdown",
        "waitfor",
        "grant",
        "revoke",
        "copy",
        "pragma",
        "attach",
    }
)
_DANGEROUS_FUNCS = frozenset(
    {
        "sleep",
        "benchmark",
        "pg_sleep",
        "extractvalue",
        "updatexml",
        "load_file",
        "char",
        "chr",
        "concat",
        "version",
        "database",
        "user",
        "current_user",
        "randomblob",
        "dbms_pipe.receive_message",
        "exp",
        "if",
        "iif",
        "ascii",
        "substring",
        "substr",
        "mid",
        "length",
        "count",
        "cast",
        "convert",
        "pg_read_file",
        "lo_import",
        "xp_cmdshell",
        "md5",
        "hex",
        "unhex",
    }
)
_CONTEXT_WINDOW = 80
_STRUCTURE_TOKENS = 16


class _NextFinder:
    """``text.find(needle, start)`` remembered across calls: the lexer runs from many starting
    points of one value, and without memory every unterminated ``/*`` or ``--`` would rescan
    to the end of the value (quadratic on ``; select , /*`` repeated)."""

    __slots__ = ("_found", "_from", "needle", "text")

    def __init__(self, text: str, needle: str) -> None:
        self.text = text
        self.needle = needle
        self._from = len(text) + 1  # no search yet
        self._found = -1

    def find(self, start: int) -> int:
        if self._from <= start and (self._found == -1 or start <= self._found):
            return self._found  # nothing between the earlier start and the answer it found
        self._from = start
        self._found = self.text.find(self.needle, start)
        return self._found


class _Ends:
    """The two comment terminators of one value, found lazily."""

    __slots__ = ("block", "line")

    def __init__(self, text: str) -> None:
        self.block = _NextFinder(text, "*/")
        self.line = _NextFinder(text, "\n")


class Token(NamedTuple):
    kind: str  # STR NUM WORD OP ( ) , ; COMMENT OTHER
    text: str
    start: int


def _read_string(text: str, i: int, quote: str) -> int:
    """Index just past the literal whose body starts at ``i`` (``len(text)`` if unterminated).
    A doubled quote does not end it; a backslash does not escape (standard SQL, PostgreSQL and
    SQLite), so ``\\'`` counts as a breakout."""
    n = len(text)
    while True:
        j = text.find(quote, i)
        if j == -1:
            return n
        if j + 1 < n and text[j + 1] == quote:
            i = j + 2
            continue
        return j + 1


def tokenize(text: str, start: int = 0, limit: int = 1 << 30, *, ends: _Ends | None = None) -> list[Token]:
    """Lex ``text[start:]`` into at most ``limit`` tokens; terminated ``/* */`` comments count as
    whitespace. ``ends`` shares the comment-terminator search between calls on one value."""
    if ends is None:
        ends = _Ends(text)
    tokens: list[Token] = []
    i, n = start, len(text)
    while i < n and len(tokens) < limit:
        ch = text[i]
        if ch in _SPACE or ch.isspace():
            i += 1
        elif text.startswith("/*", i):
            end = ends.block.find(i + 2)
            if end == -1:
                tokens.append(Token("COMMENT", text[i:], i))
                break
            i = end + 2
        elif text.startswith("--", i) or ch == "#":
            end = ends.line.find(i)
            end = n if end == -1 else end
            tokens.append(Token("COMMENT", text[i:end], i))
            i = end
        elif ch in "'\"`":
            end = _read_string(text, i + 1, ch)
            tokens.append(Token("STR", text[i:end], i))
            i = end
        elif ch.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "."):
                j += 1
            tokens.append(Token("NUM", text[i:j], i))
            i = j
        elif ch in _WORD_CHARS or ch.isalpha():
            j = i + 1
            while j < n and (text[j] in _WORD_CHARS or text[j].isalpha()):
                j += 1
            tokens.append(Token("WORD", text[i:j].lower(), i))
            i = j
        elif ch in "(),;":
            tokens.append(Token(ch, ch, i))
            i += 1
        else:
            for op in _OPERATORS_BY_FIRST.get(ch, ()):
                if text.startswith(op, i):
                    tokens.append(Token("OP", op, i))
                    i += len(op)
                    break
            else:
                tokens.append(Token("OTHER", ch, i))
                i += 1
    return tokens


def _at(tokens: list[Token], i: int) -> Token | None:
    return tokens[i] if i < len(tokens) else None


def _is(tok: Token | None, kind: str, *texts: str) -> bool:
    return tok is not None and tok.kind == kind and (not texts or tok.text in texts)


def _union_select(tokens: list[Token], i: int) -> bool:
    """``UNION [ALL|DISTINCT] [(] SELECT <operand> (,|FROM|comment|end)`` starting at ``i``."""
    if not _is(_at(tokens, i), "WORD", "union"):
        return False
    j = i + 1
    if _is(_at(tokens, j), "WORD", "all", "distinct"):
        j += 1
    while _is(_at(tokens, j), "("):
        j += 1
    if not _is(_at(tokens, j), "WORD", "select"):
        return False
    operand = _at(tokens, j + 1)
    if operand is None:
        return False
    after = _at(tokens, j + 2)
    if operand.kind in ("NUM", "STR") or operand.text in ("null", "*"):
        return after is None or after.kind in (",", "COMMENT", ")", ";") or _is(after, "WORD", "from")
    if operand.kind == "WORD":
        return _is(after, ",") or _is(after, "WORD", "from") or _is(after, "(")
    return False


def _stacked(tokens: list[Token], k: int) -> bool:
    """``; <statement>`` at ``k`` where the statement has the shape of real SQL, not prose."""
    verb = _at(tokens, k + 1)
    if not _is(tokens[k], ";") or verb is None or verb.kind != "WORD" or verb.text not in _STACKED:
        return False
    rest = [t.text for t in tokens[k + 2 : k + 6]]
    shapes = {
        "select": lambda: any(t in ("from", ",", "(", "@@version", "*") for t in rest) or rest[:1] == ["1"],
        "drop": lambda: rest[:1] in (["table"], ["database"], ["schema"], ["view"]),
        "delete": lambda: rest[:1] == ["from"],
        "insert": lambda: rest[:1] == ["into"],
        "update": lambda: "set" in rest,
        "create": lambda: rest[:1] in (["table"], ["user"], ["function"], ["database"]),
        "alter": lambda: rest[:1] in (["table"], ["user"]),
        "truncate": lambda: bool(rest),
        "shutdown": lambda: not rest or tokens[k + 2].kind == "COMMENT",
        "waitfor": lambda: rest[:1] in (["delay"], ["time"]),
        "exec": lambda: bool(rest) and (rest[0].startswith(("xp_", "sp_", "master")) or rest[0] == "("),
        "execute": lambda: bool(rest) and rest[0].startswith(("xp_", "sp_", "master", "immediate")),
        "declare": lambda: bool(rest) and rest[0].startswith("@"),
        "copy": lambda: "from" in rest or "to" in rest,
    }
    check = shapes.get(verb.text)
    return bool(check and check())


def _operand_end(tokens: list[Token], j: int) -> tuple[int, bool] | None:
    """Skip one operand at ``j``; returns the index after it and whether it is an attack by itself
    (a subquery or a time/error function)."""
    while (
        _is(_at(tokens, j), "(")
        or _is(_at(tokens, j), "OP", "!", "-", "~")
        or _is(_at(tokens, j), "WORD", "not")
    ):
        j += 1
    tok = _at(tokens, j)
    if tok is None:
        return None
    if tok.kind == "WORD":
        if tok.text == "select":
            return j + 1, True
        if _is(_at(tokens, j + 1), "("):
            return j + 2, tok.text in _DANGEROUS_FUNCS
        return j + 1, False
    if tok.kind in ("NUM", "STR"):
        return j + 1, False
    return None


def _attack_after(tokens: list[Token], i: int, tight_prefix: bool) -> bool:
    """Do the tokens from ``i`` (right after a breakout) form an attack structure?"""
    while _is(_at(tokens, i), ")"):
        i += 1
    tok = _at(tokens, i)
    if tok is None:
        return False
    if tok.kind == "COMMENT":
        return tight_prefix
    if tok.kind == ";":
        nxt = _at(tokens, i + 1)
        if nxt is None or nxt.kind == "COMMENT":
            return tight_prefix
        return _stacked(tokens, i)
    if _union_select(tokens, i):
        return True
    if tok.kind == "WORD" and tok.text in ("order", "group") and _is(_at(tokens, i + 1), "WORD", "by"):
        return True
    if tok.kind == "WORD" and tok.text in ("waitfor", "procedure", "into", "having", "rlike", "regexp"):
        return _at(tokens, i + 1) is not None
    if (tok.kind == "WORD" and tok.text in _LOGIC_WORDS) or (
        tok.kind == "OP" and tok.text in _LOGIC_OPS | {"+"}
    ):
        operand = _operand_end(tokens, i + 1)
        if operand is None:
            return False
        j, dangerous = operand
        if dangerous:
            return True
        first = tokens[i + 1]
        nxt = _at(tokens, j)
        if nxt is None or nxt.kind in ("COMMENT", ";"):
            return first.kind in ("NUM", "STR") or first.text in _TRUTHY
        if nxt.kind == "OP" and nxt.text in _COMPARE_OPS:
            return True
        if nxt.kind == "WORD" and nxt.text in _COMPARE_WORDS:
            return True
        return _is(nxt, ")") and first.kind in ("NUM", "STR", "(")
    if tok.kind == "OP" and tok.text in _COMPARE_OPS and tight_prefix:
        operand = _operand_end(tokens, i + 1)
        return operand is not None and (operand[1] or _at(tokens, operand[0]) is None)
    return False


def _plausible_continuation(text: str, at: int) -> bool:
    """Cheap test before lexing: does SQL-ish syntax follow position ``at``?"""
    rest = text[at : at + 24].lstrip(" \t\r\n)").lower()
    if rest[:1] in _CONTINUATION_CHARS:
        return True
    if rest.startswith("/*"):
        return True
    return rest.startswith(_CONTINUATION_WORDS)


def _quoted_breakout(text: str, quote: str, ends: _Ends) -> str | None:
    end = _read_string(text, 0, quote)
    if end >= len(text) + 1 or (end == len(text) and (not text or text[-1] != quote)):
        return None
    if not _plausible_continuation(text, end):
        return None
    prefix = text[: end - 1]
    tight = not any(c.isspace() for c in prefix)
    tokens = tokenize(text, end, _STRUCTURE_TOKENS, ends=ends)
    if _attack_after(tokens, 0, tight):
        return text[max(0, end - 1) : end - 1 + _CONTEXT_WINDOW]
    return None


def _numeric(text: str, ends: _Ends) -> str | None:
    head = text.lstrip(" \t\r\n(-")
    if head[:1].isdigit():
        tokens = tokenize(text, 0, _STRUCTURE_TOKENS, ends=ends)
        i = 0
        while _is(_at(tokens, i), "(") or _is(_at(tokens, i), "OP", "-"):
            i += 1
        if _is(_at(tokens, i), "NUM") and _attack_after(tokens, i + 1, True):
            start = tokens[i].start
            return text[start : start + _CONTEXT_WINDOW]
    lower = text.lower()
    for needle in ("union", ";"):
        at = lower.find(needle)
        while at != -1:
            words = lower[at + len(needle) : at + 60].replace("(", " ").split()
            if _worth_lexing(needle, words):
                tokens = tokenize(text, at, _STRUCTURE_TOKENS, ends=ends)
                if tokens and (_union_select(tokens, 0) or _stacked(tokens, 0)):
                    return text[at : at + _CONTEXT_WINDOW]
            at = lower.find(needle, at + 1)
    return None


def _worth_lexing(needle: str, words: list[str]) -> bool:
    """Cheap word-level test before lexing ``union ...`` or ``; ...`` somewhere in prose."""
    if not words:
        return False
    if needle == "union":
        if words[0] in ("all", "distinct"):
            words = words[1:]
        return bool(words) and words[0].startswith("select")
    if words[0] not in _STACKED:
        return False
    if words[0] == "select":
        return any(
            w.startswith(("from", "*", "@@", "null")) or "," in w or w[:1].isdigit() for w in words[1:6]
        )
    return True


def find_sqli(text: str) -> str | None:
    """The fragment that makes ``text`` an SQL injection, or None."""
    ends = _Ends(text)
    for quote in ("'", '"'):
        if quote in text and (found := _quoted_breakout(text, quote, ends)):
            return found
    return _numeric(text, ends)


class SqliDetector:
    """Operator wrapper around :func:`find_sqli`; runs only where a quote is followed by an SQL
    continuation, a leading number by more text, or ``union`` or ``; <statement>`` occurs."""

    prefilter: tuple[str, ...] | None = (
        r"['\"`]\s*\)*\s*(?:or\b|and\b|xor\b|div\b|union\b|order\b|group\b|having\b|waitfor\b|into\b|"
        r"procedure\b|rlike\b|regexp\b|[;=<>#+|&!]|--|/\*)",
        r"^[\s(\-]*\d+[\s)]*[A-Za-z;|&(]",
        r"(?i)union",
        r"(?i);\s*(?:select|insert|update|delete|drop|create|alter|truncate|exec|execute|declare|shutdown|"
        r"waitfor|grant|revoke|copy|pragma|attach)\b",
    )

    def __init__(self, argument: Any = None) -> None:
        if argument not in (None, "", {}):
            raise ValueError("detect_sqli takes no argument")

    def match(self, value: str) -> str | None:
        return find_sqli(value)


register("detect_sqli", SqliDetector)
