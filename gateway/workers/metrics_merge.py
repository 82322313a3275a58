"""Sum the Prometheus expositions of several gateway workers into one.

Every gateway metric is a counter or a histogram, and both add up across processes: the
sum of the workers' buckets, counts and sums is exactly what one process serving all the
traffic would have counted. ``*_created`` timestamps are not added: the earliest one is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["merge_expositions"]

_Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class _Family:
    name: str
    kind: str
    doc: str
    values: dict[_Key, float] = field(default_factory=dict)

    @property
    def exposed_name(self) -> str:
        return self.name + "_total" if self.kind == "counter" else self.name

    def add(self, key: _Key, value: float) -> None:
        if key not in self.values:
            self.values[key] = value
        elif self.name.endswith("_created"):
            self.values[key] = min(self.values[key], value)
        else:
            self.values[key] += value


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample_line(key: _Key, value: float) -> str:
    name, labels = key
    if not labels:
        return f"{name} {_number(value)}"
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} {_number(value)}"


def merge_expositions(texts: Iterable[str], *, extra: str = "") -> bytes:
    """One exposition (text format 0.0.4) with every sample summed over ``texts``.

    Samples keep their order of first appearance (histogram buckets stay in ``le`` order);
    ``extra`` is appended as is (e.g. the supervisor's own gauges).
    """
    families: dict[str, _Family] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            merged = families.setdefault(fam.name, _Family(fam.name, fam.type, fam.documentation))
            for sample in fam.samples:
                merged.add((sample.name, tuple(sample.labels.items())), sample.value)
    lines: list[str] = []
    for merged_family in families.values():
        name = merged_family.exposed_name
        lines.append(f"# HELP {name} {merged_family.doc}")
        lines.append(f"# TYPE {name} {merged_family.kind}")
        lines.extend(_sample_line(key, value) for key, value in merged_family.values.items())
    return ("\n".join(lines) + "\n" + extra).encode()
