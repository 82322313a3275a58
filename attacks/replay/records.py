"""Per-case replay records: one JSON line per case per pass (``report/records.jsonl``).

A record holds what the harness sent (a short display form), what came back (status,
latency, every layer's verdict from the harness headers) and what the oracle saw (effects,
whether the exploit worked and the evidence). The summary and the report are computed from
these records alone, so every figure can be traced back to the lines behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from rampart.jsonl import dumps_line, read_lines, write_lines

__all__ = ["LayerVerdict", "Record", "read_records", "write_records"]

Decision = Literal["allow", "detect", "block"]


class LayerVerdict(BaseModel):
    """One layer's verdict for one request, as its harness header reported it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Decision
    score: int = 0
    rules: tuple[str, ...] = ()
    detections: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.decision != "allow"


class Record(BaseModel):
    """What happened to one case in one pass."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    pass_name: str = Field(  # "detect" or "block:<config>"
        validation_alias=AliasChoices("pass", "pass_name"), serialization_alias="pass"
    )
    case_id: str
    label: Literal["attack", "benign"]
    attack_class: str | None = Field(
        default=None, validation_alias=AliasChoices("class", "attack_class"), serialization_alias="class"
    )
    endpoint: str
    base_payload: str | None = None
    placement: str = "default"
    encodings: tuple[str, ...] = ()
    hard: bool = False
    source: str = "rampart"  # the corpus the case came from (Case.source)
    graded: bool = True  # False: an imported attack no lab sink can judge (flagged / not flagged only)
    request_id: str
    request: str  # display form: method, target, body (truncated)
    status: int | None = None
    latency_ms: float = 0.0
    verdicts: dict[str, LayerVerdict] = Field(default_factory=dict)
    effects: list[dict[str, Any]] = Field(default_factory=list)
    worked: bool = False
    evidence: tuple[str, ...] = ()
    marker_reflected: bool = False
    follow_up_blocked: bool = False  # a layer blocked the page that shows the effect (stored XSS)
    error: str | None = None

    def flagged_by(self, layers: Iterable[str]) -> bool:
        """True when any of ``layers`` reported a decision other than ``allow``."""
        return any(v.flagged for name, v in self.verdicts.items() if name in layers)

    def blocked_by(self, layers: Iterable[str]) -> bool:
        return any(v.decision == "block" for name, v in self.verdicts.items() if name in layers)

    @property
    def delivered(self) -> bool:
        """The exploit worked and its effect reached the page it is shown on."""
        return self.worked and not self.follow_up_blocked

    def to_line(self) -> str:
        return dumps_line(self.model_dump(by_alias=True, mode="json"), sort_keys=True)


def write_records(path: Path, records: Iterable[Record]) -> int:
    """Write records as JSON lines; returns how many."""
    return write_lines(path, (rec.model_dump(by_alias=True, mode="json") for rec in records), sort_keys=True)


def iter_records(path: Path) -> Iterator[Record]:
    for line in read_lines(path):
        try:
            yield Record.model_validate_json(line)
        except ValidationError as exc:
            raise ValueError(
                f"{path}:{line.lineno}: not a replay record ({exc.error_count()} error(s): "
                f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}); rerun `rampart replay`"
            ) from None


def read_records(path: Path) -> list[Record]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no replay records; run `rampart replay` first")
    return list(iter_records(path))
