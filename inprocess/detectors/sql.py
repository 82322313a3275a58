"""SQL injection: a user input that spans more than one token of the query.

The query is tokenised with sqlglot's tokenizer for the dialect. A value the application
quoted or passed as a number is exactly one token (a string literal, a number, an
identifier); an injected value spans several and adds keywords, operators, comments or
statement separators. A value that breaks the query without adding any of those (an
apostrophe in ``'%it's%'`` leaves it untokenisable; ``rock 'n' roll`` splits into
strings and names) only makes the database reject the query and is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from sqlglot.dialects import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["detect"]

_report = Reporter("sql", "sql_injection")

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_LITERAL_KINDS = frozenset(
    getattr(TokenType, name)
    for name in (
        "STRING",
        "NATIONAL_STRING",
        "RAW_STRING",
        "HEX_STRING",
        "BIT_STRING",
        "BYTE_STRING",
        "HEREDOC_STRING",
        "UNICODE_STRING",
        "VAR",
        "IDENTIFIER",
        "NUMBER",
    )
    if hasattr(TokenType, name)
)
_STRONG = frozenset(
    {
        TokenType.SEMICOLON,
        TokenType.UNION,
        TokenType.SELECT,
        TokenType.OR,
        TokenType.AND,
        TokenType.INSERT,
        TokenType.UPDATE,
        TokenType.DELETE,
        TokenType.DROP,
        TokenType.EQ,
        TokenType.LIKE,
    }
)


_QUOTES_OR_ESCAPES = re.compile(r"['\"`\\]")
_LITERALS_STANDARD = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_LITERALS_MYSQL = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|#[^\n]*|--(?=\s)[^\n]*|/\*.*?\*/", re.S
)


def _inside_literal(query: str, start: int, end: int, dialect: str) -> bool:
    """True when ``[start, end)`` lies inside one single-quoted literal (a quick regex lexer).

    Only used as a shortcut when the query holds no backslash and no ``$$`` body, where
    the three dialects agree on what a literal is; anything else goes to sqlglot.
    """
    if "\\" in query or "$$" in query:
        return False
    pattern = _LITERALS_MYSQL if dialect == "mysql" else _LITERALS_STANDARD
    for m in pattern.finditer(query):
        if m.start() >= end:
            return False
        if m.start() < start and m.end() > end:
            return m.group()[0] == "'"
    return False


@cache
def _tokenizer_class(dialect: str) -> type[Tokenizer]:
    try:
        found: type[Tokenizer] = Dialect.get_or_raise(dialect).tokenizer_class
    except (ValueError, SqlglotError):
        found = Dialect().tokenizer_class
    return found


def _tokens(query: str, dialect: str) -> list[Token] | None:
    """sqlglot tokens of ``query``; a trailing unterminated ``/*`` comment is closed first,
    as SQLite accepts one (``1 UNION SELECT ... /*`` runs there)."""
    tokenizer = _tokenizer_class(dialect)
    try:
        return tokenizer().tokenize(query)
    except SqlglotError:
        pass
    if "/*" in query:
        try:
            return tokenizer().tokenize(query + "*/")
        except SqlglotError:
            return None
    return None


def _covering(tokens: list[Token], start: int, end: int) -> list[Token]:
    """Tokens overlapping ``[start, end)``; sqlglot's ``end`` is inclusive."""
    return [t for t in tokens if t.start < end and t.end >= start]


def _inert(tokens: list[Token]) -> bool:
    """Only literals and names, no comment: at worst a syntax error (``rock 'n' roll``)."""
    return all(t.token_type in _LITERAL_KINDS and not t.comments for t in tokens)


@register("sql")
def detect(query: str, inputs: Sequence[UserInput], *, dialect: str = "sqlite") -> Detection | None:
    """Flag a user input that adds SQL syntax (keywords, operators, comments, separators).

    Inputs that leave the query untokenisable, or split into nothing but literals and
    names, can only make the database reject the query; they are not reported.
    """
    tokens: list[Token] | None = None
    tokenised = False
    for item in occurring(query, inputs):
        value: str = item.value
        if value.isalnum() or _NUMBER.fullmatch(value.strip()):
            continue  # one word or one number cannot span two tokens
        if not _QUOTES_OR_ESCAPES.search(value) and all(
            _inside_literal(query, at, at + len(value), dialect) for at in occurrences(query, value)
        ):
            continue  # quote-free text inside a string literal cannot leave it
        if not tokenised:
            tokens, tokenised = _tokens(query, dialect), True
        if tokens is None:
            return None
        lead = len(value) - len(value.lstrip())
        trail = len(value) - len(value.rstrip())
        for at in occurrences(query, value):
            start, end = at + lead, at + len(value) - trail
            spanned = _covering(tokens, start, end)
            if start >= end or not spanned or _inert(spanned):
                continue
            if len(spanned) == 1 and spanned[0].start <= start and spanned[0].end >= end - 1:
                continue
            strong = any(t.token_type in _STRONG or t.comments for t in spanned)
            kinds = ",".join(t.token_type.name for t in spanned[:6])
            return _report(
                0.95 if strong else 0.85,
                f"input spans {len(spanned)} SQL tokens ({kinds})",
                value,
                item.source,
            )
    return None
