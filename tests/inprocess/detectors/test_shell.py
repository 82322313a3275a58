"""Shell detector: attacks and tricky benign inputs side by side."""

from __future__ import annotations

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.shell import Role, detect, roles
from tests.inprocess.detectors.helpers import inputs_of

UNQUOTED = "sha256sum {}"
SINGLE = "sha256sum '{}'"
DOUBLE = 'sha256sum "{}"'

ATTACKS = [
    (UNQUOTED, "a.txt; id"),
    (UNQUOTED, "a.txt && whoami"),
    (UNQUOTED, "a.txt || uname -a"),
    (UNQUOTED, "a.txt | cat /tmp/canary"),
    (UNQUOTED, "a.txt & echo rmp1337x"),
    (UNQUOTED, "$(echo rmp1337x)"),
    (UNQUOTED, "`id`"),
    (UNQUOTED, "a.txt\nid"),
    (UNQUOTED, "a.txt > /tmp/out"),
    (UNQUOTED, "a.txt;cat${IFS}/tmp/canary"),
    (UNQUOTED, "$HOME/.ssh/id_rsa"),
    (UNQUOTED, "/tmp/*"),
    (UNQUOTED, "a.txt #"),
    (SINGLE, "a.txt'; id; echo '"),
    (SINGLE, "x'$(id)'"),
    (DOUBLE, "$(id)"),
    (DOUBLE, "`whoami`"),
    (DOUBLE, 'a.txt"; echo rmp1337x; "'),
    (DOUBLE, "${IFS}"),
    (UNQUOTED, "a.txt --help"),
    (UNQUOTED, "~/.ssh/id_rsa"),
    (UNQUOTED, "a.txt$((1000+337))"),
    (SINGLE, "x.txt'; echo rmp$((1000+337))x; '"),
]

BENIGN = [
    (UNQUOTED, "report.pdf"),
    (UNQUOTED, "notes-2024_v2.txt"),
    (UNQUOTED, "a\\;b.txt"),
    (SINGLE, "file; with | chars & $(stuff) `x`"),
    (SINGLE, "price $12.50 > cheap"),
    (DOUBLE, "price $ 12"),
    (DOUBLE, "it's fine; really | ok"),
    (DOUBLE, "a * b ? c [d]"),
    (DOUBLE, "50% off & more"),
    (UNQUOTED, "photo-1.jpg"),
    (UNQUOTED, "naïve-café.txt"),
    (UNQUOTED, "photo (1).jpg"),
    (UNQUOTED, "~draft.docx"),
    (UNQUOTED, "budget$2024.xlsx"),
    (UNQUOTED, "pa$$word.txt"),
    (SINGLE, "new\nline"),
]


@pytest.mark.parametrize(("template", "value"), ATTACKS)
def test_attacks_are_flagged(template: str, value: str) -> None:
    found = detect(template.format(value), inputs_of(query_file=value))
    assert found is not None
    assert found.attack_class == "command_injection"
    assert found.source == "query.file"


@pytest.mark.parametrize(("template", "value"), BENIGN)
def test_benign_values_pass(template: str, value: str) -> None:
    assert detect(template.format(value), inputs_of(query_file=value)) is None


def test_list_with_shell_true_judges_first_item() -> None:
    assert detect(["sha256sum a; id"], inputs_of(query_file="a; id"), shell=True) is not None


def test_argv_without_shell_is_data() -> None:
    assert detect(["sha256sum", "a; id"], inputs_of(query_file="a; id"), shell=False) is None


def test_sh_dash_c_argv_is_judged() -> None:
    argv = ["/bin/sh", "-c", "sha256sum a.txt; id"]
    assert detect(argv, inputs_of(query_file="a.txt; id"), shell=False) is not None


def test_option_injection_in_argv() -> None:
    found = detect(
        ["tar", "-cf", "out.tar", "--checkpoint-action=exec=id"],
        inputs_of(query_f="--checkpoint-action=exec=id"),
        shell=False,
    )
    assert found is not None
    assert detect(["tar", "-cf", "out.tar", "-5"], inputs_of(query_f="-5"), shell=False) is None


def test_roles_of_a_command() -> None:
    got = roles("a 'b;' $x;")
    assert got[4] == Role.LITERAL  # ';' inside single quotes
    assert got[7] == Role.EXPANSION
    assert got[9] == Role.OPERATOR


def test_registered() -> None:
    assert get("shell") is detect
