"""Request parsing and normalisation: a :class:`~rampart.gateway.model.RawRequest` becomes a flat list of
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

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, NamedTuple

from rampart.gateway.engines.native.transforms.path import normalise_path_str
from rampart.gateway.engines.native.transforms.url import url_decode_once
from rampart.gateway.model import RawRequest
from rampart.interpretation import (
    DEFAULT_LIMITS,
    Anomaly,
    ContentType,
    InterpretationLimits,
    body_charset,
    decode_text,
    looks_like_json,
    parse_content_type,
    parse_pairs,
    read_json,
    read_multipart,
)

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


class Target(NamedTuple):
    """One inspectable value: ``collection:key`` (key may be empty) and its text."""

    collection: str
    key: str
    value: str

    @property
    def name(self) -> str:
        return f"{self.collection}:{self.key}" if self.key else self.collection


# Target((c, k, v)) without the Python frame of ``Target._make`` (a call per value of every request)
_make_target: Callable[[tuple[str, str, str]], Target] = partial(tuple.__new__, Target)


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on what the parser reads: the body size, the shared reading limits (values per
    source, nesting depth; :class:`rampart.interpretation.InterpretationLimits`) and a
    ceiling on the targets of one request (headers and names included)."""

    body_limit: int = 1 << 20
    json_depth: int = DEFAULT_LIMITS.max_depth
    max_values: int = DEFAULT_LIMITS.max_values
    embedded_json_limit: int = 1 << 16
    reading: InterpretationLimits = field(init=False, repr=False, compare=False)
    max_targets: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "reading", InterpretationLimits(max_values=self.max_values, max_depth=self.json_depth)
        )
        object.__setattr__(self, "max_targets", 8 * self.max_values)


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """Everything the rule engine looks at, in request order."""

    path: str
    targets: tuple[Target, ...]
    flags: tuple[str, ...]


def _no_check() -> None:
    """No deadline: parsing runs to its end."""


_CHECK_EVERY = 256  # values, elements or JSON nodes between two deadline checks in a loop


@dataclass(slots=True)
class _Builder:
    limits: ParseLimits
    targets: list[Target] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    check: Callable[[], None] = _no_check  # the caller's deadline; raises to stop parsing

    def add(self, collection: str, key: str, value: str) -> None:
        if len(self.targets) >= self.limits.max_targets:
            self.flag(Anomaly.TOO_MANY_VALUES)
            return
        self.targets.append(_make_target((collection, key, value)))

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


_INVALID_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2}|[uU])")


def _has_invalid_escape(text: str) -> bool:
    """A ``%`` not followed by two hex digits (nor ``u``, the ``%uXXXX`` form): one regex scan,
    linear, instead of a Python step per escape (1 MiB of escapes cost 0.19 s that way)."""
    return "%" in text and _INVALID_ESCAPE.search(text) is not None


_NO_PARTS: list[str] = []  # never changed


def _bracket_parts(name: str) -> list[str]:
    """``a[b][c]`` -> ``["a", "b", "c"]``; a name without brackets gives ``[]``."""
    start = name.find("[")
    if start <= 0 or not name.endswith("]"):
        return []
    parts = [name[:start]]
    for piece in name[start + 1 : -1].split("]["):
        parts.append(piece)
    return parts


def _walk_json(b: _Builder, root: Any, path: str, depth: int, *, values: str, names: str) -> None:
    """Every key (as ``names``) and leaf (as ``values``) of a parsed JSON document, by JSON path,
    in document order. Iterative; past ``json_depth`` or ``max_values`` values of this document
    the walk stops and flags (the reading already flagged the document as a whole)."""
    limit = b.limits.max_values
    seen = 0
    targets = b.targets
    stack: list[tuple[Any, str, int]] = [(root, path, depth)]
    check = b.check
    steps = 0
    while stack:
        node, where, level = stack.pop()
        steps += 1
        if steps % _CHECK_EVERY == 0:
            check()
        if seen >= limit:
            b.flag(Anomaly.TOO_MANY_VALUES)
            return
        if level > b.limits.json_depth:
            b.flag("json_too_deep")
            continue
        kind = type(node)
        if kind is str:
            if "\0" in node or "%00" in node:
                b.flag("null_byte_in_value")
            targets.append(_make_target((values, where, node)))
            seen += 1
        elif kind is dict:
            children = []
            for key, child in node.items():
                child_path = f"{where}.{key}"
                targets.append(_make_target((names, child_path, key)))
                children.append((child, child_path, level + 1))
            seen += len(children)
            stack.extend(reversed(children))
        elif kind is list:
            stack.extend(reversed([(child, f"{where}[{i}]", level + 1) for i, child in enumerate(node)]))
        else:
            text = "null" if node is None else ("true" if node else "false") if kind is bool else str(node)
            targets.append(_make_target((values, where, text)))
            seen += 1


def _json_document(b: _Builder, text: str, path: str, depth: int, *, values: str, names: str) -> bool:
    """Read ``text`` as JSON and inspect it; False when it does not parse."""
    reading = read_json(text, b.limits.reading, duplicates=True)
    if reading.duplicate_keys:
        b.flag("json_duplicate_keys")
    if reading.over_depth:
        b.flag("json_too_deep")
    if reading.over_count:
        b.flag(Anomaly.TOO_MANY_VALUES)
    if reading.error is not None:
        return reading.over_depth
    _walk_json(b, reading.value, path, depth, values=values, names=names)
    return True


def _parse_pairs(b: _Builder, text: str, values: str, names: str, *, encoding: str = "utf-8") -> None:
    if _has_invalid_escape(text):
        b.flag("invalid_url_encoding")
    reading = parse_pairs(text, b.limits.reading, encoding=encoding)
    if reading.over_limit:
        b.flag(Anomaly.TOO_MANY_VALUES)
    b.check()
    deep = b.limits.json_depth
    targets = b.targets
    append = targets.append
    ceiling = b.limits.max_targets - 2
    for index, (name, value) in enumerate(reading.pairs):
        if index % _CHECK_EVERY == _CHECK_EVERY - 1:
            b.check()
        if "\0" in value or "%00" in value:
            b.flag("null_byte_in_value")
        if len(targets) <= ceiling:  # room for both, as add would find
            append(_make_target((values, name, value)))
            append(_make_target((names, name, name)))
        else:
            b.add(values, name, value)
            b.add(names, name, name)
        parts = _bracket_parts(name) if "[" in name else _NO_PARTS
        if len(parts) > deep + 1:
            b.flag(Anomaly.TOO_DEEP)
        for part in parts:
            b.add(names, name, part)
        if "%" in name:
            _redecoded_name(b, name, names)
        if looks_like_json(value) and len(value) <= b.limits.embedded_json_limit:
            _json_document(b, value, name, 1, values=values, names=names)
    if "%u" in text or "%U" in text:
        _iis_pairs(b, text, set(reading.pairs), values, names)


def _redecoded_name(b: _Builder, name: str, names: str) -> None:
    """A name still holding escapes after decoding (``category%5B%24ne%5D``), decoded again
    up to twice: an application that unquotes once more (the lab's L2 does) reads
    ``category[$ne]``, so its bracket parts are inspected as names too."""
    for _ in range(2):
        decoded = url_decode_once(name, plus_as_space=False)
        if decoded == name:
            return
        name = decoded
        b.add(names, name, name)
        for part in _bracket_parts(name):
            b.add(names, name, part)


def _iis_pairs(b: _Builder, text: str, seen: set[tuple[str, str]], values: str, names: str) -> None:
    """Pairs read again with ``%uXXXX`` escapes decoded (IIS and some frameworks do; aiohttp
    does not): inspected too, so the choice of decoder is not the attacker's way around."""
    for pair in text.split("&")[: b.limits.max_values]:
        raw_name, _, raw_value = pair.partition("=")
        name, value = url_decode_once(raw_name), url_decode_once(raw_value)
        if (name, value) in seen:
            continue
        b.add(values, name, value)
        b.add(names, name, name)
        for part in _bracket_parts(name):
            b.add(names, name, part)
        if looks_like_json(value) and len(value) <= b.limits.embedded_json_limit:
            _json_document(b, value, name, 1, values=values, names=names)


def _body_urlencoded(b: _Builder, text: str, _raw: bytes, ctype: ContentType) -> bool:
    _parse_pairs(b, text.rstrip(), "ARGS_POST", "ARGS_POST_NAMES", encoding=body_charset(ctype))
    return True


def _body_json(b: _Builder, text: str, _raw: bytes, _ctype: ContentType) -> bool:
    if _json_document(b, text, "$", 0, values="ARGS_POST", names="ARGS_POST_NAMES"):
        return True
    if "body_truncated" not in b.flags:  # a cut-off document cannot parse: not the client's doing
        b.flag("json_invalid")
    return False


def _body_multipart(b: _Builder, _text: str, raw: bytes, ctype: ContentType) -> bool:
    reading = read_multipart(raw, ctype, b.limits.reading)
    if reading.over_limit:
        b.flag(Anomaly.TOO_MANY_VALUES)
    if reading.ambiguous:
        b.flag(Anomaly.DUPLICATE_PARAM)
    if reading.error is not None:
        b.flag("multipart_invalid")
        return False
    for part in reading.parts:
        field_name = part.name or ""
        for name, value in part.headers:
            b.add("MULTIPART_PART_HEADERS", name, value)
        b.add("ARGS_POST_NAMES", field_name, field_name)
        if part.filename is not None:
            b.add("FILES", field_name, part.filename)
            b.add("FILES_NAMES", field_name, field_name)
            continue
        value = part.text if part.text is not None else part.body.decode("utf-8", "replace")
        b.add("ARGS_POST", field_name, value)
        if looks_like_json(value) and len(value) <= b.limits.embedded_json_limit:
            _json_document(b, value, field_name, 1, values="ARGS_POST", names="ARGS_POST_NAMES")
    return True


def _body_xml(b: _Builder, text: str, _raw: bytes, _ctype: ContentType) -> bool:
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        b.flag("xml_dtd")
        return True
    try:
        root = ET.fromstring(text)  # noqa: S314 - DTDs (and so entity definitions) refused above
    except ET.ParseError:
        b.flag("xml_invalid")
        return False
    stack: list[tuple[ET.Element, str]] = [(root, "/" + root.tag)]
    steps = 0
    while stack:
        steps += 1
        if steps % _CHECK_EVERY == 0:
            b.check()
        if len(b.targets) >= b.limits.max_values:  # paths grow with depth: walking on is quadratic
            b.flag("too_many_values")
            return True
        element, path = stack.pop()
        b.add("ARGS_POST_NAMES", path, element.tag)
        if element.text and element.text.strip():
            b.add("ARGS_POST", path, element.text)
        for attr, value in element.attrib.items():
            b.add("ARGS_POST", f"{path}/@{attr}", value)
            b.add("ARGS_POST_NAMES", f"{path}/@{attr}", attr)
        stack.extend((child, f"{path}/{child.tag}") for child in reversed(list(element)))
    return True


BodyProcessor = Callable[[_Builder, str, bytes, ContentType], bool]
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


def _decode_body(b: _Builder, raw: bytes, ctype: ContentType) -> str:
    charset = body_charset(ctype)
    if charset.lower() not in _PLAIN_CHARSETS:
        b.flag("unusual_charset")
    text, _strict = decode_text(raw, charset)
    return text


def _parse_headers(b: _Builder, request: RawRequest) -> list[str]:
    """Headers and cookies as targets, the framing flags; returns the Content-Type values (one
    pass over the headers)."""
    add = b.add
    targets = b.targets
    append = targets.append
    content_types: list[str] = []
    lengths = 0
    chunked = False
    headers = request.headers
    room = len(targets) + 2 * len(headers) <= b.limits.max_targets  # for every header, as add would
    for name, value in headers:
        lname = name.lower()
        if room:
            append(_make_target(("REQUEST_HEADERS", lname, value)))
            append(_make_target(("REQUEST_HEADERS_NAMES", lname, lname)))
        else:
            add("REQUEST_HEADERS", lname, value)
            add("REQUEST_HEADERS_NAMES", lname, lname)
        if lname == "cookie":
            for crumb in value.split(";"):
                cname, _, cvalue = crumb.strip().partition("=")
                if cname:
                    add("REQUEST_COOKIES", cname, cvalue)
                    add("REQUEST_COOKIES_NAMES", cname, cname)
        elif lname == "content-type":
            content_types.append(value)
        elif lname == "content-length":
            lengths += 1
        elif lname == "transfer-encoding":
            chunked = True
    if len(content_types) > 1:
        b.flag("multiple_content_type")
    if lengths > 1:
        b.flag("multiple_content_length")
    if chunked and lengths:
        b.flag("cl_and_te")
    return content_types


_CACHED_PATH = 512  # raw paths up to this length have their normal form cached


def _normalise_path(raw_path: str) -> str:
    if len(raw_path) <= _CACHED_PATH:
        return _normalise_path_cached(raw_path)
    return _normalise_path_uncached(raw_path)


def _normalise_path_uncached(raw_path: str) -> str:
    path = raw_path
    for _ in range(4):
        decoded = url_decode_once(path, plus_as_space=False)
        if decoded == path:
            break
        path = decoded
    return normalise_path_str(path) or "/"


_normalise_path_cached = lru_cache(maxsize=4096)(_normalise_path_uncached)


def _parse_body(b: _Builder, request: RawRequest, limits: ParseLimits, content_types: list[str]) -> None:
    """The body under its declared type and, because applications parse what they are sent
    (aiohttp's ``json()`` ignores the declared type), as JSON whenever it looks like JSON and
    as raw text (``REQUEST_BODY``) always. The charset is the one aiohttp decodes with (the
    first ``charset`` parameter); repeated Content-Type parameters are flagged."""
    raw = request.body
    if request.body_truncated or len(raw) > limits.body_limit:
        b.flag("body_truncated")
        raw = raw[: limits.body_limit]
    if not raw:
        return
    ctype = parse_content_type(content_types[0] if content_types else None)
    if not content_types:
        b.flag("body_without_content_type")
    if ctype.ambiguous:
        b.flag(Anomaly.DUPLICATE_PARAM)
    b.check()
    text = _decode_body(b, raw, ctype)
    b.add("REQUEST_BODY", "", text)
    processor = _processor_for(ctype.media)
    if processor is not None:
        b.check()
        processor(b, text, raw, ctype)
    if processor is not _body_json and looks_like_json(text):
        b.check()
        _json_document(b, text, "$", 0, values="ARGS_POST", names="ARGS_POST_NAMES")


_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2", "2.0": "HTTP/2.0"}


def parse_request(
    request: RawRequest, limits: ParseLimits | None = None, check: Callable[[], None] | None = None
) -> ParsedRequest:
    """Split ``request`` into named targets and protocol flags (pure; never raises on bad input).

    ``check``, when given, is called between parsing stages and every few hundred values of a
    loop (the inspection budget's deadline); whatever it raises stops parsing and propagates.
    A single reading step (one decoding pass over the body) is not interrupted."""
    limits = limits or ParseLimits()
    b = _Builder(limits, check=check or _no_check)
    raw_path, _, query = request.target.partition("?")
    path = _normalise_path(raw_path)
    version = request.http_version
    first = (
        _make_target(("REQUEST_METHOD", "", request.method)),
        _make_target(("REQUEST_URI", "", path)),
        _make_target(("REQUEST_URI_RAW", "", request.target)),
        _make_target(("REQUEST_PROTOCOL", "", _PROTOCOLS.get(version) or f"HTTP/{version}")),
    )
    if limits.max_targets >= len(first):
        b.targets.extend(first)
    else:
        for target in first:
            b.add(*target)
    if "\0" in path:
        b.flag("null_byte_in_path")
    if query:
        _parse_pairs(b, query, "ARGS_GET", "ARGS_GET_NAMES")
    content_types = _parse_headers(b, request)
    b.check()
    _parse_body(b, request, limits, content_types)
    for flag in b.flags:
        b.targets.append(Target("PROTOCOL_FLAGS", flag, flag))
    return ParsedRequest(path=path, targets=tuple(b.targets), flags=tuple(b.flags))
