"""The one incident schema both layers write (docs/CONTRACTS.md), with redaction and a JSONL sink.

Fields: time, request id, layer, engine, rule or detector id, class, action, confidence,
the triggering input (redacted and truncated), for the sink guard sink and operation, and
for the gateway the request it belongs to (client address, method, host, path, status and
the request's decision). Every text field is bounded (:data:`FIELD_LIMITS`): a value over its
cap is cut and ends with ``…``, so one request with a huge parameter name cannot inflate
the audit log.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EVIDENCE_LIMIT",
    "FIELD_LIMITS",
    "Incident",
    "IncidentWriter",
    "bound",
    "escape_controls",
    "read_incidents",
    "redact",
    "redact_mapping",
]

EVIDENCE_LIMIT = 256
FIELD_LIMITS: dict[str, int] = {
    "request_id": 160,
    "engine": 64,
    "rule": 128,
    "class": 64,
    "action": 16,
    "sink": 128,
    "operation": 256,
    "message": 512,
    "client": 64,
    "method": 32,
    "host": 256,
    "path": 512,
    "decision": 16,
}
Layer = Literal["waf", "rasp"]

_SECRET_KEYS = re.compile(
    r"(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|auth(orization)?|cookie|session|"
    r"set-cookie|bearer|credential|private[_-]?key)"
)
# key=value / "key": "value" / Authorization: Bearer xyz inside free text
_INLINE_SECRET = re.compile(
    r"""(?ix)
    (?P<key>"?(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|authorization|cookie|session(?:id)?)"?
        \s*[:=]\s*)
    (?P<val>"[^"]*"|'[^']*'|(?:bearer|basic)\s+\S+|[^\s&;,}]+)
    """
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Make control characters visible (``\\x1b``) so logs cannot be forged or garbled."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", "\\n").replace("\r", "\\r"))


def redact(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    """Mask inline secrets, escape control characters, truncate to ``limit`` characters."""
    masked = _INLINE_SECRET.sub(lambda m: f"{m.group('key')}[redacted]", text)
    escaped = escape_controls(masked)
    if len(escaped) > limit:
        return escaped[: limit - 1] + "…"
    return escaped


def bound(text: str, limit: int) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters ending in ``…``."""
    escaped = escape_controls(text)
    if len(escaped) > limit:
        return escaped[: limit - 1] + "…"
    return escaped


def redact_mapping(values: dict[str, str]) -> dict[str, str]:
    """Redact a header/cookie/field mapping: secret-named keys lose their value entirely."""
    return {k: "[redacted]" if _SECRET_KEYS.search(k) else redact(v) for k, v in values.items()}


def _now() -> datetime:
    return datetime.now(UTC)


class Incident(BaseModel):
    """One detection by one layer. Serialised as one JSON line."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    time: datetime = Field(default_factory=_now)
    request_id: str
    layer: Layer
    engine: str
    rule: str
    attack_class: str = Field(alias="class")
    action: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: str = ""
    sink: str | None = None
    operation: str | None = None
    message: str = ""
    client: str | None = None
    method: str | None = None
    host: str | None = None
    path: str | None = None
    status: int | None = None
    decision: str | None = None

    @classmethod
    def create(cls, *, evidence: str = "", **fields: object) -> Incident:
        """Build an incident: evidence redacted, every text field bounded (:data:`FIELD_LIMITS`)."""
        attack_class = fields.pop("attack_class", fields.pop("class", ""))
        values: dict[str, object] = {**fields, "class": attack_class}
        for name, limit in FIELD_LIMITS.items():
            value = values.get(name)
            if isinstance(value, str):
                values[name] = bound(value, limit)
        return cls.model_validate({**values, "evidence": redact(evidence)})

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class IncidentWriter:
    """Thread-safe JSON-lines sink. ``path=None`` writes nowhere (counts only).

    With ``max_bytes`` set, a write that would take the file past it first rotates:
    ``path`` becomes ``path.1``, ``path.1`` becomes ``path.2`` ... up to ``backups`` files
    (the oldest is deleted). :meth:`reopen` closes the file so the next write opens ``path``
    afresh (an external logrotate moved it; the gateway calls it on SIGHUP)."""

    def __init__(self, path: str | Path | None, *, max_bytes: int = 0, backups: int = 5) -> None:
        if max_bytes < 0 or backups < 0:
            raise ValueError("max_bytes and backups must not be negative")
        self.path = Path(path) if path is not None else None
        self.max_bytes = max_bytes
        self.backups = backups
        self.count = 0
        self.rotations = 0
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None
        self._size = 0

    def write(self, incident: Incident) -> None:
        self.write_line(incident.to_json())

    def write_line(self, line: str) -> None:
        """One JSON line (no newline in ``line``)."""
        data = line + "\n"
        with self._lock:
            self.count += 1
            if self.path is None:
                return
            if self._fh is None:
                self._open(self.path)
            if self.max_bytes and self._size and self._size + len(data.encode()) > self.max_bytes:
                self._rotate(self.path)
            assert self._fh is not None
            self._fh.write(data)
            self._fh.flush()
            self._size += len(data.encode())

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")
        self._size = self._fh.tell()

    def _rotate(self, path: Path) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        if self.backups == 0:
            path.unlink(missing_ok=True)
        else:
            path.with_name(f"{path.name}.{self.backups}").unlink(missing_ok=True)
            for index in range(self.backups - 1, 0, -1):
                older = path.with_name(f"{path.name}.{index}")
                if older.exists():
                    older.rename(path.with_name(f"{path.name}.{index + 1}"))
            if path.exists():
                path.rename(path.with_name(f"{path.name}.1"))
        self.rotations += 1
        self._open(path)

    def reopen(self) -> None:
        """Close the file; the next write opens ``path`` again (after an external rotation)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def close(self) -> None:
        self.reopen()


def read_incidents(path: str | Path) -> list[Incident]:
    """Load a JSONL incident file (for tests and the report)."""
    from rampart.jsonl import read_lines

    return [Incident.model_validate(json.loads(line)) for line in read_lines(path)]
