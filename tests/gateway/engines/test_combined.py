"""The ``native`` engine: CRS on the SecLang executor plus rampart's YAML rules, one verdict.

Real rule sets throughout (CRS 3.3.4 from Debian's modsecurity-crs, the shipped YAML rules);
engines are built once per module where a test does not need its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rampart.gateway.config import ConfigError, load_settings
from rampart.gateway.engines import create_engine, names
from rampart.gateway.engines.native.combined import (
    NATIVE_SETUP,
    UNCONFIRMED_TAG,
    CombinedEngine,
    RulesEngine,
    UnknownConfirmError,
    confirms,
    crs_settings,
    looks_like_code,
    places_of,
    values_at,
)
from rampart.gateway.engines.native.parsing import ParseLimits, parse_request
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.model import EngineSettings, RawRequest

HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "127.0.0.1:8080"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),
    ("Accept", "*/*"),
)


def get(target: str) -> RawRequest:
    return RawRequest("GET", target, HEADERS)


def post(target: str, body: bytes, content_type: str) -> RawRequest:
    headers = (*HEADERS, ("Content-Type", content_type), ("Content-Length", str(len(body))))
    return RawRequest("POST", target, headers, body)


SQLI = get("/api/orders/search?item=1'%20OR%20'1'='1")
NOSQL = post(
    "/api/login", json.dumps({"username": "admin", "password": {"$ne": "x"}}).encode(), "application/json"
)
SPLITTING = get("/x?a=x%0d%0aSet-Cookie:%20a%3Db")  # HTTP response splitting: CRS 921xxx only
PROSE_SQL = get("/search?q=union%20was%20a%20great%20select")  # CRS 942190 at paranoia 1
PROSE_SHELL = get("/x?q=echo%20in%20the%20mirror")  # CRS 932150 at paranoia 1


@pytest.fixture(scope="module")
def native(crs_dir: Path) -> Iterator[CombinedEngine]:
    engine = CombinedEngine(EngineSettings(mode="block"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def exhaustive(native: CombinedEngine) -> CombinedEngine:
    """The same rule sets, CRS run also where the YAML rules already decided."""
    return CombinedEngine(native.settings, crs=native.crs, rules=native.rules, exhaustive=True)


@pytest.fixture(scope="module")
def confirming(crs_dir: Path, native: CombinedEngine) -> CombinedEngine:
    """The same rule sets, with tokenizer confirmation of all three families."""
    return CombinedEngine(
        replace(native.settings, confirm=("sqli", "xss", "rce")), crs=native.crs, rules=native.rules
    )


def test_registry_names_the_three_native_engines_and_the_reference() -> None:
    assert {"native", "rules", "seclang", "crs"} <= set(names())


def test_rules_engine_is_the_yaml_rules_alone() -> None:
    engine = create_engine("rules", EngineSettings())
    try:
        assert isinstance(engine, RulesEngine)
        verdict = engine.inspect(SQLI)
        assert verdict.engine == "rules"
        assert verdict.flagged
        assert {m.ruleset for m in verdict.matches} == {"rampart"}
        assert all(not m.rule_id.startswith("9421") for m in verdict.matches)
        assert not engine.inspect(SPLITTING).flagged  # CRS's family, absent from the YAML rules
    finally:
        engine.close()


def test_native_engine_by_name_is_the_combined_engine(crs_dir: Path) -> None:
    engine = create_engine("native", EngineSettings())
    try:
        assert isinstance(engine, CombinedEngine)
        assert engine.inspect(SQLI).engine == "native"
    finally:
        engine.close()


def test_both_rule_sets_report_into_one_verdict_with_their_names(exhaustive: CombinedEngine) -> None:
    verdict = exhaustive.inspect(SQLI)
    assert verdict.flagged
    assert verdict.error is None
    by_set = {m.ruleset for m in verdict.matches}
    assert by_set == {"crs", "rampart"}
    crs_ids = {m.rule_id for m in verdict.matches if m.ruleset == "crs"}
    assert all(len(i) == 6 and i.startswith("9") for i in crs_ids)


def test_each_rule_set_alone_is_enough(native: CombinedEngine) -> None:
    nosql = native.scores(NOSQL)
    assert nosql["rampart"] >= 5
    assert nosql["crs"] < 5
    assert native.inspect(NOSQL).flagged
    splitting = native.scores(SPLITTING)
    assert splitting["crs"] >= 5
    assert splitting["rampart"] == 0
    assert native.inspect(SPLITTING).flagged


def test_score_is_the_larger_of_the_two_not_their_sum(exhaustive: CombinedEngine) -> None:
    scores = exhaustive.scores(SQLI)
    assert scores["crs"] > 0
    assert scores["rampart"] > 0
    assert exhaustive.inspect(SQLI).score == max(scores.values()) < sum(scores.values())


def test_crs_is_skipped_once_the_yaml_rules_decide(native: CombinedEngine) -> None:
    verdict = native.inspect(SQLI)
    assert verdict.flagged
    assert verdict.engine == "native"
    assert {m.ruleset for m in verdict.matches} == {"rampart"}
    assert native.scores(SQLI)["crs"] >= 5  # CRS would have flagged it too: same outcome


def test_benign_requests_pass(native: CombinedEngine) -> None:
    for request in (
        get("/api/products?category=shoes"),
        post("/api/comments", json.dumps({"text": "these shoes fit well"}).encode(), "application/json"),
    ):
        verdict = native.inspect(request)
        assert not verdict.flagged, verdict.matches


def test_yaml_bodies_pass_crs_content_type_policy_in_native_only(
    native: CombinedEngine, crs_dir: Path
) -> None:
    """CRS refuses unlisted body types (920420); the native engine's setup lists YAML."""
    document = post("/api/import", b"name: shoes\nsize: 42\n", "application/yaml")
    assert not native.inspect(document).flagged
    plain = SecLangEngine(EngineSettings())
    try:
        assert "920420" in plain.inspect(document).rule_ids
    finally:
        plain.close()
    attack = post("/api/import", b"!!python/object/apply:os.system ['id']\n", "application/yaml")
    assert native.inspect(attack).flagged


def test_crs_settings_use_the_native_setup_only_for_the_default_layout(crs_dir: Path) -> None:
    assert crs_settings(EngineSettings()).crs_setup == str(NATIVE_SETUP)
    mine = EngineSettings(crs_setup="/etc/modsecurity/crs/crs-setup.conf")
    assert crs_settings(mine) == mine
    elsewhere = EngineSettings(crs_dir="/somewhere/crs")
    assert crs_settings(elsewhere) == elsewhere


def test_paranoia_applies_to_both_rule_sets(native: CombinedEngine, crs_dir: Path) -> None:
    assert native.rules.settings.paranoia == native.crs.settings.paranoia == 1
    high = CombinedEngine(EngineSettings(paranoia=3))
    try:
        assert high.crs.settings.paranoia == high.rules.settings.paranoia == 3
        assert high.rules.active_rule_count > native.rules.active_rule_count
        assert high.crs.rule_count == native.crs.rule_count  # CRS skips rules by its own tx variable
        request = get("/x?a=%3Ca%20href=x%3E")  # any tag: scored only above paranoia 1, in both
        assert native.scores(request) == {"rampart": 0, "crs": 0}
        assert all(score > 0 for score in high.scores(request).values())
    finally:
        high.close()


def test_confirmation_drops_crs_matches_on_prose(native: CombinedEngine, confirming: CombinedEngine) -> None:
    for request, family, rule in ((PROSE_SQL, "sqli", "942"), (PROSE_SHELL, "rce", "932")):
        assert native.inspect(request).flagged  # CRS's known false positives
        verdict = confirming.inspect(request)
        assert not verdict.flagged
        dropped = [m for m in verdict.matches if m.rule_id.startswith(rule)]
        assert dropped
        assert all(m.score == 0 and UNCONFIRMED_TAG in m.tags for m in dropped)
        assert confirming.unconfirmed[family] >= 1


def test_confirmation_keeps_code(confirming: CombinedEngine) -> None:
    for request in (
        SQLI,
        get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"),
        get("/api/checksum?file=a.txt;cat%20/etc/passwd"),
    ):
        verdict = confirming.inspect(request)
        assert verdict.flagged
        assert confirming.scores(request)["crs"] >= 5  # CRS counts on its own, confirmed
        assert not [m for m in verdict.matches if UNCONFIRMED_TAG in m.tags]


def test_confirmation_leaves_other_families_alone(confirming: CombinedEngine) -> None:
    assert confirming.scores(SPLITTING)["crs"] >= 5


@pytest.mark.parametrize(
    ("family", "value", "code"),
    [
        ("sqli", "1' or '1'='1", True),
        ("sqli", "1 union select 1,2", True),
        ("sqli", "union was a great select", False),
        ("sqli", "(69 + 71) * 6", False),
        ("sqli", "O'Brien's notes", False),
        ("xss", "<script>alert(1)</script>", True),
        ("xss", "<img src=x onerror=alert(1)>", True),
        ("xss", "a < b and <b>bold</b>", False),
        ("rce", ";cat /etc/passwd", True),
        ("rce", "$(id)", True),
        ("rce", "a';id;'", True),  # breaks out of single quotes
        ("rce", 'a";id;"', True),  # and out of double quotes
        ("rce", "echo in the mirror", False),
        ("rce", "cat and dog", False),
    ],
)
def test_looks_like_code(family: str, value: str, code: bool) -> None:
    assert looks_like_code(family, value) is code


def test_unknown_confirm_family_is_refused_with_the_choices() -> None:
    assert confirms([" SQLI ", "rce"]) == {"942": "sqli", "932": "rce"}
    with pytest.raises(UnknownConfirmError, match=r"'lfi'.*any of: sqli, xss, rce"):
        confirms(["lfi"])
    with pytest.raises(UnknownConfirmError):
        CombinedEngine(EngineSettings(confirm=("ssrf",)))


def test_gateway_settings_carry_confirm_and_refuse_unknown_families() -> None:
    settings = load_settings(None, upstream="http://127.0.0.1:9", engine={"confirm": ["sqli", "xss"]})
    assert settings.engine_settings().confirm == ("sqli", "xss")
    with pytest.raises(ConfigError, match="confirm"):
        load_settings(None, upstream="http://127.0.0.1:9", engine={"confirm": ["nosuch"]})


def test_values_at_finds_the_value_a_crs_match_names() -> None:
    body = json.dumps({"a": {"b": "deep"}, "list": ["zero"], "text": "t"}).encode()
    request = RawRequest(
        "POST",
        "/p?id=7&q=x",
        (*HEADERS, ("Content-Type", "application/json"), ("Cookie", "sid=abc")),
        body,
    )
    targets = parse_request(request, ParseLimits()).targets
    assert values_at(targets, "ARGS:id") == ["7"]
    assert values_at(targets, "ARGS_GET:q") == ["x"]
    assert values_at(targets, "ARGS:json.a.b") == ["deep"]
    assert values_at(targets, "ARGS:json.list.0") == ["zero"]
    assert values_at(targets, "REQUEST_HEADERS:User-Agent") == ["Mozilla/5.0 (X11; Linux x86_64)"]
    assert values_at(targets, "REQUEST_COOKIES:sid") == ["abc"]
    assert values_at(targets, "ARGS_NAMES:whatever") == ["whatever"]
    everything = values_at(targets, "TX:unknown")
    assert {"7", "x", "deep", "zero", "t"} <= set(everything)


def test_a_failed_rule_set_leaves_the_other_deciding(native: CombinedEngine, crs_dir: Path) -> None:
    broken = SecLangEngine(native.settings)
    broken.close()  # a closed SecLang engine fails open on every request
    engine = CombinedEngine(native.settings, crs=broken, rules=native.rules, exhaustive=True)
    verdict = engine.inspect(SQLI)
    assert verdict.error is None
    assert verdict.flagged  # the YAML rules still block
    assert "crs.error" in verdict.rule_ids
    unseen = engine.inspect(SPLITTING)  # CRS's alone to catch: allowed, the failure listed
    assert unseen.error is None
    assert not unseen.flagged
    assert "crs.error" in unseen.rule_ids
    assert engine.failures == {"crs": 2, "rampart": 0}


def test_a_closed_engine_fails_open(crs_dir: Path, native: CombinedEngine) -> None:
    engine = CombinedEngine(
        native.settings, crs=SecLangEngine(native.settings), rules=RulesEngine(native.settings)
    )
    engine.close()
    verdict = engine.inspect(SQLI)
    assert verdict.error is not None
    assert not verdict.flagged


def test_confirmation_counts_a_match_it_cannot_place_among_many_values() -> None:
    from rampart.gateway.model import RuleMatch

    query = "&".join(f"p{i}=plain%20words" for i in range(100))
    targets = parse_request(get("/x?" + query), ParseLimits()).targets
    unplaced = RuleMatch("942190", "sql_injection", "m", "critical", 5, "TX:somewhere", "x")
    assert CombinedEngine._code_at("sqli", targets, unplaced, {})  # 100 places: counted unexamined
    few = parse_request(get("/x?p=plain%20words"), ParseLimits()).targets
    assert not CombinedEngine._code_at("sqli", few, unplaced, {})  # one place, examined: prose


# --- path traversal (930100/930110), PHP (933) and CRS's Windows command rules -----------------

ALL_CONFIRMED = ("sqli", "rce", "path", "php", "attr")


@pytest.fixture(scope="module")
def confirming_all(native: CombinedEngine) -> CombinedEngine:
    """The same rule sets with the gateway's default confirmation, CRS always run."""
    return CombinedEngine(
        replace(native.settings, confirm=ALL_CONFIRMED), crs=native.crs, rules=native.rules, exhaustive=True
    )


@pytest.mark.parametrize(
    "target",
    [
        "/api/files?name=guides/../returns.md",  # stays inside its start
        "/api/preview?url=http://partner.lab.test/a/../products",  # inside the host's root
        "/api/files?name=docs/2024/../2025/report.pdf",
    ],
)
def test_path_confirmation_lets_dot_segments_that_stay_inside_pass(
    native: CombinedEngine, confirming_all: CombinedEngine, target: str
) -> None:
    request = get(target)
    assert native.scores(request)["crs"] >= 5  # CRS 930100/930110 on their own
    verdict = confirming_all.inspect(request)
    assert not verdict.flagged
    dropped = [m for m in verdict.matches if m.rule_id in ("930100", "930110")]
    assert dropped
    assert all(m.score == 0 and UNCONFIRMED_TAG in m.tags for m in dropped)


@pytest.mark.parametrize(
    "target",
    [
        "/api/files?name=../../etc/passwd",
        "/api/files?name=..%252f..%252fetc%252fpasswd",  # double encoded
        "/api/files?name=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/files?name=....//....//etc/passwd",  # a naive filter that strips ../ once
        "/api/files?name=..%5c..%5cwindows%5cwin.ini",  # Windows separators
        "/api/files?name=%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",  # overlong UTF-8
        "/api/files?name=%uff0e%uff0e%u2215%uff0e%uff0e%u2215etc",  # IIS %u, fullwidth dots
        "/api/files?name=/var/www/images/../../../etc/passwd",  # absolute, lands in /etc
        "/api/preview?url=file:///var/www/../../etc/passwd",
        "/api/files?name=a/..;/..;/etc/passwd",  # Tomcat path parameters
        "/api/files?name=guides/../returns.md&other=../../etc/shadow",  # one value climbs
        "/api/files?name=%EF%BC%8E%EF%BC%8E%C0%AFsecret%C0%AEtxt",  # fullwidth dots, overlong '/'
    ],
)
def test_path_confirmation_keeps_every_escape(confirming_all: CombinedEngine, target: str) -> None:
    request = get(target)
    assert confirming_all.scores(request)["crs"] >= 5
    verdict = confirming_all.inspect(request)
    assert verdict.flagged
    assert not [m for m in verdict.matches if m.rule_id.startswith("930") and UNCONFIRMED_TAG in m.tags]


@pytest.mark.parametrize(
    ("value", "escapes_"),
    [
        ("../../etc/passwd", True),
        ("..", True),
        ("/???/??t", True),  # '?' may be a dot, as CRS 930100 reads it
        ("http://h/a/../../../etc/passwd", True),  # above the host's root
        ("c:\\inetpub\\..\\windows\\win.ini", True),
        ("&#46;&#46;/&#46;&#46;/etc", True),
        ("guides/../returns.md", False),
        ("http://partner.lab.test/a/../products", False),
        ("/api/files?name=guides/../returns.md", False),
        ("what?/x", False),
    ],
)
def test_escapes(value: str, escapes_: bool) -> None:
    from rampart.gateway.engines.native.traversal import escapes

    assert escapes(value) is escapes_


def test_php_confirmation_lets_arithmetic_pass_and_keeps_calls(
    native: CombinedEngine, confirming_all: CombinedEngine
) -> None:
    arithmetic = get("/api/calc?expr=(1%20%2B%202)%20*%20(3%20%2B%204)")  # CRS 933210
    assert native.scores(arithmetic)["crs"] >= 5
    verdict = confirming_all.inspect(arithmetic)
    assert not verdict.flagged
    assert any(m.rule_id == "933210" and UNCONFIRMED_TAG in m.tags for m in verdict.matches)
    for target in (
        "/api/calc?expr=(system)(%22id%22)",  # a variable function call
        "/x?a=%3C%3Fphp%20system(%24_GET%5B1%5D)%3B",  # an open tag
    ):
        assert confirming_all.inspect(get(target)).flagged


def test_windows_rules_do_not_take_a_backquote_for_a_command(
    native: CombinedEngine, confirming_all: CombinedEngine
) -> None:
    comment = post(
        "/api/comments",
        json.dumps({"text": "`SELECT * FROM reviews` is how I'd rate this: 5/5", "author": "F"}).encode(),
        "application/json",
    )
    assert native.scores(comment)["crs"] >= 5  # CRS 932115, Windows command injection
    verdict = confirming_all.inspect(comment)
    assert not verdict.flagged
    assert any(m.rule_id == "932115" and UNCONFIRMED_TAG in m.tags for m in verdict.matches)
    for target in (
        "/x?foo=for%20%2ff%20%22usebackq%22%20%25v%20in%20(%60command%60)%20do%20command",  # cmd runs it
        "/x?foo=a%26net%20user",  # an operator cmd knows
        "/x?foo=%60whoami%60",  # a Unix command substitution
    ):
        assert confirming_all.inspect(get(target)).flagged, target


@pytest.mark.parametrize(
    ("family", "value", "code"),
    [
        ("php", "(1 + 2) * (3 + 4)", False),
        ("php", "(system)('id')", True),
        ("rce-windows", "`SELECT * FROM reviews` is how I'd rate this", False),
        ("rce-windows", 'for /f "usebackq" %v in (`command`) do command', True),
        ("rce-windows", "a;net user", True),
        ("path", "guides/../returns.md", False),
        ("path", "../../etc/passwd", True),
    ],
)
def test_looks_like_code_new_readings(family: str, value: str, code: bool) -> None:
    assert looks_like_code(family, value) is code


def test_a_rule_matched_at_several_places_loses_all_its_points_only_when_none_is_code(
    confirming_all: CombinedEngine,
) -> None:
    # CRS adds 930100's and 930110's points for the argument and for the URI: 20 in all
    stays_inside = get("/api/files?name=guides/../returns.md")
    assert confirming_all.scores(stays_inside)["crs"] == 0
    targets = parse_request(stays_inside, ParseLimits()).targets
    assert len(places_of(targets, "/../")) == 2  # the URI and the argument
    # the URI climbs while the argument stays inside: the rule counts
    climbing = get("/static/../../../etc/passwd?name=guides/../returns.md")
    assert confirming_all.inspect(climbing).flagged


def test_new_confirm_names_are_accepted_and_validated() -> None:
    assert confirms(["path", "php"]) == {"930100": "path", "930110": "path", "933": "php"}
    settings = load_settings(None, upstream="http://127.0.0.1:9", engine={"confirm": ["path", "php"]})
    assert settings.engine_settings().confirm == ("path", "php")
    with pytest.raises(UnknownConfirmError, match=r"'lfi'.*any of: sqli, xss, rce, path, php, attr"):
        confirms(["lfi"])


def test_attribute_confirmation_lets_prose_that_starts_like_an_attribute_pass(
    native: CombinedEngine, confirming_all: CombinedEngine
) -> None:
    body = json.dumps({"text": "onload= is an attribute name, right?", "author": "U"}).encode()
    prose = post("/api/comments", body, "application/json")
    assert native.scores(prose)["crs"] >= 5  # libinjection, 941100
    verdict = confirming_all.inspect(prose)
    assert not verdict.flagged
    assert any(m.rule_id == "941100" and UNCONFIRMED_TAG in m.tags for m in verdict.matches)


@pytest.mark.parametrize(
    "text",
    [
        '" onmouseover="alert(1)',  # out of a double-quoted value
        "' autofocus onfocus=alert`1` x='",  # out of a single-quoted value
        "x onerror=alert(1)",  # out of an unquoted value
        '"onzoom=',  # a handler the page's own text completes
        "%22%20onmouseover%3D%22alert(1)",  # percent-encoded
        "&quot; onmouseover=&quot;alert(1)",  # entity-encoded
        "<svg onload=alert(1)>",  # markup: not judged by the attribute reading, counts
    ],
)
def test_attribute_confirmation_keeps_attribute_injection(confirming_all: CombinedEngine, text: str) -> None:
    body = json.dumps({"text": text, "author": "M"}).encode()
    verdict = confirming_all.inspect(post("/api/comments", body, "application/json"))
    assert verdict.flagged
    assert not [m for m in verdict.matches if m.rule_id == "941100" and UNCONFIRMED_TAG in m.tags]


@pytest.mark.parametrize(
    ("value", "script"),
    [
        ("onload= is an attribute name, right?", False),  # the handler's code is the name `is`
        ("hello world", False),
        ('I said "onload is fine"', False),
        ('" onmouseover="alert(1)', True),
        ("onerror=alert", True),  # left open: the page completes it
        ('pay=div style="', True),  # a style left open
        ("javascript:alert(1)", True),  # a whole script URL, for an href
        ("a href=javascript:alert(1)", True),
    ],
)
def test_runs_script(value: str, script: bool) -> None:
    from rampart.gateway.engines.native.attributes import runs_script

    assert runs_script(value) is script


def test_gateway_default_confirms_every_family_that_keeps_its_exploits() -> None:
    settings = load_settings(None, upstream="http://127.0.0.1:9")
    assert settings.engine_settings().confirm == ("sqli", "rce", "path", "php", "attr")


def test_attribute_reading_decodes_layers_before_looking_for_markup() -> None:
    from rampart.gateway.engines.native.attributes import runs_script

    assert runs_script("%253Cscript%253Ealert(1)%253C/script%253E")  # double encoded markup
    assert runs_script("&amp;lt;svg onload=x&amp;gt;")
