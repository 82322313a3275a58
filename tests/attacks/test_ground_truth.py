"""Oracle judging: effects by kind, execution markers computed vs merely reflected."""

from __future__ import annotations

import pytest

from rampart.attacks.cases import Case, Expect, HttpRequest
from rampart.attacks.ground_truth import judge


def _case(
    *,
    marker: str | None = None,
    oracle: str | None = None,
    query: list[tuple[str, str]] | None = None,
    raw_query: str | None = None,
    body: str | None = None,
    follow_up: bool = False,
) -> Case:
    return Case.model_validate(
        {
            "id": "t-1",
            "label": "attack",
            "class": "ssti",
            "endpoint": "L11",
            "request": HttpRequest(
                method="POST", path="/api/render", query=query or [], raw_query=raw_query, body=body
            ),
            "expect": Expect(marker=marker, oracle=oracle),  # type: ignore[arg-type]
            "follow_up": HttpRequest(path="/comments") if follow_up else None,
        }
    )


MARK = "rmp1337x"


@pytest.mark.parametrize(
    ("case", "body", "worked", "reflected"),
    [
        # the payload computes the marker: it appears only because the code ran
        (
            _case(marker=MARK, body="{\"template\": \"{{ 'rmp' ~ (1000+337) ~ 'x' }}\"}"),
            f"<p>{MARK}</p>",
            True,
            False,
        ),
        # the template was echoed back unevaluated: no marker
        (
            _case(marker=MARK, body="{\"template\": \"{{ 'rmp' ~ (1000+337) ~ 'x' }}\"}"),
            "{{ 'rmp' ~ (1000+337) }}",
            False,
            False,
        ),
        # the marker itself was in the request: reflection proves nothing
        (_case(marker=MARK, body=f'{{"template": "{MARK}"}}'), f"<p>{MARK}</p>", False, True),
        # percent-encoded in the query and decoded by the app before reflecting
        (_case(marker=MARK, raw_query="expr=rmp%31337x"), f"result: {MARK}", False, True),
        # double-encoded in the query list
        (_case(marker=MARK, query=[("expr", "%72mp1337x")]), f"result: {MARK}", False, True),
        # HTML-entity encoded in the body
        (_case(marker=MARK, body="x=&#114;mp1337x"), MARK, False, True),
    ],
)
def test_marker_judging(case: Case, body: str, worked: bool, reflected: bool) -> None:
    j = judge(case, effects=[], body=body)
    assert j.worked is worked
    assert j.marker_reflected is reflected
    assert ("marker" in j.evidence) is worked


@pytest.mark.parametrize(
    ("oracle", "effects", "worked"),
    [
        ("canary_leak", [{"kind": "canary_leak", "detail": "sql"}], True),
        ("canary_leak", [{"kind": "internal_contact", "detail": "x"}], False),
        ("auth_bypass", [], False),
        ("internal_contact", [{"kind": "internal_contact"}, {"kind": "canary_leak"}], True),
    ],
)
def test_oracle_kinds(oracle: str, effects: list[dict[str, str]], worked: bool) -> None:
    j = judge(_case(oracle=oracle, query=[("url", "http://metadata.lab.test/")]), effects=effects, body="")
    assert j.worked is worked
    assert (f"oracle:{oracle}" in j.evidence) is worked


@pytest.mark.parametrize(
    ("follow_body", "baseline", "worked"),
    [(f"{MARK}{MARK}", 1, True), (MARK, 1, False), ("", 0, False), (MARK, 0, True)],
)
def test_follow_up_counts_only_new_markers(follow_body: str, baseline: int, worked: bool) -> None:
    case = _case(marker=MARK, body='{"text": "<img src=x onerror=\'rmp\'+1337>"}', follow_up=True)
    j = judge(case, effects=[], body="{}", follow_up_body=follow_body, baseline_markers=baseline)
    assert j.worked is worked


def test_benign_never_works() -> None:
    case = Case.model_validate(
        {
            "id": "b-1",
            "label": "benign",
            "endpoint": "L8",
            "request": {"path": "/greet", "query": [["name", MARK]]},
        }
    )
    assert judge(case, effects=[{"kind": "canary_leak"}], body=MARK).worked is False


def _xss(tags: list[str]) -> Case:
    return Case.model_validate(
        {
            "id": "xss-1",
            "label": "attack",
            "class": "xss",
            "endpoint": "L8",
            "request": {"path": "/greet", "query": [["name", "<svg onload=rmp1337>"]]},
            "expect": {"marker": "<svg onload=rmp1337>"},
            "tags": tags,
        }
    )


@pytest.mark.parametrize(
    ("tags", "body", "is_html", "worked"),
    [
        (["reflected-marker"], "<h1>Hello, <svg onload=rmp1337>!</h1>", True, True),
        # escaped on the way out: not active
        (["reflected-marker"], "<h1>Hello, &lt;svg onload=rmp1337&gt;!</h1>", True, False),
        # echoed raw, but in a JSON error, never rendered as HTML
        (["reflected-marker"], '{"error": "<svg onload=rmp1337>"}', False, False),
        # without the declaration, a marker present in the request proves nothing
        ([], "<h1>Hello, <svg onload=rmp1337>!</h1>", True, False),
    ],
)
def test_reflected_marker_declared_by_the_case(
    tags: list[str], body: str, is_html: bool, worked: bool
) -> None:
    j = judge(_xss(tags), effects=[], body=body, body_is_html=is_html)
    assert j.worked is worked
    if worked:
        assert j.evidence == ("reflected-marker",)
