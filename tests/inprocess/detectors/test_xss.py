"""XSS detectors: reflected input that becomes markup, stored values that render active HTML."""

from __future__ import annotations

import html

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.xss import active_content, detect, detect_stored
from tests.inprocess.detectors.helpers import inputs_of

BODY = "<html><body><h1>Hello {}!</h1><p>Welcome back.</p></body></html>"
ATTR = '<html><body><a href="{}">your link</a></body></html>'
TEXTAREA = "<form><textarea name=c>{}</textarea></form>"
SCRIPT = '<script>var name = "{}"; greet(name);</script>'
HANDLER = "<button onclick=\"say('{}')\">hi</button>"

ATTACKS = [
    (BODY, "<script>alert(1)</script>"),
    (BODY, "<img src=x onerror=alert(1)>"),
    (BODY, "<svg/onload=alert(1)>"),
    (BODY, "<ScRiPt>alert(1)</sCrIpT>"),
    (BODY, "<iframe srcdoc='&lt;script&gt;alert(1)&lt;/script&gt;'></iframe>"),
    (BODY, "<a href=javascript:alert(1)>x</a>"),
    (BODY, "<a href='jav&#x09;ascript:alert(1)'>x</a>"),
    (BODY, "<object data='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='></object>"),
    (BODY, "<details open ontoggle=alert(1)>"),
    (BODY, "<a href=//phish.example.test>log in again</a>"),
    (BODY, "<form action=//phish.example.test><input name=pw></form>"),
    (BODY, "<!-- hidden -->"),
    (ATTR, "javascript:alert(1)"),
    (ATTR, " JaVaScRiPt:alert(1)"),
    (ATTR, 'x" style="position:fixed;top:0'),
    (ATTR, 'x" onmouseover="alert(1)'),
    (ATTR, "data:text/html,<script>alert(1)</script>"),
    (TEXTAREA, "</textarea><script>alert(1)</script>"),
    (SCRIPT, '"; alert(1); //'),
    (SCRIPT, "</script><script>alert(1)</script>"),
    (HANDLER, "'); alert(1); ('"),
]

BENIGN = [
    (BODY, "Alice"),
    (BODY, "I <3 cats"),
    (BODY, "a < b and c > d"),
    (BODY, "x<3 and 1<2"),
    (BODY, "**markdown** _text_ [link](http://example.test)"),
    (BODY, 'O\'Brien said "hi"'),
    (BODY, "javascript: the good parts"),
    (BODY, "5 > 3"),
    (BODY, "<b>bold</b> and <i>italic</i>"),  # inert formatting: HTML injection without effect
    (BODY, "Ana <ana at shop.example>"),
    (ATTR, "https://example.test/page?a=1&b=2"),
    (ATTR, "/relative/path"),
    (SCRIPT, "O'Brien"),
    (HANDLER, "time: 10:30"),
    (SCRIPT, "it's 10:30 <ok>"),
]


@pytest.mark.parametrize(("page", "value"), ATTACKS)
def test_reflected_attacks(page: str, value: str) -> None:
    found = detect(page.format(value), inputs_of(query_name=value))
    assert found is not None
    assert found.attack_class == "xss"
    assert found.source == "query.name"


@pytest.mark.parametrize(("page", "value"), BENIGN)
def test_benign_reflections(page: str, value: str) -> None:
    assert detect(page.format(value), inputs_of(query_name=value)) is None


@pytest.mark.parametrize(
    "value", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=1>']
)
def test_escaped_reflection_passes(value: str) -> None:
    assert detect(BODY.format(html.escape(value)), inputs_of(query_name=value)) is None


def test_active_markup_is_high_confidence() -> None:
    value = "<img src=x onerror=alert(1)>"
    found = detect(BODY.format(value), inputs_of(query_name=value))
    assert found is not None
    assert found.confidence >= 0.95


STORED_ATTACKS = [
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    "nice post <svg onload=alert(1)>",
    "<a href='javascript:alert(1)'>click</a>",
    "<iframe src='data:text/html,<script>alert(1)</script>'></iframe>",
    "<body onload=alert(1)>",
    "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
    "<div style=x onmouseover=alert(1)>hover</div>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<input autofocus onfocus=alert(1)>",
]

STORED_BENIGN = [
    "Great article!",
    "I <3 this",
    "<b>bold</b> and <i>italic</i>",
    "a < b > c",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<a href='https://example.test'>link</a>",
    "<p>para</p>",
    "javascript: is a language",
    "onload= is an attribute name",
    "<img src='/cat.png' alt='cat'>",
]


def _comments_page(values: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{v}</li>" for v in values) + "</ul>"


@pytest.mark.parametrize("value", STORED_ATTACKS)
def test_stored_attacks(value: str) -> None:
    found = detect_stored(_comments_page(["hello", value]), ["hello", value])
    assert found is not None
    assert found.detector == "stored_xss"
    assert found.attack_class == "xss"


@pytest.mark.parametrize("value", STORED_BENIGN)
def test_stored_benign(value: str) -> None:
    assert detect_stored(_comments_page([value]), [value]) is None


def test_stored_value_escaped_in_page_passes() -> None:
    value = "<script>alert(1)</script>"
    assert detect_stored(_comments_page([html.escape(value)]), [value]) is None


def test_active_content_lists_constructs() -> None:
    assert sorted(active_content("<a href=javascript:x onclick=y>")) == [
        "href=javascript: URL",
        "onclick= handler",
    ]


def test_registered() -> None:
    assert get("xss") is detect
    assert get("stored_xss") is detect_stored
