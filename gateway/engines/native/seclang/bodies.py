"""Request body processors, named as ModSecurity names them: ``URLENCODED``, ``JSON``,
``XML``, ``MULTIPART``. Each turns the body (one character per byte) into arguments and
the variables that go with them, and reports a parse error instead of raising.

Argument names follow libmodsecurity: JSON values are ``json.a.b`` (array items
``json.list.0``); an XML body offers its text content as ``XML:/*`` and each attribute
value as ``XML://@*`` (the two XPath expressions CRS uses; any other XPath selects the text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from xml.parsers import expat

__all__ = ["BodyResult", "Part", "parse_body", "parse_urlencoded", "url_decode_arg"]

_PERCENT = re.compile(r"%([0-9a-fA-F]{2})")
_JSON_DEPTH = 10_000


@dataclass(slots=True)
class Part:
    """One multipart part."""

    name: str
    filename: str | None
    headers: list[str]
    value: str


@dataclass(slots=True)
class BodyResult:
    """What a body processor found."""

    args: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    xml_text: str | None = None
    xml_attributes: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    multipart_flags: dict[str, int] = field(default_factory=dict)


def url_decode_arg(text: str) -> str:
    """``+`` to space and ``%XX`` to its byte; a malformed escape stays as written."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), text)


def parse_urlencoded(text: str, separator: str = "&") -> list[tuple[str, str]]:
    """``a=1&b&c=`` as ``[("a", "1"), ("b", ""), ("c", "")]`` (names and values decoded)."""
    out: list[tuple[str, str]] = []
    for piece in text.split(separator):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        out.append((url_decode_arg(name), url_decode_arg(value)))
    return out


def _bytes_text(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


def _flatten_json(value: object, prefix: str, out: list[tuple[str, str]], depth: int) -> None:
    if depth > _JSON_DEPTH:
        raise ValueError("JSON nesting too deep")
    if isinstance(value, dict):
        if not value:
            out.append((prefix, ""))
        for key, item in value.items():
            _flatten_json(item, f"{prefix}.{_bytes_text(str(key))}", out, depth + 1)
    elif isinstance(value, list):
        if not value:
            out.append((prefix, ""))
        for index, item in enumerate(value):
            _flatten_json(item, f"{prefix}.{index}", out, depth + 1)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, str):
        out.append((prefix, _bytes_text(value)))
    else:
        out.append((prefix, str(value)))


def _json(body: str) -> BodyResult:
    try:
        doc = json.loads(body.encode("latin-1").decode("utf-8", "surrogateescape"))
        args: list[tuple[str, str]] = []
        _flatten_json(doc, "json", args, 0)
    except (ValueError, RecursionError) as exc:
        return BodyResult(error=f"JSON parsing error: {exc}")
    return BodyResult(args=args)


def _xml(body: str) -> BodyResult:
    parser = expat.ParserCreate()
    texts: list[str] = []

    def refuse_entity(*_: object) -> None:
        raise ValueError("XML entity declarations are not processed")

    attributes: list[str] = []

    def start(_name: str, attrs: dict[str, str]) -> None:
        attributes.extend(_bytes_text(v) for v in attrs.values())

    parser.CharacterDataHandler = texts.append
    parser.StartElementHandler = start
    parser.EntityDeclHandler = refuse_entity
    try:
        parser.Parse(body.encode("latin-1"), True)
    except (expat.ExpatError, ValueError) as exc:
        return BodyResult(error=f"XML parsing error: {exc}", xml_text=None)
    return BodyResult(xml_text=_bytes_text("".join(texts)), xml_attributes=attributes)


_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]*)"|([^;,\s]+))""", re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r"""(\w+)\*?\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))""")


def _multipart(body: str, content_type: str) -> BodyResult:
    found = _BOUNDARY.search(content_type)
    flags = {
        "MULTIPART_STRICT_ERROR": 0,
        "MULTIPART_BOUNDARY_QUOTED": 0,
        "MULTIPART_BOUNDARY_WHITESPACE": 0,
        "MULTIPART_DATA_BEFORE": 0,
        "MULTIPART_DATA_AFTER": 0,
        "MULTIPART_HEADER_FOLDING": 0,
        "MULTIPART_LF_LINE": 0,
        "MULTIPART_MISSING_SEMICOLON": 0,
        "MULTIPART_INVALID_QUOTING": 0,
        "MULTIPART_INVALID_PART": 0,
        "MULTIPART_INVALID_HEADER_FOLDING": 0,
        "MULTIPART_FILE_LIMIT_EXCEEDED": 0,
        "MULTIPART_UNMATCHED_BOUNDARY": 0,
        "MULTIPART_CRLF_LF_LINES": 0,
    }
    if found is None:
        flags["MULTIPART_STRICT_ERROR"] = 1
        return BodyResult(error="Multipart: boundary not found in Content-Type", multipart_flags=flags)
    boundary = found.group(1) if found.group(1) is not None else found.group(2)
    flags["MULTIPART_BOUNDARY_QUOTED"] = int(found.group(1) is not None)
    delimiter = "--" + boundary
    chunks = body.split(delimiter)
    if len(chunks) < 2:
        flags["MULTIPART_STRICT_ERROR"] = 1
        return BodyResult(error="Multipart: no boundary in the body", multipart_flags=flags)
    if chunks[0].strip("\r\n"):
        flags["MULTIPART_DATA_BEFORE"] = 1
    result = BodyResult(multipart_flags=flags)
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            closed = True
            if chunk[2:].strip("\r\n"):
                flags["MULTIPART_DATA_AFTER"] = 1
            break
        content = chunk[2:] if chunk.startswith("\r\n") else chunk[1:] if chunk.startswith("\n") else chunk
        if content.endswith("\r\n"):
            content = content[:-2]
        elif content.endswith("\n"):
            content = content[:-1]
            flags["MULTIPART_LF_LINE"] = 1
        head, sep, value = content.partition("\r\n\r\n")
        if not sep:
            head, sep, value = content.partition("\n\n")
            if sep:
                flags["MULTIPART_LF_LINE"] = 1
        if not sep:
            flags["MULTIPART_INVALID_PART"] = 1
            continue
        headers: list[str] = []
        for line in re.split(r"\r?\n", head):
            if line[:1] in (" ", "\t") and headers:
                flags["MULTIPART_HEADER_FOLDING"] = 1
                headers[-1] += line
            elif line:
                headers.append(line)
        name = ""
        filename: str | None = None
        for header in headers:
            hname, _, hvalue = header.partition(":")
            if hname.strip().lower() != "content-disposition":
                continue
            for param in _DISPOSITION_PARAM.finditer(hvalue):
                key = param.group(1).lower()
                raw = param.group(2) if param.group(2) is not None else param.group(3)
                if "'" in raw or (param.group(2) is not None and "\\" in raw):
                    flags["MULTIPART_INVALID_QUOTING"] = 1
                if key == "name":
                    name = raw
                elif key == "filename":
                    filename = raw
        result.parts.append(Part(name, filename, headers, value))
        if filename is None:
            result.args.append((name, value))
    if not closed:
        flags["MULTIPART_UNMATCHED_BOUNDARY"] = 1
        result.error = "Multipart parsing error: Multipart: Final boundary missing."
    if any(v for k, v in flags.items() if k not in ("MULTIPART_STRICT_ERROR", "MULTIPART_BOUNDARY_QUOTED")):
        flags["MULTIPART_STRICT_ERROR"] = 1
    return result


def parse_body(processor: str, body: str, content_type: str) -> BodyResult:
    """Run the processor called ``processor`` on ``body``; unknown processors find nothing."""
    if processor == "URLENCODED":
        return BodyResult(args=parse_urlencoded(body))
    if processor == "JSON":
        return _json(body)
    if processor == "XML":
        return _xml(body)
    if processor == "MULTIPART":
        return _multipart(body, content_type)
    return BodyResult()
