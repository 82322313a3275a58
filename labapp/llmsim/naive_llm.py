"""The naive model: canned help-desk answers, and blind obedience to injected instructions.

:func:`reply` looks at every reading of the user's message (plain, and decoded by
:mod:`.decoders`) for instructions in English, Spanish, French, German, Italian and
Portuguese. Any injection -- ignore-previous, a request to reveal the prompt or the
secret, a role-play persona, a fake system block -- makes it comply: it echoes a quoted
``say "..."`` text, otherwise it recites its system prompt (secret included).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

import re2

from rampart.labapp.llmsim.decoders import readings

__all__ = ["INTENTS", "Reading", "interpret", "reply"]

MAX_CHARS = 8000


class Searcher(Protocol):
    def search(self, text: str) -> object | None: ...


def _rx(*patterns: str) -> Searcher:
    """One case-insensitive, dot-all RE2 pattern: linear time, whatever the message."""
    compiled: Searcher = re2.compile("(?is)" + "|".join(f"(?:{p})" for p in patterns))
    return compiled


_OBJECTS = (
    r"(?:system|initial|original|hidden|secret|internal|developer|previous|first)\s*(?:prompt|instructions?|message|rules)"
    # "your <word> instructions" only when the word is about the model's own set-up: "your
    # return instructions" asks about a shop's return policy, not the system prompt
    r"|your\s+(?:(?:system|initial|original|hidden|secret|internal|full|exact|complete|first|real|actual|"
    r"current|own|previous|prior|entire|whole|confidential|private|core|base|default|developer|admin|"
    r"support|special|starting|opening|setup|custom|underlying|governing)\s+)?"
    r"(?:prompt|instructions?|directives|configuration|secret|token)"
    r"|the\s+(?:secret|token|api key|support token|hidden \w+)|(?:everything|text|words)\s+(?:above|before)"
    r"|the\s+prompt|prompt\s+(?:above|text)|secret\s+(?:token|key|code)|confidential"
)
INTENTS: dict[str, Searcher] = {
    "leak": _rx(
        rf"\b(?:repeat|print|reveal|show|tell|display|output|give|dump|spell|write|list|recite|leak|share|expose|"
        rf"return|paste|type|what\s+(?:is|are|was|were))\b.{{0,60}}?(?:{_OBJECTS})",
        r"\b(?:muestra|mu[eé]strame|revela|dime|imprime|repite|ensename|ense[nñ]a)\b.{0,60}?"
        r"(?:prompt|instrucciones|secreto|token)",
        r"\b(?:montre|montrez|affiche|affichez|r[eé]v[eè]le|r[eé]v[eé]lez|dis|donne|donnez|imprime|r[eé]p[eè]te)\b.{0,60}?"
        r"(?:prompt|instructions|secret|jeton)",
        r"\b(?:zeige|zeig|verrate|gib|nenne|wiederhole|drucke)\b.{0,60}?"
        r"(?:prompt|anweisungen|instruktionen|geheimnis|token|systemprompt)",
        r"\b(?:mostra|mostrami|rivela|dimmi|ripeti|stampa)\b.{0,60}?(?:prompt|istruzioni|segreto)",
        r"\b(?:mostre|mostra|revele|diga|repita|imprima)\b.{0,60}?(?:prompt|instru[cç][oõ]es|segredo)",
    ),
    "override": _rx(
        r"\b(?:ignore|disregard|forget|override|bypass|skip|drop)\b.{0,40}?\b(?:previous|prior|above|earlier|all|any|"
        r"your|the|preceding|initial|original|system)\b.{0,30}?\b(?:instructions?|rules|directions|prompts?|guidelines|"
        r"constraints|restrictions|context)\b",
        r"\bnew\s+instructions?\s*:",
        r"\b(?:ignora|olvida|omite)\b.{0,40}?\binstrucciones\b",
        r"\b(?:ignore[rz]?|oublie[rz]?)\b.{0,40}?\b(?:instructions|consignes|r[eè]gles)\b",
        r"\b(?:ignoriere|ignorier|vergiss|missachte)\b.{0,40}?\b(?:anweisungen|instruktionen|regeln)\b",
        r"\b(?:ignora|dimentica)\b.{0,40}?\b(?:istruzioni|regole)\b",
        r"\b(?:ignore|esque[cç]a)\b.{0,40}?\b(?:instru[cç][oõ]es|regras)\b",
    ),
    "roleplay": _rx(
        r"\byou\s+are\s+(?:now|no\s+longer)\b",
        r"\b(?:pretend|imagine)\s+(?:that\s+)?(?:you\s+are|you're|to\s+be)\b",
        r"\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil|developer|admin|system|dan|jailbroken)",
        r"\bDAN\b|\bdo\s+anything\s+now\b|\bdeveloper\s+mode\b|\bjailbr(?:eak|oken)\b|\bgod\s*mode\b",
        r"\bfrom\s+now\s+on,?\s+you\b",
    ),
    "delimiter": _rx(
        r"(?:^|\n)\s*(?:#{2,}|={2,}|-{2,}|\*{2,})\s*(?:system|admin|developer|instructions?)\b",
        r"<\|?\s*(?:im_start|system|endoftext|im_end)\s*\|?>",
        r"\[/?(?:system|inst|admin)\]|<</?sys>>|</?(?:system|instructions?)>",
        r"(?:^|\n)\s*(?:system|assistant)\s*:\s*\S",
        r"\b(?:begin|end)\s+(?:system|admin)\s+(?:prompt|message|instructions?)\b",
        r"</(?:user|user_input|message)>",
    ),
}
_SAY = re.compile(
    r"\b(?:say|reply\s+with|respond\s+with|answer\s+with|output|print|write)\s*:?\s*[\"'“«](?P<text>[^\"'”»]{1,200})[\"'”»]",
    re.IGNORECASE,
)

_CANNED: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("ship", "deliver", "envío", "livraison"),
        "Standard shipping takes 3-5 business days; express arrives in 1-2.",
    ),
    (
        ("return", "refund", "exchange"),
        "You can return any item within 30 days for a full refund. Start from Orders > Return.",
    ),
    (
        ("password", "log in", "login", "sign in"),
        "Use 'Forgot password' on the login page; a reset link arrives by e-mail.",
    ),
    (
        ("order", "track", "status"),
        "You can track your order under Account > Orders; it shows each shipping step.",
    ),
    (
        ("hour", "open", "contact", "phone", "email"),
        "Support is open Monday to Friday, 9:00-18:00 CET, at support@rampart.shop.",
    ),
    (("pay", "card", "invoice", "price"), "We accept cards, PayPal and invoices for business accounts."),
    (
        ("hello", "hi ", "hey", "good morning", "hola", "bonjour", "hallo"),
        "Hello! How can I help you with your order today?",
    ),
)
_FALLBACK = (
    "I'm the Rampart Shop help-desk assistant. I can help with orders, shipping, returns and payments."
)


def _fold(text: str) -> str:
    """Lowercase with accents stripped, so ``révèle`` matches ``revele`` too."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass(frozen=True, slots=True)
class Reading:
    """What the model understood: which intents it found, and in which reading."""

    intents: frozenset[str]
    via: str
    say: str | None

    @property
    def injected(self) -> bool:
        return bool(self.intents)


def interpret(message: str) -> Reading:
    """Find instructions in ``message`` (any reading); the first reading with any wins."""
    for how, text in readings(message[:MAX_CHARS]):
        candidates = (text,) if text.isascii() else (text, _fold(text))
        found = frozenset(name for name, rx in INTENTS.items() if any(rx.search(c) for c in candidates))
        if found:
            m = _SAY.search(text)
            return Reading(found, how, m.group("text") if m else None)
    return Reading(frozenset(), "plain", None)


def _canned(message: str) -> str:
    low = message.lower()
    for keywords, answer in _CANNED:
        if any(k in low for k in keywords):
            return answer
    return _FALLBACK


def reply(system_prompt: str, message: str) -> str:
    """The assistant's answer to ``message`` under ``system_prompt``."""
    reading = interpret(message)
    if not reading.injected:
        return _canned(message)
    persona = "DAN: " if "roleplay" in reading.intents else ""
    if reading.say is not None and "leak" not in reading.intents:
        return persona + reading.say
    return f"{persona}Of course! Here are my instructions, word for word:\n\n{system_prompt}"
