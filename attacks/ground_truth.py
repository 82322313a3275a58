"""Ground truth: did an attack case actually work?

An attack worked when the lab's oracle saw its expected effect kind for the request (see
docs/CONTRACTS.md "Oracle": ``auth_bypass``, ``canary_leak``, ``internal_contact``,
``stored_payload``), or when its execution marker appears in a response body while the
request itself never carried the marker (so mere reflection of the input never counts).

XSS is the one exception, declared by the case: with the tag ``reflected-marker`` the marker
is the active HTML fragment itself (``<svg onload=rmp1337>``), and coming back unescaped in
a page served as HTML *is* the effect (docs/CORPUS.md).

The judgement uses only effects and response bytes; it never calls a detector of either
layer, so the ground truth stays independent of what it measures.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from rampart.attacks.cases import Case, HttpRequest

__all__ = ["REFLECTED_TAG", "Judgement", "judge", "marker_count", "request_texts"]

REFLECTED_TAG = "reflected-marker"


@dataclass(frozen=True, slots=True)
class Judgement:
    """The oracle's verdict for one sent case."""

    worked: bool
    evidence: tuple[str, ...] = field(default_factory=tuple)  # "oracle:canary_leak", "marker"
    marker_reflected: bool = False  # the marker was in the request, so it cannot prove anything


def _decodings(text: str) -> Iterable[str]:
    """The forms in which an application might reflect ``text`` back."""
    seen: set[str] = set()
    frontier = [text]
    for _ in range(3):
        nxt: list[str] = []
        for item in frontier:
            if item in seen:
                continue
            seen.add(item)
            nxt.extend((unquote(item), unquote_plus(item), html.unescape(item)))
        frontier = nxt
    seen.update(frontier)
    return seen


def request_texts(req: HttpRequest) -> list[str]:
    """Every piece of client-controlled text in ``req``, raw and decoded."""
    parts: list[str] = [req.path, req.body or "", req.raw_query or ""]
    parts.extend(f"{k}={v}" for k, v in req.query)
    parts.extend(f"{k}: {v}" for k, v in req.headers.items())
    parts.extend(f"{k}={v}" for k, v in req.cookies.items())
    out: list[str] = []
    for part in parts:
        if part:
            out.extend(_decodings(part))
    return out


def _marker_in_requests(marker: str, requests: Sequence[HttpRequest]) -> bool:
    needle = marker.lower()
    return any(needle in text.lower() for req in requests for text in request_texts(req))


def marker_count(body: str, marker: str) -> int:
    """How often ``marker`` occurs in ``body`` (case-sensitive, as code computed it)."""
    return body.count(marker) if marker else 0


def judge(
    case: Case,
    *,
    effects: Sequence[Mapping[str, Any]],
    body: str,
    follow_up_body: str | None = None,
    baseline_markers: int = 0,
    body_is_html: bool = True,
    follow_up_is_html: bool = True,
) -> Judgement:
    """Judge one case from the oracle's ``effects`` and the response bodies.

    ``baseline_markers`` is how many markers the follow-up page already showed before the
    case ran (content stored by earlier cases), so only a new occurrence there counts.
    ``*_is_html`` say whether a body was served as HTML (needed for reflected markers).
    """
    if case.expect is None:
        return Judgement(worked=False)
    evidence: list[str] = []
    kinds = {str(e.get("kind")) for e in effects}
    if case.expect.oracle is not None and case.expect.oracle in kinds:
        evidence.append(f"oracle:{case.expect.oracle}")
    reflected = False
    marker = case.expect.marker
    if marker:
        sent = [*case.setup, case.request, *([case.follow_up] if case.follow_up else [])]
        declared = REFLECTED_TAG in case.tags
        reflected = not declared and _marker_in_requests(marker, sent)
        if not reflected:
            in_body = marker_count(body, marker) > 0 and (body_is_html or not declared)
            in_follow_up = marker_count(follow_up_body or "", marker) > baseline_markers and (
                follow_up_is_html or not declared
            )
            if in_body or in_follow_up:
                evidence.append("reflected-marker" if declared else "marker")
    return Judgement(worked=bool(evidence), evidence=tuple(evidence), marker_reflected=reflected)
