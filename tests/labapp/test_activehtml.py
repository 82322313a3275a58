import pytest

from rampart.labapp.activehtml import find_active_html

ACTIVE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnError=alert(1)>",
    '<img/src="x"/onerror=alert(1)>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg/onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" jav&#x61;script:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<object data="data:text/html,<script>alert(1)</script>">',
    "<math><maction xlink:href=javascript:alert(1)>x</maction></math>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<div style="width: expression(alert(1))">',
]
INERT = [
    "Great shop, fast delivery!",
    "5 < 6 and 7 > 3",
    "<b>bold</b> and <i>italic</i>",
    '<a href="https://example.com/onerror">link</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "I love <3 this <3",
    "use on-call rotation <p class=note>",
    # browsers read these as inert too: the value swallows "/onerror", the tag is "scr<script"
    "<img/src=x/onerror=alert(1)>",
    "<scr<script>ipt>alert(1)</script>",
]


@pytest.mark.parametrize("text", ACTIVE)
def test_active(text):
    assert find_active_html(text)


@pytest.mark.parametrize("text", INERT)
def test_inert(text):
    assert find_active_html(text) == []
