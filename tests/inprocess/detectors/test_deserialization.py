"""Deserialization detector: pickle globals and YAML python tags, judged without loading."""

from __future__ import annotations

import collections
import datetime
import decimal
import os
import pickle
import struct
import subprocess
from typing import Any

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.deserialization import detect, pickle_globals, yaml_python_tags
from tests.inprocess.detectors.helpers import inputs_of


class _Reduce:
    """Pickles as ``func(*args)``; only ever dumped here, never loaded."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def _short_unicode(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + struct.pack("<B", len(raw)) + raw


# STACK_GLOBAL whose module and name come back from the memo (BINPUT/BINGET)
MEMO_TRICK = (
    b"\x80\x04"
    + _short_unicode("builtins")
    + b"q\x00"
    + _short_unicode("eval")
    + b"q\x01"
    + b"h\x00h\x01\x93"
    + _short_unicode("'rmp'+str(1000+337)+'x'")
    + b"\x85R."
)
PROTO0 = b"cos\nsystem\n(S'echo rmp1337x'\ntR."
TRUNCATED = b"cos\nsystem\n(S'id'\ntR"  # no STOP: still runs up to the error

PICKLE_ATTACKS = [
    *(pickle.dumps(_Reduce(eval, "'rmp'+str(1000+337)+'x'"), protocol=p) for p in range(6)),
    pickle.dumps(_Reduce(os.system, "echo rmp1337x")),
    pickle.dumps(_Reduce(subprocess.check_output, ["id"])),
    pickle.dumps(_Reduce(getattr, _Reduce(os.getcwd), "upper")),
    pickle.dumps({"user": _Reduce(exec, "x=1")}, protocol=2),
    MEMO_TRICK,
    PROTO0,
    TRUNCATED,
    b"(S'echo hi'\nios\nsystem\n.",  # INST
]

PICKLE_BENIGN = [
    *(
        pickle.dumps(obj, protocol=p)
        for p in (0, 2, 4, 5)
        for obj in (
            {"a": [1, 2.5, "x"]},
            {1, 2},
            frozenset({3}),
            collections.OrderedDict(a=1),
            datetime.datetime(2024, 1, 2, 3, 4, 5),
            decimal.Decimal("1.50"),
            b"raw bytes",
            bytearray(b"ba"),
            1 + 2j,
        )
    ),
]


@pytest.mark.parametrize("data", PICKLE_ATTACKS)
def test_pickle_attacks(data: bytes) -> None:
    found = detect(data, [], kind="pickle")
    assert found is not None
    assert found.attack_class == "deserialization"


@pytest.mark.parametrize("data", PICKLE_BENIGN)
def test_pickle_benign(data: bytes) -> None:
    assert detect(data, [], kind="pickle") is None


def test_memo_trick_names_the_global() -> None:
    names, complete = pickle_globals(MEMO_TRICK)
    assert names == ["builtins eval"]
    assert complete


def test_garbage_is_not_a_detection() -> None:
    assert detect(b"\x00\x01 not a pickle", [], kind="pickle") is None


YAML_ATTACKS = [
    '!!python/object/apply:os.system ["echo rmp1337x"]',
    "x: !!python/object/apply:eval [\"'rmp'+str(1000+337)+'x'\"]",
    "x: !!python/object/new:subprocess.check_output [[id]]",
    "x: !!python/name:os.system ''",
    "x: !!python/module:os ''",
    "x: !!python/object:__main__.Evil {}",
    "x: !<tag:yaml.org,2002:python/object/apply:os.system> [id]",
    "%TAG !py! tag:yaml.org,2002:python/\n---\nx: !py!object/apply:os.system [id]",
    "%TAG ! tag:yaml.org,2002:\n---\nx: !python/object/apply:os.system [id]",
    "x: !!python/%6Fbject/apply:os.system [id]",
    "[1, !!python/object/apply:eval ['1']]",
    "a: 1\n---\nb: !!python/object/apply:os.getcwd []",
    "- {k: !!python/object/new:type [x, [], {}]}",
]

YAML_BENIGN = [
    "name: widget\nqty: 3\n",
    "items: [1, 2, 3]",
    "note: '!!python/object/apply:os.system'",
    'note: "use !!python/name in docs"',
    "x: !!str 123",
    "x: !!binary aGVsbG8=",
    "x: !!python/tuple [1, 2]",
    "x: !Ref other",
    "%TAG !e! tag:example.test,2024:\n---\nx: !e!thing 1",
    "# !!python/object/apply:os.system [id]\nk: v",
    "k: |\n  !!python/object/apply:os.system\n",
]


@pytest.mark.parametrize("text", YAML_ATTACKS)
def test_yaml_attacks(text: str) -> None:
    found = detect(text, inputs_of(body=text), kind="yaml")
    assert found is not None
    assert found.source == "body"
    assert "python/" in found.evidence


@pytest.mark.parametrize("text", YAML_BENIGN)
def test_yaml_benign(text: str) -> None:
    assert detect(text, [], kind="yaml") is None
    assert detect(text.encode(), [], kind="yaml") is None


def test_yaml_tags_listed() -> None:
    assert yaml_python_tags("a: !!python/name:os.system ''") == ["tag:yaml.org,2002:python/name:os.system"]


def test_marshal_code_object() -> None:
    import marshal

    assert detect(marshal.dumps(compile("1+1", "x", "eval")), [], kind="marshal") is not None
    assert detect(marshal.dumps({"a": [1, 2]}), [], kind="marshal") is None


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown deserialization kind"):
        detect(b"", [], kind="xml")


def test_registered() -> None:
    assert get("deserialization") is detect


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_yaml_bytes_are_read_as_pyyaml_reads_them(encoding: str) -> None:
    """PyYAML decodes bytes that start with a UTF-16 byte order mark as UTF-16: so does the
    check (without a mark PyYAML reads UTF-8, and so does the check)."""
    import codecs

    text = YAML_ATTACKS[0]
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    data = bom + text.encode(encoding)
    found = detect(data, inputs_of(body=text), kind="yaml")
    assert found is not None
    assert found.source == "body"
    for benign in YAML_BENIGN:
        assert detect(bom + benign.encode(encoding), [], kind="yaml") is None
