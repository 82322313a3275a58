"""X-Request-ID handling shared by the gateway, the lab and the sink guard (DESIGN.md)."""

from __future__ import annotations

import re
import uuid

__all__ = ["HEADER", "ensure_request_id", "is_valid_request_id", "mint_request_id"]

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def is_valid_request_id(value: str | None) -> bool:
    """True for 1-128 characters of letters, digits and ``._:-`` (no spaces, no controls)."""
    return value is not None and _VALID.fullmatch(value) is not None


def mint_request_id() -> str:
    return uuid.uuid4().hex


def ensure_request_id(value: str | None) -> str:
    """Keep a valid incoming id, otherwise mint a fresh one."""
    return value if value is not None and is_valid_request_id(value) else mint_request_id()
