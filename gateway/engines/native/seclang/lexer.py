"""Split SecLang text into directives: a name and its arguments, with file and line.

The rules ModSecurity's configuration reader follows, and this one too:

- a line ending in a backslash continues on the next line (the backslash and the line
  break are dropped; the next line's indentation is kept);
- a line whose first non-blank character is ``#`` is a comment;
- arguments are separated by blanks; a double-quoted argument may hold blanks, and ``\\"``
  inside it stands for a quote (every other backslash is kept as written, since regexes
  need them);
- ``Include`` is resolved by the loader (:mod:`rampart.gateway.engines.native.seclang.loader`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Directive", "SecLangSyntaxError", "split_arguments", "tokenize"]


class SecLangSyntaxError(ValueError):
    """A rule file cannot be read; the message names file, line and fix."""


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive as written: ``name`` (as spelled) and its arguments, unquoted."""

    name: str
    args: tuple[str, ...]
    file: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def split_arguments(text: str, where: str) -> tuple[str, ...]:
    """The blank-separated, optionally double-quoted arguments of one logical line."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch == '"':
            i += 1
            out: list[str] = []
            while i < n:
                ch = text[i]
                if ch == "\\" and i + 1 < n and text[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                if ch == '"':
                    break
                out.append(ch)
                i += 1
            else:
                raise SecLangSyntaxError(f"{where}: a double quote is not closed; close the quoted argument")
            args.append("".join(out))
            i += 1
            continue
        start = i
        while i < n and text[i] not in " \t\r\n":
            i += 1
        args.append(text[start:i])
    return tuple(args)


def tokenize(text: str, file: Path) -> list[Directive]:
    """Every directive of ``text`` (the content of ``file``), in order."""
    directives: list[Directive] = []
    pending: list[str] = []
    start_line = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not pending:
            stripped = line.lstrip()
            if not stripped or stripped.startswith("#"):
                continue
            start_line = number
        if line.endswith("\\") and not line.endswith("\\\\\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        logical = "".join(pending)
        pending = []
        args = split_arguments(logical, f"{file}:{start_line}")
        if args:
            directives.append(Directive(args[0], args[1:], file, start_line))
    if pending:
        logical = "".join(pending)
        args = split_arguments(logical, f"{file}:{start_line}")
        if args:
            directives.append(Directive(args[0], args[1:], file, start_line))
    return directives
