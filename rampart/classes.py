"""The attack classes every layer, the corpus and the report agree on."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ATTACK_CLASSES", "AttackClass"]


class AttackClass(StrEnum):
    NOSQL_INJECTION = "nosql_injection"
    SQL_INJECTION = "sql_injection"
    COMMAND_INJECTION = "command_injection"
    SSRF = "ssrf"
    PATH_TRAVERSAL = "path_traversal"
    XSS = "xss"
    PROMPT_INJECTION = "prompt_injection"
    SSTI = "ssti"
    CODE_INJECTION = "code_injection"
    DESERIALIZATION = "deserialization"


ATTACK_CLASSES: tuple[str, ...] = tuple(c.value for c in AttackClass)
