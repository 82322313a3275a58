"""Prompt-injection phrase rules: ``(id, weight, pattern)`` over normalised text.

Patterns are written against the folded text :func:`rampart.inprocess.detectors.prompt.normalise`
produces: lower-case ASCII (accents folded away, homoglyphs and leetspeak mapped, spaced-out
letters joined), single spaces, newlines kept. Within a kind the strongest rule counts; kinds
combine as independent evidence: ``1 - prod(1 - w)``.

The ``obfuscation`` kind is a request to decode, reverse or translate something and then
obey it. It stays below the threshold on its own; with any rule matched in the decoded text
it crosses it. :data:`VOCABULARY` (the words the rules are written with, plus common words)
tells a decoded text that reads as language from gibberish.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["OBFUSCATION", "RULES", "VOCABULARY", "Rule"]


class Rule(NamedTuple):
    id: str
    kind: str  # override, role, extract, delimiter, obfuscation: one kind counts once (its max)
    weight: float
    pattern: re.Pattern[str]


_GAP = r"[^.\n?!]{0,40}?"
_SHORT = r"[^.\n?!]{0,24}?"
_OBJECTS = (
    r"(instructions?|prompts?|rules|directions?|directives?|guidelines|guardrails|constraints|restrictions"
    r"|programming|commands?|polic(y|ies)|orders|context|training|system message)"
)
_EXTRACT_VERBS = (
    r"(reveal|print|show|repeat|output|display|tell|give|leak|dump|disclose|share|spell|write|recite|echo"
    r"|copy|translate|expose|provide|list|read|paste|quote|summari[sz]e|what\s+(is|are|was|were)|what's|whats)"
)
_HIDDEN = (
    r"(system\s*-?\s*(prompt|message|instructions?)|hidden\s+(instructions?|prompt|rules|text|message)"
    r"|(initial|original|first|secret|internal)\s+(prompt|instructions?)|pre-?prompt"
    r"|developer\s+(message|prompt|instructions?)|confidential\s+(instructions?|information|data)"
    r"|(the|your)\s+secret\b(?!\s+(to|of|for|behind|ingredient)\b)"
    r"|(confidential|secret|hidden|internal)\s+(\w+\s+)?(token|key|password|code|instructions?|prompt|rules))"
)

OBFUSCATION = "obfuscation"

_DECODE_VERBS = (
    r"(decode|decipher|decrypt|unscramble|deobfuscate|un-?rot(-?13)?|rot-?13|base-?64|hex|backwards?|reversed"
    r"|in reverse|right to left|reverse (it|this|that|them|the (text|message|string|line)))"
)
_OBEY = (
    r"(follow\s+(it|them|this|that)\b(?!\s+up)|follow\s+what\s+it\s+says|comply|obey"
    r"|execute\s+(it|them|this|that|the\s+(decoded|hidden|result))|do\s+(exactly\s+)?(what|as)\s+(it|they)"
    r"\s+(says?|tells?|asks?|instructs?)|carry\s+(it|them)\s+out|act\s+on\s+(it|them))"
)

_TABLE: tuple[tuple[str, str, float, str], ...] = (
    # instruction override
    (
        "en.override",
        "override",
        0.9,
        rf"\b(ignore|disregard|forget|skip|override|bypass|neglect|abandon|discard|dismiss"
        rf"|stop (following|obeying)|no longer (follow|obey))\b{_GAP}"
        rf"\b(previous|prior|preceding|above|earlier|former|initial|original|old|system|all|any|every|your)\b"
        rf"{_SHORT}\b{_OBJECTS}\b",
    ),
    (
        "en.override_everything",
        "override",
        0.85,
        r"\b(ignore|disregard|forget)\s+(everything|all( of)?( that| this| the above)?|what)\s+"
        r"(above|before|previously|prior|you (were|have been) told|i said before|so far)",
    ),
    (
        "en.override_given",
        "override",
        0.85,
        rf"\b(ignore|disregard|forget|bypass)\b{_SHORT}\b{_OBJECTS}\s+"
        r"(you\s+(were|have been|'ve been)\s+(given|told)|(written|stated|given)\s+(above|before))",
    ),
    (
        "en.new_instructions",
        "override",
        0.6,
        r"\b(new|updated|real|actual|true|revised)\s+(instructions?|rules|system prompt|directives?)\s*:",
    ),
    (
        "en.from_now_on",
        "override",
        0.5,
        r"\bfrom now on\b[^.\n]{0,30}\b(you|respond|answer|act|only|always|never)\b",
    ),
    # role manipulation
    (
        "en.no_longer",
        "role",
        0.75,
        r"\byou\s+are\s+no\s+longer\s+(a|an|the|bound|restricted|limited|required|an?\s+ai)\b",
    ),
    ("en.you_are_now", "role", 0.6, r"\byou\s+are\s+(now|no longer)\b|\bfrom now on,? you\s+(are|will be)\b"),
    ("en.pretend", "role", 0.5, r"\b(pretend|imagine)\s+(to be|you\s*(are|were)|that you)\b"),
    (
        "en.act_as",
        "role",
        0.75,
        r"\bact\s+as\s+(if\s+you|an?\s+(unrestricted|unfiltered|evil|uncensored|jailbroken|different|new)\b|dan\b)",
    ),
    ("en.roleplay", "role", 0.4, r"\b(roleplay|role-play|role play)\s+as\b"),
    (
        "en.dan",
        "role",
        0.9,
        r"\bdo anything now\b|\bdan\s*(mode|prompt|jailbreak|\d+(\.\d+)?)\b|\b(you are|become|as)\s+dan\b",
    ),
    (
        "en.mode",
        "role",
        0.6,
        r"\b(developer|dev|god|debug|sudo|jailbreak|jailbroken|unrestricted|unfiltered|uncensored)\s+mode\b",
    ),
    ("en.jailbreak", "role", 0.6, r"\bjailbr(eak|oken)\b"),
    (
        "en.no_limits",
        "role",
        0.5,
        r"\b(without|no|free (of|from)|not bound by)\s+(any\s+)?(restrictions|limitations|filters|censorship"
        r"|ethical (guidelines|constraints)|morals|content polic(y|ies))\b",
    ),
    # system prompt extraction
    ("en.extract_hidden", "extract", 0.9, rf"\b{_EXTRACT_VERBS}\b{_GAP}\b{_HIDDEN}"),
    (
        "en.extract_credentials",
        "extract",
        0.7,
        r"\b(reveal|leak|dump|disclose|print|expose)\b[^.\n?!]{0,20}?\b(your|the)\s+(admin\s+)?"
        r"(password|api\s*key|token|credentials)\b",
    ),
    (
        "en.extract_instructions",
        "extract",
        0.75,
        r"\b(reveal|print|repeat|recite|dump|disclose|leak|output|spell out)\b[^.\n?!]{0,20}?\b(your|the)\s+"
        r"(instructions|prompt|rules|guidelines|directives|configuration)\b",
    ),
    (
        "en.translate_instructions",
        "extract",
        0.75,
        r"\btranslate\b[^.\n?!]{0,20}?\byour\s+(instructions|prompt|rules|guidelines|directives)\b",
    ),
    (
        "en.list_instructions",
        "extract",
        0.6,
        r"\b(list|show|summari[sz]e)\b[^.\n?!]{0,20}?\byour\s+(instructions|prompt|rules|guidelines|directives"
        r"|configuration|setup)\b",
    ),
    (
        "en.extract_above",
        "extract",
        0.85,
        r"\b(repeat|print|output|recite|copy|echo|write)\b[^.\n]{0,30}?"
        r"\b(everything|all|the (text|words|content|messages?)|what)\b[^.\n]{0,20}?"
        r"\b(above|before this|so far|preceding|you were given|verbatim)\b",
    ),
    (
        "en.how_instructed",
        "extract",
        0.6,
        r"\b(what|how)\s+(were|was|have)\s+you\s+(been\s+)?(told|instructed|programmed|configured)\b",
    ),
    (
        "en.told_before",
        "extract",
        0.8,
        r"\b(told|instructed|programmed|configured|given|received)\b[^.\n?]{0,30}\b(before|prior to"
        r"|at the (start|beginning) of)\s+((this|the|our)\s+(conversation|chat|session)"
        r"|(i|we|you) (arrived|joined|started|came|got here))\b",
    ),
    (
        "en.reveal_secrets",
        "extract",
        0.75,
        r"\b(reveal|leak|disclose|print|expose|dump)\s+(all\s+)?(the\s+)?secrets?\b",
    ),
    (
        "en.secret_value",
        "extract",
        0.6,
        r"\b(the|your)\s+(secret|hidden|confidential)\s+(token|key|password|code)\b",
    ),
    (
        "en.complete_bait",
        "override",
        0.5,
        r"\b(complete|finish|continue)\s+(the|this|my)\s+(sentence|phrase|text|line)\b",
    ),
    ("en.verbatim", "extract", 0.3, r"\bverbatim\b|\bword for word\b"),
    # delimiter injection
    (
        "delim.chatml",
        "delimiter",
        0.9,
        r"<\|\s*(im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\s*\|>",
    ),
    ("delim.inst", "delimiter", 0.8, r"\[/?inst\]|<<\s*/?sys\s*>>"),
    (
        "delim.role_line",
        "delimiter",
        0.6,
        r"(^|\n)\s*(#{1,}\s*)?(system|assistant|developer)(\s+(prompt|message))?\s*:",
    ),
    (
        "delim.role_turns",
        "delimiter",
        0.8,
        r"(^|\n)[ \t]*(system|assistant)[ \t]*:[^\n]*\n(?:[^\n]*\n){0,20}?[ \t]*(user|human)[ \t]*:",
    ),
    ("delim.heading", "delimiter", 0.7, r"#{2,}\s*(system|instructions?|new instructions?|override|admin)\b"),
    ("delim.tag", "delimiter", 0.7, r"</?\s*(system|instructions?|admin|sys)\s*>"),
    (
        "delim.begin",
        "delimiter",
        0.8,
        r"\b(begin|start)\s+(of\s+)?(system|admin|new)\s+(prompt|instructions?|message)\b",
    ),
    ("delim.end_input", "delimiter", 0.5, r"\bend of (the )?(user )?(input|prompt|conversation|document)\b"),
    # obfuscation cue: decode/reverse/translate ... and then obey it
    (
        "obf.decode_and_obey",
        OBFUSCATION,
        0.6,
        rf"\b{_DECODE_VERBS}\b[^.\n?!]{{0,60}}?\b(and|then|&)\b[^.\n?!]{{0,16}}?\b{_OBEY}",
    ),
    (
        "obf.translate_and_obey",
        OBFUSCATION,
        0.6,
        r"\btranslate\b[^.\n?!]{0,60}?\b(and|then|&)\b[^.\n?!]{0,16}?\b(comply|obey|execute\s+(it|them))\b",
    ),
    (
        "obf.obey_decoded",
        OBFUSCATION,
        0.6,
        r"\b(follow|obey|execute|do what)\b[^.\n?!]{0,20}?\b(the\s+)?(decoded|hidden|encoded|reversed"
        r"|base-?64|rot-?13|hex)\s+(text|message|instructions?|content|string|payload)\b",
    ),
    # es
    (
        "es.override",
        "override",
        0.9,
        r"\b(ignora|ignore|olvida|olvide|descarta|omite|desobedece)\b[^.\n?!]{0,30}\b(instrucciones|reglas|indicaciones)\b",
    ),
    (
        "es.extract",
        "extract",
        0.9,
        r"\b(revela|muestra|muestrame|dime|imprime|repite|ensename)\b[^.\n?!]{0,30}\b((prompt|mensaje|instrucciones)"
        r"\s+(del|de)\s+sistema|secreto)\b",
    ),
    ("es.role", "role", 0.6, r"\bahora eres\b|\bmodo desarrollador\b|\bfinge (que eres|ser)\b"),
    # fr
    (
        "fr.override",
        "override",
        0.9,
        r"\b(ignore[rz]?|oublie[rz]?|neglige[rz]?)\b[^.\n?!]{0,30}\b(instructions|consignes|regles|directives)\b",
    ),
    (
        "fr.extract",
        "extract",
        0.9,
        r"\b(revele[rz]?|montre[rz]?|affiche[rz]?|repete[rz]?|donne[rz]?|dis)\b[^.\n?!]{0,30}\b((prompt|message"
        r"|instructions|invite)\s+(du\s+)?systeme|secret)\b",
    ),
    (
        "fr.role",
        "role",
        0.6,
        r"\b(tu es|vous etes) maintenant\b|\bmode developpeur\b|\bfais semblant d'etre\b",
    ),
    # de
    (
        "de.override",
        "override",
        0.9,
        r"\b(ignoriere|ignorieren|ignorier|vergiss|vergessen|missachte)\b[^.\n?!]{0,40}\b(anweisungen|anweisung"
        r"|instruktionen|regeln|vorgaben)\b",
    ),
    (
        "de.extract",
        "extract",
        0.9,
        r"\b(zeig|zeige|gib|verrate|wiederhole|nenne|sag)\b[^.\n?!]{0,30}\b(system\s*-?prompt|systemanweisung(en)?"
        r"|systemnachricht|geheimnis|geheim\w*)\b",
    ),
    ("de.role", "role", 0.6, r"\bdu bist (jetzt|nun|ab sofort)\b|\bentwicklermodus\b"),
    # it
    (
        "it.override",
        "override",
        0.9,
        r"\b(ignora|dimentica|trascura|ignorare)\b[^.\n?!]{0,30}\b(istruzioni|regole)\b",
    ),
    (
        "it.extract",
        "extract",
        0.9,
        r"\b(rivela|mostra|mostrami|ripeti|dimmi|stampa)\b[^.\n?!]{0,30}\b((prompt|messaggio|istruzioni)\s+(di|del)"
        r"\s+sistema|segreto)\b",
    ),
    ("it.role", "role", 0.6, r"\b(ora|adesso) sei\b|\bmodalita sviluppatore\b"),
    # pt
    (
        "pt.override",
        "override",
        0.9,
        r"\b(ignore|ignora|esqueca|esquece|desconsidere)\b[^.\n?!]{0,30}\b(instrucoes|regras)\b",
    ),
    (
        "pt.extract",
        "extract",
        0.9,
        r"\b(revele|mostre|mostra|repita|diga|imprima)\b[^.\n?!]{0,30}\b((prompt|mensagem|instrucoes)\s+(do\s+)?"
        r"sistema|segredo)\b",
    ),
    ("pt.role", "role", 0.6, r"\bagora voce e\b|\bmodo desenvolvedor\b"),
)

RULES: tuple[Rule, ...] = tuple(Rule(i, k, w, re.compile(p)) for i, k, w, p in _TABLE)

_COMMON_WORDS = (
    "the a an and or to of in on for with is are was be it this that what your you me my i we"
    " please now then from above before all any every first word line text message say tell"
    " el la los las de del y que tu su es le les des et est vous ton der die das und ist du dein"
    " il di che sei o os do da e seu sua voce"
)
VOCABULARY: frozenset[str] = frozenset(
    word
    for source in (*(re.sub(r"\\[a-z]", " ", p) for *_, p in _TABLE), _COMMON_WORDS)
    for word in re.findall(r"[a-z]+", source)
    if len(word) >= 2 or word in ("a", "i", "y", "e", "o")
)
"""Words rules are written with, plus common words in the six languages."""
