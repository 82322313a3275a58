"""X-Request-ID handling shared by the gateway, the lab and the sink guard (docs/CONTRACTS.md)."""

from __future__ import annotations

import itertools
import os
import re

__all__ = ["HEADER", "ensure_request_id", "is_valid_request_id", "mint_request_id"]

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def is_valid_request_id(value: str | None) -> bool:
    """True for 1-128 characters of letters, digits and ``._:-`` (no spaces, no controls)."""
    return value is not None and _VALID.fullmatch(value) is not None


class _Minter:
    """Unique ids without a system call per request: 64 random bits drawn once per process
    (again in a forked child) followed by a 64-bit counter, as 32 hex digits (the shape of
    a UUID4 hex). Ids correlate records; they are not secrets, so predictability within one
    process does not matter, uniqueness across processes and restarts does."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


mint_request_id = _Minter()
os.register_at_fork(after_in_child=mint_request_id.reseed)


def ensure_request_id(value: str | None) -> str:
    """Keep a valid incoming id, otherwise mint a fresh one."""
    return value if value is not None and is_valid_request_id(value) else mint_request_id()
