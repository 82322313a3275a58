"""Registries of encoders and placements: ``register(name)`` to add, ``get(name)`` to look up.

An *encoder* is a pure ``str -> str`` function with a little metadata saying where it acts:

- ``stage="value"``: it rewrites the payload as the sink will see it (SQL keyword case,
  ``${IFS}`` for spaces, base64 wrapping of a prompt). ``classes`` says which attack classes
  it keeps the meaning for.
- ``stage="wire"``: it rewrites how the value travels (percent-encoding of a query value,
  ``\\u0024`` escapes in a JSON text, YAML tag spelling). The HTTP layer or the body parser
  undoes it, so the sink sees the same value. ``wires`` says which carriers it applies to
  (``query``, ``json``, ``yaml``); a non-empty ``classes`` restricts it further (overlong
  UTF-8 only makes sense for paths).

``breaks`` marks an evasion that real attackers send but that does not survive the lab's
single decoding (double URL encoding, ``%u`` escapes, MySQL-only comments): the case stays a
labelled attack and the oracle shows whether it worked.

A *placement* builds the HTTP request that carries a payload to an endpoint; see
:mod:`rampart.attacks.mutators.placements`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rampart.registry import Registry, UnknownNameError

__all__ = [
    "Encoder",
    "Registry",
    "Stage",
    "UnknownNameError",
    "encoders",
    "get",
    "names",
    "register",
]

Stage = Literal["value", "wire"]


@dataclass(frozen=True, slots=True)
class Encoder:
    """One registered encoder: a pure function plus where it applies."""

    name: str
    func: Callable[[str], str]
    stage: Stage
    classes: frozenset[str] = field(default_factory=frozenset)  # classes it suits (wire: optional)
    wires: frozenset[str] = field(default_factory=frozenset)  # wire stage: carriers it suits
    breaks: bool = False
    doc: str = ""

    def __call__(self, text: str) -> str:
        return self.func(text)


encoders: Registry[Encoder] = Registry("encoder")


def register(
    name: str,
    *,
    stage: Stage,
    classes: tuple[str, ...] = (),
    wires: tuple[str, ...] = (),
    breaks: bool = False,
) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
    """Decorator: register ``func`` as encoder ``name`` (its docstring becomes the doc)."""
    if stage == "value" and not classes:
        raise ValueError(f"value-stage encoder {name!r} needs the classes it suits")
    if stage == "wire" and not wires:
        raise ValueError(f"wire-stage encoder {name!r} needs the carriers it suits")

    def deco(func: Callable[[str], str]) -> Callable[[str], str]:
        encoders.register(
            name,
            Encoder(
                name=name,
                func=func,
                stage=stage,
                classes=frozenset(classes),
                wires=frozenset(wires),
                breaks=breaks,
                doc=(func.__doc__ or "").strip(),
            ),
        )
        return func

    return deco


def get(name: str) -> Encoder:
    """The encoder called ``name``; :class:`UnknownNameError` lists the known names."""
    return encoders.get(name)


def names() -> tuple[str, ...]:
    return encoders.names()
