"""Request limits and response hardening, as pure functions of settings and headers.

:func:`check_request` decides whether a request may go on (a :class:`Rejection` says why
not, with the status to answer); :func:`harden_response_headers` adds the security headers
and drops the ones that fingerprint the upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from multidict import CIMultiDict

from gateway.config import HeaderPolicy, LimitSettings

__all__ = ["Rejection", "check_body_length", "check_request", "harden_response_headers"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused before it reaches any engine or the upstream."""

    status: int
    reason: str  # metric label and log field, never shown to the client beyond the status


def check_request(
    limits: LimitSettings, method: str, target: str, headers: Iterable[tuple[str, str]]
) -> Rejection | None:
    """Method allow-list, origin-form target, header count and total size."""
    if method not in limits.methods:
        return Rejection(405, "method")
    if not target.startswith("/"):
        return Rejection(400, "target")
    count = 0
    size = 0
    for name, value in headers:
        count += 1
        size += len(name) + len(value)
    if count > limits.max_headers:
        return Rejection(431, "header_count")
    if size > limits.max_header_bytes:
        return Rejection(431, "header_bytes")
    return None


def check_body_length(limits: LimitSettings, content_length: int | None) -> Rejection | None:
    """Refuse a declared body over the limit before reading it (unless oversize is passed)."""
    if (
        content_length is not None
        and content_length > limits.max_body_bytes
        and limits.oversize_body == "reject"
    ):
        return Rejection(413, "body_size")
    return None


def harden_response_headers(policy: HeaderPolicy, headers: CIMultiDict[str]) -> None:
    """Drop fingerprinting headers and add the security headers, in place."""
    for name in policy.drop:
        headers.popall(name, None)
    for name, value in policy.added():
        if policy.override or name not in headers:
            headers[name] = value
