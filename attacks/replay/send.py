"""Sending one case exactly as written, reading verdict headers, asking the oracle.

The request goes out byte for byte as the case holds it: method, path with its escapes,
the raw query verbatim (or the query list encoded once, in order), headers, cookies,
content type and body. ``yarl.URL(..., encoded=True)`` keeps aiohttp from re-encoding.
Redirects are not followed: the harness judges the response the application gave.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import yarl

from rampart.attacks.cases import HttpRequest
from rampart.attacks.replay.configs import LAYERS
from rampart.attacks.replay.records import LayerVerdict
from rampart.requestid import HEADER as REQUEST_ID_HEADER
from rampart.verdicts import WAF_HEADER, parse_verdict_header

__all__ = [
    "MAX_BODY",
    "Response",
    "build_url",
    "describe",
    "encode_query",
    "fetch_effects",
    "make_request_id",
    "parse_verdicts",
    "reset_lab",
    "send",
]

MAX_BODY = 1 << 20
_QUERY_SAFE = "!$'()*,/:;@[]~-._"
_DECISION_RANK = {"allow": 0, "detect": 1, "block": 2}


@dataclass(frozen=True, slots=True)
class Response:
    """What came back for one request."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    body: str = ""
    latency_ms: float = 0.0
    error: str | None = None


def encode_query(pairs: Sequence[tuple[str, str]]) -> str:
    """Encode a query list once, in order: only what would break the query's structure
    (``&``, ``=``, ``#``, ``+``, ``%``, spaces, controls, non-ASCII) is escaped."""
    return "&".join(f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}" for k, v in pairs)


def build_url(base: str, req: HttpRequest) -> yarl.URL:
    query = req.raw_query if req.raw_query is not None else encode_query(req.query)
    path = req.path if req.path.startswith("/") else "/" + req.path
    target = base.rstrip("/") + path + (f"?{query}" if query else "")
    return yarl.URL(target, encoded=True)


def describe(req: HttpRequest, limit: int = 600) -> str:
    """A one-glance display form of ``req`` for records and the report (truncated)."""
    query = req.raw_query if req.raw_query is not None else encode_query(req.query)
    text = f"{req.method} {req.path}{'?' + query if query else ''}"
    extra = [f"{k}: {v}" for k, v in req.headers.items()]
    if req.cookies:
        extra.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in req.cookies.items()))
    if req.content_type:
        extra.append(f"Content-Type: {req.content_type}")
    extra += [f"{k}: {v}" for k, v in req.wire_headers().items()]
    if req.chunked:
        extra.append("Transfer-Encoding: chunked")
    if extra:
        text += "\n" + "\n".join(extra)
    if req.body:
        text += "\n\n" + req.body
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_request_id(case_id: str, tag: str, suffix: str = "") -> str:
    """Deterministic ``X-Request-ID`` for a case in a pass (valid per rampart.requestid)."""
    rid = f"{case_id}.{tag}{suffix}"
    if len(rid) <= 128:
        return rid
    digest = hashlib.sha1(rid.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{rid[: 128 - 13]}.{digest}"


def _headers_for(req: HttpRequest, request_id: str) -> dict[str, str]:
    headers = dict(req.headers)
    if req.cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in req.cookies.items())
    if req.content_type:
        headers["Content-Type"] = req.content_type
    for name in [h for h in headers if h.lower() == REQUEST_ID_HEADER.lower()]:
        del headers[name]
    headers[REQUEST_ID_HEADER] = request_id
    return headers


async def send(
    session: aiohttp.ClientSession,
    base: str,
    req: HttpRequest,
    request_id: str,
    *,
    timeout: float = 20.0,
) -> Response:
    """Send ``req`` to ``base``; transport errors become ``Response(status=None, error=...)``."""
    data = req.wire_body()
    skip = ("Content-Type",) if data is not None and not req.content_type else ()
    start = time.perf_counter()
    try:
        async with session.request(
            req.method,
            build_url(base, req),
            headers={**_headers_for(req, request_id), **req.wire_headers()},
            data=data,
            chunked=True if req.chunked and data is not None else None,
            skip_auto_headers=skip,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.content.read(MAX_BODY)
            latency = (time.perf_counter() - start) * 1000
            headers = {k.lower(): v for k, v in resp.headers.items()}
            body = raw.decode(resp.charset or "utf-8", "replace")
            return Response(resp.status, headers, body, latency)
    except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeError, LookupError) as exc:
        latency = (time.perf_counter() - start) * 1000
        return Response(None, {}, "", latency, f"{type(exc).__name__}: {exc}"[:300])


def _merge(a: LayerVerdict, b: LayerVerdict) -> LayerVerdict:
    top = a if _DECISION_RANK[a.decision] >= _DECISION_RANK[b.decision] else b
    return LayerVerdict(
        decision=top.decision,
        score=max(a.score, b.score),
        rules=tuple(dict.fromkeys((*a.rules, *b.rules))),
        detections=tuple(dict.fromkeys((*a.detections, *b.detections))),
    )


def parse_verdicts(
    headers: Mapping[str, str], layers: Sequence[str], into: dict[str, LayerVerdict] | None = None
) -> tuple[dict[str, LayerVerdict], list[str]]:
    """Read each expected layer's harness header; merge into ``into`` (most severe wins).

    A WAF layer falls back to the combined ``X-Rampart-Waf`` header when the gateway runs
    that engine alone and sends no per-engine header. Returns the verdicts and problems.
    """
    out = dict(into or {})
    problems: list[str] = []
    waf_layers = [name for name in layers if LAYERS[name].kind == "waf"]
    for name in layers:
        value = headers.get(LAYERS[name].header.lower())
        if value is None and name in waf_layers and len(waf_layers) == 1:
            value = headers.get(WAF_HEADER.lower())
        try:
            parsed = parse_verdict_header(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if parsed is None:
            continue
        verdict = LayerVerdict(
            decision=parsed.decision, score=parsed.score, rules=parsed.rules, detections=parsed.detections
        )
        out[name] = _merge(out[name], verdict) if name in out else verdict
    return out, problems


async def fetch_effects(session: aiohttp.ClientSession, lab: str, request_id: str) -> list[dict[str, Any]]:
    """The oracle's effects for ``request_id`` (asked of the lab directly, never via a gateway)."""
    url = yarl.URL(lab.rstrip("/") + "/__lab/effects").with_query(request_id=request_id)
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                return []
            payload = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return []
    effects = payload.get("effects", []) if isinstance(payload, dict) else []
    return [e for e in effects if isinstance(e, dict)]


async def reset_lab(session: aiohttp.ClientSession, lab: str) -> bool:
    """``POST /__lab/reset`` when the lab offers it; ``False`` when it does not."""
    try:
        url = lab.rstrip("/") + "/__lab/reset"
        async with session.post(url, timeout=aiohttp.ClientTimeout(total=30)) as r:
            return r.status < 300
    except (aiohttp.ClientError, TimeoutError):
        return False
