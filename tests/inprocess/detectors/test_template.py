"""Template detector: user input that adds Jinja2 syntax to a template source."""

from __future__ import annotations

import pytest

from inprocess.detectors import get
from inprocess.detectors.template import detect
from tests.inprocess.detectors.helpers import inputs_of

APP = "<h1>Hello {user}!</h1><p>{{{{ greeting }}}}</p>"

ATTACKS = [
    "{{7*7}}",
    "{{ 7 * '7' }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{% include '/etc/passwd' %}",
    "{% set x = 'rmp' ~ (1000+337) ~ 'x' %}{{ x }}",
    "{{ request|attr('application') }}",
    "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{% endfor %}",
    "{{ 'rmp' ~ (1000+337) ~ 'x' }}",
]

BENIGN = [
    "Alice",
    "Bob {",
    "a } b",
    "{ not a tag }",
    "100% sure",
    "# heading",
    "x = {'a': 1}",
    "curly {braces} only",
    "O'Brien",
    "<b>bold</b>",
    "50%} off",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_injected_syntax_is_flagged(value: str) -> None:
    source = APP.format(user=value)
    found = detect(source, inputs_of(query_name=value))
    assert found is not None
    assert found.attack_class == "ssti"
    assert found.source == "query.name"


@pytest.mark.parametrize("value", BENIGN)
def test_plain_text_passes(value: str) -> None:
    assert detect(APP.format(user=value), inputs_of(query_name=value)) is None


@pytest.mark.parametrize(
    "template",
    [
        "Hello {{ name }}!",
        "Hello {{ name|upper }}",
        "{% for item in items %}<li>{{ item }}</li>{% endfor %}",
        "{% if admin %}hi{% else %}bye{% endif %}",
        "{# a comment #}plain",
        "Your total is {{ 29 * 6 }} EUR.",
        "{{ user.name | default('friend') }}",
        "{{ 'a,b,c'.split(',') | join(' / ') }}",
        "{% set total = 3 * 4 %}Total: {{ total }}",
        "{% macro b(x) %}[{{ x }}]{% endmacro %}{{ b('ok') }}",
        "{% for i in range(3) %}{{ i }} {% endfor %}",
        "{{ 'rmp' ~ (1000 + 337) ~ 'x' }}",  # computes, but with the template language only
    ],
)
def test_user_template_using_plain_syntax_passes(template: str) -> None:
    """L11 renders whole user templates: expressions, filters, loops, macros are the feature."""
    assert detect(template, inputs_of(body_template=template)) is None


@pytest.mark.parametrize(
    ("template", "levels"),
    [
        ("Your total is {{ 29 * 6 }} EUR.", {"expressions", "any"}),
        ("{{ user.name }}", {"expressions", "any"}),
        ("{% set x = 1 %}{{ x }}", {"expressions", "any"}),
        ("Hello {{ name }}", {"any"}),
        ("{# note #}hi", {"any"}),
        ("{{ cycler.__init__ }}", {"gadgets", "expressions", "any"}),
    ],
)
def test_levels_for_user_authored_templates(template: str, levels: set[str]) -> None:
    for level in ("gadgets", "expressions", "any"):
        found = detect(template, inputs_of(body_template=template), level=level)
        assert (found is not None) is (level in levels), level


def test_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown template level"):
        detect("{{ x }}", inputs_of(body_template="{{ x }}"), level="paranoid")


@pytest.mark.parametrize(
    "template",
    [
        "{{ cycler.__init__.__globals__ }}",
        "Hi {{ name.__class__ }}",
        "{% include 'x.html' %}",
        "{% from 'forms.html' import field %}",
        "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ request.application.__globals__ }}",
    ],
)
def test_user_template_with_gadgets_is_flagged(template: str) -> None:
    assert detect(template, inputs_of(body_template=template)) is not None


def test_broken_syntax_from_input() -> None:
    found = detect(APP.format(user="{{ 7*7"), inputs_of(query_name="{{ 7*7"))
    assert found is not None


def test_gadget_confidence() -> None:
    value = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    found = detect(APP.format(user=value), inputs_of(query_name=value))
    assert found is not None
    assert found.confidence >= 0.95


def test_registered() -> None:
    assert get("template") is detect


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        ("x' ~ cycler.__init__.__globals__ ~ '", True),
        ("x' ~ (7*7) ~ '", True),
        ("plain words", False),
        ("O'Brien", True),  # the stray quote breaks the app's template: reported at 0.7
        ("Brien & co", False),
    ],
)
def test_input_inside_an_app_expression(value: str, flags: bool) -> None:
    """The app quotes the input inside ``{{ '...' }}``; breaking out of the string is code."""
    source = "Hi {{ '" + value + "' | upper }}"
    assert (detect(source, inputs_of(query_name=value)) is not None) is flags
