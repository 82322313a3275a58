"""The variables of one request, named as ModSecurity names them.

Every value is a string with one character per byte (the raw bytes decoded as latin-1).
Collections are lists of ``(key, value)`` pairs in request order; a scalar variable is a
one-entry list with the key ``""``. :func:`request_variables` builds what phase 1 sees;
:func:`body_variables` adds what the body processor finds before phase 2.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from rampart.gateway.engines.native.seclang.bodies import BodyResult, parse_urlencoded, url_decode_arg
from rampart.gateway.model import RawRequest

__all__ = ["Variables", "body_variables", "latin1", "request_variables"]

Variables = dict[str, list[tuple[str, str]]]


def latin1(text: str) -> str:
    """A request string (UTF-8 with surrogate escapes for undecodable bytes) as one
    character per byte."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _percent_decode(text: str) -> str:
    """``%XX`` to its byte (``+`` stays): how libmodsecurity decodes the URI it reports as
    ``REQUEST_URI`` and ``REQUEST_FILENAME``."""
    return url_decode_arg(text.replace("+", "%2B")) if "%" in text else text


def _names(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, k) for k, _ in entries]


def _cookies(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for raw in value.split(";"):
            piece = raw.strip()
            if not piece:
                continue
            key, _, val = piece.partition("=")
            out.append((key.strip(), val))
    return out


_CLOCK: dict[int, tuple[str, ...]] = {}  # the last second's TIME variables (see _clock)


def _clock() -> tuple[str, ...]:
    """``TIME_EPOCH``, ``TIME``, ``TIME_DAY``, ``TIME_HOUR``, ``TIME_MIN``, ``TIME_MON``,
    ``TIME_SEC``, ``TIME_WDAY``, ``TIME_YEAR`` now (UTC), worked out once a second."""
    epoch = int(time.time())
    known = _CLOCK.get(epoch)
    if known is not None:
        return known
    now = time.gmtime(epoch)
    clock = (
        str(epoch),
        time.strftime("%H:%M:%S", now),
        str(now.tm_mday),
        str(now.tm_hour),
        str(now.tm_min),
        str(now.tm_mon - 1),
        str(now.tm_sec),
        str((now.tm_wday + 1) % 7),
        str(now.tm_year),
    )
    _CLOCK.clear()
    _CLOCK[epoch] = clock
    return clock


def request_variables(request: RawRequest, unique_id: str, arguments_limit: int | None = None) -> Variables:
    """Everything known before the body is read (phase 1). With ``arguments_limit``
    (``SecArgumentsLimit``), arguments past that many are not collected, as libmodsecurity
    does."""
    target = latin1(request.target)
    method = latin1(request.method)
    version = request.http_version.upper().removeprefix("HTTP/") or "1.1"
    protocol = f"HTTP/{version}"
    headers = [(latin1(k), latin1(v)) for k, v in request.headers]
    uri = target.split("#", 1)[0]
    if "://" in uri.split("?", 1)[0]:
        parts = urlsplit(uri)
        path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    else:
        path_and_query = uri
    path, qmark, query = path_and_query.partition("?")
    filename = _percent_decode(path)
    slash = max(filename.rfind("/"), filename.rfind("\\"))
    basename = filename[slash + 1 :] if slash >= 0 else filename
    args_get = parse_urlencoded(query) if qmark else []
    if arguments_limit is not None:
        del args_get[arguments_limit:]
    cookies = _cookies(headers)
    host = next((v for k, v in headers if k.lower() == "host"), request.server_ip)
    clock = _clock()
    out: Variables = {
        "REQUEST_METHOD": [("", method)],
        "REQUEST_PROTOCOL": [("", protocol)],
        "REQUEST_URI": [("", _percent_decode(uri))],
        "REQUEST_URI_RAW": [("", target)],
        "REQUEST_LINE": [("", f"{method} {target} {protocol}")],
        "REQUEST_FILENAME": [("", filename)],
        "REQUEST_BASENAME": [("", basename)],
        "QUERY_STRING": [("", query)],
        "ARGS_GET": args_get,
        "ARGS_GET_NAMES": _names(args_get),
        "REQUEST_HEADERS": headers,
        "REQUEST_HEADERS_NAMES": _names(headers),
        "REQUEST_COOKIES": cookies,
        "REQUEST_COOKIES_NAMES": _names(cookies),
        "REMOTE_ADDR": [("", request.client_ip)],
        "REMOTE_HOST": [("", request.client_ip)],
        "REMOTE_PORT": [("", str(request.client_port))],
        "SERVER_ADDR": [("", request.server_ip)],
        "SERVER_PORT": [("", str(request.server_port))],
        "SERVER_NAME": [
            ("", host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]")
        ],
        "UNIQUE_ID": [("", unique_id)],
        "DURATION": [("", "0")],
        "TIME": [("", clock[1])],
        "TIME_DAY": [("", clock[2])],
        "TIME_EPOCH": [("", clock[0])],
        "TIME_HOUR": [("", clock[3])],
        "TIME_MIN": [("", clock[4])],
        "TIME_MON": [("", clock[5])],
        "TIME_SEC": [("", clock[6])],
        "TIME_WDAY": [("", clock[7])],
        "TIME_YEAR": [("", clock[8])],
        "REQBODY_ERROR": [("", "0")],
        "REQBODY_ERROR_MSG": [("", "")],
        "REQBODY_PROCESSOR_ERROR": [("", "0")],
        "INBOUND_DATA_ERROR": [("", "0")],
        "URLENCODED_ERROR": [("", "0")],
        "HIGHEST_SEVERITY": [("", "255")],
        "STATUS_LINE": [],
        "WEBSERVER_ERROR_LOG": [],
        "AUTH_TYPE": [],
        "REMOTE_USER": [],
        "PATH_INFO": [],
        "FILES": [],
        "FILES_NAMES": [],
        "FILES_SIZES": [],
        "FILES_COMBINED_SIZE": [("", "0")],
        "FILES_TMPNAMES": [],
        "FILES_TMP_CONTENT": [],
        "MULTIPART_PART_HEADERS": [],
        "MULTIPART_FILENAME": [],
        "MULTIPART_NAME": [],
        "XML": [],
        "REQUEST_BODY": [],
        "REQUEST_BODY_LENGTH": [("", "0")],
        "ARGS_POST": [],
        "ARGS_POST_NAMES": [],
    }
    full_headers = "".join(f"{k}: {v}\n" for k, v in headers)
    out["FULL_REQUEST"] = [("", f"{method} {target} {protocol}\n{full_headers}\n")]
    out["FULL_REQUEST_LENGTH"] = [("", str(len(out["FULL_REQUEST"][0][1])))]
    _combine(out)
    return out


def _combine(out: Variables) -> None:
    args = out["ARGS_GET"] + out["ARGS_POST"]
    out["ARGS"] = args
    out["ARGS_NAMES"] = _names(args)
    out["ARGS_COMBINED_SIZE"] = [("", str(sum(len(k) + len(v) for k, v in args)))]


def body_variables(out: Variables, body: str, result: BodyResult, arguments_limit: int | None = None) -> None:
    """Add what the body processor found (``result``) to ``out``; with ``arguments_limit``,
    only as many body arguments as the query string left room for are collected."""
    out["REQUEST_BODY"] = [("", body)]
    out["REQUEST_BODY_LENGTH"] = [("", str(len(body)))]
    if result.error:
        out["REQBODY_ERROR"] = [("", "1")]
        out["REQBODY_ERROR_MSG"] = [("", result.error)]
        out["REQBODY_PROCESSOR_ERROR"] = [("", "1")]
    args = result.args
    if arguments_limit is not None:
        args = args[: max(0, arguments_limit - len(out["ARGS_GET"]))]
    out["ARGS_POST"] = args
    out["ARGS_POST_NAMES"] = _names(args)
    if result.xml_text is not None:
        out["XML"] = [("/*", result.xml_text)] + [("//@*", v) for v in result.xml_attributes]
    files = [(p.name, p.filename) for p in result.parts if p.filename is not None]
    out["FILES"] = files
    out["FILES_NAMES"] = [(name, name) for name, _ in files]
    sizes = [(p.name, str(len(p.value))) for p in result.parts if p.filename is not None]
    out["FILES_SIZES"] = sizes
    out["FILES_COMBINED_SIZE"] = [("", str(sum(int(s) for _, s in sizes)))]
    out["MULTIPART_PART_HEADERS"] = [(p.name, h) for p in result.parts for h in p.headers]
    out["MULTIPART_FILENAME"] = [("", p.filename) for p in result.parts if p.filename is not None][-1:]
    out["MULTIPART_NAME"] = [("", p.name) for p in result.parts][-1:]
    for flag, value in result.multipart_flags.items():
        out[flag] = [("", str(value))]
    _combine(out)
