"""Comment removal for SQL and C-like languages: ``/* */`` (MySQL ``/*! */`` keeps its body),
``--`` and ``#`` to the end of the line. Each comment becomes one space."""

from __future__ import annotations

from gateway.transforms import register

__all__ = ["remove_comments"]


def _next_comment(value: str, start: int) -> int:
    found = [i for i in (value.find("/*", start), value.find("--", start), value.find("#", start)) if i != -1]
    return min(found) if found else -1


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
