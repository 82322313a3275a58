"""The ``seclang`` engine on Debian's CRS 3.3.4: registered by name, verdicts shaped like the
``crs`` engine's, the same fired rules on a handful of framings, thread-safe, fails open."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

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


def _placed(payload: str, n: int) -> list[RawRequest]:
    """``payload`` where an attacker puts it (a query argument, a cookie, a header), each
    request carrying a value of its own besides (a token, as real traffic does)."""
    quoted = quote(payload, safe="")
    token = f"{n:05d}{(n * 7919) % 100003:05d}"
    return [
        _get(f"/search?q={quoted}&ref={token}"),
        RawRequest("GET", f"/account?page={n % 3}", (*HEADERS, ("Cookie", f"sid={token}; pref={quoted}"))),
        RawRequest("GET", "/", (*HEADERS, ("Referer", f"http://localhost/{token}"), ("X-Note", payload))),
        RawRequest("GET", f"/home?id={token}", (*HEADERS, ("Cookie", f"sid={token}"))),  # benign
    ]


def test_fast_path_and_its_caches_fire_what_the_slow_path_fires_on_a_stream_of_crs_inputs(
    settings: EngineSettings, engine: SecLangEngine, payloads: list[bytes]
) -> None:
    """One engine over a stream of requests built from CRS's own regression inputs, placed
    as attackers place them, every request with a new token: what its caches answer from
    earlier requests (content ids, and guard ids for contents whose new values match nothing
    any rule asks about) must be what the rule set without the fast path finds, request by
    request, the first time and when the stream comes again."""
    slow = SecLangEngine(settings, fast=False)
    stream = [
        request
        for n, payload in enumerate(payloads[:90])
        for request in _placed(payload.decode("utf-8", "replace").replace("\x00", ""), n)
    ]
    expected = [slow.fired_rule_ids(request) for request in stream]
    assert len({ids for ids in expected}) > 20  # the payloads fire many different rules
    for _ in range(2):
        got = [engine.fired_rule_ids(request) for request in stream]
        wrong = [(stream[i].target, stream[i].headers[-1]) for i, ids in enumerate(got) if ids != expected[i]]
        assert not wrong, wrong[:5]
    caches = engine.ruleset.caches
    assert caches.sizes()["inert"] > 0
    assert any("\x00" in name for name, _ in caches.contents)  # guard ids were given and used
    slow.close()


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
