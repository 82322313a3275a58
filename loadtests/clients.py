"""Simulated client identities for the paced load profile (kept free of Locust imports:
importing Locust monkey-patches the importing process with gevent)."""

from __future__ import annotations

__all__ = ["client_address"]


def client_address(n: int) -> str:
    """The ``n``-th simulated client's address, in 198.18.0.0/15 (RFC 2544 benchmarking)."""
    return f"198.{18 + (n // 65024) % 2}.{(n // 254) % 256}.{n % 254 + 1}"
