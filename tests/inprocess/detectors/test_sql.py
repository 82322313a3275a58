"""SQL detector: attacks and tricky benign inputs side by side, per dialect."""

from __future__ import annotations

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.sql import detect
from tests.inprocess.detectors.helpers import inputs_of, noise

NUMERIC = "SELECT id, item, qty FROM orders WHERE id = {}"
QUOTED = "SELECT id, item, qty FROM orders WHERE item LIKE '%{}%'"


def _quoted_escaped(value: str) -> str:
    return QUOTED.format(value.replace("'", "''"))


ATTACKS = [
    (NUMERIC, "1 OR 1=1"),
    (NUMERIC, "1 UNION SELECT id, name, token FROM secrets"),
    (NUMERIC, "1 UN/**/ION SE/**/LECT id, name, token FROM secrets"),
    (NUMERIC, "1/**/UNION/**/SELECT/**/1,2,3"),
    (NUMERIC, "1; DROP TABLE orders"),
    (NUMERIC, "1 -- comment"),
    (NUMERIC, "0 or true"),
    (NUMERIC, "1 uNiOn sElEcT 1,2,3"),
    (NUMERIC, "(SELECT 1)"),
    (NUMERIC, "1)or(1=1"),
    (QUOTED, "x%' OR '1'='1"),
    (QUOTED, "%' UNION SELECT id, name, token FROM secrets -- -"),  # MySQL needs a space after --
    (QUOTED, "' UNION SELECT 1,2,3/*"),
    (QUOTED, "zz'||(SELECT token FROM secrets)||'"),
    (QUOTED, "a'; DELETE FROM orders; -- -"),
    (NUMERIC, "1 UNION SELECT id, name, token FROM secrets /*"),  # SQLite accepts the open comment
    (QUOTED, "x' AND 1=(SELECT 1) AND '%'='"),
]

BENIGN = [
    (NUMERIC, "42"),
    (NUMERIC, "-5"),
    (NUMERIC, "3.14"),
    (NUMERIC, "1e3"),
    (QUOTED, "widget"),
    (QUOTED, "select"),
    (QUOTED, "union select from where"),
    (QUOTED, "blue -- large"),
    (QUOTED, "50% off; today"),
    (QUOTED, "a/**/b"),
    (QUOTED, "C:\\temp"),
    (QUOTED, "emoji \u2603 and \u00e9"),
    # these break the vulnerable query, but into a syntax error only: nothing new runs
    (QUOTED, "chef's knife set"),
    (QUOTED, "O'Reilly books"),
    (QUOTED, "rock 'n' roll"),
    (QUOTED, "abc'"),
    (NUMERIC, "rock n roll"),
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize(("template", "value"), ATTACKS)
def test_attacks_are_flagged(template: str, value: str, dialect: str) -> None:
    found = detect(template.format(value), inputs_of(query_q=value), dialect=dialect)
    assert found is not None
    assert found.attack_class == "sql_injection"
    assert found.source == "query.q"
    assert found.evidence == value


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize(("template", "value"), BENIGN)
def test_benign_values_pass(template: str, value: str, dialect: str) -> None:
    assert detect(template.format(value), inputs_of(query_q=value), dialect=dialect) is None


@pytest.mark.parametrize("value", ["O'Brien", "it's a ' OR '1'='1 trap", "x' UNION SELECT 1 --"])
def test_correctly_escaped_values_pass(value: str) -> None:
    assert detect(_quoted_escaped(value), inputs_of(query_q=value)) is None


def test_parameterised_query_never_matches() -> None:
    query = "SELECT id, item, qty FROM orders WHERE item LIKE ?"
    assert detect(query, inputs_of(query_q="' OR 1=1 --")) is None


def test_input_elsewhere_in_context_is_ignored() -> None:
    value = "1 OR 1=1"
    assert detect(NUMERIC.format("7"), [*noise(), *inputs_of(query_q=value)]) is None


def test_strong_tokens_raise_confidence() -> None:
    strong = detect(NUMERIC.format("1 UNION SELECT 1,2,3"), inputs_of(query_q="1 UNION SELECT 1,2,3"))
    assert strong is not None
    assert strong.confidence >= 0.95


def test_unknown_dialect_falls_back() -> None:
    assert detect(NUMERIC.format("1 OR 1=1"), inputs_of(query_q="1 OR 1=1"), dialect="nosuch") is not None


def test_registered() -> None:
    assert get("sql") is detect


@pytest.mark.parametrize(
    ("query", "flags"),
    [
        ("SELECT 1 /* it's */ FROM t WHERE a = 'x OR 1=1'", False),
        ("SELECT 1 -- it's\nFROM t WHERE a = 'x OR 1=1'", False),
        ("SELECT 'it''s' AS x FROM t WHERE a = x OR 1=1", True),
        ("SELECT $$it's$$ FROM t WHERE a = x OR 1=1", True),
        ("SELECT 'a\\' FROM t WHERE a = x OR 1=1", True),
    ],
)
def test_literal_shortcut_agrees_with_tokenizer(query: str, flags: bool) -> None:
    """Quote-free inputs skip sqlglot only when a quick lexer puts them inside a literal."""
    assert (detect(query, inputs_of(query_q="x OR 1=1"), dialect="postgres") is not None) is flags


def test_input_inside_an_app_comment_is_inert() -> None:
    query = "SELECT id FROM orders /* note: a b */ WHERE id = 1"
    assert detect(query, inputs_of(query_q="a b")) is None
