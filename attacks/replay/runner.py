"""The replay: one detect pass for every layer's verdict, then block passes per configuration.

Detect pass: every case goes once through a gateway running every needed engine in detect
mode (``--engine native,crs --mode detect --harness``) in front of the lab with the sink
guard in detect mode. Nothing blocks, so each response carries every layer's verdict and
the oracle sees the unprotected app's effects: all configurations' detection figures come
from this one pass.

Block passes: for each protected configuration, its processes start in block mode (the
lab with the guard blocking or off, a gateway with that configuration's engine) and the
oracle-confirmed working exploits plus the benign cases are sent again, to confirm that
blocking stops the effect and to count the benign requests blocking breaks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from rampart import __version__
from rampart.attacks.cases import Case
from rampart.attacks.replay.configs import CONFIGS, LAYERS, LayerConfig
from rampart.attacks.replay.passes import PassTarget, run_pass
from rampart.attacks.replay.peers import (
    IN_APP_PEERS,
    PEER_NAME,
    Peer,
    peer_pass_name,
    start_builtin_peer,
    start_in_app_peer,
)
from rampart.attacks.replay.records import Record, write_records
from rampart.attacks.replay.send import reset_lab
from rampart.attacks.summary import DETECT_PASS, block_pass_name, summarize
from rampart.procs import spawn

__all__ = [
    "META_FILE",
    "RECORDS_FILE",
    "RESULTS_FILE",
    "ReplayOptions",
    "ReplayResult",
    "Targets",
    "crs_version",
    "parse_targets",
    "replay",
    "select_slice",
    "write_results",
]

log = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
META_FILE = "meta.json"
RESULTS_FILE = "results.json"
LOAD_FILE = "load.json"
TARGET_KEYS = ("lab", "gateway", "block-lab", "waf", "crs", "waf+rasp", "crs+rasp")

ProgressHook = Callable[[str, int], Callable[[Record], None]]


@dataclass(frozen=True, slots=True)
class Targets:
    """Already-running servers to use instead of starting processes (``--targets``).

    ``lab``: lab with the guard in detect mode (the oracle); ``gateway``: a detect-mode
    gateway with every engine in front of it; ``block-lab``: a lab with the guard blocking;
    ``waf``/``crs``: block-mode gateways in front of ``lab``; ``waf+rasp``/``crs+rasp``:
    block-mode gateways in front of ``block-lab``.
    """

    urls: Mapping[str, str]
    peers: Mapping[str, str] = field(default_factory=dict)  # name -> URL of a running peer

    def block_target(self, config: LayerConfig) -> tuple[str, str] | None:
        """(first hop, lab) for ``config``'s block pass, or ``None`` when not provided."""
        lab_key = "block-lab" if "rasp" in config.layers else "lab"
        lab = self.urls.get(lab_key)
        if lab is None:
            return None
        if config.name == "rasp":
            return lab, lab
        hop = self.urls.get(config.name)
        return (hop, lab) if hop else None


def parse_targets(spec: str) -> Targets:
    """``"lab=http://127.0.0.1:8001,gateway=http://127.0.0.1:8002"`` -> :class:`Targets`.

    A name that is not one of :data:`TARGET_KEYS` is a peer (``cloudwaf=URL``): a running
    layer replayed as a configuration of that name (:mod:`rampart.attacks.replay.peers`)."""
    urls: dict[str, str] = {}
    peers: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        key, sep, url = item.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ValueError(f"bad target {item!r}; write NAME=http://HOST:PORT")
        if key in TARGET_KEYS:
            urls[key] = url.rstrip("/")
        elif PEER_NAME.match(key) and key not in CONFIGS:
            peers[key] = url.rstrip("/")
        else:
            raise ValueError(
                f"bad target name {key!r}; use {', '.join(TARGET_KEYS)} or a peer name "
                "(lower-case letters, digits, _ . + -, not a built-in configuration's name)"
            )
    if "lab" not in urls:
        raise ValueError("--targets needs at least lab=URL (the lab, guard in detect mode, harness on)")
    return Targets(urls, peers)


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    configs: tuple[str, ...] = tuple(CONFIGS)
    out_dir: Path = Path("report")
    concurrency: int = 16
    timeout: float = 20.0
    block: bool = True
    targets: Targets | None = None
    gateway_args: tuple[str, ...] = ()
    lab_args: tuple[str, ...] = ()
    seed: int = 0
    start_timeout: float = 180.0  # seconds for a server's ready line (a shared 2-core box is slow)
    peers: tuple[Peer, ...] = ()  # products replayed beside the layers (built-in or --targets)


@dataclass
class ReplayResult:
    records: list[Record]
    results: dict[str, Any]
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def select_slice(cases: Sequence[Case], n: int | None) -> list[Case]:
    """A deterministic, evenly spread subset of ``n`` cases (all when ``n`` is ``None``)."""
    ordered = list(cases)
    if n is None or n >= len(ordered):
        return ordered
    if n <= 0:
        return []
    step = len(ordered) / n
    return [ordered[int(i * step)] for i in range(n)]


def crs_version(crs_dir: str | None = None) -> str | None:
    """The OWASP CRS version of the rule set the gateway loads (from its rule files)."""
    base = Path(crs_dir or os.environ.get("RAMPART_CRS_DIR", "/usr/share/modsecurity-crs"))
    for candidate in sorted((base / "rules").glob("REQUEST-901*.conf")):
        text = candidate.read_text(encoding="utf-8", errors="replace")
        m = re.search(r'SecComponentSignature\s+"OWASP_CRS/(\d+\.\d+\.\d+)"', text)
        if m:
            return m.group(1)
    return None


def _needed_layers(configs: Sequence[LayerConfig]) -> list[str]:
    wanted = {layer for c in configs for layer in c.layers}
    return [name for name in LAYERS if name in wanted]


@contextlib.asynccontextmanager
async def _detect_stack(
    options: ReplayOptions, layers: list[str], notes: list[str], say: Callable[[str], None]
) -> AsyncIterator[tuple[str, str, list[str]]]:
    """Yield (first hop, lab, layers running) for the detect pass."""
    if options.targets is not None:
        lab = options.targets.urls["lab"]
        gateway = options.targets.urls.get("gateway")
        running = [x for x in layers if gateway or LAYERS[x].kind != "waf"]
        if not gateway and len(running) < len(layers):
            notes.append("no gateway target: WAF layers not measured")
        yield gateway or lab, lab, running
        return
    engines = [x for x in layers if LAYERS[x].kind == "waf"]
    attempts: list[list[str]] = [engines] if engines else []
    if len(engines) > 1:
        attempts.extend([e] for e in engines)
    async with _lab(options, "detect") as lab, contextlib.AsyncExitStack() as stack:
        for engs in attempts:
            try:
                gateway = await stack.enter_async_context(_gateway(options, lab, engs, "detect"))
            except _START_ERRORS as exc:
                notes.append(f"the gateway with engine(s) {','.join(engs)} did not start: {_why(exc)}")
                say(notes[-1])
                continue
            yield gateway, lab, [x for x in layers if LAYERS[x].kind != "waf" or x in engs]
            return
        yield lab, lab, [x for x in layers if LAYERS[x].kind != "waf"]


_START_ERRORS = (RuntimeError, TimeoutError)


@contextlib.asynccontextmanager
async def _lab(options: ReplayOptions, guard: str) -> AsyncIterator[str]:
    argv = ["lab", "--port", "0", "--guard", guard, "--harness", *options.lab_args]
    async with spawn(argv, timeout=options.start_timeout) as lab:
        yield lab.url


@contextlib.asynccontextmanager
async def _gateway(
    options: ReplayOptions, upstream: str, engines: Sequence[str], mode: str
) -> AsyncIterator[str]:
    argv = [
        "gateway",
        "--upstream",
        upstream,
        "--port",
        "0",
        "--engine",
        ",".join(engines),
        "--mode",
        mode,
        "--harness",
        *options.gateway_args,
    ]
    async with spawn(argv, timeout=options.start_timeout) as gateway:
        yield gateway.url


@contextlib.asynccontextmanager
async def _block_stack(options: ReplayOptions, config: LayerConfig) -> AsyncIterator[tuple[str, str] | None]:
    """Yield (first hop, lab) for ``config`` in block mode, or ``None`` without a target."""
    if options.targets is not None:
        yield options.targets.block_target(config)
        return
    engines = [x for x in config.layers if LAYERS[x].kind == "waf"]
    async with _lab(options, "block" if "rasp" in config.layers else "off") as lab:
        if not engines:
            yield lab, lab
            return
        async with _gateway(options, lab, engines, "block") as gateway:
            yield gateway, lab


def _no_hook(_name: str, _total: int) -> Callable[[Record], None]:
    return lambda _rec: None


async def replay(
    cases: Sequence[Case],
    options: ReplayOptions,
    *,
    corpus: Mapping[str, Any] | None = None,
    progress: ProgressHook = _no_hook,
    say: Callable[[str], None] = log.info,
) -> ReplayResult:
    """Run the detect pass and the block passes; write records, meta and results."""
    configs = [CONFIGS[name] for name in CONFIGS if name in options.configs]
    layers = _needed_layers(configs)
    notes: list[str] = []
    records: list[Record] = []
    passes: dict[str, dict[str, Any]] = {}
    peers_ran: dict[str, str] = {}
    peers_skipped: dict[str, str] = {}
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=max(options.concurrency * 2, 8), force_close=False)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        t_stack = time.perf_counter()
        async with _detect_stack(options, layers, notes, say) as (url, lab, running):
            startup = time.perf_counter() - t_stack
            missing = [x for x in layers if x not in running]
            target = PassTarget(DETECT_PASS, "d", url, lab, tuple(running))
            await reset_lab(session, lab)
            t = time.perf_counter()
            detect = await run_pass(
                session,
                cases,
                target,
                concurrency=options.concurrency,
                timeout=options.timeout,
                on_done=progress("detect pass", len(cases)),
            )
            elapsed = time.perf_counter() - t
            passes[DETECT_PASS] = _pass_figures(detect, elapsed, startup)
            records.extend(detect)
        seen = {name for r in detect for name in r.verdicts}
        for layer in running:
            if layer not in seen and detect:
                notes.append(f"layer {layer} was started but no response carried its verdict header")
                say(notes[-1])
        measured = [x for x in running if x in seen or not detect]
        working_ids = {r.case_id for r in detect if r.label == "attack" and r.worked}
        resend = [c for c in cases if c.id in working_ids or c.label == "benign"]
        if options.block:
            for config in configs:
                if not config.layers or any(x not in measured for x in config.layers):
                    continue
                why = "no block-pass target given"
                try:
                    recs, figures = await _block_pass(session, options, config, resend, progress)
                except (RuntimeError, TimeoutError) as exc:
                    recs, figures = None, None
                    why = "did not start: " + _why(exc)
                if recs is None or figures is None:
                    notes.append(f"block pass {config.name}: {why}; 'stopped' comes from the detect pass")
                    say(notes[-1])
                    continue
                passes[block_pass_name(config.name)] = figures
                records.extend(recs)
        for peer in options.peers:
            try:
                peer_recs, peer_figures = await _peer_pass(session, options, peer, cases, progress)
            except (RuntimeError, TimeoutError, OSError) as exc:
                peers_skipped[peer.name] = _why(exc)
                notes.append(f"peer {peer.name} did not run: {peers_skipped[peer.name]}")
                say(notes[-1])
                continue
            passes[peer_pass_name(peer.name)] = peer_figures
            records.extend(peer_recs)
            peers_ran[peer.name] = peer.description
    for layer in missing:
        for cfg in configs:
            if layer in cfg.layers:
                notes.append(f"{cfg.name}: skipped, layer {layer} unavailable")
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - t0, 2),
        "passes": passes,
        "configs_requested": list(options.configs),
        "layers_running": measured,
        "peers": peers_ran,
        "peers_skipped": peers_skipped,
        "concurrency": options.concurrency,
        "seed": options.seed,
        "notes": notes,
        "versions": versions(options.gateway_args),
        "machine": machine(),
    }
    if corpus is not None:
        meta["corpus"] = dict(corpus)
    results = write_results(options.out_dir, records, meta)
    return ReplayResult(records, results, meta, notes)


def _why(exc: BaseException) -> str:
    """The last line of a start-up failure (the server's own error), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[-1][:300] if lines else f"{type(exc).__name__} (no ready line in time)"


async def _block_pass(
    session: aiohttp.ClientSession,
    options: ReplayOptions,
    config: LayerConfig,
    cases: Sequence[Case],
    progress: ProgressHook,
) -> tuple[list[Record] | None, dict[str, Any] | None]:
    """Start ``config`` in block mode and resend ``cases``; ``(None, None)`` without a target."""
    t_stack = time.perf_counter()
    async with _block_stack(options, config) as hop:
        if hop is None:
            return None, None
        startup = time.perf_counter() - t_stack
        target = PassTarget(block_pass_name(config.name), f"b-{config.tag}", hop[0], hop[1], config.layers)
        label = f"block pass {config.name}"
        done = progress(label, len(cases))
        return await _timed_pass(session, options, cases, target, on_done=done, startup=startup)


async def _peer_pass(
    session: aiohttp.ClientSession,
    options: ReplayOptions,
    peer: Peer,
    cases: Sequence[Case],
    progress: ProgressHook,
) -> tuple[list[Record], dict[str, Any]]:
    """Send every case through ``peer``: started here in front of a fresh lab, or running."""
    async with contextlib.AsyncExitStack() as stack:
        t_stack = time.perf_counter()
        if peer.url is None and peer.name in IN_APP_PEERS:  # the peer is a lab of its own
            lab = url = await stack.enter_async_context(
                start_in_app_peer(peer.name, timeout=options.start_timeout, lab_args=options.lab_args)
            )
        elif peer.url is None:
            lab = await stack.enter_async_context(_lab(options, "off"))
            paranoia = int(versions(options.gateway_args)["paranoia"])
            url = await stack.enter_async_context(start_builtin_peer(peer.name, lab, paranoia=paranoia))
        else:
            if options.targets is None:
                raise RuntimeError("a peer given by URL needs --targets lab=URL for the oracle")
            lab, url = options.targets.urls["lab"], peer.url
        startup = time.perf_counter() - t_stack
        tag = "p-" + re.sub(r"[^a-z0-9]+", "-", peer.name)
        target = PassTarget(peer_pass_name(peer.name), tag, url, lab, (), peer=peer.name)
        label = f"peer {peer.name}"
        done = progress(label, len(cases))
        return await _timed_pass(session, options, cases, target, on_done=done, startup=startup)


async def _timed_pass(
    session: aiohttp.ClientSession,
    options: ReplayOptions,
    cases: Sequence[Case],
    target: PassTarget,
    *,
    on_done: Callable[[Record], None],
    startup: float,
) -> tuple[list[Record], dict[str, Any]]:
    """Reset the lab ``target`` judges with, send ``cases`` through it, and time the pass."""
    await reset_lab(session, target.lab_url)
    t = time.perf_counter()
    recs = await run_pass(
        session, cases, target, concurrency=options.concurrency, timeout=options.timeout, on_done=on_done
    )
    return recs, _pass_figures(recs, time.perf_counter() - t, startup)


def _pass_figures(recs: Sequence[Record], elapsed: float, startup: float) -> dict[str, Any]:
    latencies = sorted(r.latency_ms for r in recs)
    return {
        "cases": len(recs),
        "duration_s": round(elapsed, 2),
        "startup_s": round(startup, 2),
        "cases_per_s": round(len(recs) / elapsed, 1) if elapsed > 0 else None,
        "errors": sum(r.status is None for r in recs),
        "p50_ms": latencies[len(latencies) // 2] if latencies else None,
    }


def versions(gateway_args: Sequence[str] = ()) -> dict[str, Any]:
    paranoia = 1
    args = list(gateway_args)
    if "--paranoia" in args and args.index("--paranoia") + 1 < len(args):
        with contextlib.suppress(ValueError):
            paranoia = int(args[args.index("--paranoia") + 1])
    return {
        "rampart": __version__,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "crs": crs_version(),
        "paranoia": paranoia,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not valid JSON ({exc}); delete it or rerun the step that wrote it"
        ) from None
    return data if isinstance(data, dict) else None


def load_figures(out_dir: Path) -> dict[str, Any] | None:
    """The ``load`` block from ``load.json`` (written by ``rampart load``), if present."""
    data = _read_json(out_dir / LOAD_FILE)
    if not data:
        return None
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms", "failure_ratio")
    return {
        name: {
            **{k: float(row.get(k) or 0.0) for k in keys},
            **{k: v for k, v in row.items() if k not in keys},
        }
        for name, row in data.items()
        if isinstance(row, dict)
    }


def write_results(out_dir: Path, records: Sequence[Record], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write records.jsonl, meta.json and results.json under ``out_dir``; return the results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_records(out_dir / RECORDS_FILE, records)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return results_from(out_dir, records, meta)


def results_from(out_dir: Path, records: Sequence[Record], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Summarise ``records`` (with ``load.json`` if present) and write results.json."""
    results = summarize(
        records,
        configs=[c for c in CONFIGS if c in meta.get("configs_requested", CONFIGS)],
        corpus=meta.get("corpus"),
        layers=meta.get("layers_running"),
        load=load_figures(out_dir),
        meta=meta,
    )
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results
