"""Verdicts kept per request shape (:mod:`rampart.gateway.engines.native.seclang.memo`): a value
is blanked in the key only when no rule can match it, so a kept verdict is the one the walk
would give. Checked on small rule sets (what the key keeps whole, and why) and on OWASP CRS
with payloads from CRS's own regression tests, against the same engine with no verdicts kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.engines.native.seclang.executor import Transaction
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.engines.native.seclang.memo import MemoPlan, build_plan, keeps, memo_key
from rampart.gateway.engines.native.seclang.plan import compile_plan
from rampart.gateway.model import EngineSettings, RawRequest, Verdict
from tests.gateway.engines.native.seclang.crs_inputs import crs_payloads

HOST = (("Host", "localhost"),)

RULES = r"""
SecDefaultAction "phase:1,log,pass"
SecDefaultAction "phase:2,log,pass"
SecRule REQUEST_COOKIES "@rx (?i)union\s+select" "id:10,phase:1,msg:'sql in a cookie'"
SecRule REQUEST_HEADERS:User-Agent "@contains nikto" "id:11,phase:1,msg:'from %{REQUEST_HEADERS.x-origin}'"
SecRule ARGS:want "@streq %{REQUEST_HEADERS.x-expect}" "id:12,phase:1"
SecRule REQUEST_HEADERS:X-Size "@gt 100" "id:13,phase:1"
SecRule TX:never "@eq 1" "id:14,phase:1,skipAfter:END"
SecRule ARGS "@detectSQLi" "id:15,phase:2"
SecMarker END
"""


def _plan() -> tuple[MemoPlan, object]:
    loader = Loader()
    loader.load_text(RULES, "t.conf")
    ruleset = compile_plan(loader.finish())
    plan = build_plan(ruleset)
    assert plan is not None
    return plan, ruleset


def _key(ruleset: object, plan: MemoPlan, target: str, *headers: tuple[str, str]) -> tuple[object, ...]:
    request = RawRequest("GET", target, HOST + headers)
    tx = Transaction(ruleset, request, b"", "u1")  # type: ignore[arg-type]
    key = memo_key(tx, plan, False)
    assert key is not None
    return key


def test_a_value_no_rule_can_match_is_blanked() -> None:
    plan, ruleset = _plan()
    base = _key(ruleset, plan, "/p?q=1", ("Cookie", "session=a1b2c3"))
    assert _key(ruleset, plan, "/p?q=1", ("Cookie", "session=zz99")) == base
    # a cookie the rule matches keeps its value
    assert _key(ruleset, plan, "/p?q=1", ("Cookie", "session=1 union select 2")) != base
    # a second cookie changes the keys the key holds
    assert _key(ruleset, plan, "/p?q=1", ("Cookie", "session=zz99; b=1")) != base


def test_values_the_executor_or_a_macro_reads_stay_whole() -> None:
    plan, ruleset = _plan()
    exact = plan.exact["REQUEST_HEADERS"]
    assert exact is not None
    assert {"content-type", "x-expect"} <= exact
    base = _key(ruleset, plan, "/p", ("X-Origin", "a"), ("X-Expect", "b"), ("Content-Type", "text/plain"))
    assert (
        _key(ruleset, plan, "/p", ("X-Origin", "a"), ("X-Expect", "d"), ("Content-Type", "text/plain"))
        != base
    )
    assert (
        _key(ruleset, plan, "/p", ("X-Origin", "a"), ("X-Expect", "b"), ("Content-Type", "text/xml")) != base
    )
    # ARGS:want is read by an operator whose argument is a macro: kept whole
    assert plan.exact.get("ARGS") == frozenset({"want"})
    assert _key(ruleset, plan, "/p?want=1") != _key(ruleset, plan, "/p?want=2")


def test_a_message_macro_blanks_its_value_and_a_verdict_where_it_logs_is_not_kept() -> None:
    """Rule 11's message names X-Origin: expanded only when rule 11 logs, so X-Origin may be
    blanked, and a walk where rule 11 logged is not kept (its text holds the value)."""
    plan, ruleset = _plan()
    assert plan.logging == frozenset({11})
    assert "x-origin" not in (plan.exact["REQUEST_HEADERS"] or ())
    assert _key(ruleset, plan, "/p", ("X-Origin", "a")) == _key(ruleset, plan, "/p", ("X-Origin", "c"))

    def walked(*headers: tuple[str, str]) -> Transaction:
        request = RawRequest("GET", "/p", HOST + headers)
        tx = Transaction(ruleset, request, b"", "u1")  # type: ignore[arg-type]
        tx.run()
        return tx

    scanner = walked(("X-Origin", "a"), ("User-Agent", "nikto/2.5"))
    assert [e.msg for e in scanner.logged] == ["from a"]
    assert not keeps(scanner, plan)
    assert keeps(walked(("X-Origin", "a"), ("User-Agent", "curl/8")), plan)


def test_a_message_read_by_a_later_link_of_its_chain_keeps_its_value_whole() -> None:
    """``setvar:tx.msg=%{rule.msg}`` in a chain's last link copies the starter's message, and
    with it the request value the message names, into the transaction: that value stays."""
    chained = (
        'SecRule REQUEST_METHOD "@streq GET" "id:40,phase:1,chain,msg:\'from %{REQUEST_HEADERS.x-origin}\'"\n'
        'SecRule REQUEST_URI "@rx ^/" "setvar:tx.msg=%{rule.msg}"\n'
    )
    plan, ruleset = _plan_of(chained)
    assert "x-origin" in (plan.exact["REQUEST_HEADERS"] or ())
    assert 40 not in plan.logging
    assert _key(ruleset, plan, "/p", ("X-Origin", "a")) != _key(ruleset, plan, "/p", ("X-Origin", "c"))


def test_a_pure_operator_that_matches_keeps_the_value() -> None:
    plan, ruleset = _plan()
    # @gt 100 refuses 5 and 7 (both blanked) and matches 500
    small = _key(ruleset, plan, "/p", ("X-Size", "5"))
    assert _key(ruleset, plan, "/p", ("X-Size", "7")) == small
    assert _key(ruleset, plan, "/p", ("X-Size", "500")) != small
    # @detectSQLi (no prefilter) refuses an id and matches an injection
    plain = _key(ruleset, plan, "/p?id=42")
    assert _key(ruleset, plan, "/p?id=43") == plain
    assert _key(ruleset, plan, "/p?id=1'%20or%201=1--") != plain


def test_a_rule_no_walk_reaches_is_no_reader() -> None:
    plan, _ruleset = _plan()
    # rule 14 never matches (TX:never is never set) and is folded; rule 15 after the marker
    # is still reached through the fall-through
    assert "ARGS" in plan.links


def _plan_of(rules: str) -> tuple[MemoPlan, object]:
    loader = Loader()
    loader.load_text('SecDefaultAction "phase:1,log,pass"\n' + rules, "t.conf")
    ruleset = compile_plan(loader.finish())
    plan = build_plan(ruleset)
    assert plan is not None
    return plan, ruleset


def test_a_rule_matching_every_value_reads_it_only_through_matched_var() -> None:
    """A SecAction matches the URI whatever it is: not a reader, unless its own actions or a
    later rule read the MATCHED_VAR it leaves."""
    base = 'SecAction "id:30,phase:1,nolog,pass"\nSecRule REQUEST_URI "@rx /admin" "id:31,phase:1"\n'
    plan, ruleset = _plan_of(base)
    assert _key(ruleset, plan, "/p?x=1") == _key(ruleset, plan, "/p?x=2")
    assert _key(ruleset, plan, "/admin?x=1") != _key(ruleset, plan, "/p?x=1")
    for extra in (
        'SecRule MATCHED_VAR "@rx 2" "id:32,phase:1"\n',
        'SecAction "id:33,phase:1,nolog,pass,setvar:tx.uri=%{MATCHED_VAR}"\n',
    ):
        plan, ruleset = _plan_of(base + extra)
        assert plan.exact.get("REQUEST_URI", frozenset()) is None
        assert _key(ruleset, plan, "/p?x=1") != _key(ruleset, plan, "/p?x=2")


REMOVING = r"""
SecDefaultAction "phase:1,log,pass"
SecRule REQUEST_HEADERS:X-Remove "@streq yes" "id:19,phase:1,nolog,ctl:ruleRemoveById=21"
SecAction "id:21,phase:1,nolog,pass,skipAfter:END-HIDDEN"
SecRule REQUEST_HEADERS:X-Hidden "@rx ." "id:22,phase:1"
SecMarker END-HIDDEN
"""


def test_a_walk_that_removes_a_folded_rule_is_flagged_for_the_engine() -> None:
    """Rule 22 is reached only when rule 19 removes the folded jump 21, so the plan does not
    count it as a reader (X-Hidden is quiet) and the engine must not keep such a walk's
    verdict: ``removed_folded`` says so."""
    loader = Loader()
    loader.load_text(REMOVING, "t.conf")
    ruleset = compile_plan(loader.finish())
    plan = build_plan(ruleset)
    assert plan is not None
    jump = ruleset.folded[1][1]  # rule 21
    assert jump is not None
    assert jump.removable

    def walk(*headers: tuple[str, str]) -> tuple[Transaction, tuple[object, ...] | None]:
        request = RawRequest("GET", "/", HOST + headers)
        tx = Transaction(ruleset, request, b"", "u1")
        key = memo_key(tx, plan, False)
        tx.run()
        return tx, key

    one, key_one = walk(("X-Remove", "yes"), ("X-Hidden", "abc"))
    two, key_two = walk(("X-Remove", "yes"), ("X-Hidden", "def"))
    assert key_one == key_two  # the hidden value is quiet for the rules the plan counts
    assert [e.matched for e in one.logged] == ["abc"]
    assert [e.matched for e in two.logged] == ["def"]
    assert one.removed_folded()
    assert two.removed_folded()
    plain, _ = walk(("X-Hidden", "abc"))
    assert not plain.logged
    assert not plain.removed_folded()


# -- CRS, with payloads from its own regression tests -----------------------------------


def _signature(verdict: Verdict) -> tuple[object, ...]:
    return (
        verdict.score,
        verdict.error,
        tuple(sorted((m.rule_id, m.target, m.matched) for m in verdict.matches)),
    )


@pytest.fixture(scope="module", params=[("3.3.4", 1), ("3.3.4", 3), ("4.28.0", 1), ("4.28.0", 4)], ids=str)
def engines(
    request: pytest.FixtureRequest, crs_dir: Path, shared_crs: Path
) -> tuple[SecLangEngine, SecLangEngine]:
    """CRS 3.3.4 (Debian) or 4.28.0 (shared) at a paranoia level: the engine that keeps
    verdicts per shape and the same engine walking the rules for every request."""
    version, paranoia = request.param
    folder = crs_dir if version == "3.3.4" else shared_crs / "v4.28.0"
    settings = EngineSettings(mode="block", paranoia=paranoia, threshold=5, crs_dir=str(folder), budget_ms=0)
    kept = SecLangEngine(settings)
    walked = SecLangEngine(settings)
    walked.memo = None  # the walk on every request
    return kept, walked


def _hits(engine: SecLangEngine) -> int:
    assert engine.memo is not None
    return engine.memo.hits


def _placed(payload: str) -> list[RawRequest]:
    """``payload`` where a session token or a header usually is, in requests whose shape was
    met before with ordinary values."""
    from urllib.parse import quote

    headers = (*HOST, ("User-Agent", "Mozilla/5.0 rampart-test"), ("Accept", "*/*"))
    cookie = payload.replace(";", "%3B")
    return [
        RawRequest("GET", "/shop?page=2", (*headers, ("Cookie", f"session={cookie}"))),
        RawRequest("GET", "/shop?page=2", (*headers, ("X-Request-Token", payload))),
        RawRequest("GET", f"/shop?page=2&ref={quote(payload, safe='')}", headers),
        RawRequest("GET", "/shop?page=2", (*headers, ("Referer", f"http://localhost/{payload}"))),
        RawRequest(
            "POST",
            "/api/comments",
            (*headers, ("Content-Type", "application/json")),
            json.dumps({"author": payload, "rating": 5}).encode(),
        ),
        RawRequest(
            "POST",
            "/search",
            (*headers, ("Content-Type", "application/x-www-form-urlencoded")),
            f"page=2&q={quote(payload, safe='')}".encode(),
        ),
    ]


def test_kept_verdicts_agree_with_the_walk_on_crs_payloads(
    engines: tuple[SecLangEngine, SecLangEngine], shared_crs: Path
) -> None:
    kept, walked = engines
    payloads = [p.decode("utf-8", "surrogateescape") for p in crs_payloads(shared_crs, limit=400)]
    ordinary = ["a1b2c3d4", "e5f6a7b8", "0123abcd"]
    hits_before = _hits(kept)
    flagged = 0
    for payload in [*ordinary, *payloads, *ordinary]:
        if "\r" in payload or "\n" in payload:
            continue  # a header cannot carry a line break
        for request in _placed(payload):
            for _ in range(2):  # the second time, a shape met before is answered from the memo
                got, want = kept.inspect(request), walked.inspect(request)
                assert _signature(got) == _signature(want), (payload, request.target, request.headers)
            flagged += want.flagged
    # the memo answered many requests, and many payloads are attacks CRS flags
    # (at paranoia 4 every value meets rules such as @validateByteRange, fewer are quiet)
    assert _hits(kept) - hits_before > (800 if kept.settings.paranoia == 1 else 150)
    assert flagged > 200


def test_a_body_of_a_known_shape_is_answered_without_the_walk(
    engines: tuple[SecLangEngine, SecLangEngine],
) -> None:
    """A JSON body whose values are new but quiet (under the processor phase 1 chose for the
    head) finds the verdict kept; one whose value a rule matches does not."""
    kept, walked = engines
    headers = (*HOST, ("User-Agent", "Mozilla/5.0 rampart-test"), ("Content-Type", "application/json"))

    def post(author: str) -> RawRequest:
        return RawRequest("POST", "/api/orders", headers, json.dumps({"author": author, "qty": 2}).encode())

    # the first finds its form new, the second its head, the third notes its key, the fourth
    # keeps the verdict
    for n in range(4):
        kept.inspect(post(f"user-{n:08x}"))
    before = _hits(kept)
    fresh = post("user-7f3a9c01")
    assert _signature(kept.inspect(fresh)) == _signature(walked.inspect(fresh))
    # at paranoia 1 the new author is quiet; above, rules read every argument with an operator
    # RE2 cannot run (942130's back-reference) or match the raw body (920273's byte range), so
    # the new author is a new key there
    after = _hits(kept)
    assert after == before + 1 or (kept.settings.paranoia > 1 and after == before)
    attack = post("x' UNION SELECT password FROM users--")
    got = kept.inspect(attack)
    assert _hits(kept) == after
    assert got.flagged
    assert _signature(got) == _signature(walked.inspect(attack))


def test_a_new_token_in_a_known_shape_is_answered_without_the_walk(
    engines: tuple[SecLangEngine, SecLangEngine],
) -> None:
    kept, walked = engines
    headers = (*HOST, ("User-Agent", "Mozilla/5.0 rampart-test"))
    for n in range(3):
        kept.inspect(RawRequest("GET", "/cart", (*headers, ("Cookie", f"sid={n:08x}"))))
    before = _hits(kept)
    fresh = RawRequest("GET", "/cart", (*headers, ("Cookie", "sid=7f3a9c01")))
    assert _signature(kept.inspect(fresh)) == _signature(walked.inspect(fresh))
    assert _hits(kept) == before + 1
    attack = RawRequest("GET", "/cart", (*headers, ("Cookie", "sid=1' UNION SELECT password FROM users--")))
    got = kept.inspect(attack)
    assert _hits(kept) == before + 1  # a value a rule matches is a new shape
    assert got.flagged
    assert _signature(got) == _signature(walked.inspect(attack))
