"""The ASGI lab (Starlette under uvicorn) and the aiohttp lab agree, case by case.

A fixed slice of the built-in corpus -- every attack class in every placement it has
(framings included: padded, nested, duplicated, chunked, gzip, JSON under other content
types), more attacks per class, and benign traffic -- is replayed by the real harness
against both labs with no protection. For every case the status, the oracle's effects
(kinds, and which secrets leaked) and the judged outcome must be the same.
"""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from rampart.attacks.cases import Case
from rampart.attacks.corpus import case_class, load_cases
from rampart.attacks.replay.passes import PassTarget, run_pass
from rampart.attacks.replay.records import Record
from rampart.attacks.replay.runner import select_slice
from rampart.attacks.replay.send import reset_lab
from rampart.labapp.lifecycle import LabHandle
from rampart.labapp.settings import LabSettings
from tests.labapp.conftest import lab_in_thread

pytestmark = [pytest.mark.slow]

PER_PLACEMENT = 3
PER_CLASS = 15
BENIGN = 100
FULL = os.environ.get("RAMPART_ASGI_PARITY") == "all"  # the whole corpus (minutes; docs/LAB.md)


def parity_cases() -> list[Case]:
    """Deterministic: the first cases of every (class, placement), a spread per class, benign."""
    if FULL:
        return load_cases(seed=0)
    attacks = load_cases(include_benign=False, seed=0)
    by_pair: dict[tuple[str, str], list[Case]] = defaultdict(list)
    by_class: dict[str, list[Case]] = defaultdict(list)
    for case in attacks:
        by_pair[(case_class(case), case.placement)].append(case)
        by_class[case_class(case)].append(case)
    chosen: dict[str, Case] = {}
    for group in by_pair.values():
        for case in select_slice(group, PER_PLACEMENT):
            chosen[case.id] = case
    for group in by_class.values():
        for case in select_slice(group, PER_CLASS):
            chosen[case.id] = case
    benign = select_slice(load_cases(include_attacks=False, seed=0), BENIGN)
    return [c for c in attacks if c.id in chosen] + benign


@pytest.fixture(scope="module")
def labs() -> Iterator[tuple[LabHandle, LabHandle]]:
    with lab_in_thread(LabSettings(port=0)) as aio, lab_in_thread(LabSettings(port=0, server="asgi")) as asgi:
        yield aio, asgi


async def _replay(cases: list[Case], lab: LabHandle, tag: str) -> list[Record]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        await reset_lab(session, lab.url)
        target = PassTarget("detect", tag, lab.url, lab.url, ())
        # one at a time: the sandbox's rebinding name alternates per lookup, so both labs must
        # see the same order of requests
        return await run_pass(session, cases, target, concurrency=1, timeout=30.0)


def _outcome(rec: Record) -> dict[str, Any]:
    kinds = sorted({e["kind"] for e in rec.effects})
    leaked = sorted({s for e in rec.effects if e["kind"] == "canary_leak" for s in e["detail"]["secrets"]})
    return {
        "status": rec.status,
        "worked": rec.worked,
        "effects": kinds,
        "leaked": leaked,
        "evidence": sorted(rec.evidence),
        "error": rec.error,
    }


def test_the_asgi_lab_is_judged_like_the_aiohttp_lab(labs: tuple[LabHandle, LabHandle]) -> None:
    aio, asgi = labs
    cases = parity_cases()
    classes = {case_class(c) for c in cases if c.label == "attack"}
    assert len(classes) == 10
    assert len(cases) > 350
    got_aio = asyncio.run(_replay(cases, aio, "pa"))
    got_asgi = asyncio.run(_replay(cases, asgi, "pb"))
    assert [r.case_id for r in got_aio] == [r.case_id for r in got_asgi] == [c.id for c in cases]
    differ = {
        a.case_id: (_outcome(a), _outcome(b))
        for a, b in zip(got_aio, got_asgi, strict=True)
        if _outcome(a) != _outcome(b)
    }
    assert not differ, "\n".join(f"{k}: aiohttp {a} / asgi {b}" for k, (a, b) in differ.items())
    # the slice is not vacuous: exploits of every class worked on both labs, benign never did
    worked = {case_class(c) for c, r in zip(cases, got_asgi, strict=True) if r.worked}
    assert worked == classes
    assert not any(r.worked for r in got_asgi if r.label == "benign")
    assert all(r.status is not None for r in got_asgi)
