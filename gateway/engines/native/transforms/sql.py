"""Comment removal for SQL and C-like languages: ``/* */`` (MySQL ``/*! */`` keeps its body),
``--`` and ``#`` to the end of the line. Each comment becomes one space."""

from __future__ import annotations

import re

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["remove_comments"]

# One left-to-right search for the three openers: three separate ``find`` calls would each
# rescan to the end of the value for every comment (quadratic on ``/*/*/*...``).
_OPENER = re.compile(r"/\*|--|#")


def _next_comment(value: str, start: int) -> int:
    found = _OPENER.search(value, start)
    return -1 if found is None else found.start()


def remove_comments(value: str) -> tuple[str, bool]:
    """Replace comments with a space so ``UNION/**/SELECT`` reads ``UNION SELECT``."""
    at = _next_comment(value, 0)
    if at == -1:
        return value, False
    out: list[str] = []
    i, n = 0, len(value)
    while at != -1:
        out.append(value[i:at])
        if value.startswith("/*", at):
            end = value.find("*/", at + 2)
            body = value[at + 2 : end if end != -1 else n]
            out.append(" " + body[1:].lstrip("0123456789") + " " if body.startswith("!") else " ")
            i = end + 2 if end != -1 else n
        else:
            end = value.find("\n", at)
            out.append(" ")
            i = end if end != -1 else n
        at = _next_comment(value, i) if i < n else -1
    out.append(value[i:])
    stripped = "".join(out)
    return stripped, stripped != value


register("remove_comments", remove_comments)
