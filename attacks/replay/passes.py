"""One replay pass: every case sent once to one target, judged by the oracle.

Cases run concurrently on one ``ClientSession`` (bounded by a semaphore), except those
with setup requests or a follow-up whose page is shared (``GET /comments``): they run one
at a time after all the others, so a marker stored by one case is never credited to
another. Records come back in the cases' order, whatever order the responses arrived in,
so two runs compare line by line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from rampart.attacks.cases import Case
from rampart.attacks.ground_truth import judge, marker_count
from rampart.attacks.replay.peers import peer_verdict
from rampart.attacks.replay.records import LayerVerdict, Record
from rampart.attacks.replay.send import (
    Response,
    describe,
    fetch_effects,
    make_request_id,
    parse_verdicts,
    send,
)

__all__ = ["PassTarget", "run_case", "run_pass"]

_SEVERITY = {"allow": 0, "detect": 1, "block": 2}


@dataclass(frozen=True, slots=True)
class PassTarget:
    """Where one pass sends its cases and which lab answers the oracle's questions."""

    name: str  # "detect" or "block:<config>"
    tag: str  # request-id tag, e.g. "d" or "b-waf-rasp"
    url: str  # the first hop (a gateway, or the lab itself)
    lab_url: str  # the lab behind it, asked for effects directly
    layers: tuple[str, ...]  # the layers whose headers this pass reads
    peer: str | None = None  # a peer pass: one verdict named after the peer (rampart.attacks.replay.peers)

    def verdicts(
        self, resp: Response, into: dict[str, LayerVerdict] | None = None
    ) -> tuple[dict[str, LayerVerdict], list[str]]:
        """This pass's verdicts for one response (merged into ``into``, most severe wins)."""
        if self.peer is None:
            return parse_verdicts(resp.headers, self.layers, into)
        verdict = peer_verdict(resp.status, resp.headers)
        out = dict(into or {})
        old = out.get(self.peer)
        if old is None or _SEVERITY[verdict.decision] > _SEVERITY[old.decision]:
            out[self.peer] = verdict
        return out, []


def _is_html(resp: Response) -> bool:
    return "html" in resp.headers.get("content-type", "").lower()


def _serial(case: Case) -> bool:
    return bool(case.setup) or case.follow_up is not None


async def run_case(
    session: aiohttp.ClientSession, case: Case, target: PassTarget, *, timeout: float
) -> Record:
    """Send ``case`` (setup, baseline, request, follow-up), ask the oracle, judge."""
    rid = make_request_id(case.id, target.tag)
    for i, pre in enumerate(case.setup):
        await send(session, target.url, pre, make_request_id(case.id, target.tag, f".s{i}"), timeout=timeout)
    marker = case.expect.marker if case.expect else None
    baseline = 0
    if case.follow_up is not None and marker:
        before = await send(
            session, target.url, case.follow_up, make_request_id(case.id, target.tag, ".f0"), timeout=timeout
        )
        baseline = marker_count(before.body, marker)
    resp = await send(session, target.url, case.request, rid, timeout=timeout)
    verdicts, problems = target.verdicts(resp)
    effects = await fetch_effects(session, target.lab_url, rid)
    follow: Response | None = None
    follow_blocked = False
    if case.follow_up is not None:
        fid = make_request_id(case.id, target.tag, ".f")
        follow = await send(session, target.url, case.follow_up, fid, timeout=timeout)
        follow_verdicts, more = target.verdicts(follow)
        follow_blocked = any(v.decision == "block" for v in follow_verdicts.values())
        verdicts, _ = target.verdicts(follow, verdicts)
        problems.extend(more)
        effects = effects + await fetch_effects(session, target.lab_url, fid)
    verdict = judge(
        case,
        effects=effects,
        body=resp.body,
        follow_up_body=follow.body if follow is not None else None,
        baseline_markers=baseline,
        body_is_html=_is_html(resp),
        follow_up_is_html=follow is not None and _is_html(follow),
    )
    error = resp.error or (follow.error if follow is not None else None)
    if problems:
        error = "; ".join(filter(None, [error, *problems]))
    return Record(
        pass_name=target.name,
        case_id=case.id,
        label=case.label,
        attack_class=case.attack_class,
        endpoint=case.endpoint,
        base_payload=case.base_payload,
        placement=case.placement,
        encodings=tuple(case.encodings),
        hard=case.hard,
        source=case.source,
        graded=case.label == "benign" or case.graded,
        request_id=rid,
        request=describe(case.request),
        status=resp.status,
        latency_ms=round(resp.latency_ms, 3),
        verdicts=verdicts,
        effects=effects,
        worked=verdict.worked,
        evidence=verdict.evidence,
        marker_reflected=verdict.marker_reflected,
        follow_up_blocked=follow_blocked,
        error=error,
    )


async def run_pass(
    session: aiohttp.ClientSession,
    cases: Sequence[Case],
    target: PassTarget,
    *,
    concurrency: int = 16,
    timeout: float = 20.0,
    on_done: Callable[[Record], None] | None = None,
) -> list[Record]:
    """Run every case against ``target``; records in the order of ``cases``."""
    results: list[Record | None] = [None] * len(cases)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(i: int) -> None:
        async with sem:
            rec = await run_case(session, cases[i], target, timeout=timeout)
        results[i] = rec
        if on_done is not None:
            on_done(rec)

    parallel = [i for i, c in enumerate(cases) if not _serial(c)]
    serial = [i for i, c in enumerate(cases) if _serial(c)]
    await asyncio.gather(*(one(i) for i in parallel))
    for i in serial:
        await one(i)
    return [r for r in results if r is not None]
