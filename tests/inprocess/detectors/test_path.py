"""Path detector: traversal out of a root, climbing inputs, absolute paths, NUL bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.path import climbs, detect
from tests.inprocess.detectors.helpers import inputs_of

ROOT = "/srv/lab/docs"

ATTACKS = [
    "../secret.txt",
    "../../../../etc/passwd",
    "sub/../../secret.txt",
    "./../secret.txt",
    "..//..//etc/passwd",
    "/etc/passwd",
    "/proc/self/environ",
    "guide.md\x00.png",
    "..\\secret.txt",
    "sub/../../../root/.ssh/id_rsa",
]

BENIGN = [
    "guide.md",
    "sub/dir/file.txt",
    "v1..2-notes.md",
    "sub/../guide.md",
    "./guide.md",
    "..hidden-looking.md",
    "notes...txt",
    "a/b/../../c.md",
    "%2e%2e%2fsecret.txt",
    "résumé.pdf",
    "dir with spaces/file.md",
    "....//../guide.md",  # '....' is a name on POSIX: stays inside
]


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize("root", [ROOT, None])
def test_attacks_are_flagged(value: str, root: str | None) -> None:
    path = os.path.join(ROOT, value)
    found = detect(path, inputs_of(query_name=value), root=root)
    assert found is not None
    assert found.attack_class == "path_traversal"
    assert found.source == "query.name"


@pytest.mark.parametrize("value", BENIGN)
@pytest.mark.parametrize("root", [ROOT, None])
def test_benign_names_pass(value: str, root: str | None) -> None:
    assert detect(os.path.join(ROOT, value), inputs_of(query_name=value), root=root) is None


def test_pathlike_and_bytes_arguments() -> None:
    value = "../secret.txt"
    assert detect(Path(ROOT) / value, inputs_of(query_name=value), root=ROOT) is not None
    assert detect(os.fsencode(os.path.join(ROOT, value)), inputs_of(query_name=value), root=ROOT) is not None


def test_file_descriptor_passes() -> None:
    assert detect(3, inputs_of(query_name="../x"), root=ROOT) is None


def test_app_path_without_user_input_passes() -> None:
    assert detect("/etc/passwd", inputs_of(query_name="guide.md"), root=ROOT) is None


def test_sensitive_target_raises_confidence() -> None:
    value = "../../../../etc/passwd"
    found = detect(os.path.join(ROOT, value), inputs_of(query_name=value), root=ROOT)
    assert found is not None
    assert found.confidence >= 0.95


@pytest.mark.parametrize(
    ("value", "expected"),
    [("../a", True), ("a/../../b", True), ("a/../b", False), ("a/b/../..", False), ("v1..2", False)],
)
def test_climbs(value: str, expected: bool) -> None:
    assert climbs(value) is expected


def test_registered() -> None:
    assert get("path") is detect


@pytest.mark.parametrize(
    ("value", "rewritten"),
    [
        ("....//secret.txt", "../secret.txt"),
        ("..././secret.txt", "../secret.txt"),
        ("....\\/secret.txt", "../secret.txt"),
        ("\uff0e\uff0e/secret.txt", "../secret.txt"),
        ("file:../secret.txt", "../secret.txt"),
    ],
)
def test_traversal_after_the_app_rewrote_the_input(value: str, rewritten: str) -> None:
    """The raw input is not in the path any more (a naive filter stripped or folded it)."""
    path = os.path.join(ROOT, rewritten)
    assert value not in path
    found = detect(path, inputs_of(query_name=value))
    assert found is not None
    assert "rewritten" in found.reason


def test_app_own_dotdot_with_benign_name_passes() -> None:
    path = os.path.join(ROOT, "../shared", "v1..2-notes.md")
    assert detect(path, inputs_of(query_name="v1..2-notes.md")) is None
    assert detect(os.path.join(ROOT, "../shared/guide.md"), inputs_of(query_name="the guide.md")) is None


@pytest.mark.parametrize(
    "value", ["./../secret.txt", "././././../secret.txt", "../secret.txt/.", "..//secret.txt"]
)
def test_traversal_normalised_by_pathlib_behind_an_unrelated_occurrence(value: str) -> None:
    # pathlib drops "." segments and doubled slashes, so the input is not in the opened path
    # verbatim; the route segment "file" is (inside "files/") and must not hide the climb
    opened = str(Path("/srv/app/files") / value)
    found = detect(opened, [UserInput("path[0]", "file"), UserInput("query.name", value)])
    assert found is not None
    assert found.source == "query.name"
