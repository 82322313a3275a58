"""Differential suite: every reference exploit in every framing, sent to the real lab behind
four topologies -- nothing, the gateway alone (``--engine native --mode block``), the sink
guard alone (``lab --guard block``) and both -- with the lab's oracle as the judge.

Through ``waf+rasp`` no framing may yield a working exploit. What each layer alone still
lets through is counted (``artifacts/differential.json``, docs/THREAT_MODEL.md) but not
asserted: a single layer is allowed gaps the other one covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio

from rampart.procs import spawn
from tests.conftest import ARTIFACTS
from tests.differential.framings import Framed, framed
from tests.differential.wire import send_wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.asyncio(loop_scope="module")]

LAYERS = ("none", "waf", "rasp", "waf+rasp")
CASES = framed()


@dataclass
class Topology:
    """Where each layer combination is reached (``front``) and whose oracle judges it (``lab``)."""

    front: dict[str, str]
    lab: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topology() -> AsyncIterator[Topology]:
    async with contextlib.AsyncExitStack() as stack:
        plain, guarded = await asyncio.gather(
            stack.enter_async_context(spawn(["lab", "--port", "0"], timeout=120)),
            stack.enter_async_context(
                spawn(["lab", "--port", "0", "--guard", "block", "--harness"], timeout=120)
            ),
        )
        gateway = ["gateway", "--port", "0", "--engine", "native", "--mode", "block", "--harness"]
        waf, both = await asyncio.gather(
            stack.enter_async_context(spawn([*gateway, "--upstream", plain.url], timeout=120)),
            stack.enter_async_context(spawn([*gateway, "--upstream", guarded.url], timeout=120)),
        )
        yield Topology(
            front={"none": plain.url, "waf": waf.url, "rasp": guarded.url, "waf+rasp": both.url},
            lab={"none": plain.url, "waf": plain.url, "rasp": guarded.url, "waf+rasp": guarded.url},
        )


async def _effects(session: aiohttp.ClientSession, lab: str, rid: str) -> set[str]:
    async with session.get(f"{lab}/__lab/effects", params={"request_id": rid}) as resp:
        return {e["kind"] for e in (await resp.json())["effects"]}


async def _worked(session: aiohttp.ClientSession, top: Topology, case: Framed, layer: str) -> bool:
    rid = f"diff-{layer.replace('+', '-')}-{case.id.replace(':', '-')}"[:120]
    reply = await send_wire(top.front[layer], case.wire, rid)
    kinds = await _effects(session, top.lab[layer], rid)
    exploit = case.exploit
    return bool(kinds & exploit.effects) or any(text in reply.body for text in exploit.contains)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(topology: Topology) -> dict[str, dict[str, bool]]:
    """``case id -> layer -> exploit worked``, every case sent through every layer."""
    gate = asyncio.Semaphore(6)
    out: dict[str, dict[str, bool]] = {c.id: {} for c in CASES}
    async with aiohttp.ClientSession() as session:

        async def one(case: Framed, layer: str) -> None:
            async with gate:
                out[case.id][layer] = await _worked(session, topology, case, layer)

        await asyncio.gather(*(one(c, layer) for c in CASES for layer in LAYERS))
    counts = {layer: sorted(cid for cid, row in out.items() if row[layer]) for layer in LAYERS}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "differential.json").write_text(
        json.dumps(
            {
                "cases": len(CASES),
                "working": {layer: len(ids) for layer, ids in counts.items()},
                "gaps": {layer: ids for layer, ids in counts.items() if layer != "none"},
                "working_unprotected": counts["none"],
            },
            indent=2,
        )
    )
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_no_framing_works_through_waf_and_rasp(
    matrix: dict[str, dict[str, bool]], case: Framed
) -> None:
    assert not matrix[case.id]["waf+rasp"], f"{case.id} worked through gateway block + guard block"


async def test_reference_framings_work_unprotected(matrix: dict[str, dict[str, bool]]) -> None:
    """The suite can fail: each exploit in its plain framing really works on the bare lab,
    and so do the framings the review found (JSON declared as a form, the duplicate charset)."""
    must = {f"{c.exploit.id}:{f}" for c in CASES for f in ("declared", "percent")} & set(matrix)
    must |= {"L1-ne:as-form", "L1-ne:as-multipart", "L1-ne:utf-16-dup-charset", "L1-ne:padded-array"}
    must |= {"L1-ne:chunked", "L1-ne:gzip", "L1-ne:gzip-chunked", "L1-ne:chunked-padded"}
    must |= {"L13-yaml:gzip-chunked"}
    broken = sorted(cid for cid in must if not matrix[cid]["none"])
    assert not broken, f"reference exploits that no longer work on the bare lab: {broken}"


async def test_each_layer_alone_blocks_the_declared_framings(matrix: dict[str, dict[str, bool]]) -> None:
    """Sanity for the per-layer counts: the plain framings are stopped by each layer alone
    (the lab's own tests say so for the guard; the gateway's rule tests for the WAF)."""
    plain = [c.id for c in CASES if c.framing in ("declared", "percent")]
    assert not [cid for cid in plain if matrix[cid]["rasp"]]
