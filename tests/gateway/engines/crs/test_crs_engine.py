"""The crs engine against the real OWASP CRS (Debian modsecurity-crs) through libmodsecurity."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.gateway.engines.crs.config import CrsLayoutError
from rampart.gateway.model import EngineSettings, RawRequest
from tests.gateway.engines.crs.builders import BASE_HEADERS, get, post_json, post_raw

pytestmark = pytest.mark.system

ATTACKS = [
    pytest.param(get("/api/orders/search?item=1'%20OR%20'1'='1"), "sql_injection", id="sqli-query"),
    pytest.param(get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"), "xss", id="xss-query"),
    pytest.param(get("/api/checksum?file=a.txt;cat%20/etc/passwd"), "command_injection", id="cmdi-query"),
    pytest.param(get("/api/files?name=../../etc/passwd"), "path_traversal", id="traversal-query"),
    pytest.param(post_json("/api/comments", {"text": "<script>alert(1)</script>"}), "xss", id="xss-json"),
    pytest.param(
        post_json("/api/login", {"username": "admin' OR '1'='1", "password": "x"}),
        "sql_injection",
        id="sqli-json",
    ),
    pytest.param(get("/api/calc?expr=system('id')"), "code_injection", id="php-call"),
]

BENIGN = [
    pytest.param(get("/api/products?category=shoes"), id="products"),
    pytest.param(get("/api/orders?id=3"), id="orders"),
    pytest.param(get("/api/orders/search?item=blue%20shoes"), id="search"),
    pytest.param(get("/greet?name=Alice"), id="greet"),
    pytest.param(get("/api/files?name=guide.md"), id="files"),
    pytest.param(post_json("/api/login", {"username": "alice", "password": "correct horse"}), id="login"),
    pytest.param(
        post_json("/api/comments", {"text": "I loved these shoes; they're great, and I'd buy them again!"}),
        id="comment-prose",
    ),
    pytest.param(post_json("/api/chat", {"message": "Hello, what is your return policy?"}), id="chat"),
]


@pytest.mark.parametrize(("request_", "attack_class"), ATTACKS)
def test_blocks_classic_attacks_at_pl1(make_crs, request_: RawRequest, attack_class: str) -> None:
    verdict = make_crs(mode="block").inspect(request_)
    assert verdict.error is None
    assert verdict.flagged
    assert verdict.score >= verdict.threshold == 5
    assert attack_class in verdict.attack_classes
    assert verdict.engine == "crs"
    assert verdict.elapsed_us > 0


@pytest.mark.parametrize("request_", BENIGN)
def test_passes_benign_lab_traffic_at_pl1(make_crs, request_: RawRequest) -> None:
    verdict = make_crs(mode="block").inspect(request_)
    assert verdict.error is None
    assert (verdict.flagged, verdict.score, verdict.matches) == (False, 0, ())


def test_json_values_are_inspected_and_targeted(make_crs) -> None:
    verdict = make_crs().inspect(post_json("/api/comments", {"text": "hi <script>alert(1)</script>"}))
    xss = [m for m in verdict.matches if m.attack_class == "xss"]
    assert xss
    assert all(m.target == "ARGS:json.text" for m in xss)
    assert any("<script" in m.matched for m in xss)


def test_content_type_outside_the_crs_policy_is_a_protocol_match(make_crs) -> None:
    verdict = make_crs().inspect(post_raw("/api/comments", b'{"text": "ok"}', "text/plain"))
    assert verdict.rule_ids == ("920420",)
    assert verdict.attack_classes == ("protocol",)
    assert verdict.matches[0].target.startswith("TX:")


def test_detect_mode_flags_instead_of_blocking(make_crs) -> None:
    verdict = make_crs(mode="detect").inspect(get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"))
    assert verdict.flagged
    assert verdict.score >= 5


def test_bookkeeping_rules_are_not_matches_but_score_is_crs_total(make_crs) -> None:
    """930100 matches both REQUEST_URI and ARGS:name: one message, two score increments.
    CRS's own total (30) is what counts, not the sum over messages (25)."""
    verdict = make_crs().inspect(get("/api/files?name=../../etc/passwd"))
    assert not {"949110", "980130", "77099"} & set(verdict.rule_ids)
    assert verdict.score == 30
    assert sum(m.score for m in verdict.matches) == 25
    assert all(m.score == 5 and m.severity == "critical" for m in verdict.matches)


@pytest.mark.parametrize(
    ("paranoia", "expected"),
    [(1, (False, 0)), (2, (True, 5))],
)
def test_paranoia_level_is_honoured(make_crs, paranoia: int, expected: tuple[bool, int]) -> None:
    """931130 (off-domain URL in a parameter) runs from paranoia level 2 only."""
    verdict = make_crs(paranoia=paranoia).inspect(get("/api/preview?url=http://partner.lab.test/page"))
    assert (verdict.flagged, verdict.score) == expected
    if paranoia == 2:
        assert verdict.rule_ids == ("931130",)
        assert verdict.matches[0].paranoia == 2
        assert verdict.matches[0].attack_class == "ssrf"


@pytest.mark.parametrize(("threshold", "flagged"), [(8, True), (9, False), (100, False)])
def test_threshold_is_honoured(make_crs, threshold: int, flagged: bool) -> None:
    """At paranoia 3 this request scores 8 (942440 critical + 942460 warning)."""
    verdict = make_crs(paranoia=3, threshold=threshold).inspect(get("/api/orders/search?item=a';--"))
    assert verdict.score == 8
    assert verdict.threshold == threshold
    assert verdict.flagged is flagged


def test_malformed_json_body_scores_as_protocol_violation(make_crs) -> None:
    verdict = make_crs().inspect(post_raw("/api/login", b'{"username": {"$ne": null}', "application/json"))
    assert verdict.flagged
    assert verdict.rule_ids == ("77010",)
    assert verdict.matches[0].attack_class == "protocol"
    assert "JSON parsing error" in verdict.matches[0].matched


def test_numeric_loopback_host_is_excluded_but_other_numeric_hosts_are_not(make_crs) -> None:
    engine = make_crs()
    other = RawRequest("GET", "/api/products?category=shoes", (("Host", "10.1.2.3"), *BASE_HEADERS[1:]))
    assert engine.inspect(get("/api/products?category=shoes")).rule_ids == ()
    assert engine.inspect(other).rule_ids == ("920350",)


def test_fails_open_on_internal_error(make_crs) -> None:
    engine = make_crs()
    bad = RawRequest("GET", "/greet?name=%3Cscript%3E", (("Host", "localhost"),), client_port=2**70)
    verdict = engine.inspect(bad)
    assert not verdict.flagged
    assert verdict.error is not None
    assert verdict.error.startswith("TypeError")


@pytest.mark.parametrize(
    "request_",
    [
        RawRequest("GET", "/greet?name=\udcff%3Cscript%3Ealert(1)%3C/script%3E", (("Host", "localhost"),)),
        RawRequest(
            "GET",
            "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E",
            (("Host", "localhost"), ("X-Raw", "\udcff\udcfe")),
        ),
        RawRequest("GET", "/greet?name=%ff%3Cscript%3Ealert(1)%3C/script%3E", (("Host", "localhost"),)),
    ],
    ids=["raw-byte-in-target", "raw-byte-in-header", "percent-ff-before-payload"],
)
def test_non_utf8_bytes_are_inspected_not_failed_open(make_crs, request_: RawRequest) -> None:
    """libmodsecurity quotes decoded values in rule messages; the binding decodes them as
    strict UTF-8. Neither may turn an attack into a fail-open allow."""
    verdict = make_crs().inspect(request_)
    assert verdict.error is None
    assert verdict.flagged
    assert "xss" in verdict.attack_classes
    assert any(m.target == "ARGS:name" for m in verdict.matches)


def test_fails_open_after_close(make_crs) -> None:
    engine = make_crs()
    engine.close()
    engine.close()
    verdict = engine.inspect(get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"))
    assert not verdict.flagged
    assert verdict.error is not None
    assert "closed" in verdict.error


@pytest.mark.parametrize(
    ("value", "limit", "flagged"),
    [
        ({"pad": "a" * 2000, "text": "<script>alert(1)</script>"}, 1 << 20, True),
        ({"pad": "a" * 2000, "text": "<script>alert(1)</script>"}, 1000, False),
        ({"text": "<script>alert(1)</script>", "pad": "a" * 2000}, 1000, True),
    ],
    ids=["whole-body", "attack-beyond-limit", "attack-in-inspected-prefix"],
)
def test_only_the_first_body_limit_bytes_are_inspected(
    make_crs, value: object, limit: int, flagged: bool
) -> None:
    verdict = make_crs(body_limit=limit).inspect(post_json("/api/comments", value))
    assert verdict.flagged is flagged
    assert "77010" not in verdict.rule_ids  # the cut JSON is not held against the client


def test_body_marked_truncated_by_the_proxy_is_not_a_parse_error(make_crs) -> None:
    cut = post_raw("/api/comments", b'{"text": "a long comm', "application/json")
    whole = RawRequest(cut.method, cut.target, cut.headers, cut.body, body_truncated=True)
    engine = make_crs()
    assert engine.inspect(cut).rule_ids == ("77010",)
    assert (engine.inspect(whole).flagged, engine.inspect(whole).score) == (False, 0)


def test_registry_builds_the_crs_engine(crs_dir: Path) -> None:
    from rampart.gateway.engines import create_engine

    engine = create_engine("crs", EngineSettings(mode="block", crs_dir=str(crs_dir)))
    try:
        assert engine.name == "crs"
        assert engine.inspect(get("/api/orders/search?item=1'%20OR%20'1'='1")).flagged
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (EngineSettings(crs_dir="/nonexistent/crs"), "/nonexistent/crs/rules is not a folder"),
        (EngineSettings(crs_setup="/nonexistent/crs-setup.conf"), "crs_setup /nonexistent/crs-setup.conf"),
        (EngineSettings(paranoia=5), "paranoia 5 is out of range"),
        (EngineSettings(threshold=0), "threshold 0 must be at least 1"),
    ],
)
def test_bad_settings_name_the_problem(crs_dir: Path, settings: EngineSettings, fragment: str) -> None:
    from rampart.gateway.engines.crs.engine import CrsEngine

    with pytest.raises(CrsLayoutError, match=fragment.replace("(", r"\(")):
        CrsEngine(settings)


def test_parse_error_names_the_file(tmp_path: Path, crs_dir: Path) -> None:
    from rampart.gateway.engines.crs.engine import CrsEngine, CrsLoadError

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "REQUEST-999-BROKEN.conf").write_text('SecRule ARGS "@rx x" "id:1,phase:2,nosuchaction"\n')
    setup = tmp_path / "crs-setup.conf"
    setup.write_text('SecDefaultAction "phase:1,log,auditlog,pass"\n')
    with pytest.raises(CrsLoadError, match=r"REQUEST-999-BROKEN\.conf"):
        CrsEngine(EngineSettings(crs_dir=str(tmp_path)))


def _junk_then_xss(count: int) -> str:
    return "/greet?" + "&".join(f"a{i}=x" for i in range(count)) + "&name=%3Cscript%3Ealert(1)%3C/script%3E"


@pytest.mark.parametrize(
    ("count", "expected_rules"),
    [
        (10, {"941100"}),
        (300, {"920380", "941100"}),  # over CRS's max_num_args: flagged, payload still seen
        (1200, {"920380"}),  # past the collection cap: payload unseen, request still flagged
    ],
)
def test_argument_flood_cannot_hide_a_payload(make_crs, count: int, expected_rules: set[str]) -> None:
    verdict = make_crs().inspect(get(_junk_then_xss(count)))
    assert verdict.flagged
    assert expected_rules <= set(verdict.rule_ids)


def test_argument_flood_in_json_is_capped_and_flagged(make_crs) -> None:
    verdict = make_crs().inspect(post_json("/api/comments", {f"f{i}": "x" for i in range(1200)}))
    assert verdict.flagged
    assert {"77010", "920380"} <= set(verdict.rule_ids)
