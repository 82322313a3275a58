"""Prometheus metrics of one gateway app, in its own registry (so several gateways, or
tests, in one process never collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ENGINE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "rampart_gateway_requests", "Requests answered, by outcome.", ["outcome"], registry=r
        )
        self.latency = Histogram(
            "rampart_gateway_request_seconds",
            "Time to the response head (gateway plus upstream).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.verdicts = Counter(
            "rampart_gateway_verdicts",
            "Engine verdicts, by engine and decision.",
            ["engine", "decision"],
            registry=r,
        )
        self.engine_seconds = Histogram(
            "rampart_gateway_engine_seconds",
            "Engine inspection time.",
            ["engine", "where"],
            buckets=_ENGINE_BUCKETS,
            registry=r,
        )
        self.engine_errors = Counter(
            "rampart_gateway_engine_errors", "Engine failures (failed open).", ["engine"], registry=r
        )
        self.budget_exceeded = Counter(
            "rampart_gateway_budget_exceeded",
            "Inspections stopped at the engine's time budget, by engine.",
            ["engine"],
            registry=r,
        )
        self.engine_workers_replaced = Counter(
            "rampart_gateway_engine_workers_replaced",
            "Engine worker processes killed or found dead and replaced, by engine and reason "
            "(overran, crashed).",
            ["engine", "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "rampart_gateway_rejected",
            "Requests refused by hardening checks, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "rampart_gateway_rate_limited", "Requests refused by a rate limit rule.", ["rule"], registry=r
        )
        self.rate_store_errors = Counter(
            "rampart_gateway_rate_store_errors", "Rate limit store failures.", registry=r
        )
        self.rate_store_skipped = Counter(
            "rampart_gateway_rate_store_skipped",
            "Rate limit checks not sent to the store because its circuit breaker was open.",
            registry=r,
        )
        self.rate_store_breaker = Counter(
            "rampart_gateway_rate_store_breaker",
            "Rate limit store circuit breaker state changes, by the state entered.",
            ["state"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "rampart_gateway_upstream_errors", "Upstream failures, by kind.", ["kind"], registry=r
        )
        self.client_gone = Counter(
            "rampart_gateway_client_gone",
            "Clients that went away (reset, closed) while the gateway was answering, by stage.",
            ["stage"],
            registry=r,
        )
        self.ws_messages = Counter(
            "rampart_gateway_ws_messages",
            "WebSocket messages, by direction (client, upstream) and outcome.",
            ["direction", "outcome"],
            registry=r,
        )
        self.incidents = Counter(
            "rampart_gateway_incidents", "Incidents written to the audit log.", registry=r
        )
        self.incidents_dropped = Counter(
            "rampart_gateway_incidents_dropped",
            "Incidents dropped because the audit queue was full.",
            registry=r,
        )

        self.audit_sink_dropped = Counter(
            "rampart_gateway_audit_sink_dropped",
            "Incidents an extra audit sink (postgres) did not store: queue full or write failed.",
            ["sink"],
            registry=r,
        )
        self.access_dropped = Counter(
            "rampart_gateway_access_log_dropped",
            "Access-log lines dropped because its queue was full.",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
