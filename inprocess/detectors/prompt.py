"""Prompt injection: user text in an LLM prompt that tries to take over the model.

:func:`normalise` undoes the usual disguises. Every text is folded (invisible characters
and Unicode tag "smuggling" removed, homoglyphs, fullwidth forms, accents and leetspeak
mapped, spaced-out letters joined and split back into words). Decoders then build more
candidate texts, applied to each other's output up to :data:`_MAX_DEPTH` times: base64
(standard and URL-safe) and hex segments that decode to text, rot13 and reversal of the
whole text, of each line, or of what follows a "decode this ...:" cue. :func:`score`
weighs phrase rules (:mod:`rampart.inprocess.detectors._prompt_rules`) for instruction override,
role manipulation, system-prompt extraction, fake delimiters and decode-and-obey cues, in
English, Spanish, French, German, Italian and Portuguese, on every candidate and keeps the
best. :func:`detect` scores only the user-controlled parts of a prompt: the user inputs
that occur in it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import heapq
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from functools import cache, lru_cache
from typing import Any, NamedTuple

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurring
from rampart.inprocess.detectors._prompt_rules import OBFUSCATION, RULES, VOCABULARY, Rule

__all__ = ["THRESHOLD", "candidates", "detect", "normalise", "score"]

_report = Reporter("prompt", "prompt_injection")

THRESHOLD = 0.7
_MAX_TEXT = 20_000
_MAX_DEPTH = 3  # decoders applied to decoded output at most this many times
_MAX_VARIANTS = 24  # distinct texts built from one input, the input included
_MAX_SCORED = 8  # candidates the rules run on, the input included

_INVISIBLE = dict.fromkeys(
    [
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2065),
        *range(0x2066, 0x206A),
        0xFEFF,
        0x00AD,
        0x180E,
        0x034F,
        0x115F,
        0x1160,
        0x3164,
        0xFFA0,
    ],
    None,
)
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡӏкмнтвАЕОРСУХІЈЅКМНТВαεορστυνικχΑΕΟΡΤΥΝΙΚΧΒΜΗΖ",
    "aeopcyxijsdglkmhtbAEOPCYXIJSKMHTBaeopotuvikxAEOPTYNIKXBMHZ",
)
_LEET = str.maketrans("013457@$", "oieastas")
# Words mixing letters with leet digits/symbols (pure words and numbers are left alone).
_LEET_WORD = re.compile(r"(?<![a-z0-9@$])(?=[a-z0-9@$]*[a-z])(?=[a-z@$]*[0-9@$])[a-z0-9@$]+")
_LEET_KEEP = re.compile(r"rot-?13|base-?(64|32)|b64|utf-?(8|16)|sha-?\d+|md5|x\d+|\d+(st|nd|rd|th|s|k|m|x)")
# Letters separated by one space (or . - _ *); two or more spaces mark a word gap.
_SPACED = re.compile(r"(?<![a-z0-9])[a-z](?:(?:[ .\-_*]| {2,3})[a-z]){3,}(?![a-z0-9])")
_EXPANSIONS = {"you're": "you are", "youre": "you are", "you've": "you have", "don't": "do not"}
_CONTRACTIONS = re.compile(r"\b(you're|youre|you've|don't)\b")
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){12,}\b")
_ENCODED = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}|(?:[0-9a-fA-F]{2}[ :]?){12,}")
_WORDS = re.compile(r"[a-z]{3,}")  # shorter fragments are as common in hex and gibberish
# Where a "decode this ...:" request ends (at a colon or the end of its line) and the
# encoded part begins.
_CUE = re.compile(
    r"\b(decode|decipher|decrypt|unscramble|rot-?13|base-?64|hex|backwards?|reversed?|in reverse"
    r"|right to left)\b[^\n:]{0,80}(:[ \t]*\n?|\n)",
    re.IGNORECASE,
)
_SEGMENT_MAX = 64  # longest run of spaced letters split back into words


def _untag(text: str) -> str:
    """Map Unicode tag characters (U+E0020-U+E007E) to the ASCII they smuggle; drop others."""
    if text.isascii() or max(text) < "\U000e0000":
        return text
    return "".join(
        chr(ord(c) - 0xE0000) if 0xE0020 <= ord(c) <= 0xE007E else ("" if 0xE0000 <= ord(c) <= 0xE007F else c)
        for c in text
    )


@cache
def _segment(letters: str) -> str:
    """``letters`` split into the fewest :data:`VOCABULARY` words, or unchanged if it cannot be."""
    if len(letters) > _SEGMENT_MAX or letters in VOCABULARY:
        return letters
    best: list[list[str] | None] = [[]] + [None] * len(letters)
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - 20), end):
            head = best[start]
            current = best[end]
            if (
                head is not None
                and letters[start:end] in VOCABULARY
                and (current is None or len(head) + 1 < len(current))
            ):
                best[end] = [*head, letters[start:end]]
    found = best[-1]
    return " ".join(found) if found else letters


def _join_spaced(match: re.Match[str]) -> str:
    words = re.split(r" {2,3}", match.group())
    return " ".join(_segment(re.sub(r"[ .\-_*]", "", word)) for word in words)


def _leet(match: re.Match[str]) -> str:
    word = match.group()
    if _LEET_KEEP.fullmatch(word):
        return word
    return word.translate(_LEET)


def _fold(text: str) -> str:
    """Lower-case ASCII form of ``text`` that the rules are written against."""
    if not text.isascii():
        text = _untag(text).translate(_INVISIBLE)
        text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.lower()
    text = _LEET_WORD.sub(_leet, text)
    text = _CONTRACTIONS.sub(lambda m: _EXPANSIONS[m.group()], text)
    text = _SPACED.sub(_join_spaced, text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def _texty(raw: bytes) -> str | None:
    """``raw`` as text if it is mostly printable UTF-8 words or another encoded segment."""
    try:
        text = _untag(raw.decode("utf-8")).translate(_INVISIBLE)
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\n\t" for c in text)
    if len(text) < 6 or printable < 0.95 * len(text):
        return None
    if " " not in text.strip() and not _ENCODED.fullmatch(text.strip()):
        return None
    return text


def _b64_text(segment: str) -> str | None:
    chunk = segment.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return _texty(base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


def _hex_text(segment: str) -> str | None:
    try:
        return _texty(bytes.fromhex(re.sub(r"[ :]", "", segment)))
    except ValueError:
        return None


def _substitute(pattern: re.Pattern[str], decode: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """A decoder replacing each ``pattern`` segment of a text by its decoding, if any decodes."""

    def decoder(text: str) -> str | None:
        changed = False

        def one(match: re.Match[str]) -> str:
            nonlocal changed
            found = decode(match.group())
            if found is None:
                return match.group()
            changed = True
            return found

        out = pattern.sub(one, text)
        return out if changed else None

    return decoder


def _rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


@lru_cache(maxsize=32)
def _cue_end(text: str) -> int | None:
    cue = _CUE.search(text)
    return None if cue is None or cue.end() >= len(text) else cue.end()


def _after_cue(transform: Callable[[str], str]) -> Callable[[str], str | None]:
    """A decoder applying ``transform`` to what follows a "decode this ...:" cue."""

    def decoder(text: str) -> str | None:
        end = _cue_end(text)
        return None if end is None else text[:end] + transform(text[end:])

    return decoder


def _reverse(text: str) -> str:
    return text[::-1]


def _reverse_lines(text: str) -> str | None:
    return "\n".join(line[::-1] for line in text.split("\n")) if "\n" in text else None


class _Decoder(NamedTuple):
    """A text-to-text decoding; ``None`` when it does not apply.

    ``gated``: it turns any text into another (rot13, reversal), so its output is scored
    only when it reads more like language than its source and the input. ``family``: decoders of one
    family are not applied to each other's output (rot13 of rot13 is the input); segment
    decoders have none, as base64 inside base64 is a real nesting.
    """

    apply: Callable[[str], str | None]
    family: str | None = None
    gated: bool = False


_DECODERS: tuple[_Decoder, ...] = (
    _Decoder(_substitute(_BASE64, _b64_text)),
    _Decoder(_substitute(_HEX, _hex_text)),
    _Decoder(_after_cue(_rot13), "rot13", gated=True),
    _Decoder(_after_cue(_reverse), "reverse", gated=True),
    _Decoder(_rot13, "rot13", gated=True),
    _Decoder(_reverse, "reverse", gated=True),
    _Decoder(_reverse_lines, "reverse", gated=True),
)


def _known_words(text: str) -> int:
    """Vocabulary words in ``text`` after a cheap fold (homoglyphs, case, leet characters)."""
    light = (text if text.isascii() else text.translate(_HOMOGLYPHS)).lower().translate(_LEET)
    return sum(map(VOCABULARY.__contains__, _WORDS.findall(light)))


def candidates(text: str) -> list[str]:
    """Folded forms of ``text`` and of what decoding it yields; the folded input comes first.

    Decoders run on their own output up to :data:`_MAX_DEPTH` steps deep, the most readable
    text (most vocabulary words) first, on at most :data:`_MAX_VARIANTS` distinct texts.
    Rot13 and reversal (of the whole text, of each line, or after a "decode this:" cue) are
    kept only if the result has more vocabulary words than both its source and the input;
    an unreadable result of the input is still decoded once more (rot13 of reversed text).
    At most :data:`_MAX_SCORED` candidates are returned.
    """
    raw = _untag(text[:_MAX_TEXT]).translate(_INVISIBLE)
    input_words = _known_words(raw)
    out = [_fold(raw)]
    seen = {raw}
    queue: list[tuple[int, int, str, str | None]] = [(-input_words, 0, raw, None)]
    while queue:
        negative_words, depth, source, family = heapq.heappop(queue)
        source_words = -negative_words
        for decoder in _DECODERS:
            if len(seen) >= _MAX_VARIANTS or len(out) >= _MAX_SCORED:
                return out
            if decoder.family is not None and decoder.family == family:
                continue
            variant = decoder.apply(source)
            if variant is None or variant in seen:
                continue
            variant = variant[:_MAX_TEXT]
            seen.add(variant)
            words = _known_words(variant)
            readable = not decoder.gated or words > max(source_words, input_words)
            if readable:
                out.append(_fold(variant))
            if depth + 1 < _MAX_DEPTH and (readable or depth == 0):
                heapq.heappush(queue, (-words, depth + 1, variant, decoder.family))
    return out


def normalise(text: str) -> str:
    """Canonical lower-case ASCII form of ``text``, then each decoded candidate on its own line."""
    return "\n".join(candidates(text))


def _combine(rules: Sequence[Rule]) -> float:
    by_kind: dict[str, list[float]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, []).append(rule.weight)
    remaining = 1.0
    for weights in by_kind.values():
        strongest, *others = sorted(weights, reverse=True)
        remaining *= 1.0 - strongest
        for weight in others:
            remaining *= 1.0 - weight / 2
    return round(1.0 - remaining, 4)


def score(text: str) -> tuple[float, list[str]]:
    """Injection likelihood of ``text`` (0..1) and the ids of the rules that matched.

    Each candidate from :func:`candidates` is scored and the best counts. Per kind
    (override, role, extract, delimiter, obfuscation) the strongest rule counts fully and
    further rules of the same kind at half weight; kinds combine as independent evidence.
    A decode-and-obey cue found in any candidate (typically the undecoded input) counts
    with the rules matched in every other candidate (typically the decoded payload).
    """
    matched = [[rule for rule in RULES if rule.pattern.search(folded)] for folded in candidates(text)]
    cues = list({rule.id: rule for hits in matched for rule in hits if rule.kind == OBFUSCATION}.values())
    best: tuple[float, list[Rule]] = (0.0, [])
    for hits in matched:
        rules = [rule for rule in hits if rule.kind != OBFUSCATION] + cues
        value = _combine(rules)
        if value > best[0]:
            best = (value, rules)
    return best[0], [rule.id for rule in best[1]]


def _texts(prompt: Any) -> Iterator[str]:
    """Message texts of a prompt: a string, or chat messages with str or part-list content."""
    if isinstance(prompt, str):
        yield prompt
        return
    if not isinstance(prompt, list | tuple):
        return
    for message in prompt:
        if isinstance(message, str):
            yield message
            continue
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]
                elif isinstance(part, str):
                    yield part


@register("prompt")
def detect(prompt: str | list[dict[str, Any]], inputs: Sequence[UserInput]) -> Detection | None:
    """Flag a user input in ``prompt`` whose normalised text scores at or above :data:`THRESHOLD`."""
    text = prompt if isinstance(prompt, str) else "\x00".join(_texts(prompt))
    best: tuple[float, list[str], UserInput] | None = None
    for item in occurring(text, inputs):
        value: str = item.value
        value_score, rules = score(value)
        if value_score >= THRESHOLD and (best is None or value_score > best[0]):
            best = (value_score, rules, item)
    if best is None:
        return None
    value_score, rules, item = best
    return _report(
        value_score,
        f"prompt-injection phrases: {', '.join(rules[:4])}",
        item.value,
        item.source,
    )
