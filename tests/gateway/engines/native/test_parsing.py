"""Request parsing: target names and values, body processors, protocol flags."""

from __future__ import annotations

import json

import pytest

from rampart.gateway.engines.native.parsing import ParseLimits, parse_request
from rampart.gateway.model import RawRequest


def _req(
    target: str = "/",
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    **kw: object,
) -> RawRequest:
    return RawRequest(method=method, target=target, headers=(("Host", "lab.test"), *headers), body=body, **kw)  # type: ignore[arg-type]


def _pairs(request: RawRequest) -> set[tuple[str, str]]:
    return {(t.name, t.value) for t in parse_request(request).targets}


@pytest.mark.parametrize(
    ("raw_path", "normalised"),
    [
        ("/api/files", "/api/files"),
        ("/api//files/./x", "/api/files/x"),
        ("/api/%2e%2e/%2e%2e/secret.txt", "/../secret.txt"),
        ("/api/%252e%252e/x", "/x"),
        ("/a;jsessionid=1/b", "/a/b"),
        ("/a/b/../c", "/a/c"),
    ],
)
def test_request_uri_is_normalised(raw_path: str, normalised: str) -> None:
    assert parse_request(_req(raw_path)).path == normalised


def test_query_repeated_keys_and_brackets() -> None:
    pairs = _pairs(_req("/api/products?category[$ne]=x&a=1&a=2&q=O%27Brien+x"))
    assert ("ARGS_GET:category[$ne]", "x") in pairs
    assert {("ARGS_GET_NAMES:category[$ne]", v) for v in ("category[$ne]", "category", "$ne")} <= pairs
    assert {("ARGS_GET:a", "1"), ("ARGS_GET:a", "2")} <= pairs
    assert ("ARGS_GET:q", "O'Brien x") in pairs


def test_json_valued_query_parameter_yields_its_keys() -> None:
    pairs = _pairs(_req('/api/products?category={"\\u0024ne":"internal"}'))
    assert ("ARGS_GET_NAMES:category.$ne", "$ne") in pairs


def test_headers_and_cookies() -> None:
    pairs = _pairs(_req(headers=(("User-Agent", "UA"), ("Cookie", "a=1; b=two"))))
    assert {
        ("REQUEST_HEADERS:user-agent", "UA"),
        ("REQUEST_COOKIES:a", "1"),
        ("REQUEST_COOKIES:b", "two"),
        ("REQUEST_COOKIES_NAMES:b", "b"),
    } <= pairs


def test_json_body_keys_values_and_escapes() -> None:
    body = b'{"username": "admin", "password": {"\\u0024ne": null}, "tags": ["a", {"b": 1.5}]}'
    pairs = _pairs(_req("/api/login", "POST", (("Content-Type", "application/json"),), body))
    assert {
        ("ARGS_POST:$.username", "admin"),
        ("ARGS_POST_NAMES:$.password.$ne", "$ne"),
        ("ARGS_POST:$.password.$ne", "null"),
        ("ARGS_POST:$.tags[0]", "a"),
        ("ARGS_POST:$.tags[1].b", "1.5"),
    } <= pairs


def test_json_without_declared_type_is_still_read() -> None:
    pairs = _pairs(_req("/api/login", "POST", (("Content-Type", "text/plain"),), b'{"$where": "1"}'))
    assert ("ARGS_POST_NAMES:$.$where", "$where") in pairs


def test_urlencoded_body() -> None:
    pairs = _pairs(
        _req("/f", "POST", (("Content-Type", "application/x-www-form-urlencoded"),), b"a=1+2&b=%3Cx")
    )
    assert {("ARGS_POST:a", "1 2"), ("ARGS_POST:b", "<x")} <= pairs


def test_multipart_fields_files_and_part_headers() -> None:
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="f"; fi'
        b'lename="../a.php"\r\nContent-Type: text/x-php\r\n\r\n'
        b'<?php ?>\r\n--XX\r\nContent-Disposition: form-data; name="t"\r\n\r\nval\r\n--XX--\r\n'
    )
    pairs = _pairs(_req("/up", "POST", (("Content-Type", "multipart/form-data; boundary=XX"),), body))
    assert {
        ("FILES:f", "../a.php"),
        ("ARGS_POST:t", "val"),
        ("MULTIPART_PART_HEADERS:content-type", "text/x-php"),
        ("ARGS_POST_NAMES:t", "t"),
    } <= pairs


def test_xml_body_elements_and_attributes() -> None:
    body = b'<order id="7"><item>pen</item></order>'
    pairs = _pairs(_req("/x", "POST", (("Content-Type", "application/xml"),), body))
    assert {("ARGS_POST:/order/@id", "7"), ("ARGS_POST:/order/item", "pen")} <= pairs


@pytest.mark.parametrize(
    ("headers", "body", "flag"),
    [
        (
            (("Content-Type", "application/json"), ("Content-Type", "text/plain")),
            b"{}",
            "multiple_content_type",
        ),
        ((("Content-Length", "2"), ("Transfer-Encoding", "chunked")), b"{}", "cl_and_te"),
        ((("Content-Length", "2"), ("Content-Length", "3")), b"{}", "multiple_content_length"),
        ((("Content-Type", "application/json; charset=utf-7"),), b"{}", "unusual_charset"),
        ((("Content-Type", "application/json"),), b'{"a": ', "json_invalid"),
        ((("Content-Type", "application/json"),), b'{"a": 1, "a": 2}', "json_duplicate_keys"),
        ((("Content-Type", "application/json"),), b"[" * 40 + b"]" * 40, "json_too_deep"),
        ((("Content-Type", "text/xml"),), b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', "xml_dtd"),
        ((("Content-Type", "text/xml"),), b"<x><y></x>", "xml_invalid"),
        ((("Content-Type", "multipart/form-data"),), b"junk", "multipart_invalid"),
        ((), b"body", "body_without_content_type"),
    ],
)
def test_ambiguity_flags(headers: tuple[tuple[str, str], ...], body: bytes, flag: str) -> None:
    parsed = parse_request(_req("/x", "POST", headers, body))
    assert flag in parsed.flags
    assert any(t.name == f"PROTOCOL_FLAGS:{flag}" for t in parsed.targets)


def test_clean_request_has_no_flags() -> None:
    body = json.dumps({"text": "hello"}).encode()
    assert (
        parse_request(_req("/api/comments", "POST", (("Content-Type", "application/json"),), body)).flags
        == ()
    )


def test_body_over_limit_is_truncated_and_flagged() -> None:
    parsed = parse_request(
        _req("/x", "POST", (("Content-Type", "text/plain"),), b"x" * 100), ParseLimits(body_limit=10)
    )
    assert "body_truncated" in parsed.flags
    assert [t.value for t in parsed.targets if t.collection == "REQUEST_BODY"] == ["x" * 10]
    assert "body_truncated" in parse_request(_req("/x", "POST", body=b"x", body_truncated=True)).flags


@pytest.mark.parametrize("truncated_by", ["limit", "proxy"])
def test_cut_off_json_is_not_invalid_json(truncated_by: str) -> None:
    body = b'{"items": [' + b'"abc", ' * 40 + b'"end"]}'
    headers = (("Content-Type", "application/json"),)
    if truncated_by == "limit":
        parsed = parse_request(_req("/x", "POST", headers, body), ParseLimits(body_limit=50))
    else:
        parsed = parse_request(_req("/x", "POST", headers, body[:50], body_truncated=True))
    assert "body_truncated" in parsed.flags
    assert "json_invalid" not in parsed.flags  # cut off by the limit, not malformed by the client
    whole_but_broken = parse_request(_req("/x", "POST", headers, body[:50]))
    assert "json_invalid" in whole_but_broken.flags


def test_value_count_is_bounded() -> None:
    query = "&".join(f"k{i}=v" for i in range(50))
    parsed = parse_request(_req("/?" + query), ParseLimits(max_values=20))
    assert "too_many_values" in parsed.flags
    inspected = [t.key for t in parsed.targets if t.collection == "ARGS_GET"]
    assert inspected == [f"k{i}" for i in range(20)]  # every value up to the limit, then the flag


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b'{"a": 1e99999}', b"[" * 5000, b"\x00" * 64])
def test_garbage_never_raises(body: bytes) -> None:
    parse_request(_req("/x", "POST", (("Content-Type", "application/json"),), body))
