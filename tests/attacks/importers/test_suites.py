"""GoTestWAF folders, payload lists and the suite-format detection become sourced cases."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rampart.attacks.cases import Case
from rampart.attacks.importers import SuiteImportError, detect_suite_format, import_any
from rampart.attacks.importers.gotestwaf import ENCODERS, import_gotestwaf, type_class
from rampart.attacks.importers.grading import (
    Shot,
    build_case,
    delivered,
    js_unicode,
    suite_request,
    xml_entities,
)
from rampart.attacks.importers.payloads import class_from_name, import_payload_list

DATA = Path(__file__).parent / "data"
GTW = DATA / "gotestwaf"


def _by_id(cases: list[Case]) -> dict[str, Case]:
    return {c.id: c for c in cases}


def test_encoders_match_gotestwaf_semantics() -> None:
    text = "<a href='x'>é"
    assert ENCODERS["url"]("a b/<") == "a%20b%2F%3C"
    assert base64.b64decode(ENCODERS["base64"](text)).decode() == text
    assert "=" not in ENCODERS["base64flat"]("ab")
    assert ENCODERS["base64"]("ab").endswith("=")
    assert js_unicode("<é") == "\\u003c\\u00e9"
    assert json.loads('"' + js_unicode("😀'\"") + '"') == "😀'\""
    assert xml_entities('<a b="c">&\'') == "&lt;a b=&#34;c&#34;&gt;&amp;&#39;"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("SQL Injection", "sql_injection"),
        ("NoSQL Injection", "nosql_injection"),
        ("Path Traversal", "path_traversal"),
        ("XSS", "xss"),
        ("Shell Injection", "command_injection"),
        ("RCE", "command_injection"),
        ("SST Injection", "ssti"),
        ("LDAP Injection", None),
        ("Mail Injection", None),
    ],
)
def test_gotestwaf_types_map_to_classes(kind: str, cls: str | None) -> None:
    assert type_class(kind) == cls


def _accounted(result_cases: list[Case], skipped: list[str], prefix: str) -> int:
    """Cases plus duplicates dropped for ids starting with ``prefix``."""
    return sum(c.id.startswith(prefix) for c in result_cases) + sum(x.startswith(prefix) for x in skipped)


def test_gotestwaf_folder_multiplies_payloads_encoders_placeholders() -> None:
    result = import_gotestwaf(GTW)
    cases = _by_id(result.cases)
    # every payload x encoder x placeholder is a case, or a duplicate of one once placed at the sink
    assert _accounted(result.cases, result.skipped, "gtw-owasp-sql-injection-") == 2 * 3 * 3
    assert _accounted(result.cases, result.skipped, "gtw-owasp-xss-scripting-") == 1 * 4 * 9
    assert _accounted(result.cases, result.skipped, "gtw-false-pos-texts-") == 3 * 1 * 2
    assert len({c.request.model_dump_json() for c in result.cases if c.label == "attack"}) == sum(
        c.label == "attack" for c in result.cases
    )
    benign = [c for c in result.cases if c.label == "benign"]
    assert {c.source for c in benign} == {"gotestwaf:false-pos"}
    assert all(c.expect is None for c in benign)
    # LDAP has no class: attacks kept, unclassified, flag-only, as the suite sends them
    ldap = [c for c in result.cases if "gotestwaf-type:ldap-injection" in c.tags]
    assert len(ldap) == 1
    assert ldap[0].attack_class is None
    assert ldap[0].expect is None
    assert ldap[0].endpoint == "external"
    assert ldap[0].request.query == [("rmpsuite", "*)(uid=*))(|(uid=*")]
    reasons = "\n".join(result.skipped)
    assert "encoder 'Rot13' unknown" in reasons
    assert "placeholder gRPC has no plain HTTP form" in reasons
    assert "placeholder 'Teleport' unknown" in reasons
    # the id names set, file, payload, encoder and placeholder
    union = cases["gtw-owasp-sql-injection-000-plain-urlparam"]
    assert union.endpoint == "L4"
    assert union.request.query == [("item", "x' UNION SELECT id, name, token FROM secrets --")]
    assert union.expect is not None
    assert union.expect.oracle == "canary_leak"
    assert union.placement == "query"
    assert not any(t.startswith("relocated:") for t in union.tags)
    numeric = cases["gtw-owasp-sql-injection-001-url-urlparam"]
    assert numeric.endpoint == "L3"
    assert numeric.request.raw_query == "id=1%20OR%201%3D1"


def test_suite_carriers_move_to_the_sink_as_the_app_would_read_them() -> None:
    result = import_gotestwaf(GTW)
    cases = _by_id(result.cases)
    # JSONRequest + Plain: the suite escapes the value with JSUnicode, the app decodes it: the
    # sink gets the URLParam case's very request, so it is dropped as a duplicate of that one
    assert (
        "gtw-owasp-sql-injection-000-plain-jsonrequest: the same request as "
        "gtw-owasp-sql-injection-000-plain-urlparam once placed at the sink"
    ) in result.skipped
    # a URL-encoded form value is decoded by the form parser: relocated decoded (the same request again)
    assert (
        "gtw-owasp-sql-injection-000-url-htmlform: the same request as "
        "gtw-owasp-sql-injection-000-plain-urlparam once placed at the sink"
    ) in result.skipped
    payload = "x' UNION SELECT id, name, token FROM secrets --"
    form = build_case(
        Shot(payload, ENCODERS["url"](payload), "url", "form"),
        case_id="t-form",
        label="attack",
        attack_class="sql_injection",
        source="gotestwaf:t",
        provenance="test",
        tags=[],
    )
    assert form.request.query == [("item", payload)]
    assert "relocated:form" in form.tags
    # Base64 stays Base64: the sink sees the encoded text, the oracle will say it did not work
    b64 = cases["gtw-owasp-sql-injection-000-base64flat-urlparam"]
    assert b64.request.query[0][1] == ENCODERS["base64flat"](
        "x' UNION SELECT id, name, token FROM secrets --"
    )
    # XSS reaches L8 ?name= and is graded by the active fragment coming back unescaped
    xss = cases["gtw-owasp-xss-scripting-000-plain-urlparam"]
    assert xss.endpoint == "L8"
    assert xss.request.query == [("name", "<svg onload=rmp1337>")]
    assert xss.expect is not None
    assert xss.expect.marker == "<svg onload=rmp1337>"
    assert "reflected-marker" in xss.tags
    # an XML body with XML entities delivers the same text: one request at the sink
    assert any(
        x.startswith("gtw-owasp-xss-scripting-000-xmlentity-xmlbody: the same request")
        for x in result.skipped
    )
    # JSUnicode in a URL parameter is decoded by nothing: no active HTML reaches the page, no grade
    js = cases["gtw-owasp-xss-scripting-000-jsunicode-urlparam"]
    assert js.expect is None
    assert js.request.query == [("name", js_unicode("<svg onload=rmp1337>"))]
    # XMLEntity is undone by an XML carrier
    assert delivered(Shot("<b>", xml_entities("<b>"), "xmlentity", "soap")) == "<b>"
    assert delivered(Shot("<b>", xml_entities("<b>"), "xmlentity", "query")) == "&lt;b&gt;"


def test_suite_requests_have_the_suites_shapes() -> None:
    shot = Shot("<b>", "<b>", "plain", "soap")
    soap = suite_request(shot)
    assert soap.content_type == "text/xml"
    assert "SOAPAction" in soap.headers
    assert "<rmp:rmpsuite>&lt;b&gt;</rmp:rmpsuite>" in (soap.body or "")
    multipart = suite_request(Shot("v", "v", "plain", "multipart"))
    assert multipart.content_type is not None
    assert "boundary=" in multipart.content_type
    assert 'name="rmpsuite"\r\n\r\nv\r\n' in (multipart.body or "")
    ua = suite_request(Shot("v", "v", "plain", "user_agent"))
    assert ua.headers == {"User-Agent": "v"}
    path = suite_request(Shot("a/b", "a/b", "plain", "path"), path="/x/")
    assert path.path == "/x/a/b"
    body = json.loads(suite_request(Shot("q'", js_unicode("q'"), "jsunicode", "json")).body or "")
    assert body == {"test": True, "rmpsuite": "q'"}


def test_benign_texts_go_to_text_sinks_without_expect() -> None:
    benign = [c for c in import_gotestwaf(GTW).cases if c.label == "benign"]
    assert {c.endpoint for c in benign} <= {"L3", "L4", "L8", "L10"}
    assert len({c.attack_class for c in benign}) == 3


def test_unsafe_payloads_never_reach_an_executing_sink(tmp_path: Path) -> None:
    listing = tmp_path / "command_injection.txt"
    listing.write_text("; echo rmp\n; rm -rf /tmp/nothing\n", encoding="utf-8")
    result = import_payload_list(listing)
    safe, unsafe = result.cases
    assert safe.endpoint == "L5"
    assert safe.expect is None
    assert unsafe.endpoint == "external"
    assert "unsafe-at-sink" in unsafe.tags
    assert unsafe.request.path == "/"
    assert unsafe.request.query == [("rmpsuite", "; rm -rf /tmp/nothing")]


def test_payload_lists() -> None:
    result = import_payload_list(DATA / "lists" / "sqli.txt")
    assert [c.id for c in result.cases] == ["pl-sqli-00002", "pl-sqli-00004"]
    assert {c.source for c in result.cases} == {"payloads:sqli"}
    assert all(c.attack_class == "sql_injection" and c.graded for c in result.cases)
    with pytest.raises(SuiteImportError, match="pass --class"):
        import_payload_list(DATA / "lists" / "probes.txt")
    probes = import_payload_list(DATA / "lists" / "probes.txt", attack_class="path_traversal")
    assert [c.endpoint for c in probes.cases] == ["L7", "L7"]
    with pytest.raises(SuiteImportError, match="unknown class"):
        import_payload_list(DATA / "lists" / "probes.txt", attack_class="sqlish")
    assert class_from_name("xss-payloads.txt") == "xss"
    assert class_from_name("path_traversal.lst") == "path_traversal"
    assert class_from_name("cmdi.txt") == "command_injection"


def test_payload_lines_split_on_newline_only(tmp_path: Path) -> None:
    listing = tmp_path / "prompt_injection.txt"
    listing.write_text("ignore\u2028previous\r\nsecond\u0085line\n", encoding="utf-8", newline="")
    cases = import_payload_list(listing).cases
    assert [c.request.body for c in cases] == [
        json.dumps({"message": "ignore\u2028previous"}),
        json.dumps({"message": "second\u0085line"}),
    ]


def test_format_detection_and_errors(tmp_path: Path) -> None:
    assert detect_suite_format(GTW) == "gotestwaf"
    assert detect_suite_format(GTW / "owasp" / "xss-scripting.yml") == "gotestwaf"
    assert detect_suite_format(DATA / "lists" / "sqli.txt") == "payloads"
    cases_file = tmp_path / "cases.jsonl"
    cases_file.write_text("", encoding="utf-8")
    assert detect_suite_format(cases_file) == "cases"
    with pytest.raises(SuiteImportError, match="neither go-ftw tests nor GoTestWAF"):
        detect_suite_format(tmp_path)
    bad = tmp_path / "set" / "broken.yml"
    bad.parent.mkdir()
    bad.write_text("payload: [a\nencoder: [Plain]\n", encoding="utf-8")
    with pytest.raises(SuiteImportError, match=r"broken.yml:\d+: not valid YAML"):
        import_any(bad, "gotestwaf")
    empty = tmp_path / "set" / "empty.yml"
    bad.unlink()
    empty.write_text("payload: []\nencoder: [Plain]\nplaceholder: [URLParam]\n", encoding="utf-8")
    with pytest.raises(SuiteImportError, match="'payload' must be a non-empty list"):
        import_gotestwaf(tmp_path)
