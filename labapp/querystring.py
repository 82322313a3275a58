"""Query strings parsed the way Express's ``qs`` does -- which is what makes L2 injectable.

``category[$ne]=x`` becomes ``{"category": {"$ne": "x"}}``, ``tags[]=a&tags[]=b`` a list,
and a value that looks like JSON (``category={"$ne":"x"}``) is decoded into that object.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["parse_query"]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_MAX_DEPTH = 5
_MAX_PARAMS = 200


def _value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return raw
    return raw


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
        nxt = path[i + 1] if not last else None
        if last:
            existing = node.get(key)
            if existing is None:
                node[key] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                node[key] = [existing, value]
            return
        if key not in node or not isinstance(node[key], dict | list):
            node[key] = [] if nxt == "" else {}
        node = node[key]


def parse_query(query_string: str) -> dict[str, Any]:
    """Parse a raw query string into nested objects (bracket syntax, JSON-looking values)."""
    out: dict[str, Any] = {}
    for raw_key, raw_value in parse_qsl(query_string, keep_blank_values=True)[:_MAX_PARAMS]:
        m = _KEY.match(raw_key)
        if m is None:
            _assign(out, [raw_key], _value(raw_value))
            continue
        path = [m.group(1), *_PART.findall(m.group(2))][: _MAX_DEPTH + 1]
        _assign(out, path, _value(raw_value))
    return out
