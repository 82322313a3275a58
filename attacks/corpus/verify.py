"""Keep the corpus honest: send cases to a running lab and check their expected effect.

This is not the replay harness (that one compares layers); it answers one question per
case: did the exploit do what the case says? ``expect.oracle`` is read from the lab's
``GET /__lab/effects?request_id=ID``; ``expect.marker`` must appear in the response (or in
the follow-up page for stored payloads). Run it against a lab::

    rampart lab --port 8000 &
    python -m rampart.attacks.corpus.verify --lab http://127.0.0.1:8000 [--all] [--class ssti]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from rampart.attacks.cases import Case, HttpRequest
from rampart.attacks.mutators import wire_query
from rampart.requestid import HEADER

__all__ = ["Outcome", "main", "send_case", "verify_cases"]


@dataclass(frozen=True, slots=True)
class Outcome:
    case: str
    worked: bool
    effects: tuple[str, ...]
    marker_seen: bool | None
    status: int | None
    detail: str = ""


def _url(base: str, req: HttpRequest) -> yarl.URL:
    query = wire_query(req)
    return yarl.URL(base.rstrip("/") + req.path + (f"?{query}" if query else ""), encoded=True)


def _texts(body: str) -> str:
    """The body plus, for JSON, its decoded strings (so escaped markers are found too)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body
    parts = [body]
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return "\n".join(parts)


async def _send(session: aiohttp.ClientSession, base: str, req: HttpRequest, rid: str) -> tuple[int, str]:
    headers = dict(req.headers)
    headers[HEADER] = rid
    if req.content_type:
        headers["Content-Type"] = req.content_type
    if req.cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in req.cookies.items())
    data = req.body.encode("utf-8") if req.body is not None else None
    async with session.request(
        req.method, _url(base, req), headers=headers, data=data, allow_redirects=False
    ) as resp:
        return resp.status, await resp.text(errors="replace")


async def send_case(session: aiohttp.ClientSession, base: str, case: Case) -> Outcome:
    """Send ``case`` (setup, request, follow-up) and judge it against its ``expect``."""
    rid = f"verify.{uuid.uuid4().hex[:12]}"
    try:
        for i, setup in enumerate(case.setup):
            await _send(session, base, setup, f"{rid}.setup{i}")
        status, body = await _send(session, base, case.request, rid)
        seen = _texts(body)
        if case.follow_up is not None:
            _status, follow = await _send(session, base, case.follow_up, f"{rid}.follow")
            seen += "\n" + _texts(follow)
        async with session.get(
            yarl.URL(base.rstrip("/") + "/__lab/effects").with_query(request_id=rid)
        ) as resp:
            effects = tuple(e["kind"] for e in (await resp.json()).get("effects", []))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Outcome(case.id, False, (), None, None, f"{type(exc).__name__}: {exc}")
    expect = case.expect
    if expect is None:
        return Outcome(case.id, bool(effects), effects, None, status)
    oracle_ok = expect.oracle is None or expect.oracle in effects
    marker_seen = None if expect.marker is None else expect.marker in seen
    worked = oracle_ok and marker_seen is not False
    return Outcome(case.id, worked, effects, marker_seen, status, "" if worked else body[:200])


async def verify_cases(base: str, cases: Iterable[Case], *, concurrency: int = 4) -> list[Outcome]:
    """Outcomes for ``cases`` in order (a few requests in flight at a time)."""
    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(case: Case) -> Outcome:
            async with sem:
                return await send_case(session, base, case)

        return list(await asyncio.gather(*(one(c) for c in cases)))


def main(argv: Sequence[str] | None = None) -> int:
    from rampart.attacks.corpus import load_cases

    parser = argparse.ArgumentParser(prog="python -m rampart.attacks.corpus.verify", description=__doc__)
    parser.add_argument("--lab", required=True, help="base URL of a running lab (loopback)")
    parser.add_argument("--all", action="store_true", help="every expanded case, not only the base payloads")
    parser.add_argument("--class", dest="classes", action="append", help="limit to a class (repeatable)")
    parser.add_argument("--failures", action="store_true", help="list the cases that did not work")
    args = parser.parse_args(argv)
    cases = [
        c
        for c in load_cases(include_benign=False, classes=args.classes)
        if args.all or (not c.encodings and c.id == c.base_payload)
    ]
    outcomes = asyncio.run(verify_cases(args.lab, cases))
    by_class: dict[str, list[int]] = {}
    for case, out in zip(cases, outcomes, strict=True):
        row = by_class.setdefault(case.attack_class or "?", [0, 0])
        row[0] += out.worked
        row[1] += 1
        if args.failures and not out.worked:
            print(
                f"  miss {out.case}: status={out.status} effects={list(out.effects)} "
                f"marker={out.marker_seen} {out.detail[:120]!r}"
            )
    for cls, (ok, total) in by_class.items():
        print(f"{cls:20} {ok:4}/{total}")
    print(f"{'total':20} {sum(r[0] for r in by_class.values()):4}/{len(cases)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
