"""Second-order taint: strings read from a database during a request go to
``ctx.db_values`` so the response check can tell stored XSS from reflected.

Only strings that could carry markup (contain ``<``) are kept, at most ``MAX_VALUES`` per
request and ``MAX_DEPTH`` levels deep: cheap and bounded whatever the query returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inprocess.context import current

__all__ = ["MAX_VALUES", "record_db_values"]

MAX_VALUES = 1000
MAX_DEPTH = 8
MAX_LEN = 64 * 1024


def record_db_values(result: Any) -> None:
    """Add markup-looking strings of ``result`` (documents, rows, lists) to ``ctx.db_values``."""
    ctx = current()
    if ctx is None or result is None or len(ctx.db_values) >= MAX_VALUES:
        return
    _walk(result, ctx.db_values, 0)


def _walk(value: Any, out: list[str], depth: int) -> None:
    if len(out) >= MAX_VALUES or depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        if "<" in value:
            out.append(value[:MAX_LEN])
    elif isinstance(value, Mapping):
        for item in value.values():
            _walk(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, out, depth + 1)


def _strings(value: Any, out: list[str], depth: int = 0) -> None:
    if depth > MAX_DEPTH or len(out) >= MAX_VALUES:
        return
    if isinstance(value, str):
        out.append(value[:MAX_LEN])
    elif isinstance(value, Mapping):
        for item in value.values():
            _strings(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out, depth + 1)


def check_stored_write(sink: str, operation: str, document: Any) -> None:
    """Stored XSS at the write: user input holding active HTML is about to be stored.

    The ``stored_xss`` detector judges the written strings against the request's markup-looking
    string inputs (the same test it applies to a response against values read back)."""
    ctx = current()
    if ctx is None:
        return
    marked = [i.value for i in ctx.inputs if type(i.value) is str and "<" in i.value]
    if not marked:
        return
    written: list[str] = []
    _strings(document, written)
    if written:
        from inprocess import runtime

        runtime.check(sink, operation, "stored_xss", "\n".join(written), inputs=marked)
