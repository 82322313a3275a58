"""Every transformation against libmodsecurity itself: the expected-output table, seeded
random byte strings built from the characters the decoders care about, and values from
CRS's regression tests."""

from __future__ import annotations

import random
import zlib
from typing import TYPE_CHECKING

import pytest

from rampart.gateway.engines.native.plain import SECLANG_IDENTITY, SECLANG_TRIGGERS, char_mask, is_plain
from rampart.gateway.engines.native.seclang import transforms
from tests.gateway.engines.native.seclang.test_transforms import CASES

if TYPE_CHECKING:
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle

pytestmark = pytest.mark.system

_ALPHABET = (
    b"aAzZ09fF \t\n\x0b\x0c\r\x00\xa0\xff\xc2\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
    b"%u+&#;xX\\/.*-<!>'\"^,;()=#0123456789abcdefABCDEF"
)
_FOCUSED = {
    "normalisePath": b"/\\.a",
    "normalisePathWin": b"/\\.a",
    "htmlEntityDecode": b"&#xX;0129aFfqutlgnbspAMP",
    "base64Decode": b"YWJj= \r\n9Z",
    "base64DecodeExt": b"YWJj= \r\n9Z!",
    "removeComments": b"/*-<!># a",
    "jsDecode": b"\\uxXfF0125e7abn ",
    "cssDecode": b"\\uxXfF0125e7abn \n",
}
NAMES = tuple(n for n in transforms.names() if n not in ("normalizePath", "normalizePathWin"))


def _mine(name: str, value: bytes) -> bytes:
    return transforms.get(name)(value.decode("latin-1")).encode("latin-1")


def _random_inputs(alphabet: bytes, count: int, seed: int, longest: int = 24) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, longest))) for _ in range(count)]


def _compare(oracle: ModSecOracle, names: tuple[str, ...], inputs: list[bytes]) -> list[str]:
    differences: list[str] = []
    for value in inputs:
        theirs = oracle.transform(names, value)
        for name in names:
            if _mine(name, value) != theirs.get(name):
                differences.append(
                    f"{name}({value!r}): libmodsecurity {theirs.get(name)!r}, ours {_mine(name, value)!r}"
                )
    return differences


def test_expected_table_is_libmodsecurity(oracle: ModSecOracle) -> None:
    for name, given_input, expected in CASES:
        assert oracle.transform((name,), given_input)[name] == expected, (name, given_input)


def test_random_inputs_agree(oracle: ModSecOracle) -> None:
    assert _compare(oracle, NAMES, _random_inputs(_ALPHABET, 400, seed=1)) == []


@pytest.mark.parametrize("name", sorted(_FOCUSED))
def test_focused_random_inputs_agree(oracle: ModSecOracle, name: str) -> None:
    inputs = _random_inputs(_FOCUSED[name], 600, seed=zlib.crc32(name.encode()), longest=20)
    assert _compare(oracle, (name,), inputs) == []


def test_crs_regression_inputs_agree(oracle: ModSecOracle, payloads: list[bytes]) -> None:
    assert _compare(oracle, NAMES, payloads[:600]) == []


def test_one_line_base64_agrees(oracle: ModSecOracle) -> None:
    # the decoder's fast path (one line of digits and padding) against the reference itself
    inputs = _random_inputs(b"YWJjZa09+/=", 600, seed=7, longest=16)
    assert _compare(oracle, ("base64Decode",), inputs) == []


def test_libmodsecurity_leaves_plain_values_alone_where_rampart_skips_the_step(oracle: ModSecOracle) -> None:
    # rampart.gateway.engines.native.plain: the steps a plain value skips are identity in
    # libmodsecurity too (names as the registry spells them)
    names = tuple(n for n in NAMES if n.lower() in SECLANG_IDENTITY)
    assert len(names) >= 20
    inputs = [v.encode() for v in _random_plain(300, seed=3)]
    for value in inputs:
        theirs = oracle.transform(names, value)
        assert {name: theirs.get(name) for name in names} == dict.fromkeys(names, value)


def _random_plain(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefxyz0123456789_") for _ in range(rng.randint(1, 8))) for _ in range(count)
    ]
    plain = [w if rng.random() < 0.5 else f"{w}-{rng.choice(words)}" for w in words]
    assert all(is_plain(v) for v in plain)
    return plain


def test_libmodsecurity_leaves_alone_a_value_without_a_steps_triggers(oracle: ModSecOracle) -> None:
    # rampart.gateway.engines.native.plain.SECLANG_TRIGGERS: a chain is skipped for a value
    # holding none of what its steps act on; each step, in libmodsecurity, on such values
    rng = random.Random(11)
    names = tuple(n for n in NAMES if n.lower() in SECLANG_TRIGGERS)
    assert len(names) >= 20
    for name in names:
        triggers = SECLANG_TRIGGERS[name.lower()]
        alphabet = [chr(c) for c in range(128) if not char_mask(chr(c)) & triggers]
        checked = 0
        for _ in range(150):
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
            if char_mask(value) & triggers:
                continue
            checked += 1
            raw = value.encode()
            assert oracle.transform((name,), raw)[name] == raw, (name, value)
        assert checked > 50, name
