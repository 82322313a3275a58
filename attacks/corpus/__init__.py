"""The shared, labelled corpus: base payloads and benign templates as data, expanded to cases.

- :func:`load_base_payloads` reads ``data/base/<class>.yaml`` (hand-written attacks);
- :func:`load_cases` expands them through the mutators (placements x encoders) and adds the
  benign requests generated from ``data/benign/<endpoint>.yaml``; the result is validated,
  deterministic for a seed and cached;
- :func:`corpus_stats` gives the ``corpus`` block of ``report/results.json``.

A bad file raises :class:`CorpusError` naming the file, the line, the case and the fix.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rampart.attacks.cases import ENDPOINTS, Case
from rampart.attacks.corpus.expand import expand, expand_all, fingerprint
from rampart.attacks.corpus.loader import (
    BASE_DIR,
    BENIGN_DIR,
    SHARED_VOCAB,
    CorpusError,
    generate_benign,
    read_base_file,
    read_benign_file,
    read_yaml,
)
from rampart.attacks.corpus.schema import BasePayload
from rampart.classes import ATTACK_CLASSES

__all__ = [
    "BasePayload",
    "CorpusError",
    "case_class",
    "corpus_stats",
    "expand",
    "expand_all",
    "fingerprint",
    "load_base_payloads",
    "load_benign",
    "load_cases",
]


def _sorted_files(folder: Path, names: Sequence[str] | None = None) -> list[Path]:
    files = sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    if names is not None:
        files = [p for p in files if p.stem in names]
    return files


@functools.cache
def _base_payloads(folder: Path) -> tuple[BasePayload, ...]:
    out: list[BasePayload] = []
    owner: dict[str, Path] = {}
    for path in _sorted_files(folder):
        for base in read_base_file(path):
            if base.id in owner:
                raise CorpusError(
                    path,
                    f"id already used in {owner[base.id].name}; rename one",
                    line=base.line,
                    case=base.id,
                )
            owner[base.id] = path
            out.append(base)
    return tuple(out)


def load_base_payloads(
    *, classes: Iterable[str] | None = None, folder: Path | None = None
) -> list[BasePayload]:
    """The hand-written base payloads, in file then declaration order."""
    bases = _base_payloads((folder or BASE_DIR).resolve())
    wanted = _check_classes(classes)
    return [b for b in bases if wanted is None or b.attack_class in wanted]


@functools.cache
def _attacks(folder: Path) -> tuple[Case, ...]:
    return tuple(expand_all(_base_payloads(folder)))


@functools.cache
def _benign(folder: Path, seed: int) -> tuple[Case, ...]:
    shared_path = folder / SHARED_VOCAB
    shared: dict[str, list[str]] = {}
    if shared_path.exists():
        raw = read_yaml(shared_path)
        if not isinstance(raw, dict) or not all(
            isinstance(v, list) and all(isinstance(w, str) for w in v)
            for k, v in raw.items()
            if k != "__line__"
        ):
            raise CorpusError(shared_path, "the shared vocabulary must map names to lists of strings", line=1)
        shared = {k: v for k, v in raw.items() if k != "__line__"}
    seen: set[tuple[Any, ...]] = set()
    out: list[Case] = []
    for path in _sorted_files(folder):
        head, gens = read_benign_file(path, shared)
        out.extend(generate_benign(path, head, gens, seed=seed, seen=seen))
    return tuple(out)


def load_benign(*, seed: int = 0, folder: Path | None = None) -> list[Case]:
    """The benign cases generated from the templates (deterministic for ``seed``)."""
    return list(_benign((folder or BENIGN_DIR).resolve(), seed))


def case_class(case: Case) -> str:
    """The attack class a case belongs to; a benign case takes its endpoint's class, an
    imported attack of no class is ``unclassified``."""
    if case.attack_class is not None:
        return case.attack_class
    if case.label == "attack":
        return "unclassified"
    return ENDPOINTS[case.endpoint][2] if case.endpoint in ENDPOINTS else "external"


def _check_classes(classes: Iterable[str] | None) -> frozenset[str] | None:
    if classes is None:
        return None
    wanted = frozenset(classes)
    unknown = wanted - set(ATTACK_CLASSES)
    if unknown:
        raise ValueError(f"unknown class(es) {', '.join(sorted(unknown))}; use {', '.join(ATTACK_CLASSES)}")
    return wanted


def _limit(cases: list[Case], limit: int, seed: int) -> list[Case]:
    groups: dict[tuple[str, str], list[int]] = {}
    for i, case in enumerate(cases):
        groups.setdefault((case.label, case_class(case)), []).append(i)
    keep: set[int] = set()
    for (label, cls), idx in sorted(groups.items()):
        if len(idx) <= limit:
            keep.update(idx)
        else:
            keep.update(random.Random(f"{seed}:{label}:{cls}").sample(idx, limit))
    return [c for i, c in enumerate(cases) if i in keep]


def load_cases(
    *,
    include_benign: bool = True,
    include_attacks: bool = True,
    classes: Iterable[str] | None = None,
    limit_per_class: int | None = None,
    seed: int = 0,
    base_dir: Path | None = None,
    benign_dir: Path | None = None,
) -> list[Case]:
    """Expanded attack cases, then benign cases, validated and in a stable order.

    ``classes`` keeps the attacks of those classes and the benign cases of their endpoints;
    ``limit_per_class`` keeps at most that many attacks and benign cases per class, sampled
    with ``seed`` (order kept); ``seed`` also drives benign generation.
    """
    wanted = _check_classes(classes)
    if limit_per_class is not None and limit_per_class < 0:
        raise ValueError("limit_per_class must be >= 0")
    cases: list[Case] = []
    if include_attacks:
        cases.extend(_attacks((base_dir or BASE_DIR).resolve()))
    if include_benign:
        cases.extend(_benign((benign_dir or BENIGN_DIR).resolve(), seed))
    if wanted is not None:
        cases = [c for c in cases if case_class(c) in wanted]
    if limit_per_class is not None:
        cases = _limit(cases, limit_per_class, seed)
    return cases


def corpus_stats(cases: Iterable[Case]) -> dict[str, Any]:
    """The ``corpus`` block of results.json, plus per-class detail and the hard-benign count."""
    attack = benign = hard = 0
    bases: set[str] = set()
    per_class: dict[str, dict[str, int]] = {}
    for case in cases:
        cls = case_class(case)
        row = per_class.setdefault(cls, {"attack": 0, "benign": 0, "base_payloads": 0})
        if case.label == "attack":
            attack += 1
            row["attack"] += 1
            if case.base_payload is not None and case.base_payload not in bases:
                bases.add(case.base_payload)
                row["base_payloads"] += 1
        else:
            benign += 1
            row["benign"] += 1
            hard += case.hard
    ordered = [c for c in ATTACK_CLASSES if c in per_class] + sorted(set(per_class) - set(ATTACK_CLASSES))
    return {
        "attack": attack,
        "benign": benign,
        "base_payloads": len(bases),
        "classes": [c for c in ordered if per_class[c]["attack"]],
        "hard_benign": hard,
        "per_class": {c: per_class[c] for c in ordered},
    }
