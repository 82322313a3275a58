"""Query strings parsed the way Express's ``qs`` does -- which is what makes L2 injectable.

``category[$ne]=x`` becomes ``{"category": {"$ne": "x"}}``, ``tags[]=a&tags[]=b`` a list,
and a value that looks like JSON (``category={"$ne":"x"}``) is decoded into that object.
The reading is the shared one (:mod:`rampart.interpretation`) that the gateway and the sink
guard use too, with the same value and depth limits: the layers cannot disagree on what
the lab sees.
"""

from __future__ import annotations

from typing import Any

from rampart.interpretation import DEFAULT_LIMITS, nest_pairs, parse_pairs

__all__ = ["parse_query"]


def parse_query(query_string: str) -> dict[str, Any]:
    """Parse a raw query string into nested objects (bracket syntax, JSON-looking values)."""
    return nest_pairs(parse_pairs(query_string, DEFAULT_LIMITS).pairs, DEFAULT_LIMITS).value
