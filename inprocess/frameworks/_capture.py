"""Framework-neutral request capture: query strings (raw, bracket notation as nested
objects, JSON-looking values decoded), bodies (JSON, forms, text), headers, cookies and path
parameters, flattened into :class:`~rampart.inprocess.context.UserInput` items.

Queries and bodies are read through :mod:`rampart.interpretation`, the reading the gateway
and the lab share. What cannot be read the way the app will (repeated Content-Type
parameters, values or nesting past the shared limits) is appended to a ``flags`` list; the
framework adapters keep it on ``RequestContext.anomalies`` and :func:`judge_capture` judges
it before the handler runs."""

from __future__ import annotations

import codecs
import functools
import http.cookies
import json
import re
import urllib.parse
import xml.parsers.expat
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rampart.inprocess.context import RequestContext, UserInput, bind, flatten
from rampart.inprocess.errors import Blocked
from rampart.inprocess.guard import Guard, blocked_in
from rampart.inprocess.sinks._taint import tainted
from rampart.interpretation import (
    DEFAULT_LIMITS,
    Anomaly,
    ContentType,
    InterpretationLimits,
    body_charset,
    decode_text,
    looks_like_json,
    nest_pairs,
    param_values,
    parse_content_type,
    parse_pairs,
    read_json,
    read_multipart,
)
from rampart.interpretation.content_type import TOO_MANY_PARAMETERS
from rampart.verdicts import Decision, format_rasp_header

if TYPE_CHECKING:
    from rampart.inprocess.config import GuardSettings

__all__ = [
    "BLOCKED_STATUS",
    "DEFAULT_READING",
    "MAX_ITEMS",
    "Reading",
    "blocked_payload",
    "body_inputs",
    "cookie_header_inputs",
    "declared_length",
    "decode_content",
    "flatten_json",
    "form_inputs",
    "harness_header",
    "judge_capture",
    "mapping_inputs",
    "multipart_inputs",
    "parse_brackets",
    "path_inputs",
    "query_inputs",
    "query_string_inputs",
    "raw_body_inputs",
    "reading_for",
    "settings_reading",
    "verdict",
]

BLOCKED_STATUS = 403
CAPTURE_LIMITS = InterpretationLimits(max_values=16_384, max_depth=128)


@dataclass(frozen=True, slots=True)
class Reading:
    """How much capture reads whole. ``limits``: values per source and nesting depth read
    whole (past them: flagged, never dropped silently); ``shared``: also flag past the
    shared limits the gateway reads with (``DEFAULT_LIMITS``) and any repeated Content-Type
    parameter, even though capture covered them (``GuardSettings.flag_shared_limits``)."""

    limits: InterpretationLimits = CAPTURE_LIMITS
    shared: bool = False

    @property
    def max_items(self) -> int:
        """The most inputs one source may add: a JSON value yields about two per key."""
        return 2 * self.limits.max_values + 64

    @property
    def flag_limits(self) -> InterpretationLimits:
        """The limits past which a reading is flagged."""
        if not self.shared:
            return self.limits
        return InterpretationLimits(
            max_values=min(self.limits.max_values, DEFAULT_LIMITS.max_values),
            max_depth=min(self.limits.max_depth, DEFAULT_LIMITS.max_depth),
        )


DEFAULT_READING = Reading()
# kept for callers of the earlier constant: the input ceiling of the default reading
MAX_ITEMS = DEFAULT_READING.max_items


@functools.lru_cache(maxsize=16)
def reading_for(max_values: int, max_depth: int, shared: bool) -> Reading:
    """The :class:`Reading` of a guard's settings (cached: one per configuration)."""
    return Reading(InterpretationLimits(max_values=max_values, max_depth=max_depth), shared)


def settings_reading(settings: GuardSettings) -> Reading:
    return reading_for(settings.capture_max_values, settings.capture_max_depth, settings.flag_shared_limits)


_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The query as a ``qs``-style application sees it (:func:`rampart.interpretation.nest_pairs`):
    ``a[$ne]=x`` -> ``{"a": {"$ne": "x"}}``, repeated keys as lists, JSON values decoded."""
    return nest_pairs(pairs).value


_SCALARS = (int, float, bool)


def flatten_json(
    prefix: str,
    value: Any,
    out: list[UserInput],
    *,
    max_items: int = MAX_ITEMS,
    max_depth: int = DEFAULT_READING.limits.max_depth,
) -> None:
    """:func:`rampart.inprocess.context.flatten` for decoded JSON (dict, list, str, int, float, bool,
    None): the same inputs in the same order, with exact-type tests instead of the ``Mapping``
    ABC and union ``isinstance`` checks, which made flattening a two-field body cost more than
    parsing it. Anything else goes to ``flatten``. A container deeper than ``max_depth`` is
    kept whole and not split further (the reading has flagged it)."""
    if len(out) >= max_items:
        return
    kind = type(value)
    if kind is str:
        out.append(UserInput(prefix, value))
    elif kind is dict:
        out.append(UserInput(prefix, dict(value)))
        if max_depth <= 0:
            return
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            out.append(UserInput(f"{prefix}.<key>", key))
            flatten_json(f"{prefix}.{key}", v, out, max_items=max_items, max_depth=max_depth - 1)
    elif kind is list:
        out.append(UserInput(prefix, list(value)))
        if max_depth <= 0:
            return
        for i, v in enumerate(value):
            flatten_json(f"{prefix}[{i}]", v, out, max_items=max_items, max_depth=max_depth - 1)
    elif value is None:
        out.append(UserInput(prefix, ""))
    elif kind in _SCALARS:
        out.append(UserInput(prefix, str(value)))
    else:
        flatten(prefix, value, out, max_items=max_items)


def _flag(flags: list[str] | None, name: str) -> None:
    if flags is not None and name not in flags:
        flags.append(name)


def _needs_nesting(pairs: list[tuple[str, str]]) -> bool:
    """Would a ``qs``-style reading turn some pair into an object or list (bracket keys,
    JSON-looking values, a repeated key)?"""
    keys: set[str] = set()
    for key, value in pairs:
        if "[" in key or key in keys or (value and looks_like_json(value)):
            return True
        keys.add(key)
    return False


def query_inputs(
    prefix: str,
    pairs: list[tuple[str, str]],
    out: list[UserInput],
    *,
    redecode: int = 2,
    flags: list[str] | None = None,
    reading: Reading = DEFAULT_READING,
) -> None:
    """Raw keys and values, then every object or list the application would build from them
    (:func:`rampart.interpretation.nest_pairs`: brackets, repeated keys, JSON values) under
    ``prefix``.

    Pairs that still hold percent-escapes after the framework's decoding are captured again
    decoded (up to ``redecode`` more times): an application or library that unquotes once
    more (double-encoded ``category%255B%2524ne%255D`` becomes ``category[$ne]``) must
    not see an operator object the guard never saw."""
    for key, value in pairs:
        out.append(UserInput(f"{prefix}.<key>", key))
        out.append(UserInput(f"{prefix}.{key}", value))
    if _needs_nesting(pairs):
        nested = nest_pairs(pairs, reading.limits)
        if nested.over_depth or (reading.shared and nest_pairs(pairs, reading.flag_limits).over_depth):
            _flag(flags, Anomaly.TOO_DEEP)
        depth = reading.limits.max_depth
        for key, tree in nested.value.items():
            if type(tree) is dict or type(tree) is list:
                flatten_json(f"{prefix}.{key}", tree, out, max_items=reading.max_items, max_depth=depth)
        if len(out) >= reading.max_items:
            _flag(flags, Anomaly.TOO_MANY_VALUES)
    if redecode > 0:
        escaped = [
            (urllib.parse.unquote(key), urllib.parse.unquote(value))
            for key, value in pairs
            if ("%" in key or "%" in value) and (_ESCAPE.search(key) or _ESCAPE.search(value))
        ]
        if escaped:
            query_inputs(prefix, escaped, out, redecode=redecode - 1, flags=flags, reading=reading)


form_inputs = query_inputs


def query_string_inputs(
    prefix: str,
    query_string: str,
    out: list[UserInput],
    *,
    flags: list[str] | None = None,
    encoding: str = "utf-8",
    reading: Reading = DEFAULT_READING,
) -> None:
    """A raw query string (or urlencoded form) read as aiohttp reads it: every pair up to
    the reading's value limit is captured; more pairs than it (or, ``shared``, than the
    shared limit) is flagged."""
    pairs = parse_pairs(query_string, reading.limits, encoding=encoding)
    if pairs.total > reading.flag_limits.max_values:
        _flag(flags, Anomaly.TOO_MANY_VALUES)
    query_inputs(prefix, pairs.pairs, out, flags=flags, reading=reading)


def mapping_inputs(prefix: str, values: Mapping[str, str], out: list[UserInput]) -> None:
    for key, value in values.items():
        out.append(UserInput(f"{prefix}.{key.lower() if prefix == 'header' else key}", value))


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


# the most readings of one body (distinct charsets, distinct boundaries): a header naming
# more is flagged rather than read once per value (each reading costs a pass over the body)
MAX_READINGS = 4


def _charsets(header: str | None, ctype: ContentType, flags: list[str] | None) -> list[str]:
    """The charsets a reader may decode the body with: aiohttp's pick first, then every other
    ``charset`` the header names (a repeated parameter: other parsers take the last)."""
    first = body_charset(ctype)
    if not ctype.repeated or header is None or TOO_MANY_PARAMETERS in ctype.repeated:
        return [first]
    out = [first]
    seen = {_codec(first)}
    for value in param_values(header, "charset"):
        name = _codec(value)
        if name not in seen:
            seen.add(name)
            out.append(value)
    if len(out) > MAX_READINGS:
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    return out[:MAX_READINGS]


def _boundaries(header: str | None, ctype: ContentType, flags: list[str] | None) -> list[ContentType]:
    """``ctype`` as aiohttp reads it, then once per other ``boundary`` the header names."""
    if not ctype.repeated or header is None or TOO_MANY_PARAMETERS in ctype.repeated:
        return [ctype]
    out = [ctype]
    for value in param_values(header, "boundary"):
        if value != ctype.params.get("boundary"):
            out.append(ContentType(ctype.media, MappingProxyType({**ctype.params, "boundary": value})))
    if len(out) > MAX_READINGS:
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    return out[:MAX_READINGS]


def raw_body_inputs(
    content_type_header: str | None,
    raw: bytes,
    out: list[UserInput],
    *,
    flags: list[str] | None = None,
    reading: Reading = DEFAULT_READING,
    judge_failure: bool = True,
) -> None:
    """Any body from its ``Content-Type`` header and bytes, read every way an application
    plausibly reads it: as aiohttp reads it (the first ``charset``, the first ``boundary``):
    urlencoded and multipart fields (file names too), JSON, other text; under every other
    ``charset`` or ``boundary`` a repeated parameter names; and, whatever the declared type,
    as JSON when it looks like JSON -- decoded with the charset and with the encoding
    ``json.loads(bytes)`` detects from the bytes (Flask's ``get_json``, Starlette's
    ``json()``), as applications parse what they are sent.

    Added to ``flags``: values or nesting past the reading's limits, and (``judge_failure``)
    a body that parses under none of those readings although its declared type (JSON,
    multipart, XML) says it should -- the application's own reader may still make
    something of it. A repeated Content-Type parameter is flagged only when ``shared`` (every
    alternative was read) or when the header holds more parameters than are read."""
    ctype = parse_content_type(content_type_header or None)
    if ctype.ambiguous and (reading.shared or TOO_MANY_PARAMETERS in ctype.repeated):
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    media = ctype.media
    texts: list[str] = []
    as_json = False  # some reading parsed the body as one JSON document
    declared_ok = False  # some reading parsed it under its declared (multipart) type
    charsets = _charsets(content_type_header, ctype, flags)
    for charset in charsets:
        text, _strict = decode_text(raw, charset)
        if text in texts:
            continue
        texts.append(text)
        if media == "application/x-www-form-urlencoded":
            query_string_inputs("body", text.rstrip(), out, flags=flags, encoding=charset, reading=reading)
        elif media == "multipart/form-data":
            if len(texts) == 1:  # parts are split from the bytes (each part has its charset)
                for boundary in _boundaries(content_type_header, ctype, flags):
                    declared_ok = _multipart(boundary, raw, out, flags, reading) or declared_ok
        else:
            as_json = _text_body(media, text, out, flags, reading) or as_json
            continue
        if looks_like_json(text):
            as_json = _text_body("", text, out, flags, reading) or as_json
    if 0 in raw[:4] or raw[:1] in _BOM_STARTS:  # bytes json.loads may decode differently
        detected = json.detect_encoding(raw)
        if _codec(detected) not in {_codec(c) for c in charsets}:
            text = raw.decode(detected, "replace")
            if text not in texts and looks_like_json(text):
                texts.append(text)
                as_json = _text_body("", text, out, flags, reading) or as_json
    if not judge_failure or as_json or not raw.strip():
        return
    if media == "application/json" or media.endswith("+json"):
        _flag(flags, Anomaly.JSON_INVALID)
    elif media == "multipart/form-data" and not declared_ok:
        _flag(flags, Anomaly.MULTIPART_INVALID)
    elif (media.endswith("/xml") or media.endswith("+xml")) and not _xml_parses(texts[0]):
        _flag(flags, Anomaly.XML_INVALID)


# first bytes of the byte order marks ``json.detect_encoding`` reads (UTF-8, UTF-16/32)
_BOM_STARTS = (b"\xef", b"\xff", b"\xfe")


class _Doctype(Exception):
    pass


def _doctype(*_args: object) -> None:
    raise _Doctype


def _xml_parses(text: str) -> bool:
    """Is ``text`` well-formed XML (expat, linear time)? A document with a DTD counts as
    parsed without reading past it: entities are never expanded here."""
    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _doctype
    try:
        parser.Parse(text, True)
    except _Doctype:
        return True
    except xml.parsers.expat.ExpatError:
        return False
    return True


def _multipart(
    ctype: ContentType, raw: bytes, out: list[UserInput], flags: list[str] | None, reading: Reading
) -> bool:
    """Capture the parts of ``raw`` under ``ctype``'s boundary; True when it held parts."""
    parsed = read_multipart(raw, ctype, reading.limits)
    if parsed.ambiguous:
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    if parsed.over_limit or len(parsed.parts) > reading.flag_limits.max_values:
        _flag(flags, Anomaly.TOO_MANY_VALUES)
    pairs: list[tuple[str, str]] = []
    for part in parsed.parts:
        if part.name is None:
            continue
        if part.filename is not None:
            out.append(UserInput(f"body.{part.name}.<filename>", part.filename))
        else:  # a part that is not text/* reaches the app as bytes: captured as UTF-8 text
            pairs.append(
                (part.name, part.text if part.text is not None else part.body.decode("utf-8", "replace"))
            )
    form_inputs("body", pairs, out, flags=flags, reading=reading)
    return parsed.error is None


def multipart_inputs(content_type_header: str, raw: bytes, out: list[UserInput]) -> None:
    """Text fields of a ``multipart/form-data`` body (and the file names of file parts)."""
    _multipart(parse_content_type(content_type_header), raw, out, None, DEFAULT_READING)


def _text_body(
    media: str, text: str, out: list[UserInput], flags: list[str] | None, reading: Reading = DEFAULT_READING
) -> bool:
    """Capture a non-form body; True when it is one JSON document (parsed, or too deep to)."""
    declared = media == "application/json" or media.endswith("+json")
    parsed_json = read_json(text, reading.flag_limits) if declared or looks_like_json(text) else None
    if parsed_json is not None:
        if parsed_json.over_depth:
            _flag(flags, Anomaly.TOO_DEEP)
        if parsed_json.over_count:
            _flag(flags, Anomaly.TOO_MANY_VALUES)
    parsed = parsed_json is not None and parsed_json.error is None
    if declared and parsed:
        assert parsed_json is not None
        _flatten_body(parsed_json.value, out, flags, reading)
        return True
    if text:
        out.append(UserInput("body", text))
        if parsed and not declared:  # declared JSON that failed to parse is not parsed again
            assert parsed_json is not None
            if type(parsed_json.value) is dict or type(parsed_json.value) is list:
                _flatten_body(parsed_json.value, out, flags, reading)
    # a document too deep for the parser is JSON all the same (and flagged ``too_deep``)
    return parsed or (parsed_json is not None and parsed_json.over_depth)


def _flatten_body(value: Any, out: list[UserInput], flags: list[str] | None, reading: Reading) -> None:
    flatten_json("body", value, out, max_items=reading.max_items, max_depth=reading.limits.max_depth)
    if len(out) >= reading.max_items:
        _flag(flags, Anomaly.TOO_MANY_VALUES)


_DECOMPRESSORS = {"gzip": 31, "x-gzip": 31, "deflate": 15}
MAX_CODINGS = 4


def decode_content(
    raw: bytes, content_encoding: str | None, max_bytes: int, flags: list[str] | None = None
) -> bytes | None:
    """The body under a ``Content-Encoding`` (gzip, deflate, in the order listed) undone, for
    frameworks that pass the bytes on as sent (ASGI servers, WSGI servers): an application
    or a middleware in it may decompress. None when there is nothing to undo, or when it
    cannot be undone: a coding not known here or bytes that are not what it names
    (``encoding_invalid``), or more than ``max_bytes`` once decompressed (``body_unread``;
    never decompressed further than that)."""
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) > MAX_CODINGS:
        _flag(flags, Anomaly.ENCODING_INVALID)
        return None
    data = raw
    for coding in reversed(codings):
        wbits = _DECOMPRESSORS.get(coding)
        if wbits is None:
            _flag(flags, Anomaly.ENCODING_INVALID)
            return None
        decoded = _inflate(data, wbits, max_bytes)
        if decoded is None and coding == "deflate":  # raw deflate, as some clients send it
            decoded = _inflate(data, -15, max_bytes)
        if decoded is None:
            _flag(flags, Anomaly.ENCODING_INVALID)
            return None
        if len(decoded) > max_bytes:
            _flag(flags, Anomaly.BODY_UNREAD)
            return None
        data = decoded
    return data


def _inflate(data: bytes, wbits: int, max_bytes: int) -> bytes | None:
    """``data`` decompressed (at most ``max_bytes + 1`` bytes of it); None when it is not a
    complete stream of that kind."""
    engine = zlib.decompressobj(wbits)
    try:
        out = engine.decompress(data, max_bytes + 1)
    except zlib.error:
        return None
    if len(out) > max_bytes:  # more to come: the caller flags it as unread
        return out
    return out if engine.eof else None


def cookie_header_inputs(header: str, out: list[UserInput]) -> None:
    jar = http.cookies.SimpleCookie()
    try:
        jar.load(header)
    except http.cookies.CookieError:
        return
    mapping_inputs("cookie", {k: m.value for k, m in jar.items()}, out)


def path_inputs(path: str, out: list[UserInput]) -> None:
    """Path segments (framework-neutral stand-in for route parameters, known only after routing)."""
    for i, segment in enumerate(s for s in path.split("/") if s):
        out.append(UserInput(f"path[{i}]", urllib.parse.unquote(segment)))


def body_inputs(
    content_type: str, raw: bytes, out: list[UserInput], *, flags: list[str] | None = None
) -> None:
    """A non-form body under its media type (``content_type`` without parameters): JSON
    flattened (keys and values); other text as one ``body`` input, flattened too when it
    looks like JSON (many applications parse whatever they are sent, and an attacker picks
    the content type that a filter does not read)."""
    text, _strict = decode_text(raw, "utf-8")
    _text_body(content_type, text, out, flags)


def declared_length(value: object) -> int:
    """A ``Content-Length`` value as a number (0 when absent or not a number)."""
    try:
        return int(str(value or "0"))
    except ValueError:
        return 0


def judge_capture(guard: Guard, ctx: RequestContext) -> bool:
    """Judge what capture could not read the way the app will (``ctx.anomalies``) with the
    ``interpretation`` detector, through the guard's usual policy, incident and action path:
    True when the policy blocks the request (it then never reaches the handler)."""
    if not ctx.anomalies:
        return False
    with bind(ctx):
        try:
            # the anomalies stand in for the inputs: a request with nothing else captured
            # (an unread body and no query) is judged all the same
            guard.check(
                "request",
                "capture",
                "interpretation",
                tuple(ctx.anomalies),
                inputs=ctx.inputs or ctx.anomalies,
                path=ctx.path,
            )
        except Blocked:
            return True
    return False


def verdict(ctx: RequestContext | None, *, replaced: bool) -> tuple[Decision, list[str]]:
    if ctx is None:
        return ("block" if replaced else "allow"), []
    classes = [d.detection.attack_class for d in ctx.detections]
    if replaced or blocked_in(ctx) is not None:
        return "block", classes
    return ("detect" if classes else "allow"), classes


def harness_header(ctx: RequestContext | None, *, replaced: bool) -> str:
    decision, classes = verdict(ctx, replaced=replaced)
    return format_rasp_header(decision, classes)


def blocked_payload(request_id: str) -> bytes:
    return json.dumps({"error": "blocked", "incident": request_id}).encode()


def judge_html(guard: Guard, ctx: RequestContext, html: str) -> None:
    """Reflected and stored XSS checks of an HTML response (may raise ``Blocked``)."""
    guard.check("response", "render", "xss", html)
    stored = tainted(ctx)
    if stored:
        guard.check("response", "render", "stored_xss", html, inputs=stored)
