"""Helpers for the detector tables: build user inputs the way the framework middleware does."""

from __future__ import annotations

from typing import Any

from rampart.inprocess.context import UserInput, flatten


def inputs_of(**fields: Any) -> list[UserInput]:
    """Flatten request fields (``query_name=value``) into UserInputs, as the middleware does."""
    out: list[UserInput] = []
    for key, value in fields.items():
        flatten(key.replace("_", ".", 1), value, out)
    return out


def noise(n: int = 10) -> list[UserInput]:
    """A typical request context: ``n`` benign fields that match nothing."""
    return [UserInput(f"header.x-field-{i}", f"value-{i}-abcdef") for i in range(n)]
