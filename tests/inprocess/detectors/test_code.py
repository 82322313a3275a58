"""Code detector: user input that is Python code (not arithmetic) in eval/exec source."""

from __future__ import annotations

import ast

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.code import assembles_text, detect, is_arithmetic
from tests.inprocess.detectors.helpers import inputs_of

ATTACKS = [
    "__import__('os').popen('id').read()",
    "open('/etc/passwd').read()",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda n: 'rmp' + str(n) + 'x')(1000 + 337)",
    "['rmp' + str(n) + 'x' for n in [1000 + 337]][0]",
    "'rmp'.__add__(str(1000 + 337)).__add__('x')",
    "''.join(['rmp', str(1000 + 337), 'x'])",
    "'rmp{}x'.format(1000 + 337)",
    "chr(114) + chr(109) + chr(112)",
    "globals()",
    "SECRET",
    "__builtins__",
    "eval('1+1')",
    "getattr(__builtins__, 'ev' + 'al')('1')",
    "(x := 5)",
    "vars()['SECRET']",
    "math.__dict__",
    "import os",
    "exec('x=1')",
    "type('', (), {})",
]

BENIGN = [
    "2*(3+4)",
    "1+1",
    "10/3",
    "-5 ** 2",
    "3.5 * 2",
    "7 // 2 % 3",
    "1e3 + 2j",
    "((1))",
    "42",
    "0x1f + 0o7",
    "[1, 2, 3][1]",
    "len('hello')",
    "math.pi * 2",
    "10 if 2 > 1 else 0",
    "min(10, 20) * 3",
    "round(3.14159, 2)",
    "math.sqrt(16)",
    "int('42') + 1",
    "'%.2f' % 12.5",
    "not 0",
    "abs(-3)",
    "str(12.5)",
    "3 == 3",
]

# Text assembled from fragments out of calculator parts, next to the hard benign
# expressions of the corpus (attacks/corpus/data/benign/L12.yaml) that must stay clean.
ASSEMBLED = [
    "'rmp'+str(1000+337)+'x'",
    "'rmp' + str(1000 + 337) + 'x'",
    "'o' + 's'",
    "'__imp' + 'ort__'",
    "'rmp' + repr(1337) + 'x'",
    "'rmp' + (1000+337) + 'x'",  # raises TypeError when run, still an assembly attempt
    "'rmp'+str(math.floor(1337.5))+'x'",
    "'\\x72\\x6d\\x70'+str(1000+337)+'x'",
    "'rmp'+str(1000+337)+'x' if 1 else 0",
    "['no', 'rmp'+str(1000+337)+'x'][True]",
    "{'k': 'rmp'+str(1000+337)+'x'}['k']",
    "str(1) + str(2)",
    "'ab' * 3",
    "b'rmp' + b'x'",
    "f'rmp{1000+337}x'",
    "f'{1000+337}x'",
    "'rmp%dx' % (1000+337)",
    "'rmp%dx'%1337",
    "'%s%s' % ('o', 's')",
    "'%s' % str(1337)",
    "'%(a)s%(b)s' % {'a': 'o', 'b': 's'}",
    "'x7331pmr'[::-1]",
    "'abc'[0]",
]
CALCULATOR = [
    "int('42') + 1",
    "len('hello')",
    "len('hello') * 2",
    "str(12.5)",
    "float('1.5') * 2",
    "'%.2f' % 12.5",
    "'%d' % 7",
    "'%(n)05.1f' % {'n': 1.5}",
    "f'{12.5:.2f}'",
    "round(float('2.5')) + 1",
    "max(len('ab'), 3)",
    "[1, 2, 3][1]",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_code_input_is_flagged(value: str) -> None:
    found = detect(value, inputs_of(query_expr=value))
    assert found is not None
    assert found.attack_class == "code_injection"
    assert found.source == "query.expr"


@pytest.mark.parametrize("value", [*BENIGN, *CALCULATOR])
def test_calculator_input_passes(value: str) -> None:
    assert detect(value, inputs_of(query_expr=value)) is None


@pytest.mark.parametrize("value", ASSEMBLED)
def test_text_assembled_from_fragments_is_flagged(value: str) -> None:
    found = detect(value, inputs_of(query_expr=value))
    assert found is not None
    assert found.attack_class == "code_injection"
    assert "text " in found.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("'rmp'+str(1000+337)+'x'", "text assembled from fragments"),
        ("f'rmp{1000+337}x'", "text assembled by an f-string"),
        ("'rmp%dx' % 1337", "text assembled by % formatting"),
        ("'x7331pmr'[::-1]", "text cut from a string constant"),
        ("int('42') + 1", None),
        ("'%.2f' % 12.5", None),
        ("f'{12.5:.2f}'", None),
        ("len('hello')", None),
    ],
)
def test_assembles_text_names_the_construct(value: str, reason: str | None) -> None:
    tree = ast.parse(value, mode="eval").body
    assert assembles_text(tree) == reason


def test_assembled_text_confidence() -> None:
    value = "'rmp'+str(1000+337)+'x'"
    found = detect(value, inputs_of(query_expr=value))
    assert found is not None
    assert found.confidence == 0.85


def test_long_string_chain_does_not_recurse() -> None:
    value = "+".join(["'a'"] * 4000)
    assert detect(value, inputs_of(query_expr=value)) is not None


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("result = {!r}", "hello world"),
        ("result = {!r}", "__import__('os')"),
        ("x = len({!r})", "'; import os; '"),
    ],
)
def test_input_quoted_as_data_passes(template: str, value: str) -> None:
    assert detect(template.format(value), inputs_of(query_q=value)) is None


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("x = '{}'", "'; __import__('os').system('id'); '"),
        ("x = '{}'", "' + str(__import__('os').getcwd()) + '"),
        ("total = price * {}", "__import__('os').getpid()"),
    ],
)
def test_breakout_from_app_source(template: str, value: str) -> None:
    assert detect(template.format(value), inputs_of(query_q=value)) is not None


def test_syntax_breaking_input() -> None:
    value = "__import__('os'"
    assert detect(f"x = {value}", inputs_of(query_q=value)) is not None
    assert detect("x = 1 +", inputs_of(query_q="1 +")) is None  # digits and operators only


@pytest.mark.parametrize("value", ["str(12.5)", "'%.2f' % 12.5", "len('hello')", "math.pi * 2"])
def test_strict_reports_everything_but_arithmetic(value: str) -> None:
    assert detect(value, inputs_of(query_expr=value), strict=True) is not None
    assert detect("2*(3+4)", inputs_of(query_expr="2*(3+4)"), strict=True) is None


def test_capabilities_name_what_was_reached() -> None:
    found = detect("open('/etc/passwd').read()", inputs_of(query_expr="open('/etc/passwd').read()"))
    assert found is not None
    assert "name 'open'" in found.reason


def test_is_arithmetic() -> None:
    assert is_arithmetic("2*(3+4)")
    assert not is_arithmetic("True + 1")
    assert not is_arithmetic("'a'")


def test_registered() -> None:
    assert get("code") is detect
