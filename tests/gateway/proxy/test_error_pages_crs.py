"""The gateway's own pages on input it did not write: every request of OWASP CRS 4's
protocol-enforcement and protocol-attack regression tests (920*, 921*), sent byte for byte
over a raw socket. Whatever the gateway answers itself (any status but the upstream's 200)
carries the security headers and a request id, no ``Server`` header, and no header line of
the request."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import need

CRS_TESTS = Path("/work/shared/crs/v4.28.0/tests/regression/tests")
FOLDERS = ("REQUEST-920-PROTOCOL-ENFORCEMENT", "REQUEST-921-PROTOCOL-ATTACK")


def _raw(stage: dict[str, Any]) -> bytes | None:
    if "encoded_request" in stage:
        return base64.b64decode(stage["encoded_request"])
    if "raw_request" in stage:
        return str(stage["raw_request"]).encode("utf-8", "surrogateescape")
    if "uri" not in stage and "method" not in stage:
        return None
    head = f"{stage.get('method', 'GET')} {stage.get('uri', '/')} {stage.get('version', 'HTTP/1.1')}\r\n"
    data = stage.get("data", "")
    body = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else b""
    headers = dict(stage.get("headers") or {})
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in headers):
        headers["Content-Length"] = str(len(body))
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if not any(k.lower() == "connection" for k in headers):
        lines += "Connection: close\r\n"
    return (head + lines + "\r\n").encode("utf-8", "surrogateescape") + body


def _cases() -> Iterator[tuple[str, bytes]]:
    for folder in FOLDERS:
        for path in sorted((CRS_TESTS / folder).glob("*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            for test in (doc or {}).get("tests") or []:
                for index, stage in enumerate(test.get("stages") or []):
                    data = stage.get("input") or (stage.get("stage") or {}).get("input")
                    raw = _raw(data) if isinstance(data, dict) else None
                    if raw is not None:
                        yield f"{path.stem}-{test.get('test_id')}-{index}", raw


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        async with asyncio.timeout(10):
            while chunk := await reader.read(1 << 16):
                chunks.append(chunk)
        return b"".join(chunks)
    except (ConnectionResetError, TimeoutError):
        return b"".join(chunks)
    finally:
        writer.close()


@pytest.fixture
def crs_cases() -> list[tuple[str, bytes]]:
    need(CRS_TESTS.is_dir(), f"CRS regression tests at {CRS_TESTS}")
    cases = list(_cases())
    assert len(cases) > 150
    return cases


async def test_crs_protocol_tests_get_safe_gateway_pages(make_gateway, crs_cases) -> None:
    cases = crs_cases
    gw = await make_gateway(timeouts={"client_header": 1.0, "client_body": 1.0})
    own = 0
    for name, raw in cases:
        answer = await _exchange(gw.port, raw)
        if not answer.startswith(b"HTTP/1."):
            continue  # closed without an answer (a head that never ended)
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status < 300:
            continue  # the upstream answered
        own += 1
        fields = {line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")[1:]}
        assert b"server" not in fields, name
        assert {b"x-request-id", b"x-content-type-options", b"content-security-policy"} <= fields, name
        for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
            if len(line) > 16:
                assert line not in body, (name, line)
        assert b"aiohttp" not in body, name
    assert own > 20, own  # the suite hit the parser and the gateway's checks many times
