"""MongoDB sinks: pymongo ``Collection`` (sync; motor delegates to it through its executor,
which :mod:`rampart.inprocess.propagation` keeps in the request context) and pymongo's
``AsyncCollection``. Each method's query part (filter, update, pipeline, bulk requests) goes
to the ``nosql`` detector; returned documents feed the stored-XSS taint.

``find_one`` is not wrapped: both drivers implement it as ``self.find(filter, ...)`` plus one
cursor read, so the ``find`` wrapper judges its filter (the incident names
``collection.find``) and the cursor's ``next`` taints the document. Wrapping it too would
judge the same filter twice and add a coroutine layer to the most common read.
``find`` itself only builds a cursor, so it runs without the nested-call guard.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from rampart.inprocess.context import RequestContext, UserInput, current
from rampart.inprocess.detectors.nosql import client_objects
from rampart.inprocess.errors import Blocked
from rampart.inprocess.guard import active, fail_open, hush, is_quiet, unhush
from rampart.inprocess.patching import Patcher, before, version_at_least
from rampart.inprocess.sinks._taint import check_stored_write, record_db_values

__all__ = ["METHODS", "patch"]

SINK = "mongo"
Extract = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def _arg(position: int, name: str) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    def get(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) > position:
            return args[position]
        return kwargs.get(name)

    return get


_filter = _arg(0, "filter")


def _filter_and(second: str) -> Extract:
    other = _arg(1, second)

    def get(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return [_filter(args, kwargs), other(args, kwargs)]

    return get


def _distinct(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return [_arg(0, "key")(args, kwargs), _arg(1, "filter")(args, kwargs)]


def _bulk(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    requests = _arg(0, "requests")(args, kwargs) or []
    return [[getattr(r, "_filter", None), getattr(r, "_doc", None)] for r in requests]


# method -> (what the detector judges, whether the result holds documents to taint)
METHODS: dict[str, tuple[Extract, bool]] = {
    "find": (_filter, False),  # also judges find_one, which calls it; the cursor taints
    "count_documents": (_filter, False),
    "update_one": (_filter_and("update"), False),
    "update_many": (_filter_and("update"), False),
    "replace_one": (_filter_and("replacement"), False),
    "delete_one": (_filter, False),
    "delete_many": (_filter, False),
    "find_one_and_update": (_filter_and("update"), True),
    "find_one_and_replace": (_filter_and("replacement"), True),
    "find_one_and_delete": (_filter, True),
    "aggregate": (_arg(0, "pipeline"), False),
    "distinct": (_distinct, True),
    "bulk_write": (_bulk, False),
}


# method -> what it writes (documents, updates): checked for stored XSS payloads
WRITES: dict[str, Extract] = {
    "insert_one": _arg(0, "document"),
    "insert_many": _arg(0, "documents"),
    "replace_one": _arg(1, "replacement"),
    "update_one": _arg(1, "update"),
    "update_many": _arg(1, "update"),
    "find_one_and_update": _arg(1, "update"),
    "find_one_and_replace": _arg(1, "replacement"),
}


def _wrap_write(method: str, extract: Extract) -> Callable[[Any], Any]:
    operation = f"collection.{method}"

    def judge(self: Any, *args: Any, **kwargs: Any) -> None:
        check_stored_write(SINK, operation, extract(args, kwargs))

    return before(judge, where=f"{SINK}.{operation}", quiet=False)


def _objects(ctx: RequestContext) -> list[UserInput]:
    """The request's client-sent operator objects, worked out once per request (the inputs
    only grow while it is served, so their count tells a stale entry)."""
    found = ctx.memo.get(SINK)
    if found is None or found[0] != len(ctx.inputs):
        found = ctx.memo[SINK] = (len(ctx.inputs), client_objects(ctx.inputs))
    objects: list[UserInput] = found[1]
    return objects


# methods that only build an object (no I/O, no nested driver calls): no nested-call guard
_LEAF_METHODS = frozenset({"find"})


def _wrap_method(method: str, extract: Extract, taint: bool) -> Callable[[Any], Any]:
    """Check the query, run the call quietly (the driver's own nested calls are not judged
    again), taint returned documents. With no active guard or inside another guarded call
    the wrapper only calls through: no extraction, no context switch."""
    operation = f"collection.{method}"

    def judge(guard: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            ctx = current()
            if ctx is None or not ctx.inputs:
                return
            guard.check(SINK, operation, "nosql", extract(args, kwargs), objects=_objects(ctx))
        except Blocked:
            raise
        except Exception as exc:
            fail_open(f"{SINK}.{operation}", exc)

    def make_leaf(original: Any) -> Any:
        @functools.wraps(original)
        def leaf(self: Any, *args: Any, **kwargs: Any) -> Any:
            guard = active()  # Guard.check itself skips nested and quiet calls
            if guard is not None:
                judge(guard, args, kwargs)
            return original(self, *args, **kwargs)

        return leaf

    def make(original: Any) -> Any:
        if method in _LEAF_METHODS and not inspect.iscoroutinefunction(original):
            return make_leaf(original)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                guard = active()
                if guard is None or is_quiet():
                    result = await original(self, *args, **kwargs)
                else:
                    judge(guard, args, kwargs)
                    token = hush()
                    try:
                        result = await original(self, *args, **kwargs)
                    finally:
                        unhush(token)
                if taint and result is not None:
                    record_db_values(result)
                return result

            return async_wrapper

        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            guard = active()
            if guard is None or is_quiet():
                result = original(self, *args, **kwargs)
            else:
                judge(guard, args, kwargs)
                token = hush()
                try:
                    result = original(self, *args, **kwargs)
                finally:
                    unhush(token)
            if taint and result is not None:
                record_db_values(result)
            return result

        return wrapper

    return make


def _wrap_next(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def anext_(self: Any) -> Any:
            doc = await original(self)
            if doc is not None:
                record_db_values(doc)
            return doc

        return anext_

    @functools.wraps(original)
    def next_(self: Any) -> Any:
        doc = original(self)
        record_db_values(doc)
        return doc

    return next_


def _wrap_next_batch(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def anext_batch(self: Any, result: list[Any], *args: Any, **kwargs: Any) -> Any:
            start = len(result)
            more = await original(self, result, *args, **kwargs)
            if len(result) > start:
                record_db_values(result[start:] if start else result)
            return more

        return anext_batch

    @functools.wraps(original)
    def next_batch(self: Any, result: list[Any], *args: Any, **kwargs: Any) -> Any:
        start = len(result)
        more = original(self, result, *args, **kwargs)
        if len(result) > start:
            record_db_values(result[start:] if start else result)
        return more

    return next_batch


def _layers(method: str) -> Callable[[Any], Any]:
    """The query check outside, the stored-payload check inside (both when a method has both)."""
    makers: list[Callable[[Any], Any]] = []
    if method in WRITES:
        makers.append(_wrap_write(method, WRITES[method]))
    if method in METHODS:
        extract, taint = METHODS[method]
        makers.append(_wrap_method(method, extract, taint))

    def make(original: Any) -> Any:
        for maker in makers:
            original = maker(original)
        return original

    return make


def _patch_collection(patcher: Patcher, cls: type) -> None:
    for method in dict.fromkeys([*WRITES, *METHODS]):
        if method in vars(cls):
            patcher.wrap(cls, method, _layers(method))


def _patch_cursor(patcher: Patcher, cls: type) -> None:
    if "next" in vars(cls):
        patcher.wrap(cls, "next", _wrap_next)
    if "_next_batch" in vars(cls):
        patcher.wrap(cls, "_next_batch", _wrap_next_batch)


def _sync(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("pymongo", (4, 9)):
        return
    import pymongo.synchronous.command_cursor as cc
    import pymongo.synchronous.cursor as cur

    _patch_collection(patcher, module.Collection)
    _patch_cursor(patcher, cur.Cursor)
    _patch_cursor(patcher, cc.CommandCursor)


def _async(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("pymongo", (4, 9)):
        return
    import pymongo.asynchronous.command_cursor as acc
    import pymongo.asynchronous.cursor as acur

    _patch_collection(patcher, module.AsyncCollection)
    _patch_cursor(patcher, acur.AsyncCursor)
    _patch_cursor(patcher, acc.AsyncCommandCursor)


def patch(patcher: Patcher) -> None:
    patcher.when_imported("pymongo.synchronous.collection", lambda m: _sync(patcher, m))
    patcher.when_imported("pymongo.asynchronous.collection", lambda m: _async(patcher, m))
