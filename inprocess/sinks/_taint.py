"""Second-order taint: strings read from a database during a request go to
``ctx.db_values`` so the response check can tell stored XSS from reflected. Reads are
kept by reference and walked only when an HTML response is judged (:func:`tainted`).

Only strings that could carry markup (contain ``<``) are kept, at most ``MAX_VALUES`` per
request and ``MAX_DEPTH`` levels deep: cheap and bounded whatever the query returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.context import RequestContext, current

__all__ = ["MAX_READS", "MAX_VALUES", "record_db_values", "tainted"]

MAX_VALUES = 1000
MAX_DEPTH = 8
MAX_LEN = 64 * 1024
# Value types that hold no strings (ObjectId, datetime, Decimal128, bytes...): learnt on
# first sight (neither str, container nor Mapping) and skipped with one set lookup after.
_SCALARS: set[type] = {int, float, bool, type(None), bytes}


MAX_READS = 1000


def record_db_values(result: Any) -> None:
    """Keep ``result`` (documents, rows, lists) for the stored-XSS taint: one reference
    appended to ``ctx.db_reads``; :func:`tainted` walks it when a response needs it.

    Nothing to do without an active guard (nobody would judge them) or a request context."""
    if result is None or guard.active() is None:
        return
    ctx = current()
    if ctx is not None and len(ctx.db_reads) < MAX_READS:
        ctx.db_reads.append(result)


def tainted(ctx: RequestContext) -> list[str]:
    """The markup-looking strings of everything read from a database in this request so far
    (``ctx.db_values``, after walking the reads not walked yet)."""
    if ctx.db_reads:
        reads, ctx.db_reads = ctx.db_reads, []
        out = ctx.db_values
        for result in reads:
            if len(out) >= MAX_VALUES:
                break
            _walk(result, out, 0)
    return ctx.db_values


def _walk(value: Any, out: list[str], depth: int) -> None:
    """Depth-first over mappings, lists and tuples; exact-type tests first (BSON documents are
    dicts, rows tuples), the ``Mapping`` ABC only for the rest."""
    kind = type(value)
    if kind is str:
        if "<" in value and len(out) < MAX_VALUES:
            out.append(value[:MAX_LEN])
        return
    if depth >= MAX_DEPTH:
        return
    if kind is dict:
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    elif isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        _SCALARS.add(kind)
        return
    scalars = _SCALARS
    for item in items:
        kind = type(item)
        if kind is str:
            if "<" in item and len(out) < MAX_VALUES:
                out.append(item[:MAX_LEN])
        elif kind not in scalars:
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
    if ctx is None or guard.active() is None:
        return
    marked = [i.value for i in ctx.inputs if type(i.value) is str and "<" in i.value]
    if not marked:
        return
    written: list[str] = []
    _strings(document, written)
    if written:
        guard.check(sink, operation, "stored_xss", "\n".join(written), inputs=marked)
