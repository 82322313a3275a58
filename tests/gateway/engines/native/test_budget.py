"""The native engine's inspection budget, and its safety under concurrent calls."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from rampart.gateway.config import ConfigError, load_settings
from rampart.gateway.decision import decide
from rampart.gateway.engines.native.budget import BUDGET_RULE_ID
from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.engines.native.parsing import ParseLimits, parse_request
from rampart.gateway.model import EngineSettings, RawRequest, Verdict


def _request(
    body: bytes, *, target: str = "/api/search", content_type: str = "application/json"
) -> RawRequest:
    return RawRequest(
        method="POST",
        target=target,
        headers=(("Host", "lab"), ("Content-Type", content_type), ("Content-Length", str(len(body)))),
        body=body,
    )


def _heavy() -> RawRequest:
    """1 MiB of ``%25``: each group's URL decoding runs several rounds over the whole value."""
    return _request(b"q=" + b"%25" * ((1 << 20) // 3 - 1), content_type="application/x-www-form-urlencoded")


@cache
def _rules_engine() -> NativeEngine:
    return NativeEngine(EngineSettings(mode="block", budget_ms=0))


def _engine(**settings: object) -> NativeEngine:
    return NativeEngine(EngineSettings(**settings), rules=_rules_engine().rules)  # type: ignore[arg-type]


def test_an_inspection_past_its_budget_stops_and_blocks_in_block_mode() -> None:
    verdict = _engine(mode="block", budget_ms=1).inspect(_heavy())
    assert verdict.error is None
    assert verdict.budget_exceeded
    assert verdict.flagged
    assert decide([verdict], mode="block", harness=False).blocked
    assert BUDGET_RULE_ID in verdict.rule_ids
    match = next(m for m in verdict.matches if m.rule_id == BUDGET_RULE_ID)
    assert match.score == verdict.threshold
    assert "budget 1 ms" in match.message


def test_over_budget_allow_lets_the_request_through_with_the_flag() -> None:
    verdict = _engine(mode="block", budget_ms=1, over_budget="allow").inspect(_heavy())
    assert verdict.budget_exceeded
    assert not verdict.flagged
    assert [(m.rule_id, m.score) for m in verdict.matches] == [(BUDGET_RULE_ID, 0)]


def test_detect_mode_reports_an_over_budget_request_as_detect() -> None:
    verdict = _engine(mode="detect", budget_ms=1).inspect(_heavy())
    assert verdict.budget_exceeded
    assert decide([verdict], mode="detect", harness=False).decision == "detect"


def test_a_zero_budget_means_no_budget_and_the_default_fits_ordinary_requests() -> None:
    unlimited = _engine(mode="block", budget_ms=0).inspect(_heavy())
    assert not unlimited.budget_exceeded
    assert BUDGET_RULE_ID not in unlimited.rule_ids
    ordinary = _request(json.dumps({"q": "blue shoes", "page": 2, "tags": ["a", "b"]}).encode())
    verdict = _engine(mode="block").inspect(ordinary)
    assert not verdict.budget_exceeded
    assert not verdict.flagged


def test_the_budget_cuts_the_inspection_short() -> None:
    """Stopping is cooperative: the budgeted run ends after the call in progress, well before
    the full inspection (a generous ratio, not a time)."""
    full = _engine(mode="block", budget_ms=0).inspect(_heavy())
    cut = _engine(mode="block", budget_ms=1).inspect(_heavy())
    assert cut.elapsed_us < full.elapsed_us


_SAMPLES = (
    _request(b"", target="/api/orders?id=1%20OR%201=1"),
    _request(b"", target="/api/orders?id=42"),
    _request(json.dumps({"comment": "<img src=x onerror=alert(1)>"}).encode()),
    _request(json.dumps({"comment": "I liked the <b>bold</b> part"}).encode()),
    _request(b"url=http%3A%2F%2F169.254.169.254%2Flatest", content_type="application/x-www-form-urlencoded"),
    _request(b"file=..%2F..%2Fetc%2Fpasswd", content_type="application/x-www-form-urlencoded"),
    _request(json.dumps({"q": "x" * 20_000 + "' union select password from users--"}).encode()),
    _request(json.dumps({"q": "<a" * 10_000}).encode()),
)


def _summary(verdict: Verdict) -> tuple[bool, tuple[str, ...], str | None]:
    return verdict.flagged, tuple(sorted(verdict.rule_ids)), verdict.error


def test_concurrent_calls_give_the_verdicts_of_serial_calls() -> None:
    engine = _engine(mode="block", budget_ms=0)
    assert engine.thread_safe is True
    expected = [_summary(engine.inspect(r)) for r in _SAMPLES]
    assert {e[0] for e in expected} == {False, True}
    results: dict[tuple[int, int], tuple[bool, tuple[str, ...], str | None]] = {}
    barrier = threading.Barrier(4)

    def work(worker: int) -> None:
        barrier.wait()
        for round_ in range(6):
            for index in range(len(_SAMPLES)):
                slot = (index + worker + round_) % len(_SAMPLES)  # threads hit different requests
                results[(worker * 1000 + round_, slot)] = _summary(engine.inspect(_SAMPLES[slot]))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 4 * 6 * len(_SAMPLES)
    for (_, slot), summary in results.items():
        assert summary == expected[slot], _SAMPLES[slot].target


def test_the_budget_comes_from_the_gateway_config_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[engine]\nbudget_ms = 40\nover_budget = "allow"\n', encoding="utf-8")
    engine_settings = load_settings(config, upstream="http://127.0.0.1:9").engine_settings()
    assert (engine_settings.budget_ms, engine_settings.over_budget) == (40.0, "allow")
    defaults = load_settings(None, upstream="http://127.0.0.1:9").engine_settings()
    assert (defaults.budget_ms, defaults.over_budget) == (250.0, "block")


@pytest.mark.parametrize(("key", "value"), [("budget_ms", "-1"), ("over_budget", '"maybe"')])
def test_a_bad_budget_setting_names_the_file_and_the_key(tmp_path: Path, key: str, value: str) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f"[engine]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"(?s)engine\.{key}.*gateway\.toml|gateway\.toml.*engine\.{key}"):
        load_settings(config, upstream="http://127.0.0.1:9")


class _Stop(Exception):
    pass


def _counting_check(stop_after: int | None = None) -> tuple[list[int], Callable[[], None]]:
    calls = [0]

    def check() -> None:
        calls[0] += 1
        if stop_after is not None and calls[0] >= stop_after:
            raise _Stop

    return calls, check


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (json.dumps({"k": [f"v{i}" for i in range(3000)]}).encode(), "application/json"),
        ("&".join(f"k{i}=v" for i in range(3000)).encode(), "application/x-www-form-urlencoded"),
        (("<r>" + "<i>v</i>" * 3000 + "</r>").encode(), "application/xml"),
    ],
    ids=["json", "form", "xml"],
)
def test_parsing_checks_the_deadline_while_it_reads_many_values(body: bytes, content_type: str) -> None:
    """The deadline is consulted between stages and every few hundred values, and what it
    raises stops parsing: a large body's parse no longer runs whole before the first check."""
    request = _request(body, content_type=content_type)
    calls, check = _counting_check()
    parsed = parse_request(request, ParseLimits(), check)
    assert calls[0] >= 6  # stages, then once per 256 values (the readers stop at 4,096 targets)
    assert parse_request(request, ParseLimits()) == parsed  # the check changes nothing else
    stopped, stopping = _counting_check(stop_after=5)
    with pytest.raises(_Stop):
        parse_request(request, ParseLimits(), stopping)
    assert stopped[0] == 5


def test_an_expired_deadline_stops_the_engine_in_parsing_before_any_rule() -> None:
    """A budget already spent when inspection starts (a tiny one) is noticed while parsing:
    only the budget match, no rule; the verdict blocks in block mode."""
    body = json.dumps({"q": "' union select password from users--", "n": list(range(2000))}).encode()
    verdict = _engine(mode="block", budget_ms=1e-9).inspect(_request(body))
    assert verdict.budget_exceeded
    assert verdict.rule_ids == (BUDGET_RULE_ID,)
    assert verdict.flagged


def test_garbage_collection_in_the_inspecting_thread_does_not_count_against_the_budget() -> None:
    """A collection runs in whichever thread allocates when a threshold is crossed: its CPU
    time is not the request's. Here collections alone spend more than a 1 ms budget (each loop
    below runs until the CPU clock says so; nothing is timed against a limit)."""
    from rampart.gateway.engines.native.budget import Deadline, OverBudget

    garbage = [[i] for i in range(200_000)]  # containers for the collector to walk
    deadline = Deadline(1.0)
    cpu_start = time.thread_time()
    while time.thread_time() - cpu_start < 0.005:
        gc.collect()
    while time.perf_counter() <= deadline.wall_end:
        time.sleep(0.001)
    deadline.check()  # 5 ms of CPU spent, all of it collecting: within budget
    while not deadline.spent_over():  # now the request's own CPU time
        pass
    with pytest.raises(OverBudget):
        deadline.check()
    assert len(garbage) == 200_000
