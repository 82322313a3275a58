"""Code detector: user input that is Python code (not arithmetic) in eval/exec source."""

from __future__ import annotations

import pytest

from inprocess.detectors import get
from inprocess.detectors.code import detect, is_arithmetic
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

# Computations built only from calculator parts: accepted by design (see the module docstring).
ACCEPTED_STRING_BUILDING = ["'rmp' + str(1000+337) + 'x'", "f'rmp{1000+337}x'", "'rmp%dx' % (1000+337)"]


@pytest.mark.parametrize("value", ATTACKS)
def test_code_input_is_flagged(value: str) -> None:
    found = detect(value, inputs_of(query_expr=value))
    assert found is not None
    assert found.attack_class == "code_injection"
    assert found.source == "query.expr"


@pytest.mark.parametrize("value", [*BENIGN, *ACCEPTED_STRING_BUILDING])
def test_calculator_input_passes(value: str) -> None:
    assert detect(value, inputs_of(query_expr=value)) is None


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


@pytest.mark.parametrize("value", [*ACCEPTED_STRING_BUILDING, "len('hello')", "math.pi * 2"])
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
