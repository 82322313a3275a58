"""Request parsing and normalisation: a :class:`~gateway.model.RawRequest` becomes a flat list of
named :class:`Target` values (CRS-style collection names) plus protocol *flags*.

Collections: ``REQUEST_METHOD``, ``REQUEST_URI`` (normalised path: repeated percent-decoding,
dot segments, duplicate slashes and ``;`` parameters resolved; climbing above the root stays as
``/..``), ``REQUEST_URI_RAW``, ``ARGS_GET``/``ARGS_GET_NAMES``, ``ARGS_POST``/``ARGS_POST_NAMES``
(urlencoded and multipart fields, JSON leaves and keys by JSON path, XML text and attributes),
``REQUEST_HEADERS``/``REQUEST_HEADERS_NAMES`` (names lower-cased), ``REQUEST_COOKIES``/
``REQUEST_COOKIES_NAMES``, ``FILES``/``FILES_NAMES``, ``MULTIPART_PART_HEADERS``,
``REQUEST_BODY`` (the body as text) and ``PROTOCOL_FLAGS`` (one per ambiguity seen: several
Content-Type headers, Content-Length with Transfer-Encoding, odd charsets, invalid JSON
declared as JSON, a DTD in XML, a truncated body, a NUL byte in a value, ...).

Bodies are read by the processor for their media type; a body that looks like JSON is read as
JSON whatever its declared type, because frameworks (aiohttp's ``request.json()``) do the same.
"""

from __future__ import annotations

import codecs
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gateway.model import RawRequest
from gateway.transforms.path import normalise_path_str
from gateway.transforms.url import url_decode_once

__all__ = ["ALIASES", "COLLECTIONS", "ParseLimits", "ParsedRequest", "Target", "parse_request"]

COLLECTIONS: frozenset[str] = frozenset(
    {
        "REQUEST_METHOD",
        "REQUEST_URI",
        "REQUEST_URI_RAW",
        "REQUEST_PROTOCOL",
        "ARGS_GET",
        "ARGS_GET_NAMES",
        "ARGS_POST",
        "ARGS_POST_NAMES",
        "REQUEST_HEADERS",
        "REQUEST_HEADERS_NAMES",
        "REQUEST_COOKIES",
        "REQUEST_COOKIES_NAMES",
        "FILES",
        "FILES_NAMES",
        "MULTIPART_PART_HEADERS",
        "REQUEST_BODY",
        "PROTOCOL_FLAGS",
    }
)
ALIASES: dict[str, tuple[str, ...]] = {
    "ARGS": ("ARGS_GET", "ARGS_POST"),
    "ARGS_NAMES": ("ARGS_GET_NAMES", "ARGS_POST_NAMES"),
}

_PLAIN_CHARSETS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252"}
)
_HEX = frozenset("0123456789abcdefABCDEF")


class Target(NamedTuple):
    """One inspectable value: ``collection:key`` (key may be empty) and its text."""

    collection: str
    key: str
    value: str

    @property
    def name(self) -> str:
        return f"{self.collection}:{self.key}" if self.key else self.collection


_make_target = Target._make


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on what the parser reads."""

    body_limit: int = 1 << 20
    json_depth: int = 32
    max_values: int = 4096
    embedded_json_limit: int = 1 << 16


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """Everything the rule engine looks at, in request order."""

    path: str
    targets: tuple[Target, ...]
    flags: tuple[str, ...]


@dataclass(slots=True)
class _Builder:
    limits: ParseLimits
    targets: list[Target] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def add(self, collection: str, key: str, value: str) -> None:
        if len(self.targets) >= self.limits.max_values:
            self.flag("too_many_values")
            return
        self.targets.append(_make_target((collection, key, value)))

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def _has_invalid_escape(text: str) -> bool:
    i = text.find("%")
    while i != -1:
        pair = text[i + 1 : i + 3]
        if not (len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX) and text[i + 1 : i + 2] not in (
            "u",
            "U",
        ):
            return True
        i = text.find("%", i + 1)
    return False


def _bracket_parts(name: str) -> list[str]:
    """``a[b][c]`` -> ``["a", "b", "c"]``; a name without brackets gives ``[]``."""
    start = name.find("[")
    if start <= 0 or not name.endswith("]"):
        return []
    parts = [name[:start]]
    for piece in name[start + 1 : -1].split("]["):
        parts.append(piece)
    return parts


class _Pairs(list[tuple[str, Any]]):
    """A JSON object kept as its key/value pairs, so duplicate keys stay visible."""


def _json_loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_Pairs)


def _walk_json(b: _Builder, root: Any, path: str, depth: int, *, values: str, names: str) -> None:
    """Every key (as ``names``) and leaf (as ``values``) of a parsed JSON document, by JSON path.
    Iterative, bounded by ``json_depth`` and ``max_values``."""
    limit = b.limits.max_values
    targets = b.targets
    stack: list[tuple[Any, str, int]] = [(root, path, depth)]
    while stack:
        node, where, level = stack.pop()
        if len(targets) >= limit:
            b.flag("too_many_values")
            return
        if level > b.limits.json_depth:
            b.flag("json_too_deep")
            continue
        if type(node) is str:
            if "\0" in node or "%00" in node:
                b.flag("null_byte_in_value")
            targets.append(_make_target((values, where, node)))
        elif isinstance(node, _Pairs):
            if len({k for k, _ in node}) != len(node):
                b.flag("json_duplicate_keys")
            children = []
            for key, child in node:
                child_path = f"{where}.{key}"
                targets.append(_make_target((names, child_path, key)))
                children.append((child, child_path, level + 1))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(child, f"{where}[{i}]", level + 1) for i, child in enumerate(node)]))
        elif node is None:
            targets.append(_make_target((values, where, "null")))
        else:
            text = ("true" if node else "false") if type(node) is bool else str(node)
            targets.append(_make_target((values, where, text)))


def _looks_like_json(text: str) -> bool:
    head = text.lstrip()[:1]
    return head in ("{", "[")


def _parse_pairs(b: _Builder, text: str, values: str, names: str) -> None:
    if _has_invalid_escape(text):
        b.flag("invalid_url_encoding")
    for pair in text.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = url_decode_once(raw_name)
        value = url_decode_once(raw_value)
        if "\0" in value or "%00" in value:
            b.flag("null_byte_in_value")
        b.add(values, name, value)
        b.add(names, name, name)
        for part in _bracket_parts(name):
            b.add(names, name, part)
        if _looks_like_json(value) and len(value) <= b.limits.embedded_json_limit:
            try:
                embedded = _json_loads(value)
            except ValueError:
                continue
            _walk_json(b, embedded, name, 1, values=values, names=names)


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    media, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, val = param.partition("=")
        parsed[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), parsed


def _body_urlencoded(b: _Builder, text: str, _raw: bytes, _params: dict[str, str]) -> None:
    _parse_pairs(b, text, "ARGS_POST", "ARGS_POST_NAMES")


def _body_json(b: _Builder, text: str, _raw: bytes, _params: dict[str, str]) -> None:
    try:
        document = _json_loads(text)
    except (ValueError, RecursionError):
        if "body_truncated" not in b.flags:  # a cut-off document cannot parse: not the client's doing
            b.flag("json_invalid")
        return
    _walk_json(b, document, "$", 0, values="ARGS_POST", names="ARGS_POST_NAMES")


def _iter_parts(raw: bytes, boundary: bytes) -> Iterator[tuple[list[tuple[str, str]], bytes]]:
    delimiter = b"--" + boundary
    chunks = raw.split(delimiter)
    for raw_chunk in chunks[1:]:
        if raw_chunk.startswith(b"--"):
            return
        chunk = raw_chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
        if not sep:
            continue
        headers: list[tuple[str, str]] = []
        for line in head.decode("utf-8", "replace").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip().lower(), value.strip()))
        yield headers, body.removesuffix(b"\r\n").removesuffix(b"\n")


def _body_multipart(b: _Builder, _text: str, raw: bytes, params: dict[str, str]) -> None:
    boundary = params.get("boundary", "")
    if not boundary:
        b.flag("multipart_invalid")
        return
    seen = False
    for headers, body in _iter_parts(raw, boundary.encode("latin-1", "replace")):
        seen = True
        field_name, filename = "", None
        for name, value in headers:
            b.add("MULTIPART_PART_HEADERS", name, value)
            if name == "content-disposition":
                _, disposition = _header_params(value)
                field_name = disposition.get("name", "")
                filename = disposition.get("filename")
        b.add("ARGS_POST_NAMES", field_name, field_name)
        if filename is not None:
            b.add("FILES", field_name, filename)
            b.add("FILES_NAMES", field_name, field_name)
        else:
            b.add("ARGS_POST", field_name, body.decode("utf-8", "replace"))
    if not seen:
        b.flag("multipart_invalid")


def _body_xml(b: _Builder, text: str, _raw: bytes, _params: dict[str, str]) -> None:
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        b.flag("xml_dtd")
        return
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs (and so entity definitions) refused above
    except ET.ParseError:
        b.flag("xml_invalid")
        return
    stack: list[tuple[ET.Element, str]] = [(root, "/" + root.tag)]
    while stack:
        if len(b.targets) >= b.limits.max_values:  # paths grow with depth: walking on is quadratic
            b.flag("too_many_values")
            return
        element, path = stack.pop()
        b.add("ARGS_POST_NAMES", path, element.tag)
        if element.text and element.text.strip():
            b.add("ARGS_POST", path, element.text)
        for attr, value in element.attrib.items():
            b.add("ARGS_POST", f"{path}/@{attr}", value)
            b.add("ARGS_POST_NAMES", f"{path}/@{attr}", attr)
        stack.extend((child, f"{path}/{child.tag}") for child in reversed(list(element)))


BodyProcessor = Callable[[_Builder, str, bytes, dict[str, str]], None]
_PROCESSORS: dict[str, BodyProcessor] = {
    "application/x-www-form-urlencoded": _body_urlencoded,
    "multipart/form-data": _body_multipart,
    "application/json": _body_json,
    "application/xml": _body_xml,
    "text/xml": _body_xml,
}


def _processor_for(media: str) -> BodyProcessor | None:
    if media in _PROCESSORS:
        return _PROCESSORS[media]
    if media.endswith("+json"):
        return _body_json
    if media.endswith("+xml"):
        return _body_xml
    return None


def _decode_body(b: _Builder, raw: bytes, charset: str) -> str:
    if not charset or charset in _PLAIN_CHARSETS:
        return raw.decode("utf-8", "replace")
    b.flag("unusual_charset")
    try:
        return codecs.decode(raw, charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _parse_headers(b: _Builder, request: RawRequest) -> None:
    for name, value in request.headers:
        lname = name.lower()
        b.add("REQUEST_HEADERS", lname, value)
        b.add("REQUEST_HEADERS_NAMES", lname, lname)
        if lname == "cookie":
            for crumb in value.split(";"):
                cname, _, cvalue = crumb.strip().partition("=")
                if cname:
                    b.add("REQUEST_COOKIES", cname, cvalue)
                    b.add("REQUEST_COOKIES_NAMES", cname, cname)
    if len(request.header_all("content-type")) > 1:
        b.flag("multiple_content_type")
    if len(request.header_all("content-length")) > 1:
        b.flag("multiple_content_length")
    if request.header("transfer-encoding") is not None and request.header("content-length") is not None:
        b.flag("cl_and_te")


def _normalise_path(raw_path: str) -> str:
    path = raw_path
    for _ in range(4):
        decoded = url_decode_once(path, plus_as_space=False)
        if decoded == path:
            break
        path = decoded
    return normalise_path_str(path) or "/"


def _parse_body(b: _Builder, request: RawRequest, limits: ParseLimits) -> None:
    raw = request.body
    if request.body_truncated or len(raw) > limits.body_limit:
        b.flag("body_truncated")
        raw = raw[: limits.body_limit]
    if not raw:
        return
    content_types = request.header_all("content-type")
    media, params = _header_params(content_types[0]) if content_types else ("", {})
    if not content_types:
        b.flag("body_without_content_type")
    text = _decode_body(b, raw, params.get("charset", "").lower())
    b.add("REQUEST_BODY", "", text)
    processor = _processor_for(media)
    if processor is None and _looks_like_json(text):
        try:
            document = _json_loads(text)
        except (ValueError, RecursionError):
            return
        _walk_json(b, document, "$", 0, values="ARGS_POST", names="ARGS_POST_NAMES")
        return
    if processor is not None:
        processor(b, text, raw, params)


def parse_request(request: RawRequest, limits: ParseLimits | None = None) -> ParsedRequest:
    """Split ``request`` into named targets and protocol flags (pure; never raises on bad input)."""
    limits = limits or ParseLimits()
    b = _Builder(limits)
    raw_path, _, query = request.target.partition("?")
    path = _normalise_path(raw_path)
    b.add("REQUEST_METHOD", "", request.method)
    b.add("REQUEST_URI", "", path)
    b.add("REQUEST_URI_RAW", "", request.target)
    b.add("REQUEST_PROTOCOL", "", f"HTTP/{request.http_version}")
    if "\0" in path:
        b.flag("null_byte_in_path")
    if query:
        _parse_pairs(b, query, "ARGS_GET", "ARGS_GET_NAMES")
    _parse_headers(b, request)
    _parse_body(b, request, limits)
    for flag in b.flags:
        b.targets.append(Target("PROTOCOL_FLAGS", flag, flag))
    return ParsedRequest(path=path, targets=tuple(b.targets), flags=tuple(b.flags))
