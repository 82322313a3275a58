"""Request builders shared by the crs tests."""

from __future__ import annotations

import json

from rampart.gateway.model import RawRequest

BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "127.0.0.1:8080"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) rampart-tests"),
    ("Accept", "application/json, text/html;q=0.9"),
    ("Accept-Language", "en-GB,en;q=0.8"),
)


def get(target: str) -> RawRequest:
    return RawRequest("GET", target, BASE_HEADERS)


def post_json(path: str, value: object) -> RawRequest:
    body = json.dumps(value).encode()
    headers = (*BASE_HEADERS, ("Content-Type", "application/json"), ("Content-Length", str(len(body))))
    return RawRequest("POST", path, headers, body)


def post_raw(path: str, body: bytes, content_type: str) -> RawRequest:
    headers = (*BASE_HEADERS, ("Content-Type", content_type), ("Content-Length", str(len(body))))
    return RawRequest("POST", path, headers, body)
