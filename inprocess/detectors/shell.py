"""Command injection: a user input that the shell would read as syntax, not as data.

A small POSIX ``sh`` lexer gives every character of the command line a role: literal,
quote, escape, word separator, operator (``; | & < >``, newline), expansion (``$name``,
``${``, ``$(``, backtick, ``~/``), glob (``* ? [``), or comment. A user input whose
characters are all literals (or quotes and escapes that keep them literal) is data; one
that holds an operator, expansion, glob or comment changed the command's structure.

Deliberately not roles: ``( )`` outside ``$(`` (a lone subshell paren is a syntax error
unless an operator, already reported, starts a new command), ``$1``/``$$``/``$?``
(positional and special parameters expand to harmless values), ``~name``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["Role", "detect", "roles"]

_report = Reporter("shell", "command_injection")


class Role(IntEnum):
    LITERAL = 0
    QUOTE = 1
    ESCAPE = 2
    SPACE = 3
    OPERATOR = 4
    EXPANSION = 5
    GLOB = 6
    COMMENT = 7


_OPERATORS = frozenset(";|&<>\n")
_SPACES = frozenset(" \t")
_GLOBS = frozenset("*?[")
_SPECIAL_PARAMS = frozenset("$?#!@*-0123456789")
_NAME_START = re.compile(r"[A-Za-z_{(]")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
_DANGER = {
    Role.OPERATOR: ("shell operator", 0.95),
    Role.EXPANSION: ("shell expansion", 0.95),
    Role.GLOB: ("glob pattern", 0.6),
    Role.COMMENT: ("comment", 0.7),
}


def _expands(command: str, i: int) -> bool:
    nxt = command[i + 1 : i + 2]
    return bool(nxt) and bool(_NAME_START.match(nxt))


def roles(command: str) -> list[Role]:
    """The role of every character of ``command`` as ``sh`` would lex it."""
    out = [Role.LITERAL] * len(command)
    i, n = 0, len(command)
    state = ""  # "", "'" or '"'
    word_start = True
    while i < n:
        c = command[i]
        if c == "$" and state != "'" and command[i + 1 : i + 2] in _SPECIAL_PARAMS:
            i += 2  # $$, $?, $1...: one special parameter, a harmless value
            word_start = False
            continue
        if state == "'":
            if c == "'":
                out[i], state = Role.QUOTE, ""
            i += 1
            continue
        if state == '"':
            if c == '"':
                out[i], state = Role.QUOTE, ""
            elif c == "\\" and i + 1 < n and command[i + 1] in '$`"\\\n':
                out[i] = Role.ESCAPE
                i += 1
            elif c == "`" or (c == "$" and _expands(command, i)):
                out[i] = Role.EXPANSION
            i += 1
            continue
        if c == "\\":
            out[i] = Role.ESCAPE
            i += 2
            word_start = False
            continue
        if c in "'\"":
            out[i], state, word_start = Role.QUOTE, c, False
        elif c in _SPACES:
            out[i], word_start = Role.SPACE, True
        elif c in _OPERATORS:
            out[i], word_start = Role.OPERATOR, True
        elif c == "`" or (c == "$" and _expands(command, i)):
            out[i], word_start = Role.EXPANSION, False
        elif c in _GLOBS:
            out[i], word_start = Role.GLOB, False
        elif c == "#" and word_start:
            end = command.find("\n", i)
            end = n if end == -1 else end
            for j in range(i, end):
                out[j] = Role.COMMENT
            i = end
            continue
        elif c == "~" and word_start and command[i + 1 : i + 2] in ("", "/", " ", "\t", "\n", ";"):
            out[i], word_start = Role.EXPANSION, False
        else:
            word_start = False
        i += 1
    return out


def _judge(command: str, value: str, source: str, cache: dict[str, list[Role]]) -> Detection | None:
    if command not in cache:
        cache[command] = roles(command)
    role_of = cache[command]
    for at in occurrences(command, value):
        span = role_of[at : at + len(value)]
        worst = max(span)
        if worst in _DANGER:
            what, confidence = _DANGER[worst]
            return _report(confidence, f"input adds a {what} to the command", value, source)
        if worst == Role.SPACE:
            for k, role in enumerate(span[:-1]):
                if role == Role.SPACE and re.match(r"-{1,2}[A-Za-z]", value[k + 1 : k + 4]):
                    return _report(
                        0.6,
                        "input splits into an extra option argument",
                        value,
                        source,
                    )
    return None


def _shell_script(argv: Sequence[str]) -> str | None:
    """The script of ``sh -c SCRIPT ...`` argv lists, else None."""
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in _SHELLS and argv[1] == "-c":
        return argv[2]
    return None


@register("shell")
def detect(
    command: str | bytes | Sequence[Any], inputs: Sequence[UserInput], *, shell: bool = True
) -> Detection | None:
    """Flag a user input that adds shell syntax to ``command``.

    ``shell=True`` with a string judges the string; with a list, its first item (what
    ``subprocess`` hands to ``sh -c``). ``shell=False`` judges only ``sh -c SCRIPT`` argv
    lists and an argv item that is exactly a user input starting with ``-`` (option
    injection) outside the program name.
    """
    script: str | None
    if isinstance(command, str | bytes):
        script = command.decode("utf-8", "replace") if isinstance(command, bytes) else command
        argv: Sequence[str] = ()
    else:
        argv = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in command]
        script = (argv[0] if argv else None) if shell else _shell_script(argv)
    cache: dict[str, list[Role]] = {}
    if script is not None:
        for item in occurring(script, inputs):
            found = _judge(script, item.value, item.source, cache)
            if found is not None:
                return found
    if not shell and argv:
        exact = {a for a in argv[1:] if re.match(r"-{1,2}[A-Za-z]", a)}
        for item in inputs:
            if isinstance(item.value, str) and item.value in exact:
                return _report(
                    0.6,
                    "input is an option argument of the program",
                    item.value,
                    item.source,
                )
    return None
