"""Where an imported payload goes so the lab's oracle can grade it.

A suite (GoTestWAF, CRS regression tests, a payload list) sends its payload in its own
place: a random URL parameter, a header, a JSON or XML body. The lab only shows what a
payload *does* when it reaches one of its sinks, so an attack whose class has a lab sink
is aimed at that sink's endpoint and parameter (``attacks/mutators/placements.py``):

- the suite's own carrier is kept when the endpoint reads it (a URL parameter for a
  query endpoint, a JSON body for a JSON endpoint), with the suite's wire encoding;
- otherwise the payload is moved into the endpoint's default placement as the text the
  suite's carrier would have delivered to an application (a URL-encoded form value
  decoded, a JSUnicode JSON string decoded, a Base64 value left as it is) and the case is
  tagged ``relocated:<carrier>``.

The oracle can judge a class when the lab records an effect for it whatever the payload
says: SQL and NoSQL injection, path traversal and prompt injection leak the canary, SSRF
reaches an internal host, and reflected XSS comes back as active HTML (the payload itself
is the marker, tag ``reflected-marker``). Command, code and template injection and
deserialization prove themselves only by a marker the suite's payloads do not print, so
their cases go to the sink but count as flagged / not flagged only (no ``expect``).

Foreign payloads are not vetted: a case for an executing sink (shell, Python, template,
YAML) or the SSRF fetcher is placed there only when the project's safety lint
(:mod:`rampart.attacks.lint`) passes it; otherwise it keeps the suite's own request, aimed at a
path no sink serves (``endpoint: external``), and is tagged ``unsafe-at-sink``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from rampart.attacks.cases import Case, Expect, HttpRequest
from rampart.attacks.lint import lint_case
from rampart.attacks.mutators.placements import ENDPOINT_SPECS

__all__ = [
    "CARRIERS",
    "SINK_OF_CLASS",
    "Carrier",
    "Shot",
    "build_case",
    "delivered",
    "js_unicode",
    "suite_request",
    "xml_entities",
]

Carrier = Literal[
    "query", "path", "header", "user_agent", "json", "json_body", "form", "multipart", "body", "xml", "soap"
]
CARRIERS: tuple[Carrier, ...] = (
    "query",
    "path",
    "header",
    "user_agent",
    "json",
    "json_body",
    "form",
    "multipart",
    "body",
    "xml",
    "soap",
)

# class -> (endpoint, what proves it worked; None: the oracle cannot judge foreign payloads)
SINK_OF_CLASS: dict[str, tuple[str, Literal["canary_leak", "internal_contact", "html"] | None]] = {
    "sql_injection": ("L4", "canary_leak"),
    "nosql_injection": ("L2", "canary_leak"),
    "path_traversal": ("L7", "canary_leak"),
    "ssrf": ("L6", "internal_contact"),
    "prompt_injection": ("L10", "canary_leak"),
    "xss": ("L8", "html"),
    "command_injection": ("L5", None),
    "code_injection": ("L12", None),
    "ssti": ("L11", None),
    "deserialization": ("L13", None),
}
_JSON_ENDPOINT_CARRIERS: frozenset[Carrier] = frozenset({"json"})
# the wire encodings each carrier undoes before an application reads the value
_UNDONE_BY: dict[str, frozenset[Carrier]] = {
    "plain": frozenset(CARRIERS),
    "url": frozenset({"query", "path", "form"}),
    "jsunicode": frozenset({"json"}),
    "xmlentity": frozenset({"xml", "soap"}),
}
SUITE_PARAM = "rmpsuite"  # the parameter / header / element name a suite's own request uses
_SOAP = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap:Body><rmp:lookup xmlns:rmp="urn:rampart:suite"><rmp:{p}>{v}</rmp:{p}></rmp:lookup>'
    "</soap:Body></soap:Envelope>"
)
_BOUNDARY = "rampartsuiteboundary"


@dataclass(frozen=True, slots=True)
class Shot:
    """One imported payload on its way: the text, how the suite encodes and carries it."""

    payload: str  # as the suite wrote it
    wire: str  # after the suite's encoder
    encoder: str  # lower-case encoder name ("plain", "url", "base64", ...)
    carrier: Carrier


def js_unicode(text: str) -> str:
    """Every UTF-16 code unit of ``text`` as a ``\\uXXXX`` escape (JavaScript and JSON read it back)."""
    data = text.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{data[i]:02x}{data[i + 1]:02x}" for i in range(0, len(data), 2))


def xml_entities(text: str) -> str:
    """``text`` as XML character data: markup characters and line breaks as references."""
    table = {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&#34;",
        "'": "&#39;",
        "\t": "&#x9;",
        "\n": "&#xA;",
        "\r": "&#xD;",
    }
    return "".join(table.get(ch, ch) for ch in text)


def delivered(shot: Shot) -> str:
    """The text an application reads once the carrier's own decoding is done."""
    undone = _UNDONE_BY.get(shot.encoder, frozenset())
    return shot.payload if shot.carrier in undone else shot.wire


def suite_request(shot: Shot, *, path: str = "/", method: str | None = None) -> HttpRequest:
    """The request the suite itself would send, aimed at ``path``."""
    w, p = shot.wire, SUITE_PARAM
    match shot.carrier:
        case "query":
            if shot.encoder == "plain":
                return HttpRequest(method=method or "GET", path=path, query=[(p, w)])
            return HttpRequest(method=method or "GET", path=path, raw_query=f"{p}={w}")
        case "path":
            return HttpRequest(method=method or "GET", path=path.rstrip("/") + "/" + w.lstrip("/"))
        case "header":
            return HttpRequest(method=method or "GET", path=path, headers={"X-Rmpsuite": w})
        case "user_agent":
            return HttpRequest(method=method or "GET", path=path, headers={"User-Agent": w})
        case "json":
            text = w if shot.encoder == "jsunicode" else js_unicode(w)
            body = '{"test": true, "' + p + '": "' + text + '"}'
            return HttpRequest(method=method or "POST", path=path, content_type="application/json", body=body)
        case "json_body":
            return HttpRequest(method=method or "POST", path=path, content_type="application/json", body=w)
        case "form":
            return HttpRequest(
                method=method or "POST",
                path=path,
                content_type="application/x-www-form-urlencoded",
                body=f"{p}={w}",
            )
        case "multipart":
            part = f'Content-Disposition: form-data; name="{p}"\r\n\r\n{w}\r\n'
            body = f"--{_BOUNDARY}\r\n{part}--{_BOUNDARY}--\r\n"
            return HttpRequest(
                method=method or "POST",
                path=path,
                content_type=f"multipart/form-data; boundary={_BOUNDARY}",
                body=body,
            )
        case "body":
            return HttpRequest(method=method or "POST", path=path, content_type="text/plain", body=w)
        case "xml":
            text = w if shot.encoder == "xmlentity" else xml_entities(w)
            return HttpRequest(
                method=method or "POST", path=path, content_type="application/xml", body=f"<{p}>{text}</{p}>"
            )
        case "soap":
            return HttpRequest(
                method=method or "POST",
                path=path,
                content_type="text/xml",
                headers={"SOAPAction": '"urn:rampart:suite#lookup"'},
                body=_SOAP.format(p=p, v=w if shot.encoder == "xmlentity" else xml_entities(w)),
            )


def _sink_request(endpoint: str, shot: Shot) -> tuple[HttpRequest, str, bool]:
    """(request at the endpoint's sink, placement name, relocated?)."""
    spec = ENDPOINT_SPECS[endpoint]
    param = spec.params[0]
    fields: dict[str, Any] = {"password": "not-the-password"} if endpoint == "L1" else {}
    text = delivered(shot)
    default = spec.placements[0]
    if default == "query":
        if shot.carrier == "query":
            if shot.encoder != "url":
                return (
                    HttpRequest(method=spec.method, path=spec.path, query=[(param, shot.wire)]),
                    "query",
                    False,
                )
            return (
                HttpRequest(method=spec.method, path=spec.path, raw_query=f"{param}={shot.wire}"),
                "query",
                False,
            )
        return HttpRequest(method=spec.method, path=spec.path, query=[(param, text)]), "query", True
    if default == "json":
        if shot.carrier in _JSON_ENDPOINT_CARRIERS and shot.encoder == "jsunicode":
            body = '{"' + param + '": "' + shot.wire + '"}'
            request = HttpRequest(
                method=spec.method, path=spec.path, content_type="application/json", body=body
            )
            return request, "json", False
        body = json.dumps({param: text, **fields})
        relocated = shot.carrier not in _JSON_ENDPOINT_CARRIERS
        request = HttpRequest(method=spec.method, path=spec.path, content_type="application/json", body=body)
        return request, "json", relocated
    # L13 reads its raw body as YAML
    relocated = shot.carrier != "body"
    return (
        HttpRequest(method=spec.method, path=spec.path, content_type="application/yaml", body=text),
        default,
        relocated,
    )


def build_case(
    shot: Shot,
    *,
    case_id: str,
    label: Literal["attack", "benign"],
    attack_class: str | None,
    source: str,
    provenance: str,
    tags: list[str],
    notes: str = "",
    suite_path: str = "/",
    suite_method: str | None = None,
) -> Case:
    """The case for ``shot``: at its class's lab sink when there is one and the payload is safe
    there, else the suite's own request."""
    base: dict[str, Any] = {
        "id": case_id,
        "label": label,
        "class": attack_class,
        "source": source,
        "provenance": provenance,
        "encodings": [] if shot.encoder == "plain" else [shot.encoder],
        "notes": notes,
    }
    sink = SINK_OF_CLASS.get(attack_class or "")
    if sink is not None:
        endpoint, proof = sink
        if attack_class == "sql_injection" and "'" not in delivered(shot):
            endpoint = "L3"
        request, placement, relocated = _sink_request(endpoint, shot)
        extra = [f"relocated:{shot.carrier}"] if relocated else []
        expect: dict[str, Any] | None = None
        if label == "attack" and proof in ("canary_leak", "internal_contact"):
            expect = {"oracle": proof}
        elif label == "attack" and proof == "html" and "<" in delivered(shot):
            expect = {"marker": delivered(shot)}
            extra.append("reflected-marker")
        candidate = Case.model_validate(
            base
            | {
                "endpoint": endpoint,
                "request": request,
                "placement": placement,
                "expect": Expect.model_validate(expect) if expect else None,
                "tags": [*tags, *extra],
            }
        )
        if label == "benign" or not lint_case(candidate):
            return candidate
        tags = [*tags, "unsafe-at-sink"]
    return Case.model_validate(
        base
        | {
            "endpoint": "external",
            "request": suite_request(shot, path=suite_path, method=suite_method),
            "placement": shot.carrier,
            "tags": tags,
        }
    )
