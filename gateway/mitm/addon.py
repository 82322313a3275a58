"""rampart's inspection engines inside mitmproxy.

    mitmdump -s gateway/mitm/addon.py --mode reverse:http://127.0.0.1:8080 \\
        --set rampart_engine=crs --set rampart_mode=block --set rampart_harness=true

The addon builds the same :class:`~rampart.gateway.model.RawRequest` the aiohttp gateway builds,
runs the same engines (``rampart.gateway.engines.create_engine``, same :class:`EngineSettings`) and
decides the same way (:func:`rampart.gateway.decision.run_engine` and :func:`rampart.gateway.decision.decide`,
the functions the proxy calls): the first engine enforces, the others shadow; verdicts go to
``flow.metadata["rampart"]``; incidents go to the shared JSONL schema (layer ``waf``); in
block mode a blocked request is answered with the proxy's own 403 page
(:func:`rampart.gateway.proxy.pages.render_page`) and security headers; in harness mode
``X-Rampart-Waf`` and one ``X-Rampart-Waf-<Engine>`` header per engine are added. Client
WebSocket messages are inspected like the proxy inspects them
(:func:`rampart.gateway.proxy.websocket.message_request`); a blocked one is dropped and the flow
killed (mitmproxy offers an addon no way to send a 1008 close frame).

Parsing is kept apart from acting: :func:`parse_options` is pure and raises ``ValueError``;
the hooks only apply the resulting :class:`Spec`.

No ``from __future__ import annotations`` here: ``mitmdump -s`` executes this file without
registering it in ``sys.modules``, and dataclasses cannot resolve string annotations then.
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, get_args

from mitmproxy import ctx, exceptions, http

from rampart import netguard
from rampart.gateway.config import HeaderPolicy
from rampart.gateway.decision import Outcome, RequestFacts, decide, engine_header, run_engine
from rampart.gateway.model import EngineSettings, InspectionEngine, Mode, RawRequest
from rampart.gateway.proxy.pages import render_page
from rampart.gateway.proxy.websocket import message_request, readings
from rampart.incidents import IncidentWriter
from rampart.procs import ready_line
from rampart.requestid import HEADER as REQUEST_ID
from rampart.requestid import ensure_request_id
from rampart.verdicts import WAF_HEADER

__all__ = [
    "METADATA_KEY",
    "RampartAddon",
    "Spec",
    "addons",
    "as_metadata",
    "engine_header",
    "parse_options",
    "raw_request",
]

log = logging.getLogger(__name__)

METADATA_KEY = "rampart"
_MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True, slots=True)
class Spec:
    """What the options ask for, validated."""

    engines: tuple[str, ...]
    settings: EngineSettings
    audit_log: str | None = None
    harness: bool = False
    max_incidents: int = 20


def as_metadata(request_id: str, outcome: Outcome) -> dict[str, Any]:
    """What ``flow.metadata["rampart"]`` holds for one request."""
    return {
        "request_id": request_id,
        "blocked": outcome.blocked,
        "headers": outcome.header_map,
        "verdicts": [
            {
                "engine": a.name,
                "decision": a.decision,
                "score": a.verdict.score,
                "threshold": a.verdict.threshold,
                "rules": list(a.verdict.rule_ids),
                "classes": list(a.verdict.attack_classes),
                "elapsed_us": round(a.verdict.elapsed_us, 1),
                "error": a.verdict.error,
            }
            for a in outcome.actions
        ],
    }


def parse_options(
    *,
    engine: str,
    mode: str,
    paranoia: int = 1,
    threshold: int = 5,
    audit_log: str = "",
    harness: bool = False,
    crs_dir: str = "",
    body_limit: int = 1 << 20,
) -> Spec:
    """Validate the ``rampart_*`` option values; ``ValueError`` names the bad one and the fix."""
    from rampart.gateway.engines import names

    engines = tuple(e.strip() for e in engine.split(",") if e.strip())
    if not engines:
        raise ValueError("rampart_engine is empty; use native, crs or native,crs")
    known = names()
    for name in engines:
        if name not in known:
            raise ValueError(f"rampart_engine: unknown engine {name!r}; choose from {', '.join(known)}")
    if len(set(engines)) != len(engines):
        raise ValueError(f"rampart_engine lists an engine twice: {engine!r}")
    if mode not in _MODES:
        raise ValueError(f"rampart_mode must be one of {', '.join(_MODES)}, not {mode!r}")
    if not 1 <= paranoia <= 4:
        raise ValueError(f"rampart_paranoia must be 1..4, not {paranoia}")
    if threshold < 1:
        raise ValueError(f"rampart_threshold must be at least 1, not {threshold}")
    if body_limit < 0:
        raise ValueError(f"rampart_body_limit must not be negative, not {body_limit}")
    settings = EngineSettings(
        mode=mode,  # type: ignore[arg-type]  # checked against Mode above
        paranoia=paranoia,
        threshold=threshold,
        crs_dir=crs_dir or None,
        body_limit=body_limit,
    )
    return Spec(engines=engines, settings=settings, audit_log=audit_log or None, harness=harness)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _http_version(value: str) -> str:
    return value.upper().removeprefix("HTTP/") or "1.1"


def raw_request(flow: http.HTTPFlow, request_id: str, body_limit: int) -> RawRequest:
    """The engines' view of ``flow.request``: target and body exactly as received."""
    req = flow.request
    body = req.raw_content or b""
    client = flow.client_conn.peername
    server = flow.client_conn.sockname
    return RawRequest(
        method=req.method,
        target=_text(req.data.path),
        headers=tuple((_text(k), _text(v)) for k, v in req.headers.fields),
        body=body[:body_limit],
        http_version=_http_version(req.http_version),
        client_ip=str(client[0]),
        client_port=int(client[1]),
        server_ip=str(server[0]),
        server_port=int(server[1]),
        request_id=request_id,
        body_truncated=len(body) > body_limit,
    )


def _blocked_response(request_id: str, accept: str) -> http.Response:
    """The proxy's 403 page, with its security headers: the incident id and nothing else."""
    page = render_page(403, request_id, accept=accept)
    headers = {"Content-Type": page.content_type, "Cache-Control": "no-store", REQUEST_ID: request_id}
    headers.update(HeaderPolicy().added())
    return http.Response.make(403, page.body, headers)


class RampartAddon:
    """Runs rampart's engines on every request mitmproxy sees."""

    def __init__(self) -> None:
        self.spec: Spec | None = None
        self.engines: tuple[InspectionEngine, ...] = ()
        self.writer = IncidentWriter(None)
        self._pending: dict[str, Outcome] = {}  # flow id -> incidents waiting for the status

    def load(self, loader: Any) -> None:
        netguard.install_from_env()
        loader.add_option(
            "rampart_engine", str, "native", "Engines, first enforces: native, crs or native,crs"
        )
        loader.add_option("rampart_mode", str, "detect", "detect (flag only) or block (answer 403)")
        loader.add_option("rampart_paranoia", int, 1, "Paranoia level 1..4")
        loader.add_option("rampart_threshold", int, 5, "Inbound anomaly score that blocks")
        loader.add_option("rampart_audit_log", str, "", "Incident JSONL file (empty: none)")
        loader.add_option("rampart_harness", bool, False, "Add X-Rampart-Waf verdict headers (tests only)")
        loader.add_option("rampart_crs_dir", str, "", "CRS checkout for the crs engine (empty: Debian's)")
        loader.add_option("rampart_body_limit", int, 1 << 20, "Request body bytes inspected at most")

    def configure(self, updated: set[str]) -> None:
        if not any(name.startswith("rampart_") for name in updated) and self.spec is not None:
            return
        opts = ctx.options
        try:
            spec = parse_options(
                engine=opts.rampart_engine,
                mode=opts.rampart_mode,
                paranoia=opts.rampart_paranoia,
                threshold=opts.rampart_threshold,
                audit_log=opts.rampart_audit_log,
                harness=opts.rampart_harness,
                crs_dir=opts.rampart_crs_dir,
                body_limit=opts.rampart_body_limit,
            )
            self.apply(spec)
        except ValueError as exc:
            raise exceptions.OptionsError(str(exc)) from exc  # type: ignore[no-untyped-call]

    def apply(self, spec: Spec) -> None:
        """Build the engines and the incident writer ``spec`` asks for, replacing the old ones."""
        from rampart.gateway.engines import create_engine

        engines = tuple(create_engine(name, spec.settings) for name in spec.engines)
        self._close()
        self.spec, self.engines = spec, engines
        self.writer = IncidentWriter(spec.audit_log)

    def inspect(self, flow: http.HTTPFlow) -> tuple[str, Outcome]:
        """Run every engine on ``flow.request`` and decide; no side effects on the flow."""
        assert self.spec is not None
        rid = ensure_request_id(flow.request.headers.get(REQUEST_ID))
        raw = raw_request(flow, rid, self.spec.settings.body_limit)
        return rid, self._decide(raw, flow)

    def _decide(self, raw: RawRequest, flow: http.HTTPFlow) -> Outcome:
        assert self.spec is not None
        spec = self.spec
        verdicts = [
            run_engine(engine, raw, name=name, threshold=spec.settings.threshold)
            for name, engine in zip(spec.engines, self.engines, strict=True)
        ]
        path = raw.target.split("?", 1)[0]
        facts = RequestFacts(raw.request_id, raw.client_ip, raw.method, raw.header("Host") or "", path)
        return decide(
            verdicts,
            mode=spec.settings.mode,
            harness=spec.harness,
            names=spec.engines,
            facts=facts,
            audit_limit=spec.max_incidents,
        )

    def record(self, outcome: Outcome, status: int) -> None:
        """The outcome's incidents, with the status the client got, to the JSONL file."""
        for incident in outcome.audit_records(status):
            self.writer.write(incident)

    def running(self) -> None:
        """Announce the listening address with rampart's ready line (``mitmproxy ready: URL``)."""
        proxyserver = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        addrs = proxyserver.listen_addrs() if proxyserver is not None else []
        if addrs:
            host, port = addrs[0][0], addrs[0][1]
            print(ready_line("mitmproxy", str(host), int(port)), flush=True)

    def _offload(self) -> bool:
        return any(getattr(engine, "slow", False) for engine in self.engines)

    async def request(self, flow: http.HTTPFlow) -> None:
        """Inspect; engines that ask to be offloaded (``slow``, e.g. CRS in worker processes)
        run in a thread so mitmproxy's event loop keeps serving other connections."""
        if self.spec is None or flow.response is not None or flow.error is not None or not flow.live:
            return
        if self._offload():
            rid, outcome = await asyncio.to_thread(self.inspect, flow)
        else:
            rid, outcome = self.inspect(flow)
        flow.metadata[METADATA_KEY] = as_metadata(rid, outcome)
        flow.request.headers[REQUEST_ID] = rid
        if outcome.status is not None:
            self.record(outcome, outcome.status)
            flow.response = _blocked_response(rid, flow.request.headers.get("Accept", ""))
            flow.response.headers.update(outcome.header_map)
        elif outcome.incidents:
            self._pending[flow.id] = outcome

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Upstream responses: drop any verdict header the upstream sent, add ours in harness
        mode; audit the request's incidents with the upstream's status."""
        if flow.response is None or self.spec is None:
            return
        pending = self._pending.pop(flow.id, None)
        if pending is not None:
            self.record(pending, flow.response.status_code)
        for name in list(flow.response.headers.keys()):
            if name.lower().startswith(WAF_HEADER.lower()):
                del flow.response.headers[name]
        meta = flow.metadata.get(METADATA_KEY)
        if isinstance(meta, dict):
            flow.response.headers[REQUEST_ID] = str(meta["request_id"])
            flow.response.headers.update(meta["headers"])

    def error(self, flow: http.HTTPFlow) -> None:
        """The upstream never answered: audit with 502."""
        pending = self._pending.pop(flow.id, None)
        if pending is not None:
            self.record(pending, 502)

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        """Inspect each client message as the proxy does; a message the enforcing engine
        blocks (block mode) is dropped and the connection killed."""
        if self.spec is None or flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        meta = flow.metadata.get(METADATA_KEY)
        rid = str(meta["request_id"]) if isinstance(meta, dict) else ensure_request_id(None)
        index = sum(1 for m in flow.websocket.messages if m.from_client)
        upgrade = raw_request(flow, rid, self.spec.settings.body_limit)
        data: str | bytes = message.content.decode("utf-8", "replace") if message.is_text else message.content
        for reading in readings(data):
            raw = message_request(upgrade, reading, index, self.spec.settings.body_limit)
            if self._offload():
                outcome = await asyncio.to_thread(self._decide, raw, flow)
            else:
                outcome = self._decide(raw, flow)
            if outcome.incidents:
                self.record(outcome, 1008 if outcome.blocked else 101)
            if outcome.blocked:
                message.drop()  # type: ignore[no-untyped-call]
                if flow.killable:
                    flow.kill()  # type: ignore[no-untyped-call]
                return

    def done(self) -> None:
        self._close()

    def _close(self) -> None:
        for engine in self.engines:
            try:
                engine.close()
            except Exception as exc:
                log.warning("closing engine %s failed: %s", getattr(engine, "name", "?"), exc)
        self.engines = ()
        self.writer.close()


addons = [RampartAddon()]
