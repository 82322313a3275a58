"""SecLang transformations: expected outputs (each checked against libmodsecurity 3.0.15),
and properties that hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampart.gateway.engines.native.seclang import transforms

# (transformation, input, libmodsecurity's output), all as bytes.
CASES: list[tuple[str, bytes, bytes]] = [
    ("none", b"A%41", b"A%41"),
    ("lowercase", b"AbC\xc9", b"abc\xc9"),
    ("uppercase", b"aBc\xe9", b"ABC\xe9"),
    ("urlDecode", b"a%41+b%zz%4", b"aA b%zz%4"),
    ("urlDecodeUni", b"a%u0041%uff1c\xff+%", b"aA<\xff %"),
    ("urlDecodeUni", b"%uff5e%uff5f%u1234%u12", b"~_4%u12"),
    ("htmlEntityDecode", b"&lt;&#x41;&#66&QUOT;&nbsp;&copy;", b'<AB"\xa0&copy;'),
    ("htmlEntityDecode", b"&ltfoo;q&#;&#x;&", b"<q&#;&#x;&"),
    ("htmlEntityDecode", b"&#256;&#99999999999999999999;", b"\x00\xff"),
    ("jsDecode", b"\\x41\\u0042\\uff1c\\101\\477\\n\\q\\", b"AB<A'7\nq\\"),
    ("cssDecode", b"\\41 b\\ff01x\\\nY\\", b"Ab!xY"),
    ("escapeSeqDecode", b"\\x41\\101\\n\\q\\xZ\\", b"AA\nqxZ\\"),
    ("cmdLine", b'C^at  "/etc/pa\'ss\\wd" ;, (X)', b"cat/etc/passwd(x)"),
    ("compressWhitespace", b"a \t\n\x0b\x0cb\xa0c", b"a b\xa0c"),
    ("removeWhitespace", b"a \tb\xa0c\x0bd", b"abcd"),
    ("removeWhitespace", b"a\xc2\xbd \xc3\xa0", b"a\xbd\xc3"),
    ("removeNulls", b"a\x00b\x00", b"ab"),
    ("replaceNulls", b"a\x00b", b"a b"),
    ("replaceComments", b"a/*x*/b/*open", b"a b "),
    ("removeComments", b"a/*x*/bc<!--y-->de--f", b"abcde"),
    ("removeComments", b"a#b", b"a"),
    ("removeComments", b"a/*b*/", b"a\x00"),
    ("removeCommentsChar", b"a/*b*/c--d#e<!--f-->", b"abcdef"),
    ("normalisePath", b"/a/./b/../../..//c/", b"/c/"),
    ("normalisePath", b"a/../../b", b"../b"),
    ("normalisePath", b"\\..\\a", b"\\..\\a"),
    ("normalizePathWin", b"C:\\a\\..\\b\\.\\c", b"C:/b/c"),
    ("utf8toUnicode", b"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80a\x00b", b"%u00e9%u20ac%u1f600ab"),
    ("utf8toUnicode", b"\xc0\x80\xed\xa0\x80\xc3", b"%u0000\xc0%ud800\xed"),
    ("base64Decode", b"YWJjZA==", b"abcd"),
    ("base64Decode", b"YWJjZA", b"YWJjZA"),
    ("base64Decode", b"YWJj\x00ZA", b"abc"),
    ("base64DecodeExt", b"YW Jj!ZA", b"abcd"),
    ("base64DecodeExt", b"05Zz9", b""),
    ("hexDecode", b"414", b"A"),
    ("hexDecode", b"F x\xa0", b"\xe0Y"),
    ("hexEncode", b"A\xff\x00", b"41ff00"),
    ("sqlHexDecode", b"0x414243 0x4", b"ABC 0x4"),
    ("urlEncode", b"a b-._*~\xff", b"a+b%2d%2e%5f*%7e%ff"),
    ("length", b"abc\x00", b"4"),
    ("sha1", b"abc", bytes.fromhex("a9993e364706816aba3e25717850c26c9cd0d89d")),
    ("md5", b"abc", bytes.fromhex("900150983cd24fb0d6963f7d28e17f72")),
    ("trim", b" \t a b \n", b"a b"),
    ("trimLeft", b" \ta ", b"a "),
    ("trimRight", b" a\x0b\x0c", b" a"),
    ("parityEven7bit", b"F x\xa0", b"\xc6\xa0x "),
    ("parityOdd7bit", b"F x\xa0", b"F \xf8\xa0"),
    ("parityZero7bit", b"\xc1\x41", b"AA"),
]


@pytest.mark.parametrize(("name", "given_input", "expected"), CASES)
def test_transformation_output(name: str, given_input: bytes, expected: bytes) -> None:
    out = transforms.get(name)(given_input.decode("latin-1"))
    assert out.encode("latin-1") == expected


def test_spellings_share_one_function() -> None:
    assert transforms.get("normalisePath") is transforms.get("normalizePath")
    assert transforms.get("normalisePathWin") is transforms.get("normalizePathWin")


@pytest.mark.parametrize("name", transforms.names())
@settings(max_examples=150, deadline=None)
@given(value=st.binary(max_size=200))
def test_never_raises_and_stays_bytes(name: str, value: bytes) -> None:
    out = transforms.get(name)(value.decode("latin-1"))
    assert isinstance(out, str)
    assert all(ord(ch) <= 0xFF for ch in out)


@pytest.mark.parametrize("name", transforms.names())
def test_large_input_is_handled(name: str) -> None:
    """Adversarial repetition of every construct the decoders look at, 200 KB long."""
    value = ("%u%%41&#x&lt/*<!--\\x\\u00\\1\\ 0x4 \xc3\xe2\x82 ../.\\" * 5000)[:200_000]
    out = transforms.get(name)(value)
    assert isinstance(out, str)


def _cmd_line_bytewise(value: str) -> str:
    """cmdLine as one byte loop, the way libmodsecurity writes it: the reference the faster
    implementation (passes skipped when a value does not need them) must equal."""
    out: list[str] = []
    in_space = False
    for char in value:
        if char in "\\\"'^":
            continue  # deleted; a run of spaces goes on across it
        if char in " ,;\t\r\n":
            if not in_space:
                out.append(" ")
                in_space = True
            continue
        if char in "/(" and in_space:
            out.pop()
        in_space = False
        out.append(chr(ord(char) + 32) if "A" <= char <= "Z" else char)
    return "".join(out)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="aZq \t\r\n,;/(\"'\\^\x00\xc0\xe9-", max_size=24))
def test_cmd_line_equals_the_byte_loop(value: str) -> None:
    assert transforms.get("cmdLine")(value) == _cmd_line_bytewise(value)
