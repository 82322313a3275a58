"""The one incident schema both layers write (DESIGN.md), with redaction and a JSONL sink.

Fields: time, request id, layer, engine, rule or detector id, class, action, confidence,
the triggering input (redacted and truncated) and, for the sink guard, sink and operation.
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
    "Incident",
    "IncidentWriter",
    "escape_controls",
    "read_incidents",
    "redact",
    "redact_mapping",
]

EVIDENCE_LIMIT = 256
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

    @classmethod
    def create(cls, *, evidence: str = "", **fields: object) -> Incident:
        """Build an incident, redacting and truncating the evidence."""
        attack_class = fields.pop("attack_class", fields.pop("class", ""))
        return cls.model_validate({**fields, "class": attack_class, "evidence": redact(evidence)})

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class IncidentWriter:
    """Thread-safe JSON-lines sink. ``path=None`` writes nowhere (counts only)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.count = 0
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None

    def write(self, incident: Incident) -> None:
        line = incident.to_json()
        with self._lock:
            self.count += 1
            if self.path is None:
                return
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def read_incidents(path: str | Path) -> list[Incident]:
    """Load a JSONL incident file (for tests and the report)."""
    out: list[Incident] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(Incident.model_validate(json.loads(line)))
    return out
