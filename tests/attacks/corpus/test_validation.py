"""Bad corpus files give errors that name the file, the line, the case and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.attacks.corpus import CorpusError, load_base_payloads, load_benign, load_cases

GOOD_ITEM = """\
  - id: sql.l3.demo
    endpoint: L3
    param: id
    payload: "0 UNION SELECT id, token, 0 FROM secrets"
    expect: {oracle: canary_leak}
"""


def _base(tmp_path: Path, body: str, name: str = "sql_injection.yaml") -> Path:
    folder = tmp_path / "base"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(body, encoding="utf-8")
    return folder


def _head(cls: str = "sql_injection") -> str:
    return f"class: {cls}\nprovenance: test\npayloads:\n"


def test_good_tmp_file_loads_and_expands(tmp_path: Path) -> None:
    folder = _base(tmp_path, _head() + GOOD_ITEM)
    bases = load_base_payloads(folder=folder)
    assert [b.id for b in bases] == ["sql.l3.demo"]
    assert bases[0].line == 4
    cases = load_cases(include_benign=False, base_dir=folder)
    assert len(cases) > 5
    assert cases[0].id == "sql.l3.demo"


@pytest.mark.parametrize(
    ("item", "needles"),
    [
        (
            GOOD_ITEM.replace("    param: id\n", ""),
            ["line 4", "'sql.l3.demo'", "param", "add the key 'param'"],
        ),
        (GOOD_ITEM + "    colour: red\n", ["'sql.l3.demo'", "colour", "remove 'colour'"]),
        (
            GOOD_ITEM.replace("endpoint: L3", "endpoint: L5"),
            ["L5 is a command_injection endpoint", "move the payload to command_injection.yaml"],
        ),
        (GOOD_ITEM.replace("endpoint: L3", "endpoint: L99"), ["unknown endpoint 'L99'", "L1, L2"]),
        (GOOD_ITEM.replace("sql.l3.demo", "SQL-demo"), ["must read sql.l3.<slug>"]),
        (GOOD_ITEM.replace("param: id", "param: item"), ["L3 reads id, not 'item'"]),
        (GOOD_ITEM.replace("{oracle: canary_leak}", "{oracle: pwned}"), ["expect.oracle", "auth_bypass"]),
        (GOOD_ITEM.replace("{oracle: canary_leak}", "{}"), ["needs an oracle kind or a marker"]),
        (GOOD_ITEM + "    mutators: [rot47]\n", ["unknown encoder 'rot47'", "double_url"]),
        (GOOD_ITEM + "    placement: json\n", ["not reached through placement 'json'", "use one of query"]),
    ],
)
def test_bad_payload_names_file_line_case_and_fix(tmp_path: Path, item: str, needles: list[str]) -> None:
    folder = _base(tmp_path, _head() + item)
    with pytest.raises(CorpusError) as err:
        load_base_payloads(folder=folder)
    message = str(err.value)
    assert "sql_injection.yaml:4:" in message
    for needle in needles:
        assert needle.replace("line 4", "yaml:4") in message, message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    folder = _base(tmp_path, _head() + GOOD_ITEM + "  - id: [unclosed\n")
    with pytest.raises(CorpusError, match=r"sql_injection\.yaml:10: YAML syntax error"):
        load_base_payloads(folder=folder)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    folder = _base(tmp_path, _head() + GOOD_ITEM + GOOD_ITEM)
    with pytest.raises(CorpusError, match=r"yaml:9: case 'sql\.l3\.demo': duplicate id \(first at line 4\)"):
        load_base_payloads(folder=folder)


def test_file_named_after_another_class(tmp_path: Path) -> None:
    folder = _base(tmp_path, _head() + GOOD_ITEM, name="ssrf.yaml")
    with pytest.raises(CorpusError, match=r"rename the file to sql_injection\.yaml"):
        load_base_payloads(folder=folder)


def test_not_a_mapping(tmp_path: Path) -> None:
    folder = _base(tmp_path, "- just a list\n")
    with pytest.raises(CorpusError, match="must be a mapping"):
        load_base_payloads(folder=folder)


def _benign(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "benign"
    folder.mkdir(exist_ok=True)
    (folder / "L3.yaml").write_text(body, encoding="utf-8")
    return folder


def test_benign_generator_errors(tmp_path: Path) -> None:
    folder = _benign(
        tmp_path, "endpoint: L3\ngenerators:\n  - name: ids\n    count: 2\n    fields: {id: '@@nope@@'}\n"
    )
    with pytest.raises(CorpusError, match=r"L3\.yaml:3: case 'ids': template slot @@nope@@ has no word list"):
        load_benign(folder=folder)
    folder = _benign(
        tmp_path, "endpoint: L3\ngenerators:\n  - name: ids\n    count: 5\n    fields: {id: '@@int:1-2@@'}\n"
    )
    with pytest.raises(CorpusError, match="only 2 distinct requests out of 5; add words"):
        load_benign(folder=folder, seed=7)
    folder = _benign(
        tmp_path, "endpoint: L3\ngenerators:\n  - name: ids\n    count: 1\n    fields: {item: x}\n"
    )
    with pytest.raises(CorpusError, match="field 'item' is not read by L3"):
        load_benign(folder=folder, seed=8)


def test_benign_generation_is_seeded(tmp_path: Path) -> None:
    folder = _benign(
        tmp_path,
        "endpoint: L3\nvocab: {n: ['1', '2', '3', '4']}\ngenerators:\n"
        "  - name: ids\n    count: 3\n    hard: true\n    fields: {id: '@@n@@@@int:0-9@@'}\n",
    )
    a = load_benign(folder=folder, seed=11)
    assert [c.id for c in a] == ["benign.l3.ids.001", "benign.l3.ids.002", "benign.l3.ids.003"]
    assert all(c.hard and c.label == "benign" and c.expect is None for c in a)
    assert [c.request for c in a] == [c.request for c in load_benign(folder=folder, seed=11)]
