"""Comment handling: ``replaceComments``, ``removeComments``, ``removeCommentsChar``, and
``cmdLine`` (shell-command normalisation)."""

from __future__ import annotations

import re

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = ["cmd_line", "remove_comments", "remove_comments_char", "replace_comments"]


def replace_comments(value: str) -> str:
    """Each C comment ``/* ... */`` becomes one space; an unterminated one runs to the end."""
    if "/*" not in value:
        return value
    out: list[str] = []
    i = 0
    while True:
        start = value.find("/*", i)
        if start == -1:
            out.append(value[i:])
            break
        out.append(value[i:start])
        end = value.find("*/", start + 2)
        out.append(" ")
        if end == -1:
            break
        i = end + 2
    return "".join(out)


def remove_comments(value: str) -> str:
    """``/* */`` and ``<!-- -->`` comments removed, an unterminated comment becomes one space,
    and ``--`` or ``#`` outside a comment cuts the value there. As in libmodsecurity, the byte
    right after a comment's end is kept whatever it is (a comment ending the value leaves a
    NUL, the C string's terminator)."""
    if "/*" not in value and "<!--" not in value and "--" not in value and "#" not in value:
        return value  # no comment opens and nothing cuts it: every byte is copied
    out: list[str] = []
    i, n = 0, len(value)
    in_comment = False
    while i < n:
        if not in_comment:
            if value.startswith("/*", i):
                in_comment = True
                i += 2
            elif value.startswith("<!--", i):
                in_comment = True
                i += 4
            elif value.startswith("--", i) or value[i] == "#":
                return "".join(out)
            else:
                out.append(value[i])
                i += 1
        elif value.startswith("*/", i) or value.startswith("-->", i):
            in_comment = False
            i += 2 if value[i] == "*" else 3
            out.append(value[i] if i < n else "\0")
            i += 1
        else:
            i += 1
    if in_comment:
        out.append(" ")
    return "".join(out)


_COMMENT_CHARS = re.compile(r"/\*|\*/|<!--|-->|--|#")


def remove_comments_char(value: str) -> str:
    """The comment markers ``/*``, ``*/``, ``<!--``, ``-->``, ``--`` and ``#`` removed in one
    left-to-right pass (bytes joined by a removal are not looked at again)."""
    return _COMMENT_CHARS.sub("", value)


_CMD_DELETED = "\"'\\^"
_ASCII_LOWER: dict[int, int] = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_CMD_SPACE_RUN = re.compile("[ ,;\t\r\n]+")
_CMD_SPACE_BEFORE = re.compile(" (?=[/(])")


def cmd_line(value: str) -> str:
    """Shell-command normalisation: ``\\ " ' ^`` deleted; runs of space, tab, CR, LF, ``,`` and
    ``;`` become one space (bytes deleted inside a run do not break it); a space before ``/``
    or ``(`` removed; ASCII lowered. Linear passes at C speed, each skipped when the value has
    nothing it would change (most values): equal to libmodsecurity's single byte loop."""
    text = value.lower() if value.isascii() else value.translate(_ASCII_LOWER)
    for deleted in _CMD_DELETED:
        if deleted in text:
            text = text.replace(deleted, "")
    if "  " in text or "," in text or ";" in text or "\t" in text or "\r" in text or "\n" in text:
        text = _CMD_SPACE_RUN.sub(" ", text)
    if " /" in text or " (" in text:
        text = _CMD_SPACE_BEFORE.sub("", text)
    return text


register("replaceComments", replace_comments)
register("removeComments", remove_comments)
register("removeCommentsChar", remove_comments_char)
register("cmdLine", cmd_line)
