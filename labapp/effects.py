"""The oracle's memory: what each request actually did, keyed by request id.

Effects are judged here, from what happened (a secret in a body, a destination the
sandbox saw, a login without the right password, active HTML stored) -- never from a
detector of either protection layer.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["REQUEST_ID", "Effect", "EffectKind", "EffectStore", "current_request_id"]

EffectKind = Literal["auth_bypass", "canary_leak", "internal_contact", "stored_payload"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rampart_lab_request_id", default=None
)


def current_request_id() -> str | None:
    """The id of the lab request being served in this task, if any."""
    return REQUEST_ID.get()


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail}


class _Record:
    __slots__ = ("effects", "outbound")

    def __init__(self) -> None:
        self.effects: list[Effect] = []
        self.outbound: list[dict[str, Any]] = []


class EffectStore:
    """Bounded in-memory store: the most recent ``capacity`` request ids are kept."""

    def __init__(self, capacity: int = 200_000, per_request: int = 100) -> None:
        self.capacity = capacity
        self.per_request = per_request
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _record(self, request_id: str) -> _Record:
        rec = self._records.get(request_id)
        if rec is None:
            rec = self._records[request_id] = _Record()
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)
        return rec

    def add(self, request_id: str | None, kind: EffectKind, detail: dict[str, Any]) -> None:
        if request_id is None:
            return
        rec = self._record(request_id)
        if len(rec.effects) < self.per_request:
            rec.effects.append(Effect(kind, detail))

    def add_outbound(self, request_id: str | None, attempt: dict[str, Any]) -> None:
        if request_id is None:
            return
        rec = self._record(request_id)
        if len(rec.outbound) < self.per_request:
            rec.outbound.append(attempt)

    def effects(self, request_id: str) -> list[Effect]:
        rec = self._records.get(request_id)
        return list(rec.effects) if rec else []

    def outbound(self, request_id: str) -> list[dict[str, Any]]:
        rec = self._records.get(request_id)
        return list(rec.outbound) if rec else []

    def clear(self) -> None:
        self._records.clear()

    def __len__(self) -> int:
        return len(self._records)
