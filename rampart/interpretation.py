"""One reading of a request's inputs, shared by the gateway, the sink guard and the lab.

A layer that reads the request differently from the application it protects can be walked
around: a body parsed as JSON by the app but as a form by the filter, the first of two
``charset`` parameters against the last, values past a count the filter stops at. Every
layer therefore reads through this module, and every place where the reading depends on a
choice the application may make differently is *reported* (an :class:`Anomaly`) rather
than resolved silently.

What it owns (pure functions, no I/O, never raises on client input):

* :func:`parse_content_type` -- media type and parameters exactly as aiohttp reads them
  (the email header parser: lower-cased media type, aiohttp's pick among repeated parameters,
  ``application/octet-stream`` for a type without one ``/``), plus the repeated parameters;
* :func:`body_charset` -- the charset aiohttp's ``text()``/``json()``/``post()`` use;
* :func:`parse_pairs` -- ``parse_qsl(keep_blank_values=True)`` (what aiohttp's
  ``request.query`` and ``post()`` give), bounded by the value limit;
* :func:`nest_pairs` -- Express ``qs``-style nesting (``a[b][]=x``), duplicate keys as
  lists, JSON-looking values decoded; nesting deeper than the limit keeps the remainder as
  one literal key (as ``qs`` does) and is reported;
* :func:`read_json` -- ``json.loads`` plus an iterative measure of depth and value count;
  a document too deep for the C parser is reported as over the depth limit, never a
  ``RecursionError``;
* :func:`read_multipart` -- the parts of a ``multipart/form-data`` body (part headers
  read with aiohttp's own ``Content-Disposition`` parser).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import quopri
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import HTTP
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp.multipart import content_disposition_filename, parse_content_disposition

__all__ = [
    "DEFAULT_LIMITS",
    "Anomaly",
    "ContentType",
    "InterpretationLimits",
    "JsonReading",
    "MultipartReading",
    "Nested",
    "Pairs",
    "Part",
    "body_charset",
    "decode_text",
    "looks_like_json",
    "nest_pairs",
    "parse_content_type",
    "parse_pairs",
    "read_json",
    "read_multipart",
]


class Anomaly:
    """Names of the ambiguities a reading reports (the gateway's ``PROTOCOL_FLAGS`` use the
    same names; the guard records them on the request context)."""

    DUPLICATE_PARAM = "content_type_param_repeated"
    TOO_MANY_VALUES = "too_many_values"
    TOO_DEEP = "too_deep"
    BODY_UNREAD = "body_unread"


@dataclass(frozen=True, slots=True)
class InterpretationLimits:
    """The one set of bounds every layer reads with.

    ``max_values``: query/form pairs, multipart parts and JSON values (keys and leaves)
    read from one source; ``max_depth``: JSON nesting and bracket (``a[b][c]``) depth.
    Past either the reading is flagged; nothing past a limit is dropped silently."""

    max_values: int = 4096
    max_depth: int = 32

    def __post_init__(self) -> None:
        if self.max_values < 1 or self.max_depth < 1:
            raise ValueError("InterpretationLimits: max_values and max_depth must be >= 1")


DEFAULT_LIMITS = InterpretationLimits()


# -- Content-Type --------------------------------------------------------------------------


class _OctetStreamDefault(EmailMessage):
    def get_content_type(self) -> str:
        value = str(self.get("content-type", "")).lower()
        media = value.partition(";")[0].strip()
        return media if media.count("/") == 1 else "application/octet-stream"


_PARAM_NAME = re.compile(r";\s*([^\s=;]+)\s*=")


@dataclass(frozen=True, slots=True)
class ContentType:
    """A parsed ``Content-Type``: ``media`` (lower case), ``params`` (names lower case; of
    repeated names the one aiohttp keeps -- the first of identical spellings, the last of
    differently-cased ones) and ``repeated`` (names given more than once, in any case: the
    header means different things to different parsers)."""

    media: str
    params: MappingProxyType[str, str]
    repeated: tuple[str, ...] = ()

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def ambiguous(self) -> bool:
        return bool(self.repeated)


@functools.lru_cache(maxsize=256)
def parse_content_type(raw: str | None) -> ContentType:
    """``raw`` (a ``Content-Type`` value, or None) read the way aiohttp reads it."""
    if raw is None:
        return ContentType("application/octet-stream", MappingProxyType({}))
    message = HeaderParser(_OctetStreamDefault, policy=HTTP).parsestr(f"Content-Type: {raw}")
    params = message.get_params(())
    # exactly aiohttp's ``dict(params[1:])``: the email parser keeps the first of names
    # spelt alike and every differently-cased spelling, and the dict keeps the last of those
    values = {str(name): value if isinstance(value, str) else str(value) for name, value in params[1:]}
    names = [m.group(1).lower() for m in _PARAM_NAME.finditer(raw)]
    repeated = tuple(sorted({n for n in names if names.count(n) > 1}))
    return ContentType(message.get_content_type(), MappingProxyType(values), repeated)


def body_charset(content_type: ContentType) -> str:
    """The charset aiohttp decodes a body with: the (first) ``charset`` parameter, else UTF-8."""
    return content_type.charset or "utf-8"


def decode_text(raw: bytes, charset: str) -> tuple[str, bool]:
    """``raw`` decoded as ``charset`` -> (text, strict): ``strict`` is False when the bytes do
    not decode cleanly (the app's strict decode would fail) or the charset is unknown
    (then UTF-8 with replacement is returned)."""
    try:
        return raw.decode(charset), True
    except LookupError:
        return raw.decode("utf-8", "replace"), False
    except UnicodeDecodeError:
        return raw.decode(charset, "replace"), False


# -- query strings and forms ----------------------------------------------------------------


class Pairs(NamedTuple):
    """Decoded ``(name, value)`` pairs in order; ``over_limit`` when the source held more
    than ``max_values`` pairs (``pairs`` then holds the first ``max_values``). A named
    tuple rather than a frozen dataclass: every query string of every request builds one."""

    pairs: list[tuple[str, str]]
    over_limit: bool = False
    total: int = 0


def parse_pairs(
    text: str, limits: InterpretationLimits = DEFAULT_LIMITS, *, encoding: str = "utf-8"
) -> Pairs:
    """``a=1&b=2`` as aiohttp's ``request.query`` and ``post()`` decode it (``parse_qsl``
    with blank values kept; ``+`` is a space; undecodable escapes replaced)."""
    if not text:
        return Pairs([], False, 0)
    total = text.count("&") + 1
    over = total > limits.max_values
    if over:
        cut = _nth(text, "&", limits.max_values)
        text = text[:cut]
    if "%" not in text:  # only '+' to decode: what parse_qsl gives, faster
        plain = text.replace("+", " ") if "+" in text else text
        pairs = [(name, value) for name, _, value in (p.partition("=") for p in plain.split("&") if p)]
        return Pairs(pairs, over, total)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace")
    except LookupError:
        pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
    return Pairs(pairs, over, total)


def _nth(text: str, sep: str, n: int) -> int:
    """Index of the ``n``-th ``sep`` in ``text`` (``len(text)`` when there are fewer)."""
    at = -1
    for _ in range(n):
        at = text.find(sep, at + 1)
        if at == -1:
            return len(text)
    return at


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)(.*)$", re.DOTALL)
_PART = re.compile(r"\[([^\[\]]*)\]")


def looks_like_json(text: str) -> bool:
    """Would a framework that parses whatever it is sent read ``text`` as a JSON document?"""
    return text.lstrip()[:1] in ("{", "[")


def _json_value(raw: str, limits: InterpretationLimits) -> Any:
    if raw[:1] not in ("{", "[") and not looks_like_json(raw):
        return raw
    reading = read_json(raw, limits)
    return reading.value if reading.error is None and not reading.over_depth else raw


def _key_path(key: str, max_depth: int) -> tuple[list[str], bool]:
    match = _KEY.match(key)
    if match is None or not match.group(2):
        return [key], False
    parts = _PART.findall(match.group(2))
    rest = match.group(3)
    path = [match.group(1), *parts[:max_depth]]
    over = len(parts) > max_depth
    tail = "".join(f"[{p}]" for p in parts[max_depth:]) + rest
    if tail:
        path.append(tail)
    return path, over


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = target
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if last:
                node.append(value)
                return
            child: dict[str, Any] = {}
            node.append(child)
            node = child
            continue
        if last:
            existing = node.get(key)
            if existing is None:
                node[key] = value
            elif isinstance(existing, list):
                existing.append(value)
            else:
                node[key] = [existing, value]
            return
        if not isinstance(node.get(key), dict | list):
            node[key] = [] if path[i + 1] == "" else {}
        node = node[key]


@dataclass(frozen=True, slots=True)
class Nested:
    """Pairs as an application using ``qs``-style parsing sees them."""

    value: dict[str, Any]
    over_depth: bool = False


def nest_pairs(
    pairs: Iterable[tuple[str, str]],
    limits: InterpretationLimits = DEFAULT_LIMITS,
    *,
    decode_json: bool = True,
) -> Nested:
    """``category[$ne]=x`` -> ``{"category": {"$ne": "x"}}``, ``t[]=a&t[]=b`` -> a list,
    repeated plain keys -> a list, JSON-looking values decoded (``decode_json``)."""
    out: dict[str, Any] = {}
    over = False
    for key, raw in pairs:
        path, deep = _key_path(key, limits.max_depth)
        over = over or deep
        _assign(out, path, _json_value(raw, limits) if decode_json and raw else raw)
    return Nested(out, over)


# -- JSON -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonReading:
    """A JSON document read with limits. ``error`` names why it did not parse (None when it
    did). ``values`` (keys and leaves) and ``depth`` (deepest container level) are
    ``measured`` only when the text is long enough, or holds brackets enough, to pass a
    limit; a shorter document is under both by construction and is not walked."""

    value: Any = None
    error: str | None = None
    values: int = 0
    depth: int = 0
    measured: bool = False
    over_depth: bool = False
    over_count: bool = False
    duplicate_keys: bool = False


class _DuplicateWatch:
    """``object_pairs_hook`` building the dicts ``json.loads`` would, noting repeated keys
    (the last value wins, as in ``json.loads``; other parsers keep the first)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            self.seen = True
        return result


def read_json(
    text: str, limits: InterpretationLimits = DEFAULT_LIMITS, *, duplicates: bool = False
) -> JsonReading:
    """Parse ``text`` as JSON (what ``json.loads`` -- and so aiohttp's ``json()`` -- accepts)
    and measure it without recursion; ``duplicates`` also reports repeated object keys (a
    slower parse: one Python call per object)."""
    watch = _DuplicateWatch() if duplicates and "{" in text else None
    try:
        value = json.loads(text) if watch is None else json.loads(text, object_pairs_hook=watch)
    except RecursionError:
        return JsonReading(error="too deep for the parser", depth=limits.max_depth + 1, over_depth=True)
    except ValueError as exc:
        return JsonReading(error=str(exc))
    duplicate_keys = watch is not None and watch.seen
    if len(text) <= limits.max_values and text.count("[") + text.count("{") <= limits.max_depth:
        # every value takes a character and every level a bracket: under both limits
        return JsonReading(value=value, duplicate_keys=duplicate_keys)
    count = 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        kind = type(node)
        if kind is dict:
            count += 2 * len(node)
            children = node.values()
        elif kind is list:
            count += len(node)
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level > limits.max_depth:
            continue
        below = level + 1
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, below))
    return JsonReading(
        value=value,
        values=count if deepest else 1,
        depth=deepest,
        measured=True,
        over_depth=deepest > limits.max_depth,
        over_count=count > limits.max_values,
        duplicate_keys=duplicate_keys,
    )


# -- multipart ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart body: its headers (names lower case), the form field
    ``name`` and ``filename`` from ``Content-Disposition``, the decoded body bytes and, for
    a text field, its text (``None`` for files and binary parts)."""

    headers: tuple[tuple[str, str], ...]
    name: str | None
    filename: str | None
    body: bytes
    text: str | None
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class MultipartReading:
    parts: list[Part] = field(default_factory=list)
    error: str | None = None
    over_limit: bool = False
    ambiguous: bool = False


def _transfer_decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return body
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def read_multipart(
    raw: bytes, content_type: ContentType, limits: InterpretationLimits = DEFAULT_LIMITS
) -> MultipartReading:
    """The parts of ``raw`` under ``content_type``'s (first) boundary. Text fields are
    decoded with the part's charset (UTF-8 by default) as aiohttp's ``post()`` does;
    base64 / quoted-printable transfer encodings are undone."""
    boundary = content_type.params.get("boundary", "")
    if not boundary:
        return MultipartReading(error="no boundary")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    chunks = raw.split(delimiter)
    parts: list[Part] = []
    ambiguous = False
    over = False
    for raw_chunk in chunks[1:]:
        if raw_chunk.startswith(b"--"):
            break
        if len(parts) >= limits.max_values:
            over = True
            break
        chunk = raw_chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
        if not sep:
            continue
        body = body.removesuffix(b"\r\n").removesuffix(b"\n")
        headers: list[tuple[str, str]] = []
        for line in head.decode("utf-8", "replace").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip().lower(), value.strip()))
        parts.append(_part(headers, body))
        ambiguous = ambiguous or parts[-1].ambiguous
    if not parts:
        return MultipartReading(error="no parts", over_limit=over)
    return MultipartReading(parts, None, over, ambiguous)


def _part(headers: list[tuple[str, str]], body: bytes) -> Part:
    names = [n for n, _ in headers]
    ambiguous = len(set(names)) != len(names)
    first = {n: v for n, v in reversed(headers)}
    raw_disposition = first.get("content-disposition")
    name, filename, bad = _disposition(raw_disposition)
    ambiguous = ambiguous or bad
    body = _transfer_decode(body, first.get("content-transfer-encoding", ""))
    part_type = parse_content_type(first.get("content-type")) if "content-type" in first else None
    ambiguous = ambiguous or (part_type is not None and part_type.ambiguous)
    text: str | None = None
    if filename is None and (part_type is None or part_type.media.startswith("text/")):
        text, _ = decode_text(body, body_charset(part_type) if part_type else "utf-8")
    return Part(tuple(headers), name, filename, body, text, ambiguous)


def _disposition(value: str | None) -> tuple[str | None, str | None, bool]:
    """(name, filename, malformed) of a part's ``Content-Disposition`` as aiohttp reads it
    (``filename*`` preferred; a repeated parameter makes the whole header invalid, and
    aiohttp's ``post()`` then refuses the body)."""
    if value is None:
        return None, None, False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kind, params = parse_content_disposition(value)
    if kind is None:
        return None, None, True
    return params.get("name"), content_disposition_filename(params, "filename"), False
