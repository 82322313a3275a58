"""JSON read as ``json.loads`` (and so aiohttp's ``json()``) reads it, measured against
the limits without recursion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rampart.interpretation.limits import DEFAULT_LIMITS, InterpretationLimits

__all__ = ["JsonReading", "looks_like_json", "read_json"]


def looks_like_json(text: str) -> bool:
    """Would a framework that parses whatever it is sent read ``text`` as a JSON document?"""
    return text.lstrip()[:1] in ("{", "[")


@dataclass(frozen=True, slots=True)
class JsonReading:
    """A JSON document read with limits. ``error`` names why it did not parse (None when it
    did). ``values`` (keys and leaves) and ``depth`` (deepest container level) are
    ``measured`` only when the text is long enough, or holds brackets enough, to pass a
    limit; a shorter document is under both by construction and is not walked."""

    value: Any = None
    error: str | None = None
    values: int = 0
    depth: int = 0
    measured: bool = False
    over_depth: bool = False
    over_count: bool = False
    duplicate_keys: bool = False


class _DuplicateWatch:
    """``object_pairs_hook`` building the dicts ``json.loads`` would, noting repeated keys
    (the last value wins, as in ``json.loads``; other parsers keep the first)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            self.seen = True
        return result


def read_json(
    text: str, limits: InterpretationLimits = DEFAULT_LIMITS, *, duplicates: bool = False
) -> JsonReading:
    """Parse ``text`` as JSON (what ``json.loads`` -- and so aiohttp's ``json()`` -- accepts)
    and measure it without recursion; ``duplicates`` also reports repeated object keys (a
    slower parse: one Python call per object)."""
    watch = _DuplicateWatch() if duplicates and "{" in text else None
    try:
        value = json.loads(text) if watch is None else json.loads(text, object_pairs_hook=watch)
    except RecursionError:
        return JsonReading(error="too deep for the parser", depth=limits.max_depth + 1, over_depth=True)
    except ValueError as exc:
        return JsonReading(error=str(exc))
    duplicate_keys = watch is not None and watch.seen
    if len(text) <= limits.max_values and text.count("[") + text.count("{") <= limits.max_depth:
        # every value takes a character and every level a bracket: under both limits
        return JsonReading(value=value, duplicate_keys=duplicate_keys)
    count = 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        kind = type(node)
        if kind is dict:
            count += 2 * len(node)
            children = node.values()
        elif kind is list:
            count += len(node)
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level > limits.max_depth:
            continue
        below = level + 1
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, below))
    return JsonReading(
        value=value,
        values=count if deepest else 1,
        depth=deepest,
        measured=True,
        over_depth=deepest > limits.max_depth,
        over_count=count > limits.max_values,
        duplicate_keys=duplicate_keys,
    )
