"""Prompt injection: user text in an LLM prompt that tries to take over the model.

:func:`normalise` undoes the usual disguises (invisible characters, Unicode tag
"smuggling", homoglyphs, fullwidth forms, accents, leetspeak, spaced-out letters,
base64/hex/rot13 segments, reversed text) and :func:`score` weighs phrase rules
(:mod:`inprocess.detectors._prompt_rules`) for instruction override, role manipulation,
system-prompt extraction and fake delimiters, in English, Spanish, French, German,
Italian and Portuguese. :func:`detect` scores only the user-controlled parts of a prompt:
the user inputs that occur in it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from inprocess.context import UserInput
from inprocess.detectors import Detection, register
from inprocess.detectors._common import Reporter, occurring
from inprocess.detectors._prompt_rules import RULES

__all__ = ["THRESHOLD", "detect", "normalise", "score"]

_report = Reporter("prompt", "prompt_injection")

THRESHOLD = 0.7
_MAX_TEXT = 20_000

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
_LEET_WORD = re.compile(r"[a-z0-9@$]*[a-z][a-z0-9@$]*")
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*]){3,}[a-z]\b")
_EXPANSIONS = {"you're": "you are", "youre": "you are", "you've": "you have", "don't": "do not"}
_CONTRACTIONS = re.compile(r"\b(you're|youre|you've|don't)\b")
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){12,}\b")
_STOPWORDS = frozenset(
    {
        "the",
        "you",
        "your",
        "and",
        "all",
        "to",
        "of",
        "is",
        "are",
        "instructions",
        "previous",
        "ignore",
        "system",
        "prompt",
        "now",
        "reveal",
        "print",
        "secret",
        "rules",
        "above",
        "forget",
        "tell",
        "me",
        "what",
    }
)


def _untag(text: str) -> str:
    """Map Unicode tag characters (U+E0020-U+E007E) to the ASCII they smuggle; drop others."""
    if not any(0xE0000 <= ord(c) <= 0xE007F for c in text):
        return text
    return "".join(
        chr(ord(c) - 0xE0000) if 0xE0020 <= ord(c) <= 0xE007E else ("" if 0xE0000 <= ord(c) <= 0xE007F else c)
        for c in text
    )


def _fold(text: str) -> str:
    if not text.isascii():
        text = _untag(text).translate(_INVISIBLE)
        text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.lower()
    text = _LEET_WORD.sub(
        lambda m: m.group().translate(_LEET) if not m.group().isalpha() else m.group(), text
    )
    text = _CONTRACTIONS.sub(lambda m: _EXPANSIONS[m.group()], text)
    text = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group()), text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def _texty(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\n\t" for c in text)
    if len(text) < 6 or printable < 0.95 * len(text) or " " not in text.strip():
        return None
    return text


def _decoded(text: str) -> Iterator[str]:
    """Text hidden in base64 or hex segments of ``text``."""
    for m in _BASE64.finditer(text):
        chunk = m.group().replace("-", "+").replace("_", "/").rstrip("=")
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4))
        except (binascii.Error, ValueError):
            continue
        found = _texty(raw)
        if found is not None:
            yield found
    for m in _HEX.finditer(text):
        try:
            raw = bytes.fromhex(re.sub(r"[ :]", "", m.group()))
        except ValueError:
            continue
        found = _texty(raw)
        if found is not None:
            yield found


def _stopword_hits(text: str) -> int:
    return sum(w in _STOPWORDS for w in re.findall(r"[a-z]+", text))


def normalise(text: str) -> str:
    """Canonical lower-case ASCII form of ``text`` with decoded hidden segments appended."""
    text = text[:_MAX_TEXT]
    parts = [_fold(text)]
    for hidden in _decoded(text if text.isascii() else _untag(text).translate(_INVISIBLE)):
        parts.append(_fold(hidden))
    plain = _stopword_hits(parts[0])
    rot = codecs.decode(parts[0], "rot13")
    if "rot13" in parts[0] or "rot-13" in parts[0] or _stopword_hits(rot) > max(2, 2 * plain):
        parts.append(rot)
    backwards = parts[0][::-1]
    if _stopword_hits(backwards) > max(2, 2 * plain):
        parts.append(backwards)
    return "\n".join(parts)


def score(text: str) -> tuple[float, list[str]]:
    """Injection likelihood of ``text`` (0..1) and the ids of the rules that matched.

    Per kind (override, role, extract, delimiter) the strongest rule counts fully and
    further rules of the same kind at half weight; kinds combine as independent evidence.
    """
    folded = normalise(text)
    hits = [rule for rule in RULES if rule.pattern.search(folded)]
    by_kind: dict[str, list[float]] = {}
    for rule in hits:
        by_kind.setdefault(rule.kind, []).append(rule.weight)
    remaining = 1.0
    for weights in by_kind.values():
        strongest, *others = sorted(weights, reverse=True)
        remaining *= 1.0 - strongest
        for weight in others:
            remaining *= 1.0 - weight / 2

    return round(1.0 - remaining, 4), [rule.id for rule in hits]


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
