"""Table-driven tests for every operator: (operator, argument, value, matches)."""

from __future__ import annotations

from typing import Any

import pytest

from rampart.gateway.engines.native import operators

CASES: list[tuple[str, Any, str, bool]] = [
    ("rx", r"(?i)union\s+select", "1 UNION  select", True),
    ("rx", r"(?i)union\s+select", "union of workers", False),
    ("pm", ["sqlmap", "nikto"], "SQLMap/1.7", True),
    ("pm", ["sqlmap", "nikto"], "Mozilla/5.0", False),
    ("contains", "_$$nd", "x_$$nd_func", True),
    ("contains", "_$$nd", "_$nd", False),
    ("equals", ["GET", "POST"], "POST", True),
    ("equals", ["GET", "POST"], "post", False),
    ("begins_with", "/api/", "/api/orders", True),
    ("begins_with", "/api/", "/static/x", False),
    ("gt", 10, "11", True),
    ("gt", 10, "10", False),
    ("ge", 10, "10", True),
    ("lt", 10, "9.5", True),
    ("le", 10, "10.1", False),
    ("eq", 3, "3.0", True),
    ("eq", 3, "three", False),
    ("length_gt", 3, "abcd", True),
    ("length_gt", 3, "abc", False),
    ("length_lt", 3, "ab", True),
    ("length_lt", 3, "abc", False),
    ("ip_match", ["10.0.0.0/8", "::1/128"], "10.1.2.3", True),
    ("ip_match", ["10.0.0.0/8", "::1/128"], "::1", True),
    ("ip_match", ["10.0.0.0/8"], "192.168.0.1", False),
    ("ip_match", ["10.0.0.0/8"], "not an ip", False),
    # detect_sqli: attacks
    ("detect_sqli", None, "' or '1'='1", True),
    ("detect_sqli", None, "admin'--", True),
    ("detect_sqli", None, "1 OR 1=1", True),
    ("detect_sqli", None, "1 union select 1,2,3", True),
    ("detect_sqli", None, "%' UNION SELECT id, token, name FROM secrets--", True),
    ("detect_sqli", None, "1; DROP TABLE users", True),
    ("detect_sqli", None, "1 AND SLEEP(1)", True),
    ("detect_sqli", None, "x' AND 1=2 UNION SELECT null,null,null--", True),
    ("detect_sqli", None, "1')) or (('1'='1", True),
    ("detect_sqli", None, "'||pg_sleep(1)||'", True),
    ("detect_sqli", None, "'/**/or/**/1=1#", True),
    ("detect_sqli", None, "a\\' or 1=1 --", True),
    ("detect_sqli", None, '" or ""="', True),
    ("detect_sqli", None, "x'; waitfor delay '0:0:1'--", True),
    ("detect_sqli", None, "1' and extractvalue(1,concat(0x7e,version()))--", True),
    # detect_sqli: tricky benign
    ("detect_sqli", None, "O'Brien", False),
    ("detect_sqli", None, "it's a union of select people", False),
    ("detect_sqli", None, "don't select or drop it", False),
    ("detect_sqli", None, "I'd say it's 5 or 6 = fine", False),
    ("detect_sqli", None, "the '#' sign", False),
    ("detect_sqli", None, "rock 'n' roll; select your song", False),
    ("detect_sqli", None, "please review; select the best option", False),
    ("detect_sqli", None, "Tom's #1 fan", False),
    ("detect_sqli", None, "let's order by price", False),
    ("detect_sqli", None, "42", False),
    ("detect_sqli", None, "3 or more", False),
    # detect_xss
    ("detect_xss", None, "<script>alert(1)</script>", True),
    ("detect_xss", None, "<img src=x onerror=alert(1)>", True),
    ("detect_xss", None, "<svg/onload=alert(1)>", True),
    ("detect_xss", None, "<a href=' javascript:alert(1)'>x</a>", True),
    ("detect_xss", None, "<iframe srcdoc='x'>", True),
    ("detect_xss", None, '<div style="width:expression(alert(1))">', True),
    ("detect_xss", None, "javascript:alert(1)", True),
    ("detect_xss", None, "<object data='data:text/html,x'>", True),
    ("detect_xss", None, "a < b and c > d", False),
    ("detect_xss", None, "<3 love it", False),
    ("detect_xss", None, "<b>bold</b> <i>it</i> <p>para</p>", False),
    ("detect_xss", None, "<https://partner.lab.test/>", False),
    ("detect_xss", None, "<a href='https://partner.lab.test'>ok</a>", False),
    ("detect_xss", None, "the onerror handler = bad", False),
    # detect_ssrf
    ("detect_ssrf", None, "http://127.0.0.1/", True),
    ("detect_ssrf", None, "http://2130706433/", True),
    ("detect_ssrf", None, "http://0x7f000001/", True),
    ("detect_ssrf", None, "http://0177.0.0.1/", True),
    ("detect_ssrf", None, "http://127.1/", True),
    ("detect_ssrf", None, "http://[::1]/", True),
    ("detect_ssrf", None, "http://[::ffff:127.0.0.1]/", True),
    ("detect_ssrf", None, "http://[::ffff:7f00:1]/", True),
    ("detect_ssrf", None, "http://169.254.169.254/latest/meta-data/", True),
    ("detect_ssrf", None, "http://10.0.0.5:8080/", True),
    ("detect_ssrf", None, "http://metadata.lab.test/", True),
    ("detect_ssrf", None, "http://internal-api.lab.test/", True),
    ("detect_ssrf", None, "http://localhost./", True),
    ("detect_ssrf", None, "http://127.0.0.1.nip.io/", True),
    ("detect_ssrf", None, "http://partner.lab.test/redirect?to=http://127.0.0.1/", True),
    ("detect_ssrf", None, "http://partner.lab.test@192.168.1.1/", True),
    ("detect_ssrf", None, "http://0/", True),
    ("detect_ssrf", None, "http://partner.lab.test/products", False),
    ("detect_ssrf", None, "https://8.8.8.8/", False),
    ("detect_ssrf", None, "https://internalmedicine.example/", False),
    ("detect_ssrf", None, "no url here // just slashes", False),
]


@pytest.mark.parametrize(("name", "argument", "value", "matches"), CASES)
def test_operator(name: str, argument: Any, value: str, matches: bool) -> None:
    operator = operators.get(name)(argument)
    assert (operator.match(value) is not None) is matches


def test_every_registered_operator_has_cases() -> None:
    assert {c[0] for c in CASES} <= set(operators.names())
    assert {n for n in operators.names() if not n.startswith("test_")} <= {c[0] for c in CASES}


@pytest.mark.parametrize(
    ("name", "argument"),
    [
        ("rx", ""),
        ("rx", "(unclosed"),
        ("pm", []),
        ("gt", "ten"),
        ("length_gt", -1),
        ("ip_match", ["nope"]),
        ("detect_sqli", "x"),
        ("equals", 3),
    ],
)
def test_bad_argument_is_a_value_error(name: str, argument: Any) -> None:
    with pytest.raises(ValueError, match=name.split("_", maxsplit=1)[0]):
        operators.get(name)(argument)


def test_unknown_operator_lists_known_names() -> None:
    with pytest.raises(operators.UnknownOperatorError) as err:
        operators.get("regex")
    assert "rx" in str(err.value)


@pytest.mark.parametrize("name", ["detect_sqli", "detect_xss", "detect_ssrf", "rx", "pm"])
def test_prefilters_are_valid_re2(name: str) -> None:
    import re2

    argument = {"rx": "a+b", "pm": ["x"]}.get(name)
    for pattern in operators.get(name)(argument).prefilter or ():
        re2.compile(pattern)
