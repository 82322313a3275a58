"""Captured traffic (mitmproxy flow files, HAR) as corpus cases.

Every HTTP request in a capture becomes one benign :class:`~rampart.attacks.cases.Case` (traffic is
presumed benign until someone labels it). A request whose method and path are a lab
endpoint's (docs/CONTRACTS.md L1-L13) gets that endpoint id and class; anything else is
``"external"`` with no class. Ids are deterministic (file name, position, content hash), the
provenance is ``import:<file name>``, the source ``traffic:<file name>``, and the response
status seen in the capture is kept as a ``status:<code>`` tag so a replay can be compared
with it.

A request the capture shows refused (answered 403, or carrying a ``X-Rampart-*`` verdict
header other than ``allow``) is not presumed benign: it is listed under
:attr:`ImportResult.flagged` with the reason and left out of the cases, for someone to label.
What a case cannot hold is skipped and reported, never silently altered: request bodies that
are not UTF-8 text, and non-HTTP flows. A file that is not a capture raises
:class:`TrafficImportError` naming the file and what is wrong.

``import_traffic(path)`` is the hook ``rampart import`` calls.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rampart.attacks.cases import ENDPOINTS, Case, HttpRequest
from rampart.attacks.importers.common import ImportResult, SuiteImportError

__all__ = [
    "DROPPED_HEADERS",
    "Exchange",
    "ImportResult",
    "TrafficImportError",
    "detect_format",
    "exchange_to_case",
    "import_file",
    "import_traffic",
    "read_flow_file",
    "read_har",
    "refusal",
]

Format = Literal["har", "mitmproxy"]

# set by the client library or the replay harness itself, or meaningless out of context
DROPPED_HEADERS: frozenset[str] = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "x-request-id",
        "cookie",
        "content-type",
    }
)
_ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    (m, p): (eid, cls) for eid, (m, p, cls) in ENDPOINTS.items()
}
_SLUG = re.compile(r"[^a-z0-9_.-]+")


class TrafficImportError(SuiteImportError):
    """The capture cannot be read; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One captured request (and the status it got), format-neutral."""

    method: str
    path: str  # raw path, escapes as sent, no query
    raw_query: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    status: int | None = None
    response_headers: tuple[tuple[str, str], ...] = ()


# -- readers ------------------------------------------------------------------------------


def _split_target(target: str) -> tuple[str, str | None]:
    path, sep, query = target.partition("?")
    return (path or "/"), (query if sep else None)


def read_flow_file(path: Path) -> Iterator[Exchange | str]:
    """Exchanges of a mitmproxy flow file (``mitmdump -w``); a ``str`` marks a skipped flow."""
    from mitmproxy import exceptions, http, io

    with path.open("rb") as fh:
        try:
            for flow in io.FlowReader(fh).stream():
                if not isinstance(flow, http.HTTPFlow):
                    yield f"{type(flow).__name__} is not an HTTP flow"
                    continue
                req = flow.request
                target = req.data.path.decode("utf-8", "surrogateescape")
                p, q = _split_target(target)
                headers = tuple(
                    (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                    for k, v in req.headers.fields
                )
                resp = flow.response
                status = resp.status_code if resp is not None else None
                answer = (
                    tuple(
                        (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
                        for k, v in resp.headers.fields
                    )
                    if resp is not None
                    else ()
                )
                yield Exchange(req.method, p, q, headers, req.raw_content or b"", status, answer)
        except exceptions.FlowReadException as exc:
            raise TrafficImportError(f"{path}: not a readable mitmproxy flow file ({exc})") from exc


class _HarHeader(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    value: str


class _HarPostData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mimeType: str | None = None
    text: str | None = None
    encoding: str | None = None  # not in HAR 1.2, but some tools write "base64"


class _HarRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    method: str
    url: str
    headers: list[_HarHeader] = Field(default_factory=list)
    postData: _HarPostData | None = None


class _HarResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: int
    headers: list[_HarHeader] = Field(default_factory=list)


class _HarEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    request: _HarRequest
    response: _HarResponse | None = None


class _HarLog(BaseModel):
    model_config = ConfigDict(extra="ignore")
    entries: list[_HarEntry]


class _Har(BaseModel):
    model_config = ConfigDict(extra="ignore")
    log: _HarLog


def _where(loc: Sequence[int | str]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _har_body(post: _HarPostData | None) -> bytes:
    if post is None or post.text is None:
        return b""
    if (post.encoding or "").lower() == "base64":
        try:
            return base64.b64decode(post.text, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"postData.text is not valid base64 ({exc})") from exc
    return post.text.encode("utf-8", "surrogateescape")


def read_har(path: Path) -> Iterator[Exchange | str]:
    """Exchanges of a HAR 1.2 file (browser dev tools, mitmproxy ``--set hardump``)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrafficImportError(f"{path}: not a HAR file, the JSON does not parse ({exc})") from exc
    try:
        har = _Har.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TrafficImportError(
            f"{path}: not a HAR file: {_where(first['loc'])}: {first['msg']} "
            "(a HAR holds log.entries[], each with request.method and request.url)"
        ) from exc
    for entry in har.log.entries:
        req = entry.request
        parts = urlsplit(req.url)
        if not parts.path and not parts.netloc:
            yield f"request.url {req.url!r} is not a URL"
            continue
        headers = tuple((h.name, h.value) for h in req.headers if not h.name.startswith(":"))
        if (
            req.postData is not None
            and req.postData.mimeType
            and not any(k.lower() == "content-type" for k, _ in headers)
        ):
            headers += (("Content-Type", req.postData.mimeType),)
        try:
            body = _har_body(req.postData)
        except ValueError as exc:
            yield str(exc)
            continue
        query = parts.query if "?" in req.url.split("#", 1)[0] else None
        resp = entry.response
        status = resp.status if resp is not None and resp.status > 0 else None
        answer = tuple((h.name, h.value) for h in resp.headers) if resp is not None else ()
        yield Exchange(req.method.upper(), parts.path or "/", query, headers, body, status, answer)


_READERS = {"har": read_har, "mitmproxy": read_flow_file}


def detect_format(path: Path) -> Format:
    """HAR for a ``.har`` name or a file that opens with a JSON object, else a mitmproxy flow file."""
    with path.open("rb") as fh:
        head = fh.read(64).lstrip()
    if not head:
        raise TrafficImportError(f"{path}: the file is empty; capture some traffic first")
    return "har" if path.suffix.lower() == ".har" or head.startswith(b"{") else "mitmproxy"


# -- conversion ---------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = _SLUG.sub("-", text.lower()).strip("-._")
    return slug or "capture"


def _cookies(values: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(";"):
            name, sep, val = part.strip().partition("=")
            if sep and name:
                out[name] = val
    return out


def refusal(ex: Exchange) -> str | None:
    """Why the capture shows ``ex`` refused by a protection layer, or ``None``."""
    if ex.status == 403:
        return "answered 403 in the capture"
    for name, value in ex.response_headers:
        low = name.lower()
        if low.startswith("x-rampart-") and value.split(";", 1)[0].strip() in ("block", "detect"):
            return f"the response carried the verdict {name}: {value.split(';', 1)[0].strip()}"
    return None


def exchange_to_case(ex: Exchange, *, source: str, index: int) -> Case:
    """One exchange as a benign case. Raises ``ValueError`` when the body is not UTF-8 text."""
    try:
        body = ex.body.decode("utf-8") if ex.body else None
    except UnicodeDecodeError as exc:
        raise ValueError(f"the request body is not UTF-8 text ({len(ex.body)} bytes)") from exc
    headers: dict[str, str] = {}
    cookie_values: list[str] = []
    content_type: str | None = None
    for name, value in ex.headers:
        low = name.lower()
        if low == "cookie":
            cookie_values.append(value)
        elif low == "content-type":
            content_type = value
        elif low not in DROPPED_HEADERS:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    request = HttpRequest(
        method=ex.method,
        path=ex.path,
        raw_query=ex.raw_query or None,
        headers=headers,
        cookies=_cookies(cookie_values),
        content_type=content_type,
        body=body,
    )
    endpoint, attack_class = _ROUTES.get(
        (request.method, unquote(ex.path).rstrip("/") or "/"), ("external", None)
    )
    digest = hashlib.sha1(
        json.dumps(request.model_dump(), sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()[:10]
    tags = ["imported"] + ([f"status:{ex.status}"] if ex.status is not None else [])
    return Case.model_validate(
        {
            "id": f"imp-{_slug(Path(source).stem)}-{index:05d}-{digest}",
            "label": "benign",
            "class": attack_class,
            "endpoint": endpoint,
            "request": request,
            "provenance": f"import:{source}",
            "source": f"traffic:{_slug(source)}",
            "tags": tags,
        }
    )


def import_file(path: str | Path, fmt: Format | None = None) -> ImportResult:
    """Read ``path`` (format detected unless given) into cases plus the list of what was skipped."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such capture file")
    reader = _READERS[fmt or detect_format(file)]
    result = ImportResult()
    for index, item in enumerate(reader(file)):
        if isinstance(item, str):
            result.skipped.append(f"{file.name}#{index}: {item}")
            continue
        why = refusal(item)
        if why is not None:
            result.flagged.append(f"{file.name}#{index}: {item.method} {item.path}: {why}; label it by hand")
            continue
        try:
            result.cases.append(exchange_to_case(item, source=file.name, index=index))
        except (ValueError, ValidationError) as exc:
            result.skipped.append(f"{file.name}#{index}: {exc}")
    if not result.cases and not result.skipped and not result.flagged:
        raise TrafficImportError(f"{file}: the capture holds no HTTP requests")
    return result


def import_traffic(path: str | Path) -> list[Case]:
    """The cases of one capture (skipped and flagged entries are dropped; see :func:`import_file`)."""
    return import_file(path).cases
