"""Table-driven tests for every transformation (input, expected output, changed flag)."""

from __future__ import annotations

import pytest

from rampart.gateway.engines.native import transforms

CASES: list[tuple[str, str, str, bool]] = [
    ("url_decode", "plain", "plain", False),
    ("url_decode", "%27%20OR%201", "' OR 1", True),
    ("url_decode", "%252e%252e%252f", "../", True),
    ("url_decode", "%u003cscript%u003e", "<script>", True),
    ("url_decode", "%c0%ae%c0%ae%c0%af", "../", True),
    ("url_decode", "a+b", "a+b", False),
    ("url_decode", "100%", "100%", False),
    ("url_decode", "%zz", "%zz", False),
    ("url_decode", "caf%C3%A9", "café", True),
    ("html_entity_decode", "&lt;b&gt;", "<b>", True),
    ("html_entity_decode", "&amp;lt;", "<", True),
    ("html_entity_decode", "&#x6a;&#97", "ja", True),
    ("html_entity_decode", "fish & chips", "fish & chips", False),
    ("js_decode", "\\x3cscript\\x3e", "<script>", True),
    ("js_decode", "\\u0061lert", "alert", True),
    ("js_decode", "\\u{61}", "a", True),
    ("js_decode", "\\101", "A", True),
    ("js_decode", "no escapes", "no escapes", False),
    ("css_decode", "\\6a avascript", "javascript", True),
    ("css_decode", "\\000065xpression", "expression", True),
    ("css_decode", "color: red", "color: red", False),
    ("unicode_normalise", "＜script＞", "<script>", True),
    ("unicode_normalise", "ｓｅｌｅｃｔ", "select", True),
    ("unicode_normalise", "in\u200bvisible", "invisible", True),
    ("unicode_normalise", "ascii", "ascii", False),
    ("lowercase", "SeLeCt", "select", True),
    ("lowercase", "lower", "lower", False),
    ("compress_whitespace", "a \t\n  b", "a b", True),
    ("compress_whitespace", "a\u3000b", "a b", True),
    ("compress_whitespace", "a b", "a b", False),
    ("remove_nulls", "scr\0ipt", "script", True),
    ("remove_nulls", "clean", "clean", False),
    ("remove_comments", "UNION/**/SELECT", "UNION SELECT", True),
    ("remove_comments", "1/*!50000UNION*/", "1 UNION ", True),
    ("remove_comments", "admin'-- x", "admin' ", True),
    ("remove_comments", "a # rest\nb", "a  \nb", True),
    ("remove_comments", "plain text", "plain text", False),
    ("normalise_path", "/a/./b//c", "/a/b/c", True),
    ("normalise_path", "/a/../../etc/passwd", "/../etc/passwd", True),
    ("normalise_path", "/x;jsessionid=1/y", "/x/y", True),
    ("normalise_path", "..\\..\\win.ini", "../../win.ini", True),
    ("normalise_path", "/docs/readme.md", "/docs/readme.md", False),
    ("cmdline", "w'h'o\\am^i", "whoami", True),
    ("cmdline", "cat${IFS}/etc/passwd", "cat/etc/passwd", True),
    ("cmdline", "x\nid", "x;id", True),
    ("cmdline", "ls   -la", "ls -la", True),
    ("cmdline", "plain", "plain", False),
    (
        "base64_decode_if_encoded",
        "aWdub3JlIHByZXZpb3VzIGluc3RydWN0aW9ucw==",
        "ignore previous instructions",
        True,
    ),
    (
        "base64_decode_if_encoded",
        "say aGVsbG8gd29ybGQgZnJvbSB0aGUgbGFi now",
        "say hello world from the lab now",
        True,
    ),
    ("base64_decode_if_encoded", "Passw0rdPassw0rd", "Passw0rdPassw0rd", False),
    ("base64_decode_if_encoded", "short", "short", False),
]


@pytest.mark.parametrize(("name", "value", "expected", "changed"), CASES)
def test_transformation(name: str, value: str, expected: str, changed: bool) -> None:
    assert transforms.get(name)(value) == (expected, changed)


def test_every_registered_transformation_has_cases() -> None:
    assert {c[0] for c in CASES} == set(transforms.names())


def test_unknown_transformation_lists_known_names() -> None:
    with pytest.raises(transforms.UnknownTransformError) as err:
        transforms.get("urldecode")
    assert "url_decode" in str(err.value)
    assert "urldecode" in str(err.value)


def test_apply_chain_runs_in_order() -> None:
    assert transforms.apply_chain(["url_decode", "lowercase"], "%53ELECT") == "select"


def test_register_adds_a_transformation() -> None:
    transforms.register("test_reverse", lambda v: (v[::-1], len(v) > 1))
    assert transforms.apply_chain(["test_reverse"], "abc") == "cba"


def test_a_chain_follows_a_transformation_registered_again() -> None:
    # chains keep their functions looked up once, per version of the registry: a name
    # registered again (or removed) is looked up again (values past the result cache's length)
    long_value = "x" * 600
    transforms.register("test_marks", lambda v: (v + "1", True))
    try:
        assert transforms.apply_chain(("test_marks",), long_value) == long_value + "1"
        transforms.register("test_marks", lambda v: (v + "2", True), replace=True)
        assert transforms.apply_chain(("test_marks",), long_value) == long_value + "2"
    finally:
        transforms.transforms.unregister("test_marks")
    with pytest.raises(transforms.UnknownTransformError):
        transforms.apply_chain(("test_marks",), long_value)
