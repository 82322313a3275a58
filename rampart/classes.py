"""The attack classes every layer, the corpus and the report agree on.

A pydantic field that holds a class is typed :data:`KnownAttackClass` (the value is an
:class:`AttackClass`; a bad name fails with ``unknown class 'x'; use one of ...``), so no
model writes its own validator. :func:`known_classes` builds the same check for a wider set
of names (the native rules also know ``protocol`` and ``anomaly``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["ATTACK_CLASSES", "AttackClass", "KnownAttackClass", "attack_class", "known_classes"]


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


def known_classes(names: Collection[str]) -> Callable[[object], object]:
    """A before-validator accepting exactly ``names`` (the message lists them)."""
    listed = ", ".join(names)

    def check(value: object) -> object:
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"unknown class {value!r}; use one of {listed}")
        return value

    return check


_check_attack_class = known_classes(ATTACK_CLASSES)


def attack_class(name: str) -> AttackClass:
    """``name`` as an :class:`AttackClass`; ``ValueError`` lists the known classes."""
    _check_attack_class(name)
    return AttackClass(name)


KnownAttackClass = Annotated[AttackClass, BeforeValidator(_check_attack_class)]
"""A pydantic field type: one of :class:`AttackClass`, with the known names on a miss."""
