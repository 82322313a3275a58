"""String, numeric, phrase, address, validation, libinjection and checksum operators:
expected verdicts, each table also checked against libmodsecurity."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rampart.gateway.engines.native.seclang.operators import OperatorContext, get
from rampart.gateway.engines.native.seclang.operators.injection import libinjection
from rampart.gateway.engines.native.seclang.operators.numeric import parse_int, parse_long
from tests.conftest import need
from tests.gateway.engines.native.seclang.conftest import build

if TYPE_CHECKING:
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle

CRS_RULES = Path("/usr/share/modsecurity-crs/rules")

# (operator as written, value, matches?) - every row agrees with libmodsecurity 3.0.15.
VERDICTS: list[tuple[str, bytes, bool]] = [
    ("@eq 0", b"abc", True),
    ("@eq 0", b"", True),
    ("@eq 5", b" 5abc", True),
    ("@eq 0", b"2147483648", True),  # out of stoi's range: 0
    ("@eq -3", b"-3", True),
    ("@gt 0", b"2147483648", True),  # atoll: 64-bit
    ("@gt 0", b"abc", False),
    ("@ge 1", b"+1", True),
    ("@lt 5", b"4.9", True),
    ("@le 2", b"\t\n2", True),
    ("@lt abc", b"-1", True),
    ("@streq abc", b"abc", True),
    ("@streq abc", b"ABC", False),
    ("@within GET HEAD POST", b"HEAD", True),
    ("@within GET HEAD POST", b"ET", True),
    ("@within GET HEAD POST", b"", True),
    ("@within GET HEAD POST", b"PUT", False),
    ("@beginsWith ab", b"abc", True),
    ("@beginsWith ab", b"xab", False),
    ("@endsWith .php", b"x.php", True),
    ("@contains x", b"axb", True),
    ("@containsWord ab", b"x ab-y", True),
    ("@containsWord ab", b"ab_", True),  # only letters bind a word
    ("@containsWord ab", b"ab1", True),
    ("@containsWord ab", b"abc", False),
    ("@strmatch b-c", b"ab-cd", True),
    ("@pm foo bar", b"xxFOOyy", True),
    ("@pm foo bar", b"fo bar", True),
    ("@pm foo bar", b"fob", False),
    ("@pm |4142|c", b"xabc", True),  # hex bytes, ASCII case ignored
    ("@pm |41 42|c", b"x|41", True),  # phrases are split at spaces first
    ("@validateByteRange 32-126", b"abc", False),
    ("@validateByteRange 32-126", b"a\x01", True),
    ("@validateByteRange 9,10,13,32-126,128-255", b"a\x00", True),
    ("@validateUrlEncoding", b"a%41", False),
    ("@validateUrlEncoding", b"a%4", True),
    ("@validateUrlEncoding", b"a%zz", True),
    ("@validateUtf8Encoding", b"\xc3\xa9", False),
    ("@validateUtf8Encoding", b"\xc3", True),
    ("@validateUtf8Encoding", b"\xc0\xaf", True),  # overlong
    ("@validateUtf8Encoding", b"\xed\xa0\x80", True),  # surrogate
    ("@validateUtf8Encoding", b"\xf4\x90\x80\x80", False),  # above U+10FFFF passes there too
    ("@ipMatch 127.0.0.1,::1", b"127.0.0.1", True),
    ("@ipMatch 127.0.0.1,::1", b"::1", True),
    ("@ipMatch 127.0.0.1,::1", b" 127.0.0.1", False),
    ("@ipMatch 10.0.0.0/8,2001:db8::/32", b"10.9.8.7", True),
    ("@ipMatch 10.0.0.0/8,2001:db8::/32", b"2001:db8::5", True),
    ("@ipMatch 10.0.0.0/8,2001:db8::/32", b"11.0.0.1", False),
    ("@unconditionalMatch", b"", True),
    ("@noMatch", b"x", False),
    ("@detectSQLi", b"1' or '1'='1", True),
    ("@detectSQLi", b"1 union select 1,2--", True),
    ("@detectSQLi", b"hello world", False),
    ("@detectXSS", b"<script>alert(1)</script>", True),
    ("@detectXSS", b"<b>bold</b>", False),
    ("@verifyCC \\d{13,16}", b"4111111111111111", True),
    ("@verifyCC \\d{13,16}", b"4111111111111112", True),  # a shorter run inside passes Luhn
    ("@verifyCC \\d{16}", b"4111111111111112", False),
    ("@verifySSN \\d{3}-?\\d{2}-?\\d{4}", b"000-12-3456", False),
]


def _split(operator: str) -> tuple[str, str]:
    name, _, argument = operator[1:].partition(" ")
    return name, argument


@pytest.mark.parametrize(("operator", "value", "expected"), VERDICTS)
def test_verdict(operator: str, value: bytes, expected: bool) -> None:
    name, argument = _split(operator)
    if name in ("detectSQLi", "detectXSS"):
        need(libinjection() is not None, "libinjection (the crs extra)")
    assert (build(name, argument).evaluate(value.decode("latin-1")) is not None) is expected


def test_verdicts_are_libmodsecurity(oracle: ModSecOracle) -> None:
    operators = sorted({op for op, _, _ in VERDICTS})
    for operator, value, expected in VERDICTS:
        assert (operators.index(operator) in oracle.matching(operators, value)) is expected, (operator, value)


def test_random_values_agree(oracle: ModSecOracle) -> None:
    operators = sorted({op for op, _, _ in VERDICTS})
    built = [build(*_split(op)) for op in operators]
    rng = random.Random(3)
    alphabet = b"0123456789 -+abcABC%.\x00\xff\xc3\xa9/'\"<>:"
    differences = []
    for _ in range(300):
        value = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        theirs = oracle.matching(operators, value)
        for index, operator in enumerate(built):
            if (operator.evaluate(value.decode("latin-1")) is not None) != (index in theirs):
                differences.append((operators[index], value))
    assert differences == []


@pytest.mark.system
def test_crs_phrase_files_agree(oracle: ModSecOracle, crs_dir: Path, payloads: list[bytes]) -> None:
    rules = crs_dir / "rules"
    files = sorted(p.name for p in rules.glob("*.data"))
    operators = [f"@pmFromFile {rules / name}" for name in files]
    built = [build("pmFromFile", name, rules) for name in files]
    differences = []
    for value in payloads[:500]:
        theirs = oracle.matching(operators, value)
        for index, operator in enumerate(built):
            if (operator.evaluate(value.decode("latin-1")) is not None) != (index in theirs):
                differences.append((files[index], value[:60]))
    assert differences == []


@pytest.mark.system
def test_libinjection_agrees_on_crs_inputs(oracle: ModSecOracle, payloads: list[bytes]) -> None:
    operators = ["@detectSQLi", "@detectXSS"]
    built = [build("detectSQLi"), build("detectXSS")]
    differences = []
    for value in payloads[:1500]:
        theirs = oracle.matching(operators, value)
        for index, operator in enumerate(built):
            if (operator.evaluate(value.decode("latin-1")) is not None) != (index in theirs):
                differences.append((operators[index], value[:60]))
    assert differences == []


def test_sqli_match_is_the_fingerprint() -> None:
    need(libinjection() is not None, "libinjection (the crs extra)")
    found = build("detectSQLi").evaluate("1' or '1'='1")
    assert found is not None
    assert found.matched == "s&sos"
    assert found.captures == ("s&sos",)


@pytest.mark.parametrize(
    ("text", "as_int", "as_long"),
    [
        ("12", 12, 12),
        (" -7x", -7, -7),
        ("x1", 0, 0),
        ("", 0, 0),
        ("3000000000", 0, 3000000000),
        ("99999999999999999999999", 0, 2**63 - 1),
        ("-99999999999999999999999", 0, -(2**63)),
    ],
)
def test_c_number_parsing(text: str, as_int: int, as_long: int) -> None:
    assert parse_int(text) == as_int
    assert parse_long(text) == as_long


def test_pm_from_file_reads_comments_blank_lines_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "words.data").write_text("# a comment\n\n  Alpha  \nbeta gamma\n")
    operator = get("pmf")("words.data", OperatorContext(tmp_path))
    assert operator.evaluate("xxALPHAxx") is not None
    assert operator.evaluate("BETA GAMMA") is not None
    assert operator.evaluate("beta") is None
    assert operator.evaluate("a comment") is None


@pytest.mark.parametrize(
    ("name", "argument", "message"),
    [
        ("pmFromFile", "missing.data", "cannot read"),
        ("pmFromFile", "https://example.invalid/x.data", "only local files"),
        ("ipMatch", "10.0.0.300", "not an IP address"),
        ("ipMatchFromFile", "missing.txt", "cannot read"),
        ("validateByteRange", "1-300", "0-255"),
        ("validateByteRange", "a-b", "N or N-M"),
        ("verifyCC", "", "needs a regex"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path: Path, name: str, argument: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get(name)(argument, OperatorContext(tmp_path))


def test_ip_match_from_file_names_the_bad_line(tmp_path: Path) -> None:
    (tmp_path / "ips.txt").write_text("# office\n10.0.0.0/8\n\nnot-an-ip\n")
    with pytest.raises(ValueError, match=r"ips.txt:4"):
        get("ipMatchFromFile")("ips.txt", OperatorContext(tmp_path))
    (tmp_path / "ips.txt").write_text("10.0.0.0/8 # office\n192.168.1.1\n")
    operator = get("ipMatchF")("ips.txt", OperatorContext(tmp_path))
    assert operator.evaluate("192.168.1.1") is not None
    assert operator.evaluate("10.1.1.1") is not None
    assert operator.evaluate("192.168.1.2") is None


@pytest.mark.parametrize("name", ["rbl", "geoLookup", "inspectFile"])
def test_offline_operators_never_match(name: str) -> None:
    assert build(name, "x").evaluate("127.0.0.1") is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("verifyCPF", "cpf 529.982.247-25", True),
        ("verifyCPF", "111.111.111-11", False),
        ("verifySSN", "078-05-1120", True),
        ("verifySSN", "666-12-3456", False),
    ],
)
def test_checksum_operators(name: str, value: str, expected: bool) -> None:
    regex = "\\d{3}\\.?\\d{3}\\.?\\d{3}-?\\d{2}" if name == "verifyCPF" else "\\d{3}-?\\d{2}-?\\d{4}"
    assert (build(name, regex).evaluate(value) is not None) is expected
