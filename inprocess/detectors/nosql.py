"""NoSQL (MongoDB) injection: user-sent operators inside a query, or user text in a JS body.

Two checks on a filter, update document or aggregation pipeline:

- an object the client sent (a dict/list input) that holds an operator key (``$ne``,
  ``$gt``, ``$regex``, ``$where``...) appears as a subtree of the query, so the client
  chose the query's operators, not just its values;
- a user string inside a ``$where`` / ``$function`` / ``$accumulator`` JavaScript body
  that spans more than one JavaScript token (it closes a string literal and adds code),
  or that is the whole body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["detect", "has_operator"]

_report = Reporter("nosql", "nosql_injection")

_OPERATOR = re.compile(r"\$[A-Za-z]")
_JS_KEYS = frozenset({"$where", "$function", "$accumulator"})
_LITERAL_KEYS = frozenset({"$eq", "$literal"})
_JS_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`"""
    r"""|[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|.""",
    re.S,
)
_MAX_DEPTH = 32
_CONTAINERS = (dict, list)  # a tuple: ``isinstance`` with a ``dict | list`` union is slower


def has_operator(value: Any, depth: int = 0) -> bool:
    """True when ``value`` (a dict/list) holds a key that looks like a MongoDB operator."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str) and _OPERATOR.match(key):
                return True
            if isinstance(sub, _CONTAINERS) and has_operator(sub, depth + 1):
                return True
    elif isinstance(value, list):
        return any(isinstance(sub, _CONTAINERS) and has_operator(sub, depth + 1) for sub in value)
    return False


def _js_spans(body: str) -> list[tuple[int, int]]:
    """Spans of the non-space JavaScript tokens of ``body``."""
    return [m.span() for m in _JS_TOKEN.finditer(body) if not m.group().isspace()]


def _judge_js(body: str, inputs: Sequence[UserInput]) -> Detection | None:
    spans: list[tuple[int, int]] | None = None
    for item in occurring(body, inputs):
        value: str = item.value
        if value.strip() == body.strip():
            return _report(
                0.95,
                "a server-side JavaScript body is user input",
                value,
                item.source,
            )
        if spans is None:
            spans = _js_spans(body)
        for at in occurrences(body, value):
            start, end = at, at + len(value)
            covering = [s for s in spans if s[0] < end and s[1] > start]
            if len(covering) > 1 or (covering and (covering[0][0] > start or covering[0][1] < end)):
                if len(covering) == 1 and not value.strip(" \t"):
                    continue
                return _report(
                    0.9,
                    f"input spans {len(covering)} JavaScript tokens of a $where/$function body",
                    value,
                    item.source,
                )
    return None


def _strings(inputs: Sequence[UserInput]) -> list[UserInput]:
    return [item for item in inputs if type(item.value) is str and len(item.value) >= 2]


def _walk(
    node: Any, objects: Sequence[UserInput], inputs: Sequence[UserInput], depth: int
) -> Detection | None:
    """Depth-first: the most specific client object wins (``body.password`` over ``body``).
    The string inputs are picked out of ``inputs`` only when a JavaScript body turns up."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(node, dict):
        for key, sub in node.items():
            if key in _LITERAL_KEYS:
                continue
            if key in _JS_KEYS:
                strings = _strings(inputs)
                found = _judge_body(sub, strings) if strings else None
                if found is not None:
                    return found
            if isinstance(sub, _CONTAINERS):
                found = _walk(sub, objects, inputs, depth + 1)
                if found is not None:
                    return found
    elif isinstance(node, list):
        for sub in node:
            if isinstance(sub, _CONTAINERS):
                found = _walk(sub, objects, inputs, depth + 1)
                if found is not None:
                    return found
    for item in objects:
        if item.value == node and has_operator(node):
            return _operator_hit(item)
    return None


def _judge_body(sub: Any, strings: Sequence[UserInput]) -> Detection | None:
    if isinstance(sub, str):
        return _judge_js(sub, strings)
    if isinstance(sub, dict):
        for part in sub.values():
            if isinstance(part, str):
                found = _judge_js(part, strings)
                if found is not None:
                    return found
    return None


def _operator_hit(item: UserInput) -> Detection:
    keys = sorted(_operator_keys(item.value))
    return _report(
        0.95,
        f"client-sent object with operator(s) {', '.join(keys[:5])} inside the query",
        repr(item.value),
        item.source,
    )


def _operator_keys(value: Any, depth: int = 0) -> set[str]:
    found: set[str] = set()
    if depth > _MAX_DEPTH:
        return found
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str) and _OPERATOR.match(key):
                found.add(key)
            found |= _operator_keys(sub, depth + 1)
    elif isinstance(value, list):
        for sub in value:
            found |= _operator_keys(sub, depth + 1)
    return found


@register("nosql")
def detect(
    query: Any, inputs: Sequence[UserInput], *, objects: Sequence[UserInput] | None = None
) -> Detection | None:
    """Flag client-sent operator objects inside ``query`` and user code in its JS bodies.

    ``objects``: :func:`client_objects` of ``inputs`` when the caller already has them (the
    Mongo sink works them out once per request; a request makes several queries)."""
    if not isinstance(query, _CONTAINERS):
        return None
    return _walk(query, objects if objects is not None else client_objects(inputs), inputs, 0)


def client_objects(inputs: Sequence[UserInput]) -> list[UserInput]:
    """The inputs that are client-sent objects holding an operator key."""
    return [
        item
        for item in inputs
        if type(item.value) is not str and isinstance(item.value, _CONTAINERS) and has_operator(item.value)
    ]
