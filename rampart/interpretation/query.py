"""Query strings and urlencoded forms as aiohttp decodes them, and the ``qs``-style
nesting an application builds from the pairs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from rampart.interpretation.json_reading import looks_like_json, read_json
from rampart.interpretation.limits import DEFAULT_LIMITS, InterpretationLimits

__all__ = ["Nested", "Pairs", "nest_pairs", "parse_pairs"]


class Pairs(NamedTuple):
    """Decoded ``(name, value)`` pairs in order; ``over_limit`` when the source held more
    than ``max_values`` pairs (``pairs`` then holds the first ``max_values``). A named
    tuple rather than a frozen dataclass: every query string of every request builds one."""

    pairs: list[tuple[str, str]]
    over_limit: bool = False
    total: int = 0


def parse_pairs(
    text: str, limits: InterpretationLimits = DEFAULT_LIMITS, *, encoding: str = "utf-8"
) -> Pairs:
    """``a=1&b=2`` as aiohttp's ``request.query`` and ``post()`` decode it (``parse_qsl``
    with blank values kept; ``+`` is a space; undecodable escapes replaced)."""
    if not text:
        return Pairs([], False, 0)
    total = text.count("&") + 1
    over = total > limits.max_values
    if over:
        cut = _nth(text, "&", limits.max_values)
        text = text[:cut]
    if "%" not in text:  # only '+' to decode: what parse_qsl gives, faster
        plain = text.replace("+", " ") if "+" in text else text
        pairs = [(name, value) for name, _, value in (p.partition("=") for p in plain.split("&") if p)]
        return Pairs(pairs, over, total)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace")
    except LookupError:
        pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    return Pairs(pairs, over, total)


def _nth(text: str, sep: str, n: int) -> int:
    """Index of the ``n``-th ``sep`` in ``text`` (``len(text)`` when there are fewer)."""
    at = -1
    for _ in range(n):
        at = text.find(sep, at + 1)
        if at == -1:
            return len(text)
    return at


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)(.*)$", re.DOTALL)
_PART = re.compile(r"\[([^\[\]]*)\]")


def _json_value(raw: str, limits: InterpretationLimits) -> Any:
    if raw[:1] not in ("{", "[") and not looks_like_json(raw):
        return raw
    reading = read_json(raw, limits)
    return reading.value if reading.error is None and not reading.over_depth else raw


def _key_path(key: str, max_depth: int) -> tuple[list[str], bool]:
    match = _KEY.match(key)
    if match is None or not match.group(2):
        return [key], False
    parts = _PART.findall(match.group(2))
    rest = match.group(3)
    path = [match.group(1), *parts[:max_depth]]
    over = len(parts) > max_depth
    tail = "".join(f"[{p}]" for p in parts[max_depth:]) + rest
    if tail:
        path.append(tail)
    return path, over


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = target
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if last:
                node.append(value)
                return
            child: dict[str, Any] = {}
            node.append(child)
            node = child
            continue
        if last:
            existing = node.get(key)
            if existing is None:
                node[key] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                node[key] = [existing, value]
            return
        if not isinstance(node.get(key), dict | list):
            node[key] = [] if path[i + 1] == "" else {}
        node = node[key]


@dataclass(frozen=True, slots=True)
class Nested:
    """Pairs as an application using ``qs``-style parsing sees them."""

    value: dict[str, Any]
    over_depth: bool = False


def nest_pairs(
    pairs: Iterable[tuple[str, str]],
    limits: InterpretationLimits = DEFAULT_LIMITS,
    *,
    decode_json: bool = True,
) -> Nested:
    """``category[$ne]=x`` -> ``{"category": {"$ne": "x"}}``, ``t[]=a&t[]=b`` -> a list,
    repeated plain keys -> a list, JSON-looking values decoded (``decode_json``)."""
    out: dict[str, Any] = {}
    over = False
    for key, raw in pairs:
        path, deep = _key_path(key, limits.max_depth)
        over = over or deep
        _assign(out, path, _json_value(raw, limits) if decode_json and raw else raw)
    return Nested(out, over)
