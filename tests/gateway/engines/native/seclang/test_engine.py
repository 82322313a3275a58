"""The ``seclang`` engine on Debian's CRS 3.3.4: registered by name, verdicts shaped like the
``crs`` engine's, the same fired rules on a handful of framings, thread-safe, fails open."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rampart.gateway.engines import create_engine
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.model import EngineSettings, RawRequest

pytestmark = pytest.mark.system

HEADERS = (("Host", "localhost"), ("User-Agent", "rampart tests"), ("Accept", "*/*"))


def _get(target: str) -> RawRequest:
    return RawRequest("GET", target, HEADERS)


def _post(body: bytes, content_type: str) -> RawRequest:
    return RawRequest("POST", "/login", (*HEADERS, ("Content-Type", content_type)), body)


@pytest.fixture(scope="module")
def settings(crs_dir: Path) -> EngineSettings:
    return EngineSettings(mode="block", paranoia=1, threshold=5, crs_dir=str(crs_dir))


@pytest.fixture(scope="module")
def engine(settings: EngineSettings) -> Iterator[SecLangEngine]:
    built = SecLangEngine(settings)
    yield built
    built.close()


@pytest.fixture(scope="module")
def crs(settings: EngineSettings) -> Iterator[object]:
    from rampart.gateway.engines.crs.engine import CrsEngine

    built = CrsEngine(settings, processes=0)
    yield built
    built.close()


REQUESTS = [
    _get("/search?q=1%27%20OR%201%3D1--"),
    _get("/?file=../../../../etc/passwd"),
    _get("/?x=%3Cscript%3Ealert(1)%3C/script%3E"),
    _get("/?cmd=;cat%20/etc/passwd"),
    _get("/products?page=2&sort=name"),
    _post(b"user=admin&pass=' or '1'='1", "application/x-www-form-urlencoded"),
    _post(b'{"user": "admin\' union select 1,2--"}', "application/json"),
    _post(b'{"user": "alice", "age": 31}', "application/json"),
    _post(b"<r><a>1 union select password from users</a></r>", "application/xml"),
]


def test_registered_by_name_and_fails_open_once_closed(settings: EngineSettings) -> None:
    engine = create_engine("seclang", settings)
    assert engine.name == "seclang"
    assert engine.inspect(REQUESTS[0]).flagged
    engine.close()
    verdict = engine.inspect(REQUESTS[0])
    assert not verdict.flagged
    assert verdict.error is not None
    assert "closed" in verdict.error


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.method} {r.target} {r.body[:30]!r}")
def test_fires_what_libmodsecurity_fires(engine: SecLangEngine, crs: object, request_: RawRequest) -> None:
    assert engine.fired_rule_ids(request_) == crs.fired_rule_ids(request_)  # type: ignore[attr-defined]


def test_verdict_has_the_crs_engines_shape(engine: SecLangEngine, crs: object) -> None:
    request = REQUESTS[0]
    mine = engine.inspect(request)
    theirs = crs.inspect(request)  # type: ignore[attr-defined]
    assert mine.flagged
    assert theirs.flagged
    assert mine.score == theirs.score
    assert mine.rule_ids == theirs.rule_ids
    first = mine.matches[0]
    assert first.attack_class == "sql_injection"
    assert first.target.startswith("ARGS")
    assert first.severity == "critical"


def test_benign_request_is_allowed(engine: SecLangEngine) -> None:
    verdict = engine.inspect(REQUESTS[4])
    assert not verdict.flagged
    assert verdict.score == 0
    assert verdict.matches == ()


def test_concurrent_requests_get_their_own_verdicts(engine: SecLangEngine) -> None:
    expected = [engine.fired_rule_ids(r) for r in REQUESTS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(engine.fired_rule_ids, REQUESTS * 4))
    assert got == expected * 4


def test_fast_path_fires_what_the_slow_path_fires(settings: EngineSettings, engine: SecLangEngine) -> None:
    slow = SecLangEngine(settings, fast=False)
    assert slow.ruleset.prefilters is None
    assert engine.ruleset.prefilters is not None
    assert len(engine.ruleset.prefilters.guarded) > 100
    for request in REQUESTS + HOSTILE:
        assert engine.fired_rule_ids(request) == slow.fired_rule_ids(request)


HOSTILE = [
    RawRequest("GET", "/%ff%fe/\udcff?\udcfe=%zz&&=&a", (*HEADERS, ("X-\udcff", "\udcfe\x00"))),
    RawRequest("GET", "http://evil.example/a?b=c#frag", HEADERS),
    RawRequest("GET", "*", ()),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", "application/json")), b"[" * 50_000),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", "application/json")), b'{"a": "\xff\xfe"}'),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", "text/xml")), b"<a><b></a>"),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", "multipart/form-data")), b"--x\r\n\r\n"),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", 'multipart/form-data; boundary="q"')), b"--q"),
    RawRequest("POST", "/", (*HEADERS, ("Content-Type", "application/x-www-form-urlencoded")), b"&=" * 5000),
    RawRequest("POST", "/", (*HEADERS, ("Cookie", ";;=;a=b=c; ; x")), b"", body_truncated=True),
]


@pytest.mark.parametrize("request_", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_requests_are_scored_never_raised(engine: SecLangEngine, request_: RawRequest) -> None:
    verdict = engine.inspect(request_)
    assert verdict.error is None
    assert verdict.score >= 0
