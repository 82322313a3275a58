"""The executor's cross-request caches (:class:`ValueCaches`): bounded, never the cause of a
different outcome. Each test runs several requests through one compiled rule set (the caches
live as long as it does) and checks what fired against a rule set compiled without the fast
path, which keeps no caches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rampart.gateway.engines.native.seclang import executor
from rampart.gateway.engines.native.seclang.executor import (
    CompiledRuleset,
    Transaction,
    compile_ruleset,
    run_request,
)
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.model import RawRequest

HOST = (("Host", "localhost"),)


def _compile(rules: str, *, fast: bool = True) -> CompiledRuleset:
    loader = Loader()
    loader.load_text(
        'SecDefaultAction "phase:1,log,pass"\nSecDefaultAction "phase:2,log,pass"\n' + rules, "t.conf"
    )
    return compile_ruleset(loader.finish(), strict=True, fast=fast)


def _run(ruleset: CompiledRuleset, request: RawRequest) -> Transaction:
    return run_request(ruleset, request, request.body, "u1")


def _fired(ruleset: CompiledRuleset, request: RawRequest) -> list[int]:
    return [e.rule_id for e in _run(ruleset, request).logged]


def _agrees(rules: str, requests: list[RawRequest], rounds: int) -> tuple[CompiledRuleset, CompiledRuleset]:
    """Run ``requests`` ``rounds`` times through ``rules`` with and without the fast path
    (which keeps nothing across requests), requiring the same rules to fire every time; returns
    both rule sets."""
    ruleset, reference = _compile(rules), _compile(rules, fast=False)
    for _ in range(rounds):
        for request in requests:
            assert sorted(_fired(ruleset, request)) == sorted(_fired(reference, request)), (
                request.target,
                request.headers,
                request.body,
            )
    return ruleset, reference


def _get(target: str, *headers: tuple[str, str]) -> RawRequest:
    return RawRequest("GET", target, HOST + headers)


def _post(target: str, body: bytes) -> RawRequest:
    return RawRequest("POST", target, (*HOST, ("Content-Type", "application/x-www-form-urlencoded")), body)


def test_the_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "CACHE_ENTRIES", 16)
    monkeypatch.setattr(executor, "_HITS_ENTRIES", 32)
    ruleset = _compile(
        'SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule ARGS "@detectSQLi" "id:2,phase:1,t:none,t:urlDecodeUni"\n'
        'SecRule ARGS "@rx ^(value)" "id:3,phase:1,t:none,capture,nolog,setvar:tx.seen=%{tx.1}"\n'
    )
    for n in range(200):
        for _ in range(2):  # the second time, each value is met: answers about it are kept
            assert _fired(ruleset, _get(f"/?a=value{n}&b=other{n}")) == []
        sizes = ruleset.caches.sizes()
        assert 0 < sizes["matches"] <= 16
        assert sizes["hits"] <= 32
        assert sizes["seen"] <= 32
        assert sizes["pending"] <= 32
        assert sizes["inert"] <= 32
        # one (chain, matcher) pair per guarded rule and collection: bounded by the rule set
        assert sizes["demand"] <= 2
        assert sizes["needs"] <= 2
        bounded = ("hits", "seen", "pending", "inert", "demand", "needs")
        assert all(count <= 16 for name, count in sizes.items() if name not in bounded), sizes
    assert _fired(ruleset, _get("/?a=ATTACK")) == [1]


def test_long_values_are_not_kept_across_requests() -> None:
    ruleset = _compile('SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"')
    long = "x" * (executor.CACHE_VALUE_CHARS + 1)
    assert _fired(ruleset, _get(f"/?a={long}")) == []
    kept = ruleset.caches
    assert long not in kept.literals
    assert all(value != long for _, value in kept.refused)
    assert all(value != long for _, _, value in kept.hits)
    assert _fired(ruleset, _get(f"/?a={long}attack")) == [1]


def test_a_cached_no_match_does_not_hide_a_match_on_another_value() -> None:
    rules = (
        'SecRule ARGS "@within abc def" "id:1,phase:1,t:none"\n'  # pure, unguarded
        'SecRule ARGS "@detectXSS" "id:2,phase:1,t:none,t:urlDecodeUni"\n'
        'SecRule ARGS "@rx ^b+$" "id:3,phase:1,t:none"\n'
        'SecRule ARGS "!@streq zzz" "id:4,phase:1,t:none"\n'  # negated: a match is kept as "no"
        'SecRule ARGS "!@rx ^[a-z]+$" "id:5,phase:2,t:none"\n'
    )
    ruleset, reference = _compile(rules), _compile(rules, fast=False)
    requests = [
        _get("/?a=zzz"),
        _get("/?a=zzz"),
        _get("/?a=abc"),
        _get("/?a=zzz&b=%3Cscript%3Ealert(1)%3C/script%3E"),
        _get("/?a=bbb"),
        _get("/?a=zzz"),
        _get("/?a=abc&c=bbb"),
    ]
    for request in requests * 2:
        assert _fired(ruleset, request) == _fired(reference, request), request.target
    assert ruleset.caches.refused  # the refusals were kept
    assert not reference.caches.refused  # the reference keeps nothing


def test_a_match_runs_its_actions_every_time() -> None:
    """Only refusals are kept: a matching value sets TX (and MATCHED_VAR) on every request."""
    ruleset = _compile(
        'SecRule ARGS "@rx ^(b+)$" "id:1,phase:1,capture,setvar:tx.score=+1,setvar:tx.seen=%{tx.1}"'
    )
    for _ in range(3):
        tx = _run(ruleset, _get("/?a=bb&c=x&d=bbb"))
        assert tx.tx["score"][1] == "2"
        assert tx.tx["seen"][1] == "bbb"
        assert tx.matched_var == ("ARGS:d", "bbb")


def test_a_ctl_removed_rule_stays_removed_and_only_when_the_ctl_fired() -> None:
    rules = (
        'SecRule ARGS:off "@streq 1" "id:1,phase:1,nolog,ctl:ruleRemoveById=10-12"\n'
        'SecRule ARGS:tagoff "@streq 1" "id:2,phase:1,nolog,ctl:ruleRemoveByTag=^noisy$"\n'
        'SecRule ARGS "@rx attack" "id:10,phase:1"\n'
        'SecRule ARGS "@rx attack" "id:13,phase:1,tag:noisy"\n'
        'SecRule ARGS "@rx attack" "id:11,phase:2"\n'
        'SecRule ARGS "@rx attack" "id:14,phase:2,tag:noisy"\n'
        'SecRule ARGS "@rx attack" "id:20,phase:2"\n'
    )
    ruleset, reference = _compile(rules), _compile(rules, fast=False)
    cases = {
        "/?x=attack&off=1": [20, 13, 14],
        "/?x=attack": [10, 13, 11, 14, 20],
        "/?x=attack&tagoff=1": [10, 11, 20],
        "/?x=attack&off=1&tagoff=1": [20],
    }
    for target, fires in list(cases.items()) * 2:
        assert sorted(_fired(ruleset, _get(target))) == sorted(fires), target
        assert sorted(_fired(reference, _get(target))) == sorted(fires), target


def test_a_step_is_cached_by_its_input() -> None:
    """Two chains that share a prefix: a multiMatch rule (values one by one) and a shared
    target list (values as lists) leave each step's cache keyed by the step's input, so a
    value that equals another's partly transformed form gets its own result."""
    rules = (
        'SecRule ARGS "@rx nomatch" "id:1,phase:2,nolog,t:none,t:urlDecodeUni,t:lowercase,multiMatch"\n'
        'SecRule ARGS "@rx %41" "id:2,phase:2,t:none,t:urlDecodeUni,t:lowercase"\n'
    )
    request = _get("/?x=%2541&y=%252541")  # ARGS x="%41", y="%2541" (urlDecodeUni: "%41")
    for fast in (True, False):
        assert _fired(_compile(rules, fast=fast), request) == [2]


def test_a_multimatch_rule_is_guarded_and_still_fires_on_an_intermediate_value() -> None:
    rules = 'SecRule ARGS "@rx <scr" "id:1,phase:2,t:none,t:urlDecodeUni,t:removeWhitespace,multiMatch"'
    ruleset, reference = _compile(rules), _compile(rules, fast=False)
    assert ruleset.prefilters is not None
    slot = ruleset.phases[2][0].slot  # type: ignore[union-attr]
    assert slot in ruleset.prefilters.guarded
    for target in ["/?a=%253Cscr", "/?a=%3C%20scr", "/?a=plain", "/?a=%3Cscr"]:
        assert _fired(ruleset, _get(target)) == _fired(reference, _get(target)), target
    assert _fired(ruleset, _get("/?a=%3C%20scr")) == [1]  # only after removeWhitespace


def test_phase_two_sees_what_the_body_adds_and_keeps_what_it_does_not_change() -> None:
    rules = (
        'SecRule ARGS "@rx attack" "id:1,phase:1"\n'
        'SecRule ARGS "@rx attack" "id:2,phase:2"\n'
        'SecRule REQUEST_HEADERS:Host "@streq localhost" "id:3,phase:2"\n'
        'SecRule &ARGS "@eq 2" "id:4,phase:2"\n'
    )
    ruleset = _compile(rules)
    assert sorted(_fired(ruleset, _post("/?q=1", b"b=attack"))) == [2, 3, 4]
    assert sorted(_fired(ruleset, _post("/?q=attack", b"b=1"))) == [1, 2, 3, 4]
    assert sorted(_fired(ruleset, _get("/?q=attack"))) == [1, 2, 3]


def test_threads_sharing_the_caches_get_the_serial_answers() -> None:
    rules = (
        'SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule ARGS|REQUEST_HEADERS "@detectSQLi" "id:2,phase:2,t:none,t:urlDecodeUni"\n'
        'SecRule ARGS "@pm evil wicked" "id:3,phase:2,t:none,t:lowercase"\n'
    )
    requests = [
        _get(f"/?a={word}{n % 7}", ("User-Agent", f"agent {n % 3}"))
        for n in range(60)
        for word in ("fine", "ATTACK", "1' or '1'='1", "Evil")
    ]
    expected = [_fired(_compile(rules, fast=False), r) for r in requests]
    ruleset = _compile(rules)
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(lambda r: _fired(ruleset, r), requests)) == expected


def test_answers_are_kept_from_the_second_request_with_a_value() -> None:
    """A value met by one request only (an id, a token) leaves no answers behind but its
    note in ``seen``; the next request with it keeps them, and a big collection (a body's
    fields) keeps none."""
    ruleset = _compile('SecRule ARGS "@rx attack" "id:1,phase:2,t:none,t:lowercase"')
    kept = ruleset.caches

    def answered(value: str) -> bool:
        return any(v == value for _, _, v in kept.hits) or any(v == value for _, v in kept.chains)

    assert _fired(ruleset, _get("/?a=Once")) == []
    assert "Once" in kept.seen
    assert not answered("Once")
    assert _fired(ruleset, _get("/?a=Once")) == []
    assert answered("Once")
    # a form of 20 fields (most recurring, one new each time) keeps answers about the recurring
    # ones; past _MANY values nothing is kept
    for n in range(3):
        form = "&".join(f"f{i}=Form{i}" for i in range(19)) + f"&token=T{n}"
        assert _fired(ruleset, _post("/", form.encode())) == []
    assert answered("Form0")
    assert not answered("T1")
    many = "&".join(f"f{n}=Field{n}" for n in range(executor._MANY + 1))
    for _ in range(3):
        assert _fired(ruleset, _post("/", many.encode())) == []
    assert not answered("Field0")
    assert _fired(ruleset, _post("/", (many + "&x=ATTACK").encode())) == [1]


def test_key_regex_answers_follow_the_keys_each_request_has() -> None:
    """CRS's restricted-header check: one rule writes ``TX:header_name_<name>`` per header, its
    chain selects them by key regex. The regex's answer per key is kept across requests; what
    is selected is still each request's own keys, and the answers stay bounded."""
    rules = (
        'SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" '
        '"id:1,phase:1,capture,t:none,t:lowercase,setvar:tx.header_name_%{tx.0}=/%{tx.0}/,chain"\n'
        '    SecRule TX:/^header_name_/ "@within /x-evil/ /proxy/"\n'
    )
    requests = [
        _get("/", ("Accept", "*/*")),
        _get("/", ("X-Evil", "1")),
        _get("/", ("Accept", "*/*"), ("Proxy", "p")),
        _get("/", ("Accept", "*/*")),
    ]
    ruleset, _ = _agrees(rules, requests, 3)
    assert [_fired(ruleset, r) for r in requests] == [[], [1], [1], []]
    answers = ruleset.caches.keys["^header_name_"]
    assert answers["header_name_accept"] is True
    assert answers["0"] is False  # the capture's TX:0 is there too, never selected
    for n in range(executor._KEY_ANSWERS + 50):
        assert _fired(ruleset, _get("/", (f"X-Name-{n}", "v"))) == []
    assert len(ruleset.caches.keys["^header_name_"]) <= executor._KEY_ANSWERS
    assert _fired(ruleset, _get("/", ("X-Evil", "1"))) == [1]


def test_a_collection_met_again_answers_from_its_content_id_and_a_change_is_seen() -> None:
    """Rules whose collections hold what they held in an earlier request answer from the
    content ids (``contents``, ``unions``, ``outcomes``): the same verdicts as the reference on
    a stream where one header, one argument, the body or a ``ctl`` changes between repeats."""
    rules = (
        'SecRule REQUEST_HEADERS:User-Agent "@rx evil" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule REQUEST_HEADERS "@within zzz" "id:2,phase:1,t:none"\n'  # pure, unguarded
        'SecRule ARGS|REQUEST_HEADERS:Referer "@detectSQLi" "id:3,phase:2,t:none,t:urlDecodeUni"\n'
        'SecRule &ARGS "@gt 2" "id:4,phase:2"\n'
        'SecRule ARGS:off "@streq 1" "id:5,phase:1,nolog,ctl:ruleRemoveTargetById=6;ARGS:a"\n'
        'SecRule ARGS "@rx wicked" "id:6,phase:2,t:none"\n'
        'SecRule ARGS_NAMES "!@rx ^[a-z]+$" "id:7,phase:2,t:none"\n'
        'SecRule ARGS "@rx nomatch" "id:8,phase:2,t:none,t:urlDecodeUni,multiMatch"\n'
        'SecAction "id:9,phase:1,nolog,pass,setvar:tx.allowed=GET HEAD"\n'
        'SecRule ARGS:m "@rx ^(.+)$" "id:10,phase:1,nolog,capture,setvar:tx.allowed=%{tx.1}"\n'
        'SecRule REQUEST_METHOD "!@within %{tx.allowed}" "id:11,phase:1"\n'
        'SecRule ARGS|REQUEST_HEADERS:User-Agent "@rx union|select" "id:12,phase:2,t:none,t:lowercase"\n'
    )
    stream = [
        _get("/?a=fine", ("User-Agent", "Mozilla")),
        _get("/?a=fine&b=2&c=3", ("User-Agent", "Mozilla")),
        _get("/?a=fine", ("User-Agent", "EVIL bot")),
        _get("/?a=1'%20or%20'1'='1", ("User-Agent", "Mozilla")),
        _get("/?a=fine", ("User-Agent", "Mozilla"), ("Referer", "x' or 1=1-- -")),
        _get("/?a=wicked", ("User-Agent", "Mozilla")),
        _get("/?a=wicked&off=1", ("User-Agent", "Mozilla")),
        _get("/?a=fine", ("User-Agent", "zzz")),
        _get("/?A1=fine", ("User-Agent", "Mozilla")),
        _post("/?a=fine", b"x=wicked"),
        _post("/?a=fine", b"x=calm"),
        _get("/?a=%6eomatch", ("User-Agent", "Mozilla")),  # multiMatch: only once decoded
        _get("/?a=fine&m=POST", ("User-Agent", "Mozilla")),  # the macro argument changes
        _get("/?a=fine&m=GET", ("User-Agent", "Mozilla")),
        _get("/?a=fine", ("User-Agent", "Select bot")),  # one collection of a rule changes
        _get("/?a=Union", ("User-Agent", "Mozilla")),  # the other one
    ]
    ruleset, reference = _agrees(rules, stream, 4)
    kept = ruleset.caches
    assert kept.outcomes
    assert kept.unions
    assert kept.pieces
    assert any(cid > 0 for cid in kept.contents.values())
    assert not reference.caches.contents  # the reference keeps nothing


def _guard_contents(ruleset: CompiledRuleset, collection: str) -> list[tuple[str, object]]:
    """The contents of ``collection`` that have a guard id (values blanked, see ValueCaches)."""
    return [content for content in ruleset.caches.contents if content[0].startswith(collection + "\x00")]


def test_a_content_met_once_gets_no_id_but_its_inert_values_blanked_do() -> None:
    """A collection with a new value in every request (a cookie, a token) gets no content id:
    only the hash of each content is noted, bounded, and no refusal is kept. Its values are
    inert (nothing the fast path asks finds anything in them), so with them blanked the
    content gets a guard id, under which the fast path's answers are kept; a value that is
    not inert stays, so a new attack is still found."""
    ruleset = _compile('SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"')
    for n in range(50):
        assert _fired(ruleset, _get(f"/?token={n}")) == []
    kept = ruleset.caches
    assert not [content for content in kept.contents if content[0] == "ARGS"]
    assert len(kept.pending) >= 50  # one hash per request's ARGS (and ARGS_GET, ARGS_NAMES, ...)
    assert not kept.outcomes
    (blanked,) = _guard_contents(ruleset, "ARGS")
    assert blanked[1] == (("token", None),)
    assert kept.unions
    assert _fired(ruleset, _get("/?token=attack")) == [1]
    assert _fired(ruleset, _get("/?token=an%20ATTACK")) == [1]


def test_guard_ids_agree_with_the_reference_while_the_pairs_asked_grow() -> None:
    """Guard ids hold only for the (chain, matcher) pairs a value was checked against: a rule
    reached for the first time (here behind a ``skipAfter`` a header lifts) asks a new pair,
    and a value inert for the others but not for it must still be found, in that request and
    the ones after it, as by the reference; new tokens, cookies and header values each time."""
    rules = (
        'SecRule REQUEST_HEADERS:X-Mode "@streq deep" "id:20,phase:1,pass,nolog,setvar:tx.deep=1"\n'
        'SecRule &TX:DEEP "@eq 0" "id:21,phase:1,pass,nolog,skipAfter:END-DEEP"\n'
        'SecRule ARGS|REQUEST_COOKIES "@rx evil" "id:22,phase:1,t:none,t:urlDecodeUni"\n'
        'SecRule REQUEST_HEADERS "@rx ^sneaky" "id:23,phase:1,t:none,t:lowercase"\n'
        "SecMarker END-DEEP\n"
        'SecRule ARGS|REQUEST_COOKIES "@rx attack" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule REQUEST_HEADERS "@rx bad.?bot" "id:2,phase:1,t:none,t:lowercase"\n'
        'SecRule &REQUEST_COOKIES "@gt 1" "id:3,phase:1"\n'
        'SecRule ARGS "@rx ^[0-9]{6}$" "id:4,phase:2,t:none"\n'  # RE2 set guard, anchored
    )
    stream: list[RawRequest] = []
    for n in range(30):  # each value once: every content is new (a guard id at best)
        token = f"{n:04d}ab"
        deep = ("X-Mode", "deep") if n % 3 == 2 else ("X-Mode", "shallow")
        stream += [
            _get(f"/?q={token}", ("Cookie", f"sid={token}"), deep),
            _get(f"/?q=ev%2569l{n}", ("Cookie", f"sid=x{n}"), deep),  # evil once decoded again
            _get(f"/?q=Attack{n}", ("Cookie", f"sid=y{n}"), deep),
            _get("/?q=plain", ("Cookie", f"sid=ev%69l{n}; other={n}"), deep),
            _get(f"/?q={n:06d}", ("X-Note", f"Sneaky {n}"), deep),  # anchored match, inert elsewhere
            _get("/?q=plain", ("X-Note", f"BAD bot {n}"), ("Cookie", f"sid={token}"), deep),
        ]
    ruleset, _ = _agrees(rules, stream, 1)
    assert _guard_contents(ruleset, "ARGS")
    assert _guard_contents(ruleset, "REQUEST_COOKIES")
    assert ruleset.caches.inert


def test_a_guard_id_taken_before_a_pair_was_asked_never_answers_for_that_pair() -> None:
    """A transaction notes how many pairs its guard ids were checked against when it takes
    them. Another transaction that runs meanwhile (here between its phases, as a second
    thread would) asks a new pair and keeps its answers: they must not be given to the first
    one, whose values were never checked against that pair."""
    rules = (
        'SecRule REQUEST_HEADERS:X-Mode "@streq deep" "id:20,phase:1,pass,nolog,setvar:tx.deep=1"\n'
        'SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule &TX:DEEP "@eq 0" "id:21,phase:2,pass,nolog,skipAfter:END-DEEP"\n'
        'SecRule ARGS "@rx evil" "id:22,phase:2,t:none,t:urlDecodeUni"\n'
        # the same pair, asked again once rule 22 numbered it: answers kept under the guard id
        'SecRule ARGS|REQUEST_COOKIES "@rx evil" "id:23,phase:2,t:none,t:urlDecodeUni"\n'
        "SecMarker END-DEEP\n"
    )
    ruleset = _compile(rules)
    for n in range(4):  # shallow: the guard content ("q", blank) gets its id; rule 22 never runs
        assert _fired(ruleset, _get(f"/?q=calm{n}")) == []
    # "ev%69l" once the parser decoded the query: "evil" only for rule 22's chain
    first = Transaction(ruleset, _get("/?q=ev%2569l", ("X-Mode", "deep")), b"", "u1")
    first.run_phase(1)  # takes its guard id for ARGS: the value is inert for what was asked so far
    # asks rule 22's pair, then rule 23 keeps its answer only if its guard ids were checked for it
    assert _fired(ruleset, _get("/?q=calm9", ("X-Mode", "deep"))) == []
    first.process_body()
    first.run_phase(2)
    assert [e.rule_id for e in first.logged] == [22, 23]


def test_a_value_under_a_named_key_is_checked_for_the_rules_reading_every_key_too() -> None:
    """A value is inert for a pair only if no rule reading its entry through the pair finds
    anything: under a key some rule names, that is the rules naming the key *and* those
    reading the whole collection (rule 31 here, which shares rule 30's chain and matcher)."""
    rules = (
        'SecRule REQUEST_HEADERS:X-Kind "@rx special" "id:30,phase:1,t:none,t:lowercase"\n'
        'SecRule REQUEST_HEADERS "@rx wicked" "id:31,phase:1,t:none,t:lowercase"\n'
    )
    stream = [_get("/", ("X-Kind", f"calm{n}")) for n in range(6)]
    stream += [_get("/", ("X-Kind", f"Wicked{n}")) for n in range(3)]
    stream += [_get("/", ("X-Kind", f"special{n}")) for n in range(3)]
    ruleset, _ = _agrees(rules, stream, 1)
    assert _guard_contents(ruleset, "REQUEST_HEADERS")
    assert _fired(ruleset, _get("/", ("X-Kind", "WICKED again"))) == [31]


def test_a_content_met_again_after_more_pairs_were_asked_is_checked_again() -> None:
    """A content with a content id finds its guard id by it, but only for the pairs it was
    checked against then: once a new pair is asked (rule 22's, here), "ev%69l" must be
    checked again, or it would share the guard id of plain values and rule 22's answer for
    them."""
    rules = (
        'SecRule REQUEST_HEADERS:X-Mode "@streq deep" "id:20,phase:1,pass,nolog,setvar:tx.deep=1"\n'
        'SecRule ARGS "@rx attack" "id:1,phase:1,t:none,t:lowercase"\n'
        'SecRule &TX:DEEP "@eq 0" "id:21,phase:2,pass,nolog,skipAfter:END-DEEP"\n'
        'SecRule ARGS "@rx evil" "id:22,phase:2,t:none,t:urlDecodeUni"\n'
        "SecMarker END-DEEP\n"
    )
    deep = ("X-Mode", "deep")
    stream = [_get(f"/?q=calm{n}") for n in range(4)]
    stream += [_get("/?q=ev%2569l"), _get("/?q=ev%2569l"), _get("/?q=quiet"), _get("/?q=quiet")]
    stream += [_get("/?q=calm99", deep)]  # asks rule 22's pair
    stream += [_get("/?q=quiet", deep), _get("/?q=ev%2569l", deep)]
    ruleset, _ = _agrees(rules, stream, 1)
    assert ruleset.caches.guards


def test_a_request_without_body_has_one_empty_request_body_in_phase_2_only() -> None:
    # phase 2 sees REQUEST_BODY as one empty value, phase 1 as nothing (libmodsecurity's
    # order); what phase 1 prepared from it must not answer for phase 2 (same targets and
    # transformations share prepared values), nor the other way round when no phase-1 rule
    # reads it (the executor then skips forgetting what phase 1 prepared)
    read_in_both = (
        'SecRule REQUEST_BODY "@rx ^$" "id:1,phase:1,t:none"\n'
        'SecRule &REQUEST_BODY "@eq 0" "id:2,phase:1,t:none"\n'
        'SecRule REQUEST_BODY "@rx ^$" "id:3,phase:2,t:none"\n'
        'SecRule &REQUEST_BODY "@eq 1" "id:4,phase:2,t:none"\n'
    )
    read_in_phase_2 = 'SecRule REQUEST_BODY "@rx ^$" "id:3,phase:2,t:none"\n'
    for rules, body_in_phase1 in ((read_in_both, True), (read_in_phase_2, False)):
        ruleset, _ = _agrees(rules, [_get("/"), _post("/", b"a=1"), _get("/?a=1")], 3)
        assert ruleset.body_in_phase1 is body_in_phase1
        assert sorted(_fired(ruleset, _get("/"))) == ([2, 3, 4] if body_in_phase1 else [3])
        assert sorted(_fired(ruleset, _post("/", b"a=1"))) == ([2, 4] if body_in_phase1 else [])


def test_ctl_removals_apply_from_the_rule_after_the_ctl_and_per_request() -> None:
    # the rules loop reads removals from a list per phase and removal state; a ctl in the
    # middle of a phase changes the state for the rules after it, and the next request
    # without the ctl starts from none
    rules = (
        'SecRule ARGS "@rx one" "id:10,phase:1,t:none"\n'
        'SecRule ARGS:off "@streq yes" '
        '"id:11,phase:1,t:none,ctl:ruleRemoveById=10,ctl:ruleRemoveById=12-13"\n'
        'SecRule ARGS "@rx one" "id:12,phase:1,t:none"\n'
        'SecRule ARGS "@rx one" "id:13,phase:2,t:none"\n'
        'SecRule ARGS "@rx one" "id:14,phase:2,t:none"\n'
    )
    requests = [_get("/?a=one"), _get("/?a=one&off=yes"), _get("/?a=one")]
    ruleset, _ = _agrees(rules, requests, 3)
    assert [sorted(_fired(ruleset, r)) for r in requests] == [
        [10, 12, 13, 14],
        [10, 11, 14],
        [10, 12, 13, 14],
    ]


def test_a_kept_match_gives_each_request_its_own_captures_and_actions() -> None:
    # a pure operator's match of a value met before is kept; the rule's actions still run in
    # each request, with that value's captures (and a negated link is still refused)
    rules = (
        'SecRule ARGS "@rx ^(\\w+)-(\\d+)$" '
        '"id:1,phase:1,t:none,capture,setvar:tx.got=%{tx.1}:%{tx.2},setvar:tx.n=+1,chain"\n'
        '    SecRule TX:got "@streq abc:12"\n'
        'SecRule ARGS "!@rx ^\\w+-\\d+$" "id:2,phase:1,t:none"\n'
        'SecRule TX:n "@ge 2" "id:3,phase:2,t:none"\n'
    )
    requests = [
        _get("/?a=abc-12"),
        _get("/?a=xyz-7"),
        _get("/?a=abc-12&b=xyz-7"),
        _get("/?a=plain"),
    ]
    ruleset, _ = _agrees(rules, requests, 3)
    assert ruleset.caches.sizes()["matches"] > 0
    # the third: both values match, tx.got ends as xyz:7 (the chain fails), tx.n reaches 2
    assert [sorted(_fired(ruleset, r)) for r in requests] == [[1], [], [3], [2]]
