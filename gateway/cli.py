"""``rampart gateway``: the perimeter reverse proxy (docs/CONTRACTS.md contract options and more).

Kept light to import: everything heavy is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]


def _engines(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "gateway",
        help="run the perimeter WAF reverse proxy",
        description="Reverse proxy with rule engines, hardening, rate limits, audit log and metrics. "
        "Flags override RAMPART_GATEWAY_* environment variables, which override --config.",
    )
    p.add_argument(
        "--upstream",
        metavar="URL",
        help="base URL of the protected app, e.g. http://127.0.0.1:8000 (required)",
    )
    p.add_argument("--port", type=int, metavar="N", help="listen port, 0: any free port (default: 8080)")
    p.add_argument("--host", metavar="ADDR", help="listen address (default: 127.0.0.1)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes sharing the port (SO_REUSEPORT), each with its own engines; N > 1 adds a "
        "supervisor that sums metrics and passes SIGHUP reloads on to the workers (default: 1)",
    )
    p.add_argument(
        "--engine",
        dest="engines",
        metavar="NAMES",
        type=_engines,
        help="engines, comma-separated: the first enforces, the others shadow (default: native)",
    )
    p.add_argument(
        "--mode",
        choices=("detect", "block"),
        help="detect: forward and log; block: refuse (403) (default: detect)",
    )
    p.add_argument(
        "--harness",
        action="store_true",
        default=None,
        help="add X-Rampart-Waf verdict headers (measurement only, never in production) (default: off)",
    )
    p.add_argument("--paranoia", type=int, metavar="N", help="rule paranoia level 1-4 (default: 1)")
    p.add_argument(
        "--threshold", type=int, metavar="N", help="anomaly score at which a request is blocked (default: 5)"
    )
    p.add_argument("--config", metavar="FILE", help="gateway.toml, see docs/GATEWAY.md (default: none)")
    p.add_argument(
        "--audit-log",
        dest="audit_path",
        metavar="PATH",
        help="write incidents as JSON lines to this file (default: none, incidents are only counted)",
    )
    p.add_argument(
        "--admin-port",
        type=int,
        metavar="N",
        help="serve /healthz and /metrics on this loopback port, 0: any (default: no admin listener)",
    )
    p.add_argument(
        "--rate-limit-store",
        dest="rate_store",
        metavar="STORE",
        help="enable rate limiting with this store: memory or redis://host:port/db "
        "(default: rate limiting off)",
    )
    p.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        metavar="CIDR",
        action="append",
        help="believe X-Forwarded-For from this address or CIDR, repeatable (default: none)",
    )
    rules = p.add_argument_group("rules (docs/RULES.md; SIGHUP re-reads them)")
    rules.add_argument(
        "--rules",
        dest="rules_dir",
        metavar="DIR",
        help="a folder of your own YAML rules for the native engine, added to the shipped rules "
        "(default: none, the shipped rules only)",
    )
    rules.add_argument(
        "--no-shipped-rules",
        dest="shipped_rules",
        action="store_false",
        default=None,
        help="run only the --rules folder, without the shipped rules (default: shipped rules on)",
    )
    rules.add_argument(
        "--crs",
        dest="crs_dir",
        metavar="DIR",
        help="OWASP CRS folder (holding rules/REQUEST-*.conf) for the seclang and crs engines "
        "(default: /usr/share/modsecurity-crs)",
    )
    rules.add_argument(
        "--crs-setup",
        dest="crs_setup",
        metavar="FILE",
        help="crs-setup.conf for the seclang and crs engines (default: DIR/crs-setup.conf, "
        "DIR/crs-setup.conf.example, then /etc/modsecurity/crs/crs-setup.conf)",
    )
    rules.add_argument(
        "--exclusions",
        metavar="FILE",
        action="append",
        help="an exclusions file, repeatable: FILE.yaml for the native engine, FILE.conf (SecLang: "
        "SecRuleRemoveById, SecRuleUpdateTargetById, ctl: rules) for the seclang and crs engines; "
        "replaces the config file's list (default: none)",
    )
    p.set_defaults(func=run)

    from rampart.gateway import rules_cli

    rules_cli.register(subparsers)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        key: getattr(args, key)
        for key in (
            "upstream",
            "port",
            "host",
            "workers",
            "engines",
            "mode",
            "harness",
            "paranoia",
            "threshold",
            "admin_port",
            "trusted_proxies",
        )
    }
    nested: dict[str, dict[str, Any]] = {}
    if args.audit_path is not None:
        nested["audit"] = {"path": args.audit_path}
    if args.rate_store is not None:
        nested["rate_limit"] = {"enabled": True, "store": args.rate_store}
    engine = {
        key: getattr(args, key)
        for key in ("rules_dir", "shipped_rules", "crs_dir", "crs_setup")
        if getattr(args, key) is not None
    }
    if args.exclusions is not None:
        engine["exclusions"] = tuple(args.exclusions)
    if engine:
        nested["engine"] = engine
    return {**overrides, **nested}


def _settings(config: str | None, overrides: dict[str, Any]) -> Any:
    """Nested CLI values (audit path, rate-limit store, rule folders and files) replace single
    keys of their section, so the rest of the section still comes from the file or the
    environment."""
    from rampart.gateway.config import load_settings

    nested = ("audit", "rate_limit", "engine")
    flat = {k: v for k, v in overrides.items() if k not in nested}
    base = load_settings(config, **flat)
    sections = {
        name: {**getattr(base, name).model_dump(), **overrides[name]} for name in nested if name in overrides
    }
    return load_settings(config, **flat, **sections) if sections else base


def run(args: argparse.Namespace) -> int:
    from rampart.gateway.config import ConfigError

    try:
        settings = _settings(args.config, _overrides(args))
    except ConfigError as exc:
        print(f"rampart gateway: {exc}", file=sys.stderr)
        return 2
    from rampart.gateway.app import serve

    overrides = _overrides(args)
    return serve(settings, reload_settings=lambda: _settings(args.config, overrides))
