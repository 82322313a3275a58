"""JSON lines, the one way the project reads and writes them.

A JSON-lines file holds one JSON value per line, and a line ends at ``\\n`` only.
``str.splitlines()`` and text-mode universal newlines also break at ``\\r``, U+0085,
U+2028 and U+2029, which JSON writers (``ensure_ascii=False``) leave raw inside strings:
a body holding one of them would be cut in two. Every reader and writer of ``.jsonl`` in
the repository goes through :func:`read_lines`, :func:`dumps_line` and :func:`write_lines`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["JsonLine", "dumps_line", "iter_lines", "read_lines", "write_lines"]


class JsonLine(str):
    """One non-blank line of a JSON-lines file, with its 1-based line number."""

    lineno: int

    def __new__(cls, text: str, lineno: int) -> JsonLine:
        line = super().__new__(cls, text)
        line.lineno = lineno
        return line


def iter_lines(text: str) -> Iterator[JsonLine]:
    """The non-blank lines of ``text``, split at ``\\n`` only (a trailing ``\\r`` is kept: JSON skips it)."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield JsonLine(line, lineno)


def read_lines(path: str | Path) -> Iterator[JsonLine]:
    """The non-blank lines of the UTF-8 file at ``path``, split at ``\\n`` only."""
    with Path(path).open(encoding="utf-8", newline="\n") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield JsonLine(line.removesuffix("\n"), lineno)


def dumps_line(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as one JSON line (no trailing newline); non-ASCII stays readable.

    ``json.dumps`` escapes ``\\n`` and ``\\r`` inside strings, so the line never breaks."""
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys)


def write_lines(path: str | Path, values: Iterable[Any], *, sort_keys: bool = False) -> int:
    """Write ``values`` as JSON lines to ``path`` (parents created); returns how many."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        for value in values:
            fh.write(dumps_line(value, sort_keys=sort_keys) + "\n")
            count += 1
    return count
