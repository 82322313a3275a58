"""Translating a CRS (PCRE) pattern into RE2, Hyperscan and Python ``re`` syntax.

libmodsecurity 3 compiles ``@rx`` patterns with PCRE's DOTALL and MULTILINE options and no UTF
mode, so a pattern works on bytes. One pass over the pattern renders it three ways:

- **RE2** (latin-1 mode): the confirming matcher. PCRE constructs RE2 lacks are rewritten:
  ``\\s`` (PCRE's includes VT), ``\\h``/``\\v``/``\\R``/``\\e``/``\\cX``, one-digit ``\\xH`` and
  octal escapes, ``\\Z``, literal ``-`` and ``[`` inside classes, named groups. Possessive
  quantifiers and atomic groups become plain ones: the RE2 form then matches a superset of
  PCRE's (a possessive/atomic construct only ever fails where backtracking would succeed);
  :attr:`Translation.approximate` records it.
- **Hyperscan**: the same text for the prefilter.
- **Python** ``re``: for what RE2 cannot do (backreferences, lookaround), with PCRE's atomic
  and possessive constructs kept (Python >= 3.11 has both) and inline flags made scoped.

``Translation.re2`` is None when the pattern needs the Python fallback.

One difference survives in the RE2 form: under MULTILINE, PCRE's ``^`` does not match after a
newline that ends the subject, RE2's does. ``Translation.re2_at_start`` (``^`` read as ``\\A``)
lets the matcher recheck the one position where that matters (an empty match at the end of
a value ending in a newline). The Python form spells PCRE's ``^`` out with lookaround.

Python's lookbehind must have a fixed width; a lookbehind whose alternatives differ in width
is split into one lookbehind per alternative first (``(?<!a|bc)`` = ``(?<!a)(?<!bc)``,
``(?<=a|bc)`` = ``(?:(?<=a)|(?<=bc))``), which PCRE reads the same way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["PatternError", "Translation", "translate"]

_SPACE = "\\t\\n\\x0b\\f\\r "
_NOT_SPACE = "\\x00-\\x08\\x0e-\\x1f\\x21-\\xff"
_HSPACE = "\\t \\xa0"
_NOT_HSPACE = "\\x00-\\x08\\x0a-\\x1f\\x21-\\x9f\\xa1-\\xff"
_VSPACE = "\\n\\x0b\\f\\r\\x85"
_NOT_VSPACE = "\\x00-\\x09\\x0e-\\x84\\x86-\\xff"
# PCRE's class escapes, spelled out as byte classes every backend reads alike
_CLASS_ESCAPES = {
    "s": _SPACE,
    "S": _NOT_SPACE,
    "h": _HSPACE,
    "H": _NOT_HSPACE,
    "v": _VSPACE,
    "V": _NOT_VSPACE,
}
_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"


class PatternError(ValueError):
    """The pattern is not valid PCRE (or uses a construct none of the tiers can run)."""


@dataclass(frozen=True, slots=True)
class Translation:
    """A PCRE pattern rendered for each matcher."""

    re2: str | None
    re2_at_start: str | None
    hyperscan: str
    python: str
    approximate: bool


def _byte(code: int) -> str:
    return f"\\x{code & 0xFF:02x}"


@dataclass(slots=True)
class _Out:
    re2: list[str]
    hs: list[str]
    py: list[str]
    start: list[str]  # the RE2 rendering with every ``^`` read as ``\A``
    caret: bool = False

    def all(self, text: str) -> None:
        self.re2.append(text)
        self.hs.append(text)
        self.py.append(text)
        self.start.append(text)

    def add_re2(self, text: str) -> None:
        self.re2.append(text)
        self.start.append(text)


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out = _Out([], [], [], [])
        self.re2_ok = True
        self.approximate = False
        # Python re: per open group, the inline flags turned into scoped groups inside it.
        self.py_scoped: list[list[str]] = [[]]

    def error(self, message: str) -> PatternError:
        return PatternError(f"{message} at offset {self.i} in {self.p!r}")

    def run(self) -> Translation:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            if ch == "\\":
                self.escape_outside()
            elif ch == "[":
                self.char_class()
            elif ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                self.alternation()
            elif ch in "*+?":
                self.i += 1
                self.out.all(ch)
                self.quantifier_suffix()
            elif ch == "{":
                self.brace()
            elif ch == "^":
                self.i += 1
                self.out.caret = True
                self.out.re2.append("^")
                self.out.start.append("\\A")
                self.out.hs.append("^")
                self.out.py.append("(?:\\A|(?<=\\n)(?!\\Z))")
            else:
                self.i += 1
                self.literal(ch)
        if len(self.py_scoped) != 1:
            raise self.error("missing )")
        self.out.py.append(")" * len(self.py_scoped[0]))
        return Translation(
            re2="".join(self.out.re2) if self.re2_ok else None,
            re2_at_start="".join(self.out.start) if self.re2_ok and self.out.caret else None,
            hyperscan="".join(self.out.hs),
            python="".join(self.out.py),
            approximate=self.approximate,
        )

    def literal(self, ch: str) -> None:
        if ch.isascii() and ch.isprintable():
            self.out.all(ch)
        else:
            self.out.all(_byte(ord(ch)))

    def quantifier_suffix(self) -> None:
        """After a quantifier: ``?`` (lazy) is kept; ``+`` (possessive) is dropped except in Python."""
        if self.i < len(self.p) and self.p[self.i] == "?":
            self.i += 1
            self.out.all("?")
        elif self.i < len(self.p) and self.p[self.i] == "+":
            self.i += 1
            self.out.py.append("+")
            self.approximate = True

    def brace(self) -> None:
        p, start = self.p, self.i
        end = p.find("}", start)
        body = p[start + 1 : end] if end != -1 else ""
        lo, sep, hi = body.partition(",")
        valid = end != -1 and lo.isdigit() and (not sep or hi == "" or hi.isdigit())
        if not valid:
            self.i += 1
            self.out.all("\\{")
            return
        self.i = end + 1
        self.out.all(p[start : end + 1])
        if max(int(lo), int(hi) if hi else 0) > 1000:
            self.re2_ok = False
        self.quantifier_suffix()

    def alternation(self) -> None:
        self.i += 1
        scoped = self.py_scoped[-1]
        self.out.add_re2("|")
        self.out.hs.append("|")
        self.out.py.append(")" * len(scoped) + "|" + "".join(f"(?{flags}:" for flags in scoped))

    def open_group(self) -> None:
        p = self.p
        self.i += 1
        if not p.startswith("?", self.i):
            self.push("(")
            return
        rest = p[self.i + 1 :]
        if rest.startswith(":"):
            self.i += 2
            self.push("(?:")
        elif rest.startswith(">"):
            self.i += 2
            self.approximate = True
            self.push("(?:", py="(?>")
        elif rest.startswith(("=", "!")):
            self.i += 2
            self.re2_ok = False
            self.push("(?" + rest[0])
        elif rest.startswith(("<=", "<!")):
            self.i += 3
            self.re2_ok = False
            self.push("(?" + rest[:2])
        elif rest.startswith(("<", "P<", "'")):
            close = ">" if not rest.startswith("'") else "'"
            end = p.find(close, self.i + 2)
            if end == -1:
                raise self.error("unterminated group name")
            self.i = end + 1
            self.push("(")
        elif rest.startswith("#"):
            end = p.find(")", self.i)
            if end == -1:
                raise self.error("unterminated comment")
            self.i = end + 1
        else:
            self.flag_group(rest)

    def flag_group(self, rest: str) -> None:
        j = 0
        while j < len(rest) and rest[j] in "imsxUJ-":
            j += 1
        flags = rest[:j]
        if j >= len(rest) or rest[j] not in ":)" or any(f in flags for f in "xUJ"):
            self.re2_ok = False
            raise self.error(f"unsupported group (?{rest[: j + 1]}")
        self.i += 1 + j + 1
        on, _, off = flags.partition("-")
        spelled = on + ("-" + off if off else "")
        if rest[j] == ":":
            self.push(f"(?{spelled}:")
            return
        self.out.add_re2(f"(?{spelled})")
        self.out.hs.append(f"(?{spelled})")
        self.out.py.append(f"(?{spelled}:")
        self.py_scoped[-1].append(spelled)

    def push(self, text: str, *, py: str | None = None) -> None:
        self.out.add_re2(text)
        self.out.hs.append(text)
        self.out.py.append(text if py is None else py)
        self.py_scoped.append([])

    def close_group(self) -> None:
        if len(self.py_scoped) == 1:
            raise self.error("unmatched )")
        self.i += 1
        scoped = self.py_scoped.pop()
        self.out.add_re2(")")
        self.out.hs.append(")")
        self.out.py.append(")" * len(scoped) + ")")
        if self.i < len(self.p) and self.p[self.i] in "*+?":
            ch = self.p[self.i]
            self.i += 1
            self.out.all(ch)
            self.quantifier_suffix()

    def read_hex_escape(self) -> int:
        """After ``\\x``: ``{h...}`` or up to two hex digits (none = NUL)."""
        p = self.p
        if p.startswith("{", self.i):
            end = p.find("}", self.i)
            digits = p[self.i + 1 : end] if end != -1 else ""
            if not digits or any(d not in _HEX for d in digits):
                raise self.error("bad \\x{...} escape")
            self.i = end + 1
            code = int(digits, 16)
            if code > 0xFF:
                raise self.error("code point above \\xff in a byte pattern")
            return code
        j = self.i
        while j < len(p) and j < self.i + 2 and p[j] in _HEX:
            j += 1
        code = int(p[self.i : j], 16) if j > self.i else 0
        self.i = j
        return code

    def read_octal(self, first: str) -> int:
        p = self.p
        j = self.i
        while j < len(p) and j < self.i + 2 and p[j] in _OCT:
            j += 1
        code = int(first + p[self.i : j], 8)
        self.i = j
        return code & 0xFF

    def simple_escape(self, letter: str) -> str | None:
        """A one-byte escape common to both contexts, as ``\\xHH``; None if ``letter`` is not one."""
        table = {"t": 9, "n": 10, "r": 13, "f": 12, "a": 7, "e": 27}
        if letter in table:
            return _byte(table[letter])
        if letter == "x":
            return _byte(self.read_hex_escape())
        if letter == "c":
            if self.i >= len(self.p):
                raise self.error("\\c at end of pattern")
            ctrl = self.p[self.i]
            self.i += 1
            return _byte(ord(ctrl.upper()) ^ 0x40)
        if letter == "0":
            return _byte(self.read_octal("0"))
        return None

    def escape_outside(self) -> None:
        p = self.p
        if self.i + 1 >= len(p):
            raise self.error("\\ at end of pattern")
        letter = p[self.i + 1]
        self.i += 2
        single = self.simple_escape(letter)
        if single is not None:
            self.out.all(single)
        elif letter in "123456789":
            j = self.i
            while j < len(p) and p[j].isdigit():
                j += 1
            self.re2_ok = False
            self.out.all("\\" + letter + p[self.i : j])
            self.i = j
        elif letter in "dDwWbBA":
            self.out.all("\\" + letter)
        elif letter in _CLASS_ESCAPES:
            self.out.all(f"[{_CLASS_ESCAPES[letter]}]")
        elif letter == "R":
            self.out.all(f"(?:\\r\\n|[{_VSPACE}])")
        elif letter == "z":
            self.out.add_re2("\\z")
            self.out.hs.append("\\z")
            self.out.py.append("\\Z")
        elif letter == "Z":
            self.out.add_re2("(?:\\n?\\z)")
            self.out.hs.append("\\Z")
            self.out.py.append("(?=\\n?\\Z)")
        elif letter == "Q":
            end = p.find("\\E", self.i)
            text = p[self.i :] if end == -1 else p[self.i : end]
            self.i = len(p) if end == -1 else end + 2
            for ch in text:
                self.out.all(_byte(ord(ch)) if not (ch.isascii() and ch.isalnum()) else ch)
        elif letter == "E":
            pass
        elif letter.isascii() and letter.isalnum():
            raise self.error(f"unsupported escape \\{letter}")
        else:
            self.out.all(_byte(ord(letter)))

    def char_class(self) -> None:
        p = self.p
        self.i += 1
        parts: list[str] = ["["]
        if p.startswith("^", self.i):
            parts.append("^")
            self.i += 1
        first = True
        prev_is_set = True  # a '-' right after '[' or after a range is a literal
        prev_after_set = False  # the previous atom was a class escape such as \\w
        while True:
            if self.i >= len(p):
                raise self.error("missing ]")
            ch = p[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            after_set, prev_after_set = prev_after_set, False
            if ch == "\\":
                atom, is_set = self.class_escape()
                parts.append(atom)
                prev_is_set = is_set
                prev_after_set = is_set
            elif ch == "[" and p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                if end == -1:
                    raise self.error("bad POSIX class")
                parts.append(p[self.i : end + 2])
                self.i = end + 2
                prev_is_set = True
            elif ch == "-":
                nxt = p[self.i + 1] if self.i + 1 < len(p) else ""
                next_is_set = nxt == "\\" and p[self.i + 2 : self.i + 3] in tuple("dDwWsShHvV")
                if (after_set or next_is_set) and nxt != "]":
                    raise self.error("invalid range in character class (a class escape cannot bound a range)")
                if prev_is_set or nxt == "]":
                    parts.append("\\-")
                    prev_is_set = False
                else:
                    parts.append("-")
                    prev_is_set = True  # the range's end follows; a '-' after it is a literal
                self.i += 1
            else:
                self.i += 1
                parts.append(ch if (ch.isascii() and ch.isalnum()) else _byte(ord(ch)))
                prev_is_set = False
        parts.append("]")
        self.out.all("".join(parts))

    def class_escape(self) -> tuple[str, bool]:
        p = self.p
        if self.i + 1 >= len(p):
            raise self.error("\\ at end of pattern")
        letter = p[self.i + 1]
        self.i += 2
        single = self.simple_escape(letter)
        if single is not None:
            return single, False
        sets = {"s": _SPACE, "S": _NOT_SPACE, "h": _HSPACE, "H": _NOT_HSPACE, "v": _VSPACE, "V": _NOT_VSPACE}
        if letter in sets:
            return sets[letter], True
        if letter in "dDwW":
            return "\\" + letter, True
        if letter == "b":
            return _byte(8), False
        if letter in "1234567":
            return _byte(self.read_octal(letter)), False
        if letter.isascii() and letter.isalnum():
            raise self.error(f"unsupported escape \\{letter} in a character class")
        return _byte(ord(letter)), False


def _skip_class(pattern: str, i: int) -> int:
    """The index after the character class that starts at ``pattern[i] == "["``."""
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            i += 1
        elif pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            i = end + 1 if end != -1 else i
        i += 1
    return i + 1


def _top_level(pattern: str, start: int) -> tuple[list[int], int]:
    """For the group whose body starts at ``start``: the indexes of its top-level ``|`` and of
    its closing ``)`` (``len(pattern)`` if it is not closed)."""
    bars: list[int] = []
    depth = 0
    i = start
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _skip_class(pattern, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return bars, i
            depth -= 1
        elif ch == "|" and depth == 0:
            bars.append(i)
        i += 1
    return bars, len(pattern)


def split_lookbehinds(pattern: str) -> str:
    """``pattern`` with each lookbehind of several alternatives split into one per alternative."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif ch == "[":
            end = _skip_class(pattern, i)
            out.append(pattern[i:end])
            i = end
        elif pattern.startswith(("(?<!", "(?<="), i):
            kind = pattern[i : i + 4]
            bars, close = _top_level(pattern, i + 4)
            if not bars or close >= len(pattern):
                out.append(kind)
                i += 4
                continue
            edges = [i + 3, *bars, close]
            parts = [split_lookbehinds(pattern[a + 1 : b]) for a, b in itertools.pairwise(edges)]
            pieces = "".join(f"{kind}{part})" for part in parts)
            out.append(pieces if kind == "(?<!" else "(?:" + "|".join(f"{kind}{p})" for p in parts) + ")")
            i = close + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def translate(pattern: str) -> Translation:
    """``pattern`` (PCRE, as written in a rule) rendered for RE2, Hyperscan and Python ``re``."""
    return _Translator(split_lookbehinds(pattern) if "(?<" in pattern else pattern).run()
