"""The SecLang executor on small rule sets: variables, exclusions, chains, setvar, ctl,
skipAfter, macros, body processors. Each case names a request and the rule ids that must
(and must not) log."""

from __future__ import annotations

import json

import pytest

from rampart.gateway.engines.native.seclang.executor import Transaction, compile_ruleset, run_request
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.model import RawRequest

HOST = (("Host", "localhost"),)


def _run(rules: str, request: RawRequest) -> Transaction:
    loader = Loader()
    loader.load_text(
        'SecDefaultAction "phase:1,log,pass"\nSecDefaultAction "phase:2,log,pass"\n' + rules, "t.conf"
    )
    return run_request(compile_ruleset(loader.finish(), strict=True), request, request.body, "u1")


def _fired(rules: str, request: RawRequest) -> set[int]:
    return {e.rule_id for e in _run(rules, request).logged}


def _get(target: str, *headers: tuple[str, str]) -> RawRequest:
    return RawRequest("GET", target, HOST + headers)


def _post(body: bytes, content_type: str) -> RawRequest:
    return RawRequest("POST", "/p?q=1", (*HOST, ("Content-Type", content_type)), body)


@pytest.mark.parametrize(
    ("rule", "request_", "fires"),
    [
        ('SecRule ARGS:id "@streq 5" "id:1,phase:1"', _get("/?id=5"), True),
        ('SecRule ARGS:ID "@streq 5" "id:1,phase:1"', _get("/?id=5"), True),
        ('SecRule ARGS "@streq a b" "id:1,phase:1"', _get("/?x=a+b"), True),
        ('SecRule ARGS "@streq <" "id:1,phase:1"', _get("/?x=%3c"), True),
        ('SecRule ARGS_NAMES "@streq x" "id:1,phase:1"', _get("/?x=1"), True),
        ('SecRule ARGS|!ARGS:x "@streq 1" "id:1,phase:1"', _get("/?x=1"), False),
        ('SecRule ARGS|!ARGS:/^x/ "@streq 1" "id:1,phase:1"', _get("/?xy=1"), False),
        ('SecRule ARGS:/^x/ "@streq 1" "id:1,phase:1"', _get("/?xy=1"), True),
        ('SecRule &ARGS "@eq 2" "id:1,phase:1"', _get("/?a=1&b=2"), True),
        ('SecRule &ARGS:c "@eq 0" "id:1,phase:1"', _get("/?a=1"), True),
        (
            'SecRule REQUEST_HEADERS:user-agent "@streq ua" "id:1,phase:1"',
            _get("/", ("User-Agent", "ua")),
            True,
        ),
        ('SecRule REQUEST_HEADERS_NAMES "@streq X-A" "id:1,phase:1"', _get("/", ("X-A", "1")), True),
        ('SecRule REQUEST_COOKIES:s "@streq v" "id:1,phase:1"', _get("/", ("Cookie", "a=1; s=v")), True),
        ('SecRule REQUEST_COOKIES_NAMES "@streq s" "id:1,phase:1"', _get("/", ("Cookie", "a=1; s=v")), True),
        ('SecRule REQUEST_FILENAME "@streq /a b/c" "id:1,phase:1"', _get("/a%20b/c?x=1"), True),
        ('SecRule REQUEST_BASENAME "@streq c.php" "id:1,phase:1"', _get("/a/c.php?x=1"), True),
        ('SecRule REQUEST_URI "@streq /a b?x=1+%" "id:1,phase:1"', _get("/a%20b?x=1+%25"), True),
        ('SecRule REQUEST_URI_RAW "@streq /a%20b" "id:1,phase:1"', _get("/a%20b"), True),
        ('SecRule QUERY_STRING "@streq x=1&y" "id:1,phase:1"', _get("/?x=1&y"), True),
        ('SecRule REQUEST_LINE "@streq GET /?x HTTP/1.1" "id:1,phase:1"', _get("/?x"), True),
        ('SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1"', _get("/"), True),
        ('SecRule REQUEST_PROTOCOL "@streq HTTP/1.1" "id:1,phase:1"', _get("/"), True),
        ('SecRule ARGS "!@streq 1" "id:1,phase:1"', _get("/?a=1"), False),
        ('SecRule ARGS "!@streq 1" "id:1,phase:1"', _get("/?a=2"), True),
        ('SecRule ARGS "!@streq 1" "id:1,phase:1"', _get("/"), False),
        ('SecRule ARGS "@rx ^\\xe9$" "id:1,phase:1"', _get("/?a=%e9"), True),
        ('SecRule ARGS "@streq x" "id:1,phase:1,t:none,t:lowercase"', _get("/?a=X"), True),
        ('SecRule REQUEST_URI_RAW "@streq http://h/a?b" "id:1,phase:1"', _get("http://h/a?b"), True),
        ('SecRule REQUEST_URI "@streq http://h/a b" "id:1,phase:1"', _get("http://h/a%20b#f"), True),
    ],
)
def test_variables_operators_and_exclusions(rule: str, request_: RawRequest, fires: bool) -> None:
    assert (1 in _fired(rule, request_)) is fires


def test_body_processors_fill_args_post() -> None:
    form = _post(b"a=1&b=%41", "application/x-www-form-urlencoded")
    assert _fired('SecRule ARGS_POST:b "@streq A" "id:1,phase:2"', form) == {1}
    assert _fired('SecRule ARGS_POST:b "@streq A" "id:1,phase:1"', form) == set()
    assert _fired('SecRule ARGS_COMBINED_SIZE "@eq 6" "id:1,phase:2"', form) == {1}
    assert _fired('SecRule REQUEST_BODY "@streq a=1&b=%41" "id:1,phase:2"', form) == {1}
    assert _fired('SecRule REQBODY_PROCESSOR "@streq URLENCODED" "id:1,phase:2"', form) == {1}


def test_json_needs_the_processor_and_names_values_like_libmodsecurity() -> None:
    body = json.dumps({"a": {"b": "x"}, "l": [1, "y"]}).encode()
    json_ctl = (
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" '
        '"id:9,phase:1,nolog,ctl:requestBodyProcessor=JSON"\n'
    )
    request = _post(body, "application/json")
    assert _fired('SecRule ARGS:json.a.b "@streq x" "id:1,phase:2"', request) == set()
    assert _fired(json_ctl + 'SecRule ARGS:json.a.b "@streq x" "id:1,phase:2"', request) == {1}
    assert _fired(json_ctl + 'SecRule ARGS:json.l.1 "@streq y" "id:1,phase:2"', request) == {1}
    broken = _post(b'{"a": ', "application/json")
    assert _fired(json_ctl + 'SecRule REQBODY_ERROR "!@eq 0" "id:1,phase:2"', broken) == {1}


def test_xml_text_and_attributes() -> None:
    xml_ctl = (
        'SecRule REQUEST_HEADERS:Content-Type "@rx xml" "id:9,phase:1,nolog,ctl:requestBodyProcessor=XML"\n'
    )
    request = _post(b'<?xml version="1.0"?><r><a k="v1">t1</a>t2</r>', "application/xml")
    assert _fired(xml_ctl + 'SecRule XML:/* "@streq t1t2" "id:1,phase:2"', request) == {1}
    assert _fired(xml_ctl + 'SecRule XML://@* "@streq v1" "id:1,phase:2"', request) == {1}
    bomb = _post(b'<!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>', "application/xml")
    assert _fired(xml_ctl + 'SecRule REQBODY_ERROR "@eq 1" "id:1,phase:2"', bomb) == {1}


def test_multipart_fields_files_and_part_headers() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
        b'--B\r\nContent-Disposition: form-data; name="up"; filename="a.php"\r\n'
        b"Content-Type: text/plain\r\n\r\nDATA\r\n--B--\r\n"
    )
    request = _post(body, "multipart/form-data; boundary=B")
    rules = (
        'SecRule ARGS_POST:f "@streq v" "id:1,phase:2"\n'
        'SecRule FILES "@streq a.php" "id:2,phase:2"\n'
        'SecRule FILES_NAMES "@streq up" "id:3,phase:2"\n'
        'SecRule MULTIPART_PART_HEADERS "@rx ^Content-Type: text/plain$" "id:4,phase:2"\n'
        'SecRule FILES_COMBINED_SIZE "@eq 4" "id:5,phase:2"\n'
        'SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:6,phase:2"\n'
    )
    assert _fired(rules, request) == {1, 2, 3, 4, 5}
    unclosed = _post(
        b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n', "multipart/form-data; boundary=B"
    )
    assert 6 in _fired(rules, unclosed)


def test_setvar_per_matching_value_and_macros() -> None:
    tx = _run(
        'SecRule ARGS "@rx ^a" "id:1,phase:1,setvar:tx.score=+5,'
        "setvar:'tx.last=%{MATCHED_VAR_NAME}=%{MATCHED_VAR}'\"\n"
        "SecRule TX:score \"@eq 10\" \"id:2,phase:1,msg:'score %{tx.score}',logdata:'%{rule.id}'\"\n"
        'SecAction "id:3,phase:1,nolog,setvar:!tx.last"\n',
        _get("/?x=a1&y=b&z=a2"),
    )
    assert [e.rule_id for e in tx.logged] == [1, 2]
    assert tx.logged[1].msg == "score 10"
    assert tx.logged[1].logdata == "2"
    assert "last" not in tx.tx


def test_chain_matches_only_when_every_link_does_and_sees_matched_var() -> None:
    rules = 'SecRule ARGS "@rx ^a" "id:1,phase:1,chain"\n  SecRule MATCHED_VAR "@rx b$" "setvar:tx.hit=1"\n'
    assert _fired(rules, _get("/?x=ab")) == {1}
    assert _fired(rules, _get("/?x=ac")) == set()


def test_capture_fills_tx_numbers() -> None:
    tx = _run('SecRule ARGS "@rx (a)(b)" "id:1,phase:1,capture,logdata:\'%{TX.0}/%{TX.2}\'"', _get("/?x=zab"))
    assert tx.logged[0].logdata == "ab/b"


def test_skip_after_and_skip() -> None:
    rules = (
        'SecAction "id:1,phase:1,nolog,skipAfter:END"\n'
        'SecAction "id:2,phase:1"\n'
        'SecMarker "END"\n'
        'SecAction "id:3,phase:1,nolog,skip:1"\n'
        'SecAction "id:4,phase:1"\n'
        'SecAction "id:5,phase:1"\n'
    )
    assert _fired(rules, _get("/")) == {5}


def test_ctl_removals_apply_to_later_rules_only() -> None:
    rules = (
        'SecRule ARGS "@streq 1" "id:1,phase:1"\n'
        'SecAction "id:2,phase:1,nolog,ctl:ruleRemoveById=3,ctl:ruleRemoveTargetById=4;ARGS:a"\n'
        'SecRule ARGS "@streq 1" "id:3,phase:1"\n'
        'SecRule ARGS "@streq 1" "id:4,phase:1"\n'
        'SecRule ARGS "@streq 1" "id:5,phase:2,tag:\'t1\'"\n'
        'SecAction "id:6,phase:1,nolog,ctl:ruleRemoveByTag=t1"\n'
    )
    assert _fired(rules, _get("/?a=1")) == {1}
    assert _fired(rules, _get("/?a=1&b=1")) == {1, 4}


def test_rule_engine_off_and_allow_stop_processing() -> None:
    off = 'SecAction "id:1,phase:1,nolog,ctl:ruleEngine=Off"\nSecAction "id:2,phase:2"\n'
    assert _fired(off, _get("/")) == set()
    allow = 'SecAction "id:1,phase:1,allow"\nSecAction "id:2,phase:2"\n'
    assert _fired(allow, _get("/")) == {1}


def test_multimatch_tries_every_intermediate_value() -> None:
    rule = 'SecRule ARGS "@streq %41" "id:1,phase:1,t:none,t:urlDecode,{}"'
    assert _fired(rule.format("multiMatch"), RawRequest("GET", "/?x=%2541", HOST)) == {1}
    assert _fired(rule.format("pass"), RawRequest("GET", "/?x=%2541", HOST)) == set()


def test_unknown_operator_never_matches_and_is_listed() -> None:
    loader = Loader()
    loader.load_text('SecRule ARGS "@noSuchOperator x" "id:1,phase:1"', "t.conf")
    compiled = compile_ruleset(loader.finish())
    assert compiled.unsupported == ("t.conf:1: rule 1: @nosuchoperator",)
    assert run_request(compiled, _get("/?a=x"), b"", "u").logged == []


def test_reqbody_processor_is_known_in_phase_1_from_the_content_type() -> None:
    rule = 'SecRule REQBODY_PROCESSOR "@streq MULTIPART" "id:1,phase:1"'
    assert _fired(rule, _post(b"", "multipart/form-data; boundary=x")) == {1}
    assert _fired(rule, _post(b"", "text/plain")) == set()


def test_multimatch_runs_setvar_for_every_matching_stage() -> None:
    tx = _run(
        'SecRule ARGS "@rx a" "id:1,phase:1,t:none,t:lowercase,multiMatch,setvar:tx.n=+1"',
        _get("/?x=aA&y=b"),
    )
    assert tx.tx["n"][1] == "2"


def test_an_empty_xml_body_is_a_parse_error_and_an_empty_form_is_not() -> None:
    rules = (
        'SecRule REQUEST_HEADERS:Content-Type "@rx xml" "id:9,phase:1,nolog,ctl:requestBodyProcessor=XML"\n'
        'SecRule REQBODY_ERROR "!@eq 0" "id:1,phase:2"\n'
    )
    assert _fired(rules, _post(b"", "text/xml")) == {1}
    assert _fired(rules, _post(b"", "multipart/form-data; boundary=x")) == set()


def test_a_multipart_body_without_its_final_boundary_is_a_body_error() -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
    rule = 'SecRule REQBODY_ERROR "@eq 1" "id:1,phase:2"'
    assert _fired(rule, _post(body, "multipart/form-data; boundary=B")) == {1}
    assert _fired(rule, _post(body + b"--B--\r\n", "multipart/form-data; boundary=B")) == set()


def test_arguments_limit_stops_collecting_like_libmodsecurity() -> None:
    """SecArgumentsLimit counts query and body arguments together, in order; those past it
    are not collected (libmodsecurity gives the same fired rules on 1,500 fields, checked
    against it by hand; this is what bounds a 1 MiB body of ``a=1&`` pairs)."""
    rules = "SecArgumentsLimit 3\n" + "\n".join(
        [
            'SecRule &ARGS "@eq 3" "id:1,phase:2"',
            'SecRule ARGS_POST:c "@streq 3" "id:2,phase:2"',
            'SecRule ARGS_POST:b "@streq 2" "id:3,phase:2"',
            'SecRule &ARGS_GET "@eq 1" "id:4,phase:1"',
        ]
    )
    form = _post(b"a=1&b=2&c=3&d=4", "application/x-www-form-urlencoded")  # plus q=1 in the query
    assert _fired(rules, form) == {1, 3, 4}
    many = RawRequest("GET", "/?" + "&".join(f"k{i}=1" for i in range(10)), HOST)
    assert _fired('SecArgumentsLimit 4\nSecRule &ARGS "@eq 4" "id:1,phase:1"', many) == {1}


def test_a_bad_arguments_limit_names_the_fix() -> None:
    with pytest.raises(ValueError, match="SecArgumentsLimit 1000"):
        _fired("SecArgumentsLimit lots", _get("/"))
