"""Framework-neutral request capture: query strings (raw, bracket notation as nested
objects, JSON-looking values decoded), bodies (JSON, forms, text), headers, cookies and path
parameters, flattened into :class:`~inprocess.context.UserInput` items.

Queries and bodies are read through :mod:`rampart.interpretation`, the reading the gateway
and the lab share. What cannot be read the way the app will (repeated Content-Type
parameters, values or nesting past the shared limits) is appended to a ``flags`` list; the
framework adapters keep it on ``RequestContext.anomalies`` and :func:`judge_capture` judges
it before the handler runs."""

from __future__ import annotations

import http.cookies
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from inprocess.context import RequestContext, UserInput, bind, flatten
from inprocess.errors import Blocked
from inprocess.guard import Guard, blocked_in
from inprocess.sinks._taint import tainted
from rampart.interpretation import (
    DEFAULT_LIMITS,
    Anomaly,
    ContentType,
    InterpretationLimits,
    body_charset,
    decode_text,
    looks_like_json,
    nest_pairs,
    parse_content_type,
    parse_pairs,
    read_json,
    read_multipart,
)
from rampart.verdicts import Decision, format_rasp_header

__all__ = [
    "BLOCKED_STATUS",
    "blocked_payload",
    "body_inputs",
    "cookie_header_inputs",
    "declared_length",
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
    "verdict",
]

BLOCKED_STATUS = 403
# the most inputs one source may add: a ceiling far above what the shared value limit lets
# through unflagged (a JSON value yields about two inputs per key)
MAX_ITEMS = 4 * DEFAULT_LIMITS.max_values
# read everything the app can read; the count against the shared limit is flagged separately
NO_TRUNCATION = InterpretationLimits(max_values=1 << 30, max_depth=DEFAULT_LIMITS.max_depth)
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
    max_depth: int = DEFAULT_LIMITS.max_depth,
) -> None:
    """:func:`inprocess.context.flatten` for decoded JSON (dict, list, str, int, float, bool,
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
) -> None:
    """Raw keys and values, then every object or list the application would build from them
    (:func:`rampart.interpretation.nest_pairs`: brackets, repeated keys, JSON values) under
    ``prefix``.

    Pairs that still hold percent-escapes after the framework's decoding are captured again
    decoded (up to ``redecode`` more times): an application or library that unquotes once
    more (double-encoded ``category%255B%2524ne%255D=x`` becomes ``category[$ne]=x``) must
    not see an operator object the guard never saw."""
    for key, value in pairs:
        out.append(UserInput(f"{prefix}.<key>", key))
        out.append(UserInput(f"{prefix}.{key}", value))
    if _needs_nesting(pairs):
        nested = nest_pairs(pairs)
        if nested.over_depth:
            _flag(flags, Anomaly.TOO_DEEP)
        for key, tree in nested.value.items():
            if type(tree) is dict or type(tree) is list:
                flatten_json(f"{prefix}.{key}", tree, out)
        if len(out) >= MAX_ITEMS:
            _flag(flags, Anomaly.TOO_MANY_VALUES)
    if redecode > 0:
        escaped = [
            (urllib.parse.unquote(key), urllib.parse.unquote(value))
            for key, value in pairs
            if ("%" in key or "%" in value) and (_ESCAPE.search(key) or _ESCAPE.search(value))
        ]
        if escaped:
            query_inputs(prefix, escaped, out, redecode=redecode - 1, flags=flags)


form_inputs = query_inputs


def query_string_inputs(
    prefix: str,
    query_string: str,
    out: list[UserInput],
    *,
    flags: list[str] | None = None,
    encoding: str = "utf-8",
) -> None:
    """A raw query string (or urlencoded form) read as aiohttp reads it; every pair is
    captured, and more pairs than the shared limit is flagged."""
    reading = parse_pairs(query_string, NO_TRUNCATION, encoding=encoding)
    if reading.total > DEFAULT_LIMITS.max_values:
        _flag(flags, Anomaly.TOO_MANY_VALUES)
    query_inputs(prefix, reading.pairs, out, flags=flags)


def mapping_inputs(prefix: str, values: Mapping[str, str], out: list[UserInput]) -> None:
    for key, value in values.items():
        out.append(UserInput(f"{prefix}.{key.lower() if prefix == 'header' else key}", value))


def raw_body_inputs(
    content_type_header: str | None, raw: bytes, out: list[UserInput], *, flags: list[str] | None = None
) -> None:
    """Any body from its ``Content-Type`` header and bytes, read as aiohttp reads it (the
    first ``charset``, the first ``boundary``): urlencoded and multipart fields (file
    names too), JSON, other text. Whatever the declared type, a body that looks like JSON is
    also flattened as JSON: applications parse what they are sent (aiohttp's ``json()``
    ignores the declared type). A repeated Content-Type parameter and values or nesting
    past the shared limits are added to ``flags``."""
    ctype = parse_content_type(content_type_header or None)
    if ctype.ambiguous:
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    charset = body_charset(ctype)
    text, _strict = decode_text(raw, charset)
    media = ctype.media
    if media == "application/x-www-form-urlencoded":
        query_string_inputs("body", text.rstrip(), out, flags=flags, encoding=charset)
    elif media == "multipart/form-data":
        _multipart(ctype, raw, out, flags)
    else:
        _text_body(media, text, out, flags)
        return
    if looks_like_json(text):
        _text_body("", text, out, flags)


def _multipart(ctype: ContentType, raw: bytes, out: list[UserInput], flags: list[str] | None) -> None:
    reading = read_multipart(raw, ctype, NO_TRUNCATION)
    if reading.ambiguous:
        _flag(flags, Anomaly.DUPLICATE_PARAM)
    if len(reading.parts) > DEFAULT_LIMITS.max_values:
        _flag(flags, Anomaly.TOO_MANY_VALUES)
    pairs: list[tuple[str, str]] = []
    for part in reading.parts:
        if part.name is None:
            continue
        if part.filename is not None:
            out.append(UserInput(f"body.{part.name}.<filename>", part.filename))
        else:  # a part that is not text/* reaches the app as bytes: captured as UTF-8 text
            pairs.append(
                (part.name, part.text if part.text is not None else part.body.decode("utf-8", "replace"))
            )
    form_inputs("body", pairs, out, flags=flags)


def multipart_inputs(content_type_header: str, raw: bytes, out: list[UserInput]) -> None:
    """Text fields of a ``multipart/form-data`` body (and the file names of file parts)."""
    _multipart(parse_content_type(content_type_header), raw, out, None)


def _text_body(media: str, text: str, out: list[UserInput], flags: list[str] | None) -> None:
    declared = media == "application/json" or media.endswith("+json")
    reading = read_json(text) if declared or looks_like_json(text) else None
    if reading is not None:
        if reading.over_depth:
            _flag(flags, Anomaly.TOO_DEEP)
        if reading.over_count:
            _flag(flags, Anomaly.TOO_MANY_VALUES)
    parsed = reading is not None and reading.error is None
    if declared and parsed:
        assert reading is not None
        flatten_json("body", reading.value, out)
        if len(out) >= MAX_ITEMS:
            _flag(flags, Anomaly.TOO_MANY_VALUES)
        return
    if text:
        out.append(UserInput("body", text))
        if parsed and not declared:  # declared JSON that failed to parse is not parsed again
            assert reading is not None
            if type(reading.value) is dict or type(reading.value) is list:
                flatten_json("body", reading.value, out)
                if len(out) >= MAX_ITEMS:
                    _flag(flags, Anomaly.TOO_MANY_VALUES)


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
            guard.check("request", "capture", "interpretation", tuple(ctx.anomalies))
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
