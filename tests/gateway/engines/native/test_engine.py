"""The native engine: anomaly scoring, threshold, paranoia, modes, exclusions, protocol signals,
fail-open, rule-file errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest

from rampart.gateway.engines.native import engine as engine_module
from rampart.gateway.engines.native import operators
from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.engines.native.exclusions import ExclusionError, load_exclusions
from rampart.gateway.engines.native.ruleset import (
    Example,
    RuleLoadError,
    RuleSpec,
    example_request,
    load_rule_file,
    load_rule_set,
    load_rules,
)
from rampart.gateway.model import EngineSettings, RawRequest, Verdict

TOY_RULES = """\
class: sql_injection
id_range: [3000, 3999]
rules:
  - id: 3901
    message: critical word
    severity: critical
    tags: [t]
    targets: [ARGS]
    transformations: [lowercase]
    operator: rx
    argument: 'boom'
  - id: 3902
    message: warning word
    severity: warning
    tags: [t]
    targets: [ARGS]
    operator: rx
    argument: 'warn'
  - id: 3903
    message: paranoid word
    severity: notice
    paranoia: 2
    tags: [t]
    targets: [ARGS]
    operator: rx
    argument: 'para'
  - id: 3904
    message: header word
    severity: error
    tags: [t]
    targets: ["REQUEST_HEADERS:x-test"]
    operator: pm
    argument: [zap]
"""


def _get(query: str, headers: tuple[tuple[str, str], ...] = ()) -> RawRequest:
    return RawRequest(method="GET", target=f"/api/comments?{query}", headers=(("Host", "lab.test"), *headers))


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "toy.yaml").write_text(TOY_RULES)
    return folder


def _engine(toy_dir: Path, **kw: Any) -> NativeEngine:
    return NativeEngine(EngineSettings(rules_dir=str(toy_dir), shipped_rules=False, **kw))


@pytest.mark.parametrize(
    ("query", "mode", "threshold", "paranoia", "flagged", "score", "rules"),
    [
        ("q=hello", "block", 5, 1, False, 0, ()),
        ("q=BOOM", "block", 5, 1, True, 5, ("3901",)),
        ("q=BOOM", "detect", 5, 1, True, 5, ("3901",)),  # the mode is not the engine's business
        ("q=warn", "block", 5, 1, False, 3, ("3902",)),
        ("q=warn+boom", "block", 5, 1, True, 8, ("3901", "3902")),
        ("q=warn&r=warn", "block", 5, 1, False, 3, ("3902",)),
        ("q=para", "block", 5, 1, False, 0, ()),
        ("q=para", "block", 2, 2, True, 2, ("3903",)),
        ("q=boom", "block", 6, 1, False, 5, ("3901",)),
    ],
)
def test_scoring_threshold_paranoia_mode(
    toy_dir: Path,
    query: str,
    mode: Any,
    threshold: int,
    paranoia: int,
    flagged: bool,
    score: int,
    rules: tuple[str, ...],
) -> None:
    verdict = _engine(toy_dir, mode=mode, threshold=threshold, paranoia=paranoia).inspect(_get(query))
    assert (verdict.flagged, verdict.score, tuple(sorted(verdict.rule_ids))) == (flagged, score, rules)
    assert verdict.engine == "native"
    assert verdict.threshold == threshold
    assert verdict.error is None


def test_match_carries_target_and_matched_text(toy_dir: Path) -> None:
    verdict = _engine(toy_dir).inspect(_get("comment=ka-boom", (("X-Test", "zapper"),)))
    by_id = {m.rule_id: m for m in verdict.matches}
    assert by_id["3901"].target == "ARGS_GET:comment"
    assert by_id["3901"].matched == "boom"
    assert by_id["3901"].attack_class == "sql_injection"
    assert by_id["3901"].score == 5
    assert by_id["3904"].target == "REQUEST_HEADERS:x-test"
    assert by_id["3904"].severity == "error"
    assert verdict.elapsed_us > 0


EXCLUSIONS = """\
exclusions:
  - route: /api/comments
    targets: ["ARGS:text"]
    rule_ids: [3901]
  - route: /api/chat
    methods: [POST]
    classes: [sql_injection]
"""


@pytest.mark.parametrize(
    ("method", "target", "fires"),
    [
        ("GET", "/api/comments?text=boom", False),
        ("GET", "/api/comments/7?text=boom", False),
        ("GET", "/api/comments?other=boom", True),
        ("GET", "/api/commentsx?text=boom", True),
        ("POST", "/api/chat?q=boom", False),
        ("GET", "/api/chat?q=boom", True),
        ("GET", "/api/orders?text=boom", True),
    ],
)
def test_exclusions(toy_dir: Path, tmp_path: Path, method: str, target: str, fires: bool) -> None:
    path = tmp_path / "exclusions.yaml"
    path.write_text(EXCLUSIONS)
    engine = NativeEngine(
        EngineSettings(rules_dir=str(toy_dir), shipped_rules=False, exclusions_file=str(path))
    )
    verdict = engine.inspect(RawRequest(method=method, target=target, headers=()))
    assert ("3901" in verdict.rule_ids) is fires


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("exclusions:\n  - route: /x\n", "rule_ids or classes"),
        ("exclusions:\n  - route: /x\n    classes: [nope]\n", "unknown class 'nope'"),
        ("exclusions:\n  - route: x\n    rule_ids: [1]\n", "route"),
        ("exclusions:\n  - route: /x\n    rule_ids: [1]\n    targets: [NOPE]\n", "unknown target collection"),
    ],
)
def test_bad_exclusions_name_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "ex.yaml"
    path.write_text(text)
    with pytest.raises(ExclusionError) as err:
        load_exclusions(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)
    assert "Fix" in str(err.value)


@pytest.fixture(scope="module")
def shipped() -> NativeEngine:
    return NativeEngine(EngineSettings(mode="block"))


@pytest.mark.parametrize(
    ("headers", "body", "rule"),
    [
        ((("Content-Type", "application/json"), ("Content-Type", "text/plain")), b'{"text": "hi"}', "1001"),
        (
            (
                ("Content-Type", "application/json"),
                ("Content-Length", "14"),
                ("Transfer-Encoding", "chunked"),
            ),
            b'{"text": "hi"}',
            "1002",
        ),
        ((("Content-Type", "application/json; charset=utf-16"),), '{"text": "hi"}'.encode("utf-16"), "1004"),
        ((("Content-Type", "application/json"),), b'{"text": "hi"', "1005"),
        ((("Content-Type", "application/json"),), b'{"text": "hi", "text": "<script>"}', "1006"),
    ],
)
def test_protocol_ambiguity_is_scored(
    shipped: NativeEngine, headers: tuple[tuple[str, str], ...], body: bytes, rule: str
) -> None:
    verdict = shipped.inspect(RawRequest(method="POST", target="/api/comments", headers=headers, body=body))
    assert rule in verdict.rule_ids
    assert "protocol" in verdict.attack_classes


def test_utf16_body_is_decoded_before_inspection(shipped: NativeEngine) -> None:
    body = '{"text": "<script>alert(1)</script>"}'.encode("utf-16")
    headers = (("Content-Type", "application/json; charset=utf-16"),)
    verdict = shipped.inspect(RawRequest(method="POST", target="/api/comments", headers=headers, body=body))
    assert {"1004", "7001"} <= set(verdict.rule_ids)
    assert verdict.flagged


def test_truncated_body_is_a_signal(shipped: NativeEngine) -> None:
    request = RawRequest(
        method="POST",
        target="/api/comments",
        headers=(("Content-Type", "text/plain"),),
        body=b"x",
        body_truncated=True,
    )
    verdict = shipped.inspect(request)
    assert "1010" in verdict.rule_ids
    assert not verdict.flagged


class _Broken:
    prefilter: tuple[str, ...] | None = None

    def __init__(self, argument: Any) -> None:
        del argument

    def match(self, value: str) -> str | None:
        raise RuntimeError("operator exploded")


def test_internal_error_fails_open(tmp_path: Path) -> None:
    operators.register("test_broken", _Broken)
    (tmp_path / "broken.yaml").write_text(
        "class: xss\nid_range: [7000, 7999]\nrules:\n  - id:"
        " 7900\n    message: broken\n    severity: critical\n"
        "    targets: [ARGS]\n    operator: test_broken\n"
    )
    engine = NativeEngine(EngineSettings(rules_dir=str(tmp_path), shipped_rules=False, mode="block"))
    verdict = engine.inspect(_get("q=<script>"))
    assert not verdict.flagged
    assert verdict.score == 0
    assert verdict.error is not None
    assert "operator exploded" in verdict.error


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("    operator: regex\n    argument: x\n", "unknown operator 'regex'"),
        ("    operator: rx\n    argument: '(unclosed'\n", "not a valid RE2 regex"),
        ("    operator: rx\n    argument: 'a*'\n", "matches the empty string"),
        ("    operator: rx\n    argument: x\n    transformations: [urldecode]\n", "unknown transformation"),
        ("    operator: rx\n    argument: x\n    severity: fatal\n", "severity"),
        ("    operator: rx\n    argument: x\n    targets: [ARGZ]\n", "unknown target collection"),
        ("    operator: rx\n    argument: x\n    paranoia: 7\n", "paranoia"),
        ("    operator: rx\n    argument: x\n    colour: red\n", "colour"),
    ],
)
def test_bad_rule_names_file_line_rule_and_fix(tmp_path: Path, rule: str, problem: str) -> None:
    fields = {"severity": "    severity: critical\n", "targets": "    targets: [ARGS]\n"}
    for key in list(fields):
        if f"    {key}:" in rule:
            del fields[key]
    text = (
        "class: xss\nid_range: [7000, 7999]\nrules:\n  - id: 7001\n    message: ok\n"
        "    severity: critical\n    targets: [ARGS]\n    operator: rx\n    argument: fine\n"
        "  - id: 7002\n    message: bad\n" + "".join(fields.values()) + rule
    )
    path = tmp_path / "xss.yaml"
    path.write_text(text)
    with pytest.raises(RuleLoadError) as err:
        load_rule_file(path)
    message = str(err.value)
    assert f"{path}:10: rule 7002" in message
    assert problem in message
    assert "Fix" in message


def test_rule_id_outside_file_range(tmp_path: Path) -> None:
    path = tmp_path / "xss.yaml"
    path.write_text(
        "class: xss\nid_range: [7000, 7999]\nrules:\n  - id: 3001\n    message: m\n"
        "    severity: notice\n    targets: [ARGS]\n    operator: rx\n    argument: x\n"
    )
    with pytest.raises(RuleLoadError, match=r"xss\.yaml:4: rule 3001: id 3001 is outside"):
        load_rule_file(path)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    rule = (
        "  - id: 3901\n    message: m\n    severity: notice\n"
        "    targets: [ARGS]\n    operator: rx\n    argument: x\n"
    )
    (tmp_path / "a.yaml").write_text("class: sql_injection\nid_range: [3000, 3999]\nrules:\n" + rule)
    (tmp_path / "b.yaml").write_text("class: sql_injection\nid_range: [3000, 3999]\nrules:\n" + rule)
    with pytest.raises(
        RuleLoadError, match=r"b\.yaml:4: rule 3901: duplicate id, already used at .*a\.yaml:4"
    ):
        load_rules(tmp_path)


def test_unreadable_rule_file(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("rules: [unclosed")
    with pytest.raises(RuleLoadError, match="cannot read rule file"):
        load_rules(tmp_path)
    with pytest.raises(RuleLoadError, match="rules folder not found"):
        load_rules(tmp_path / "missing")


@pytest.mark.parametrize(
    "request_",
    [
        RawRequest(method="", target="", headers=()),
        RawRequest(method="GET", target="/%", headers=(("Cookie", ";;=;"),)),
        RawRequest(
            method="POST",
            target="/?" + "&" * 1000,
            headers=(("Content-Type", "multipart/form-data; boundary="),),
            body=b"--\r\n\r\n",
        ),
        RawRequest(
            method="POST",
            target="/x",
            headers=(("Content-Type", "application/json; charset=bogus-cs"),),
            body=b"\xff" * 100,
        ),
    ],
)
def test_garbage_requests_never_error(shipped: NativeEngine, request_: RawRequest) -> None:
    assert shipped.inspect(request_).error is None


def test_inspect_from_several_threads(shipped: NativeEngine) -> None:
    request = _get("q=%27%20OR%20%271%27%3D%271")
    results: list[str] = []

    def work() -> None:
        for _ in range(50):
            verdict = shipped.inspect(request)
            results.append(str(verdict.flagged) if verdict.error is None else f"error {verdict.error}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["True"] * 200


# -- a team's own rule folder: added to the shipped rules, or replacing them ------------------

TEAM_RULE = """\
class: xss
id_range: [1, 99999]
rules:
  - id: {rule_id}
    message: team marker
    severity: critical
    tags: [team]
    targets: [ARGS]
    operator: contains
    argument: team-marker-42
"""


def _team_dir(tmp_path: Path, rule_id: int = 57001) -> Path:
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "team.yaml").write_text(TEAM_RULE.format(rule_id=rule_id))
    return folder


def test_rules_dir_adds_to_the_shipped_rules(tmp_path: Path) -> None:
    engine = NativeEngine(EngineSettings(rules_dir=str(_team_dir(tmp_path)), mode="block"))
    assert "57001" in engine.inspect(_get("q=team-marker-42")).rule_ids
    # the shipped rules still run beside the team's rule
    assert "3001" in engine.inspect(_get("q=%27%20OR%20%271%27%3D%271")).rule_ids
    shipped = len(load_rules())
    assert len(engine.rules) == shipped + 1


def test_shipped_rules_false_replaces_them(tmp_path: Path) -> None:
    engine = NativeEngine(EngineSettings(rules_dir=str(_team_dir(tmp_path)), shipped_rules=False))
    assert [r.spec.id for r in engine.rules] == [57001]
    assert engine.inspect(_get("q=%27%20OR%20%271%27%3D%271")).rule_ids == ()
    assert engine.inspect(_get("q=team-marker-42")).rule_ids == ("57001",)


def test_custom_rule_reusing_a_shipped_id_names_both_files_and_the_fix(tmp_path: Path) -> None:
    folder = _team_dir(tmp_path, rule_id=7001)
    with pytest.raises(RuleLoadError) as err:
        load_rule_set(folder)
    message = str(err.value)
    assert f"{folder / 'team.yaml'}:4: rule 7001: duplicate id, already used at " in message
    assert "rules/xss.yaml:" in message
    assert "shipped_rules = false" in message
    # replacing the shipped rules makes the same folder valid
    assert [r.spec.id for r in load_rule_set(folder, shipped=False)] == [7001]


def test_no_rules_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="no rules_dir is set"):
        load_rule_set(None, shipped=False)
    with pytest.raises(RuleLoadError, match="rules folder not found"):
        load_rule_set(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuleLoadError, match="no rules found"):
        load_rule_set(tmp_path / "empty")


def test_several_exclusion_files_and_seclang_ones_ignored_by_native(toy_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("exclusions:\n  - route: /api/comments\n    rule_ids: [3901]\n")
    second = tmp_path / "b.yml"
    second.write_text("exclusions:\n  - route: /api/comments\n    rule_ids: [3902]\n")
    seclang = tmp_path / "crs.conf"
    seclang.write_text("SecRuleRemoveById 942100\n")
    engine = NativeEngine(
        EngineSettings(
            rules_dir=str(toy_dir),
            shipped_rules=False,
            exclusions_file=str(first),
            exclusions=(str(second), str(seclang)),
        )
    )
    assert len(engine.exclusions.entries) == 2
    assert engine.inspect(_get("q=boom+warn")).rule_ids == ()
    assert "3901" in engine.inspect(RawRequest(method="GET", target="/other?q=boom", headers=())).rule_ids


def test_bad_exclusion_entry_names_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "ex.yaml"
    path.write_text("exclusions:\n  - route: /a\n    rule_ids: [1]\n  - route: /b\n    classes: [nope]\n")
    with pytest.raises(ExclusionError) as err:
        load_exclusions([path])
    assert f"{path}:4: exclusion 2: " in str(err.value)
    assert "unknown class 'nope'" in str(err.value)
    assert "Fix:" in str(err.value)


# -- the value cache: each value's pre-filter hits are kept across requests -------------------


def _every_rule() -> NativeEngine:
    return NativeEngine(EngineSettings(mode="block", paranoia=4, budget_ms=0))


def _seen(verdict: Verdict) -> list[tuple[str, str, str, int]]:
    return [(m.rule_id, m.target, m.matched, m.score) for m in verdict.matches]


def test_a_value_known_from_a_header_is_still_scanned_as_an_argument() -> None:
    """Fewer rule groups read headers than arguments: a value first seen in a header has a
    record for those groups only, and the others still scan it when it comes as an argument."""
    payload = "1 union select null,null from information_schema.tables"
    request = _get("q=" + quote(payload))
    expected = _seen(_every_rule().inspect(request))
    assert {"3002", "3004"} <= {rule for rule, *_ in expected}
    engine = _every_rule()
    engine.inspect(_get("q=x", headers=(("X-Note", payload),)))
    assert _seen(engine.inspect(request)) == expected


def test_rule_examples_give_the_same_verdicts_cold_and_warm() -> None:
    """Every rule example inspected in order, again with every value known, and in reverse
    order by another engine: the same matches (rule, target, matched text, score) each time."""
    requests = [example_request(e[1], e[2]) for e in _rule_examples()]
    engine = _every_rule()
    cold = [_seen(engine.inspect(r)) for r in requests]
    warm = [_seen(engine.inspect(r)) for r in requests]
    other = _every_rule()
    backwards = [_seen(other.inspect(r)) for r in reversed(requests)][::-1]
    assert sum(1 for seen in cold if seen) > 100  # the examples do fire
    assert warm == cold
    assert backwards == cold


def test_the_value_cache_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "_VALUE_ENTRIES", 8)
    engine = _every_rule()
    attack = _get("q=" + quote("' or '1'='1"))
    first = _seen(engine.inspect(attack))
    assert first
    for n in range(50):
        assert not engine.inspect(_get(f"q=plain{n}&r=value{n}")).matches
        assert len(engine._values) <= 8
    assert _seen(engine.inspect(attack)) == first


def _rule_examples() -> Iterator[tuple[str, RuleSpec, Example]]:
    for rule in load_rules():
        for example in (*rule.spec.examples.attack, *rule.spec.examples.benign):
            yield str(rule.spec.id), rule.spec, example


class _Counting:
    """An operator that counts its calls: pre-filter ``x``, matches ``xx``."""

    prefilter: tuple[str, ...] | None = ("x",)
    calls: ClassVar[list[str]] = []

    def __init__(self, argument: Any) -> None:
        del argument

    def match(self, value: str) -> str | None:
        _Counting.calls.append(value)
        return None if "xx" not in value else "xx"


def test_an_operator_refusal_is_kept_per_rule_and_value(tmp_path: Path) -> None:
    """A value the pre-filter flags and the operator refuses is judged once (a session id
    that looks like SQL to the pre-filter); other values, and the same value for another
    rule, are still judged, and a value that matches fires every time."""
    operators.register("test_counting", _Counting, replace=True)
    (tmp_path / "count.yaml").write_text(
        "class: xss\nid_range: [7000, 7999]\nrules:\n"
        + "".join(
            f"  - id: {rule}\n    message: counting\n    severity: critical\n"
            "    targets: [ARGS, REQUEST_COOKIES]\n    operator: test_counting\n"
            for rule in (7901, 7902)
        )
    )
    engine = NativeEngine(EngineSettings(rules_dir=str(tmp_path), shipped_rules=False, mode="block"))
    _Counting.calls.clear()
    for _ in range(3):
        assert not engine.inspect(_get("q=box", headers=(("Cookie", "sid=x1"),))).matches
    assert sorted(_Counting.calls) == ["box", "box", "x1", "x1"]  # each value once per rule
    _Counting.calls.clear()
    for _ in range(2):
        verdict = engine.inspect(_get("q=boxx", headers=(("Cookie", "sid=x1"),)))
        assert verdict.rule_ids == ("7901", "7902")
        assert [m.target for m in verdict.matches] == ["ARGS_GET:q", "ARGS_GET:q"]
    assert _Counting.calls == ["boxx", "boxx"] * 2  # a match is never cached
