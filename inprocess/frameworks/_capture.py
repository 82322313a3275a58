"""Framework-neutral request capture: query strings (raw, bracket notation as nested
objects, JSON-looking values decoded), bodies (JSON, forms, text), headers, cookies and path
parameters, flattened into :class:`~inprocess.context.UserInput` items."""

from __future__ import annotations

import email.parser
import email.policy
import http.cookies
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from inprocess.context import RequestContext, UserInput, flatten
from inprocess.guard import Guard, blocked_in
from inprocess.sinks._taint import tainted
from rampart.verdicts import Decision, format_rasp_header

__all__ = [
    "BLOCKED_STATUS",
    "blocked_payload",
    "body_inputs",
    "cookie_header_inputs",
    "flatten_json",
    "form_inputs",
    "harness_header",
    "mapping_inputs",
    "multipart_inputs",
    "parse_brackets",
    "path_inputs",
    "query_inputs",
    "raw_body_inputs",
    "verdict",
]

BLOCKED_STATUS = 403
MAX_JSON_VALUE = 64 * 1024
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_MAX_DEPTH = 8


def _split_key(key: str) -> list[str] | None:
    """``a[b][]`` -> ``['a', 'b', '']``; None when the key has no bracket syntax."""
    head, sep, _ = key.partition("[")
    if not sep or not head:
        return None
    rest = key[len(head) :]
    parts = _BRACKET.findall(rest)
    if not parts or "".join(f"[{p}]" for p in parts) != rest or len(parts) > _MAX_DEPTH:
        return None
    return [head, *parts]


def _assign(target: dict[str, Any], path: list[str], value: str) -> None:
    node: Any = target
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if last:
                node.append(value)
                return
            node.append({})
            node = node[-1]
            continue
        if last:
            node[part] = value
            return
        nxt = path[i + 1]
        child = node.get(part)
        if not isinstance(child, dict | list):
            child = [] if nxt == "" else {}
            node[part] = child
        node = child


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Express/``qs``-style nesting of the bracketed keys only: ``a[$ne]=x`` -> ``{"a": {"$ne": "x"}}``."""
    nested: dict[str, Any] = {}
    for key, value in pairs:
        path = _split_key(key)
        if path is not None:
            _assign(nested, path, value)
    return nested


def _json_value(value: str) -> Any:
    if not value or (value[0] not in "{[" and value.lstrip()[:1] not in ("{", "[")):
        return None
    stripped = value.strip()
    if len(stripped) > MAX_JSON_VALUE:
        return None
    try:
        decoded = json.loads(stripped)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict | list) else None


_SCALARS = (int, float, bool)


def flatten_json(prefix: str, value: Any, out: list[UserInput], *, max_items: int = 2000) -> None:
    """:func:`inprocess.context.flatten` for decoded JSON (dict, list, str, int, float, bool,
    None): the same inputs in the same order, with exact-type tests instead of the ``Mapping``
    ABC and union ``isinstance`` checks, which made flattening a two-field body cost more than
    parsing it. Anything else goes to ``flatten``."""
    if len(out) >= max_items:
        return
    kind = type(value)
    if kind is str:
        out.append(UserInput(prefix, value))
    elif kind is dict:
        out.append(UserInput(prefix, dict(value)))
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            out.append(UserInput(f"{prefix}.<key>", key))
            flatten_json(f"{prefix}.{key}", v, out, max_items=max_items)
    elif kind is list:
        out.append(UserInput(prefix, list(value)))
        for i, v in enumerate(value):
            flatten_json(f"{prefix}[{i}]", v, out, max_items=max_items)
    elif value is None:
        out.append(UserInput(prefix, ""))
    elif kind in _SCALARS:
        out.append(UserInput(prefix, str(value)))
    else:
        flatten(prefix, value, out, max_items=max_items)


def query_inputs(
    prefix: str, pairs: list[tuple[str, str]], out: list[UserInput], *, redecode: int = 2
) -> None:
    """Raw keys and values, bracket-nested objects and JSON-decoded values under ``prefix``.

    Pairs that still hold percent-escapes after the framework's decoding are captured again
    decoded (up to ``redecode`` more times): an application or library that unquotes once
    more (double-encoded ``category%255B%2524ne%255D=x`` becomes ``category[$ne]=x``) must
    not see an operator object the guard never saw."""
    for key, value in pairs:
        out.append(UserInput(f"{prefix}.<key>", key))
        out.append(UserInput(f"{prefix}.{key}", value))
        decoded = _json_value(value)
        if decoded is not None:
            flatten_json(f"{prefix}.{key}", decoded, out)
    if any("[" in key for key, _ in pairs):
        for key, nested in parse_brackets(pairs).items():
            flatten_json(f"{prefix}.{key}", nested, out)
    if redecode > 0:
        escaped = [
            (urllib.parse.unquote(key), urllib.parse.unquote(value))
            for key, value in pairs
            if ("%" in key or "%" in value) and (_ESCAPE.search(key) or _ESCAPE.search(value))
        ]
        if escaped:
            query_inputs(prefix, escaped, out, redecode=redecode - 1)


form_inputs = query_inputs


def mapping_inputs(prefix: str, values: Mapping[str, str], out: list[UserInput]) -> None:
    for key, value in values.items():
        out.append(UserInput(f"{prefix}.{key.lower() if prefix == 'header' else key}", value))


def raw_body_inputs(content_type_header: str, raw: bytes, out: list[UserInput]) -> None:
    """Any body from its ``Content-Type`` header and bytes (ASGI, WSGI): JSON, urlencoded and
    multipart forms (field values, file names), other text."""
    content_type = content_type_header.split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        form_inputs("body", pairs, out)
        return
    if content_type == "multipart/form-data":
        multipart_inputs(content_type_header, raw, out)
        return
    body_inputs(content_type, raw, out)


def multipart_inputs(content_type_header: str, raw: bytes, out: list[UserInput]) -> None:
    """Text fields of a ``multipart/form-data`` body (and the file names of file parts)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type_header.encode("latin-1", "replace") + b"\r\n\r\n" + raw
    )
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            out.append(UserInput(f"body.{name}.<filename>", filename))
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            pairs.append((name, payload.decode("utf-8", "replace")))
    form_inputs("body", pairs, out)


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


def body_inputs(content_type: str, raw: bytes, out: list[UserInput]) -> None:
    """JSON bodies flattened (keys and values); other text bodies as one ``body`` input.

    A body that looks like JSON under another content type (``text/plain``, none, ``*/*``)
    is flattened too, next to the raw text: many applications parse whatever they are sent,
    and an attacker picks the content type that a filter does not read."""
    text = raw.decode("utf-8", "replace")
    declared = content_type == "application/json" or content_type.endswith("+json")
    if declared:
        try:
            flatten_json("body", json.loads(text), out)
            return
        except ValueError:
            pass
    if text:
        out.append(UserInput("body", text))
        decoded = None if declared else _json_value(text)  # declared JSON already failed to parse
        if decoded is not None:
            flatten_json("body", decoded, out)


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
