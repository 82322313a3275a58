"""Inputs taken from OWASP CRS's regression tests: each test's ``data`` and ``uri``, as sent
and URL-decoded, and each decoded parameter value."""

from __future__ import annotations

import random
import urllib.parse
from functools import cache
from pathlib import Path

import yaml


def _values(raw: str) -> set[str]:
    decoded = urllib.parse.unquote(raw)
    found = {raw, urllib.parse.unquote_plus(raw), decoded}
    for part in decoded.replace("?", "&").split("&"):
        found.add(part.split("=", 1)[-1])
    return found


@cache
def crs_payloads(shared_crs: Path, limit: int = 4000, seed: int = 5) -> list[bytes]:
    """Up to ``limit`` distinct inputs (UTF-8 bytes), in a fixed shuffled order."""
    values: set[str] = set()
    for path in sorted(shared_crs.glob("*/tests/regression/tests/**/*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            continue
        for test in (document or {}).get("tests") or []:
            for stage in test.get("stages") or []:
                given = stage.get("input") or (stage.get("stage") or {}).get("input") or {}
                for key in ("data", "uri"):
                    raw = given.get(key)
                    if isinstance(raw, str):
                        values.update(_values(raw))
    ordered = sorted(values)
    random.Random(seed).shuffle(ordered)
    return [v.encode("utf-8", "surrogateescape") for v in ordered[:limit]]
