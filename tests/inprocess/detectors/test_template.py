"""Template detector: user input that adds Jinja2 syntax to a template source."""

from __future__ import annotations

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.template import assembled, detect
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
    ],
)
def test_user_template_using_plain_syntax_passes(template: str) -> None:
    """L11 renders whole user templates: expressions, filters, loops, macros are the feature."""
    assert detect(template, inputs_of(body_template=template)) is None


# Whole user templates that build constant text at render time (flagged at every level),
# next to the hard benign templates of the corpus (attacks/corpus/data/benign/L11.yaml).
ASSEMBLED = [
    "{{ 'rmp' ~ (1000+337) ~ 'x' }}",
    "{{'rmp'~(7*191)~'x'}}",
    "{{ 'rmp' + (1000+337)|string + 'x' }}",
    "{{ 'o' + 's' }}",
    "{{ '_' ~ '_cla' ~ 'ss_' ~ '_' }}",  # no '__' in any literal: only the assembly shows
    "{{ 'rmp%dx' | format(1000+337) }}",
    "{{ 'rmp%dx' % (1000+337) }}",
    "{{ '%s%s' | format('o', 's') }}",  # no literal words, but the arguments are text
    "{{ ['rmp', 1000+337, 'x'] | join }}",
    "{{ ('o', 's') | join('') }}",
    "{{ 'rmp{}x'.format(1000+337) }}",
    "{{ ''.join(['o', 's']) }}",
    "{{ '\\x72\\x6d\\x70' ~ (1000+337) ~ 'x' }}",
    "{{ 'rmp' ~ (1000+337) ~ 'x' if true else '' }}",
    "{{ 'rmp' ~ range(1000, 1338) | last ~ 'x' }}",  # range and dict read no context
    "{{ dict(rmp=1) | list | first ~ (1000+337) ~ 'x' }}",
    "{{ ('rmp' ~ (1000+337) ~ 'x') | upper }}",
    "{% set m = 'rmp' ~ 1337 ~ 'x' %}{{ m }}",
    "{{ 'x7331pmr'[::-1] }}",
    "Dear customer, {{ 'rmp' ~ 1337 }}",
]
NOT_ASSEMBLED = [
    "{{ shop ~ ' - ' ~ 'summer sale' }}",  # reads the render context
    "{{ user.name ~ '!' }}",
    "Order #{{ 1000 + 42 }}",
    "{{ '%.2f' | format(12.5) }} EUR",
    "{{ '%.2f' % 12.5 }}",
    "{{ 'Hello %s' | format(user.name) }}",
    "{{ 'sale' | upper }} at {{ shop }}",
    "{{ [1, 2, 3] | sum }} items",
    "{% set total = 3 * 4 %}Total: {{ total }}",
    "{{ 'a,b,c'.split(',') | join(' / ') }}",
    "{{ items | join(', ') }}",
    "{{ range(1, 4) | list }}",
    "{{ 'O\\'Brien' }}",
    "{{ '-' * 20 }}",
    "{% filter upper %}summer {{ 'sale' }}{% endfilter %}",
    "{% macro b(x) %}[{{ x }}]{% endmacro %}{{ b('ok') }}",
    "{{ user['name'] }}",
    "{% if user.name == 'guest' %}Please sign in{% endif %}",
    "Use {% raw %}{{ 'a' ~ 'b' }}{% endraw %} in emails",
    "{{ 'rmp' ~ (1000+337) ~ 'x' ",  # does not parse: the parser step judges nothing
]


@pytest.mark.parametrize("template", ASSEMBLED)
@pytest.mark.parametrize("level", ["gadgets", "expressions", "any"])
def test_text_assembled_from_constants_is_flagged(template: str, level: str) -> None:
    found = detect(template, inputs_of(body_template=template), level=level)
    assert found is not None
    assert found.attack_class == "ssti"
    assert found.confidence >= 0.8


@pytest.mark.parametrize("template", NOT_ASSEMBLED)
def test_context_and_plain_constants_pass_by_default(template: str) -> None:
    assert detect(template, inputs_of(body_template=template)) is None


@pytest.mark.parametrize("template", ASSEMBLED)
def test_assembled_names_the_construct(template: str) -> None:
    assert assembled(template) in {
        (0.85, "text assembled from constant fragments"),
        (0.85, "text cut from a string constant"),
    }


@pytest.mark.parametrize("template", NOT_ASSEMBLED)
def test_assembled_ignores_context_and_plain_constants(template: str) -> None:
    assert assembled(template) is None


def test_assembled_never_evaluates() -> None:
    """A constant that would take gigabytes to compute is judged from the tree alone."""
    assert assembled("{{ 'a' * 10**10 ~ 'b' }}") is not None


def test_assembled_handles_long_chains_without_recursion() -> None:
    chain = "{{ " + " + ".join(["1"] * 3000) + " ~ 'rmp' }}"
    assert assembled(chain) is not None
    assert assembled("{{ x ~ " + " ~ ".join(["'a'"] * 3000) + " }}") is None


@pytest.mark.parametrize(
    ("template", "levels"),
    [
        ("Your total is {{ 29 * 6 }} EUR.", {"expressions", "any"}),
        ("{{ user.name }}", {"expressions", "any"}),
        ("{% set x = 1 %}{{ x }}", {"expressions", "any"}),
        ("Hello {{ name }}", {"any"}),
        ("{# note #}hi", {"any"}),
        ("{{ cycler.__init__ }}", {"gadgets", "expressions", "any"}),
        ("{{ 'rmp' ~ (1000+337) ~ 'x' }}", {"gadgets", "expressions", "any"}),
        ("{{ shop ~ ' - ' ~ 'summer sale' }}", {"expressions", "any"}),
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


STATEMENT_BUILT = [
    "{% set a = 'rmp' %}{{ a ~ 1337 ~ 'x' }}",
    "{% set a = 'rm' %}{% set b = a ~ 'p' %}{{ b }}",
    "{% set p = '_' ~ '_' %}{{ p }}",
    "{% with a = 'rmp' %}{{ a ~ (1000 + 337) }}{% endwith %}",
]


@pytest.mark.parametrize("template", STATEMENT_BUILT)
def test_text_built_through_statements_is_flagged(template: str) -> None:
    found = detect(template, inputs_of(body_template=template))
    assert found is not None
    assert "assembled" in found.reason


@pytest.mark.parametrize(
    "template",
    [
        "{% set total = 3 * 4 %}Total: {{ total }}",
        "{% set s = shop %}{{ s ~ ' sale' }}",
        "{% with name = user.name %}Hi {{ name ~ '!' }}{% endwith %}",
        "{% set greeting = 'Hello' %}{{ greeting }} {{ user.name }}",
    ],
)
def test_statements_over_context_or_plain_constants_pass(template: str) -> None:
    assert detect(template, inputs_of(body_template=template)) is None
