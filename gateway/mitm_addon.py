"""rampart's inspection engines inside mitmproxy.

    mitmdump -s gateway/mitm_addon.py --mode reverse:http://127.0.0.1:8080 \\
        --set rampart_engine=crs --set rampart_mode=block --set rampart_harness=true

The addon builds the same :class:`~gateway.model.RawRequest` the aiohttp gateway builds,
runs the same engines (``gateway.engines.create_engine``, same :class:`EngineSettings`) and
acts the same way: the first engine enforces, the others shadow; verdicts go to
``flow.metadata["rampart"]``; incidents go to the shared JSONL schema (layer ``waf``); in
block mode a blocked request is answered 403 with the incident id only; in harness mode
``X-Rampart-Waf`` and one ``X-Rampart-Waf-<Engine>`` header per engine are added.

Parsing is kept apart from acting: :func:`parse_options` is pure and raises ``ValueError``;
the hooks only apply the resulting :class:`Spec`.

No ``from __future__ import annotations`` here: ``mitmdump -s`` executes this file without
registering it in ``sys.modules``, and dataclasses cannot resolve string annotations then.
"""

import asyncio
import json
import logging
from dataclasses import dataclass, field
from html import escape
from typing import Any, get_args

from mitmproxy import ctx, exceptions, http

from gateway.model import EngineSettings, InspectionEngine, Mode, RawRequest, Verdict
from rampart import netguard
from rampart.incidents import IncidentWriter
from rampart.procs import ready_line
from rampart.requestid import HEADER as REQUEST_ID
from rampart.requestid import ensure_request_id
from rampart.verdicts import WAF_HEADER, Decision, format_waf_header

__all__ = ["METADATA_KEY", "RampartAddon", "Spec", "addons", "engine_header", "parse_options", "raw_request"]

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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the addon did with one request (stored in ``flow.metadata["rampart"]``)."""

    request_id: str
    verdicts: tuple[Verdict, ...]
    blocked: bool
    headers: dict[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "blocked": self.blocked,
            "headers": dict(self.headers),
            "verdicts": [
                {
                    "engine": v.engine,
                    "decision": v.decision,
                    "score": v.score,
                    "threshold": v.threshold,
                    "rules": list(v.rule_ids),
                    "classes": list(v.attack_classes),
                    "elapsed_us": round(v.elapsed_us, 1),
                    "error": v.error,
                }
                for v in self.verdicts
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
    from gateway.engines import names

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


def engine_header(name: str) -> str:
    """``crs`` -> ``X-Rampart-Waf-Crs`` (the gateway's per-engine harness header)."""
    return WAF_HEADER + "-" + "-".join(p.capitalize() for p in name.replace("_", "-").split("-"))


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


def _effective(decision: Decision, mode: str) -> Decision:
    return "detect" if decision == "block" and mode == "detect" else decision


def _blocked_response(request_id: str, accept: str) -> http.Response:
    """403 carrying the incident id and nothing else about the verdict."""
    if "json" in accept:
        body = json.dumps({"status": 403, "error": "Forbidden", "incident": request_id})
        content_type = "application/json"
    else:
        rid = escape(request_id)
        body = (
            "<!doctype html><title>403 Forbidden</title><h1>403 Forbidden</h1>"
            f"<p>Incident: <code>{rid}</code></p>\n"
        )
        content_type = "text/html; charset=utf-8"
    return http.Response.make(
        403, body, {"Content-Type": content_type, "Cache-Control": "no-store", REQUEST_ID: request_id}
    )


class RampartAddon:
    """Runs rampart's engines on every request mitmproxy sees."""

    def __init__(self) -> None:
        self.spec: Spec | None = None
        self.engines: tuple[InspectionEngine, ...] = ()
        self.writer = IncidentWriter(None)

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
        from gateway.engines import create_engine

        engines = tuple(create_engine(name, spec.settings) for name in spec.engines)
        self._close()
        self.spec, self.engines = spec, engines
        self.writer = IncidentWriter(spec.audit_log)

    def inspect(self, flow: http.HTTPFlow) -> Outcome:
        """Run every engine on ``flow.request``; decide; no side effects on the flow."""
        assert self.spec is not None
        spec = self.spec
        rid = ensure_request_id(flow.request.headers.get(REQUEST_ID))
        raw = raw_request(flow, rid, spec.settings.body_limit)
        verdicts = tuple(
            self._run(name, engine, raw) for name, engine in zip(spec.engines, self.engines, strict=True)
        )
        blocked = spec.settings.mode == "block" and verdicts[0].decision == "block"
        headers: dict[str, str] = {}
        if spec.harness:
            for index, (name, verdict) in enumerate(zip(spec.engines, verdicts, strict=True)):
                value = format_waf_header(
                    _effective(verdict.decision, spec.settings.mode), verdict.score, verdict.rule_ids
                )
                if index == 0:
                    headers[WAF_HEADER] = value
                headers[engine_header(name)] = value
        return Outcome(rid, verdicts, blocked, headers)

    def _run(self, name: str, engine: InspectionEngine, raw: RawRequest) -> Verdict:
        assert self.spec is not None
        try:
            return engine.inspect(raw)
        except Exception as exc:  # an engine must fail open, even one that breaks its contract
            log.warning("engine %s raised on %s: %s", name, raw.request_id, exc)
            return Verdict(
                name, "allow", 0, self.spec.settings.threshold, error=f"{type(exc).__name__}: {exc}"
            )

    def record(self, outcome: Outcome) -> None:
        """One incident per matched rule of every non-allow verdict, as the gateway writes them
        (the enforcing engine's carry the action taken, shadow engines' ``detect``)."""
        from gateway.audit import incidents_for

        assert self.spec is not None
        mode = self.spec.settings.mode
        for index, verdict in enumerate(outcome.verdicts):
            action = (
                ("block" if outcome.blocked else _effective(verdict.decision, mode))
                if index == 0
                else "detect"
            )
            for incident in incidents_for(
                verdict, request_id=outcome.request_id, action=action, limit=self.spec.max_incidents
            ):
                self.writer.write(incident)

    def running(self) -> None:
        """Announce the listening address with rampart's ready line (``mitmproxy ready: URL``)."""
        proxyserver = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        addrs = proxyserver.listen_addrs() if proxyserver is not None else []
        if addrs:
            host, port = addrs[0][0], addrs[0][1]
            print(ready_line("mitmproxy", str(host), int(port)), flush=True)

    async def request(self, flow: http.HTTPFlow) -> None:
        """Inspect; engines that ask to be offloaded (``slow``, e.g. CRS in worker processes)
        run in a thread so mitmproxy's event loop keeps serving other connections."""
        if self.spec is None or flow.response is not None or flow.error is not None or not flow.live:
            return
        if any(getattr(engine, "slow", False) for engine in self.engines):
            outcome = await asyncio.to_thread(self.inspect, flow)
        else:
            outcome = self.inspect(flow)
        flow.metadata[METADATA_KEY] = outcome.as_metadata()
        flow.request.headers[REQUEST_ID] = outcome.request_id
        if any(v.decision != "allow" for v in outcome.verdicts):
            self.record(outcome)
        if outcome.blocked:
            flow.response = _blocked_response(outcome.request_id, flow.request.headers.get("Accept", ""))
            flow.response.headers.update(outcome.headers)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Upstream responses: drop any verdict header the upstream sent, add ours in harness mode."""
        if flow.response is None or self.spec is None:
            return
        for name in list(flow.response.headers.keys()):
            if name.lower().startswith(WAF_HEADER.lower()):
                del flow.response.headers[name]
        meta = flow.metadata.get(METADATA_KEY)
        if isinstance(meta, dict):
            flow.response.headers[REQUEST_ID] = str(meta["request_id"])
            flow.response.headers.update(meta["headers"])

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
