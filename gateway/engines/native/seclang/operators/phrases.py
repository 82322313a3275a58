"""``pm`` and ``pmFromFile``/``pmf``: case-insensitive phrase matching (Aho-Corasick in
ModSecurity; one RE2 alternation here, linear in the value, with a Hyperscan literal prefilter).

``pm``'s argument is a space-separated phrase list; ``|41 42|`` inside a phrase spells bytes in
hex, as in ModSecurity. ``pmFromFile`` reads one phrase per line from each named file (paths
relative to the rule file's folder); blank lines and lines starting with ``#`` are skipped.
Case-insensitivity is ASCII-only (bytes above 0x7f compare exactly), as ModSecurity's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import re2

from rampart.gateway.engines.native.seclang.operators.literals import byte_text, literal_pattern
from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["PhraseMatch", "decode_phrase", "load_phrase_file", "phrase_match"]


def _options() -> re2.Options:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.case_sensitive = False
    options.max_mem = 256 << 20
    return options


_OPTIONS = _options()


def decode_phrase(text: str) -> str:
    """``text`` with ``|hex bytes|`` sections decoded (a section that is not hex stays as written)."""
    out: list[str] = []
    i = 0
    while True:
        bar = text.find("|", i)
        close = text.find("|", bar + 1) if bar != -1 else -1
        if close == -1:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:bar])
        digits = text[bar + 1 : close].replace(" ", "")
        try:
            out.append(bytes.fromhex(digits).decode("latin-1"))
            i = close + 1
        except ValueError:
            out.append("|")
            i = bar + 1


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """Matches when any of ``phrases`` occurs in the value, ignoring ASCII case."""

    phrases: tuple[str, ...]
    prefilter: tuple[str, ...] | None
    _regex: re2._Regexp | None

    def evaluate(self, value: str) -> OperatorMatch | None:
        if self._regex is None:
            return None
        found = self._regex.search(value.encode("latin-1", "replace"))
        if found is None:
            return None
        text = found.group(0).decode("latin-1")
        return OperatorMatch(text, (text,))


def _escape(phrase: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else f"\\x{ord(ch) & 0xFF:02x}" for ch in phrase)


def phrase_match(phrases: list[str] | tuple[str, ...]) -> PhraseMatch:
    """A matcher for ``phrases`` (empty phrases dropped; an empty list never matches)."""
    unique = tuple(dict.fromkeys(p for p in phrases if p))
    if not unique:
        return PhraseMatch((), None, None)
    body = "|".join(_escape(p) for p in sorted(unique, key=len, reverse=True))
    try:
        regex = re2.compile(body.encode("latin-1", "replace"), _OPTIONS)
    except re2.error as exc:
        raise ValueError(f"phrase list does not compile: {exc}") from None
    prefilter = tuple(literal_pattern(p, caseless=True) for p in unique)
    return PhraseMatch(unique, prefilter, regex)


def _pm(argument: str, context: OperatorContext) -> PhraseMatch:
    phrases = [decode_phrase(p) for p in byte_text(argument).split()]
    if not phrases:
        raise ValueError("@pm needs at least one phrase")
    return phrase_match(phrases)


def load_phrase_file(path: Path) -> list[str]:
    """The phrases in ``path``: one a line, blank lines and ``#`` comments skipped."""
    phrases: list[str] = []
    for line in path.read_bytes().decode("latin-1").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            phrases.append(text)
    return phrases


def _pm_from_file(argument: str, context: OperatorContext) -> PhraseMatch:
    names = argument.split()
    if not names:
        raise ValueError("@pmFromFile needs a file name")
    phrases: list[str] = []
    for name in names:
        if "://" in name:
            raise ValueError(f"@pmFromFile {name!r}: only local files are read (no network); copy it locally")
        path = Path(name) if Path(name).is_absolute() else context.base_dir / name
        try:
            phrases.extend(load_phrase_file(path))
        except OSError as exc:
            raise ValueError(f"@pmFromFile cannot read {path}: {exc.strerror or exc}") from None
    return phrase_match(phrases)


register("pm", _pm)
register("pmFromFile", _pm_from_file)
register("pmf", _pm_from_file)
