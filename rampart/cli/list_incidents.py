"""``rampart incidents``: list incidents from the JSONL file or PostgreSQL, filtered.

Kept light to import: the store module is imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "incidents",
        help="list incidents (audit log file or PostgreSQL), filtered",
        description="List incidents, newest last. Read a JSONL file (with its rotated files) "
        "or the PostgreSQL table the gateway writes (audit.database_url).",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="PATH", help="incident JSONL file (gateway --audit-log)")
    source.add_argument("--database", metavar="URL", help="postgresql:// URL")
    p.add_argument("--table", default="rampart_incidents", help="table name (default rampart_incidents)")
    p.add_argument("--since", metavar="TIME", help="ISO 8601 time or a span back from now: 90s, 10m, 2h, 7d")
    p.add_argument("--until", metavar="TIME", help="same forms as --since")
    p.add_argument("--layer", choices=("waf", "rasp"), help="only this layer's incidents (default: both)")
    p.add_argument("--class", dest="attack_class", metavar="CLASS", help="attack class, e.g. sql_injection")
    p.add_argument("--rule", metavar="ID", help="rule or detector id")
    p.add_argument("--client", metavar="ADDR", help="client address")
    p.add_argument("--path", metavar="PREFIX", help="request path prefix")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="newest N (0: all; default 100)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=run)


def _row(incident: Any) -> str:
    when = incident.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = str(incident.status) if incident.status is not None else "-"
    return "  ".join(
        [
            when,
            incident.layer,
            f"{incident.action:6}",
            status,
            f"{incident.attack_class:16}",
            f"{incident.rule:10}",
            incident.client or "-",
            incident.method or "-",
            incident.path or incident.sink or "-",
            incident.request_id,
        ]
    )


def run(args: argparse.Namespace) -> int:
    from rampart.incident_store import IncidentFilter, PostgresIncidentStore, parse_time, query_file

    if args.limit < 0:
        print("rampart incidents: --limit must not be negative", file=sys.stderr)
        return 2
    try:
        flt = IncidentFilter(
            since=parse_time(args.since) if args.since else None,
            until=parse_time(args.until) if args.until else None,
            layer=args.layer,
            attack_class=args.attack_class,
            rule=args.rule,
            client=args.client,
            path=args.path,
            limit=args.limit,
        )
        if args.file is not None:
            found = query_file(args.file, flt)
        else:
            store = PostgresIncidentStore(args.database, table=args.table)
            try:
                found = store.query(flt)
            finally:
                store.close()
    except ValueError as exc:
        print(f"rampart incidents: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the database cannot be reached or read
        print(f"rampart incidents: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    for incident in found:
        print(incident.to_json() if args.json else _row(incident))
    return 0
