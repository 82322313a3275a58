"""Benchmark: the sink guard in non-aiohttp apps, peer style (a Flask app and a Starlette app
with the same sinks; :mod:`benchmarks.peer_sinks`), driven by the project corpus.

For each framework and each protection (``none``; ``rampart``: ``rampart.inprocess.install`` in block
mode; ``aikido``: Aikido Zen with ``AIKIDO_BLOCK=true`` and ``aikido_zen.protect()`` before
the framework is imported, only when the ``aikido_zen`` package is installed -- it is not a
dependency) the app runs in its own process on loopback, with a hosts table for the lab
names, SecantusDB for MongoDB, and a loopback simulator as the internal service:

1. Detection: every corpus payload of the classes the apps expose, sent to the matching
   route; a payload *works* when the unprotected app shows its effect (the ``rmp1337x``
   marker, the secret file, a login without the password, rows from a quoted-string SQL
   context, the simulator's internal page), and is *stopped* when the protected app does not
   show it. SSRF payloads are retargeted to the simulator's port and kept only when their
   destination is loopback (nothing leaves the machine); the issue's spellings are added
   (any-case ``localhost``, hosts-file name, percent-encoded, userinfo, redirects from an
   allowed partner host).
2. False positives: benign requests to every route (including handlers that log a handled
   exception, build dataclasses / pydantic models and compile templates) must answer 200.
3. Cost: per route, the median latency of benign requests, protected vs unprotected,
   alternating request by request in one run.

Run: ``.venv/bin/python -m benchmarks.guard_peer_apps [--requests 100] [--framework flask]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

__all__ = ["HOSTS", "main", "spellings"]

# Lab names (as the lab's sandbox answers them); only loopback destinations are ever used.
HOSTS = {
    "localhost": "127.0.0.1",
    "partner.lab.test": "127.0.0.1",
    "localtest.lab.test": "127.0.0.1",
    "rebind.lab.test": "127.0.0.1",
}
ALLOWED = ["partner.lab.test"]
_URL_PREFIX = "serving at "
# Statuses of requests without an answer: the app was not listening (it died), or it took the
# request and dropped the connection (an exception in the handler, under uvicorn).
_UNREACHABLE = 599
_DROPPED = 598
MARKER = "rmp1337x"
_ROUTES = {
    "sql_injection": "/sql",
    "command_injection": "/shell",
    "path_traversal": "/file",
    "ssti": "/greet",
    "code_injection": "/calc",
    "deserialization": "/yaml",
    "nosql_injection": "/mongo/login",
    "ssrf": "/fetch",
}
_PARAMS = {
    "/sql": "name",
    "/shell": "host",
    "/file": "name",
    "/greet": "name",
    "/calc": "expr",
    "/fetch": "url",
}
_MONGO = """
import sys, time
from secantus import SecantusDBServer
server = SecantusDBServer(port=0, storage_path=sys.argv[1], replica_set_name=None)
server.start()
print("serving at " + server.uri, flush=True)
while True:
    time.sleep(3600)
"""


def spellings(port: int) -> list[str]:
    """The issue's spellings of an internal destination, all reaching ``port`` on loopback."""
    return [
        f"http://localhost:{port}/admin",
        f"http://LocalHost:{port}/admin",
        f"http://LOCALHOST:{port}/admin",
        f"http://localtest.lab.test:{port}/admin",
        f"http://2130706433:{port}/admin",
        f"http://0x7f000001:{port}/admin",
        f"http://0177.0.0.1:{port}/admin",
        f"http://127.1:{port}/admin",
        f"http://%6c%6f%63%61%6c%68%6f%73%74:{port}/admin",
        f"http://[::ffff:127.0.0.1]:{port}/admin",
        f"http://partner.lab.test@localhost:{port}/admin",
        f"http://partner.lab.test:{port}/redirect?to=http://localhost:{port}/admin",
        f"http://partner.lab.test:{port}/redirect?to=http://2130706433:{port}/admin",
        f"http://partner.lab.test:{port}/bounce",
    ]


@dataclass(frozen=True)
class Probe:
    """One request and how to tell that it worked."""

    case: str
    attack_class: str
    method: str
    path: str
    params: dict[str, Any] | None
    body: Any
    worked: Callable[[httpx.Response], bool]


def _marker(response: httpx.Response) -> bool:
    return response.status_code == 200 and MARKER in response.text


def _rows(response: httpx.Response) -> bool:
    return response.status_code == 200 and bool(response.json().get("rows"))


def _secret_file(response: httpx.Response) -> bool:
    return response.status_code == 200 and "top secret" in response.text


def _logged_in(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("ok") is True


def _internal(response: httpx.Response) -> bool:
    from benchmarks.peer_serve import SECRET

    return response.status_code == 200 and SECRET in response.text


def _loopback_target(url: str, port: int) -> str | None:
    """``url`` retargeted to the simulator on ``port`` when its destination is loopback, else
    None (such payloads are never sent). A direct target becomes ``/admin`` under the same
    host spelling; a redirect through the allowed partner keeps its shape with the inner
    target retargeted the same way."""
    from rampart.inprocess.detectors.ssrf import canonical_host, parse_ip

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    name = canonical_host(host)
    if name in ALLOWED:
        inner = parse_qs(parts.query).get("to", [""])[0] if parts.path == "/redirect" else ""
        target = _loopback_target(inner, port) if inner else None
        if target is None:
            return None
        return f"http://{host}:{port}/redirect?{urlencode({'to': target})}"
    ip = parse_ip(HOSTS.get(name, name))
    if ip is None or not (ip.is_loopback or ip.is_unspecified):
        return None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    spelled = hostport.split("]", 1)[0] + "]" if hostport.startswith("[") else hostport.split(":", 1)[0]
    return urlunsplit(("http", (userinfo + "@" if userinfo else "") + f"{spelled}:{port}", "/admin", "", ""))


def probes(sim_port: int) -> list[Probe]:
    """The corpus payloads the apps can receive, plus the issue's SSRF spellings."""
    from rampart.attacks.corpus import load_base_payloads

    oracles: dict[str, Callable[[httpx.Response], bool]] = {
        "sql_injection": _rows,
        "path_traversal": _secret_file,
        "nosql_injection": _logged_in,
        "ssrf": _internal,
    }
    out: list[Probe] = []
    for base in load_base_payloads(classes=list(_ROUTES)):
        route = _ROUTES[base.attack_class]
        worked = oracles.get(base.attack_class, _marker)
        payload = base.payload
        if base.attack_class == "nosql_injection":
            if base.endpoint != "L1":
                continue
            body = {"username": "admin", "password": "wrong", **base.fields, base.param: payload}
            out.append(Probe(base.id, base.attack_class, "POST", route, None, body, worked))
        elif base.attack_class == "deserialization":
            out.append(Probe(base.id, base.attack_class, "POST", route, None, str(payload), worked))
        elif base.attack_class == "ssrf":
            target = _loopback_target(str(payload), sim_port)
            if target is not None:
                out.append(Probe(base.id, "ssrf", "GET", route, {"url": target}, None, worked))
        elif isinstance(payload, str):
            params = {_PARAMS[route]: payload}
            out.append(Probe(base.id, base.attack_class, "GET", route, params, None, worked))
    for i, url in enumerate(spellings(sim_port)):
        for route in ("/fetch", "/fetch-httpx"):
            case = f"ssrf.spelling-{i}{route}"
            out.append(Probe(case, "ssrf", "GET", route, {"url": url}, None, _internal))
    return out


def benign(sim_port: int) -> list[Probe]:
    def ok(response: httpx.Response) -> bool:
        return response.status_code == 200

    gets: list[tuple[str, dict[str, Any]]] = [
        ("/sql", {"name": "apple"}),
        ("/shell", {"host": "example.test"}),
        ("/file", {"name": "readme.txt"}),
        ("/greet", {"name": "Bob"}),
        ("/calc", {"expr": "round(2.5 * 4) + 1"}),
        ("/fetch", {"url": f"http://partner.lab.test:{sim_port}/ok"}),
        ("/fetch-httpx", {"url": f"http://partner.lab.test:{sim_port}/redirect?to=/ok"}),
        ("/log", {"count": "count"}),
        ("/model", {"field": "name", "value": "name"}),
        ("/page", {"title": "items", "item": ["item", "upper"]}),
    ]
    out = [Probe(f"benign{path}", "benign", "GET", path, params, None, ok) for path, params in gets]
    out.append(Probe("benign/yaml", "benign", "POST", "/yaml", None, "a: 1\nb: [x, y]\n", ok))
    login = {"username": "alice", "password": "wonderland"}
    out.append(Probe("benign/mongo", "benign", "POST", "/mongo/login", None, login, ok))
    return out


def _send(client: httpx.Client, probe: Probe) -> httpx.Response:
    """Send ``probe``; a refused connection reads as 599, a dropped one as 598."""
    try:
        if probe.method == "GET":
            return client.get(probe.path, params=probe.params)
        if isinstance(probe.body, dict):
            return client.post(probe.path, json=probe.body)
        return client.post(probe.path, content=str(probe.body).encode())
    except httpx.ConnectError as exc:
        return httpx.Response(_UNREACHABLE, text=f"{type(exc).__name__}: {exc}")
    except httpx.TransportError as exc:
        # The app took the request and dropped the connection (it raised): no effect shown.
        return httpx.Response(_DROPPED, text=f"{type(exc).__name__}: {exc}")


# -- the app process ---------------------------------------------------------------------


def serve(framework: str, protection: str, workdir: Path, mongo_uri: str | None) -> None:
    """Run one app (in this process) and print its base URL; protection first, then the
    framework import (Aikido Zen must patch before the framework loads)."""
    from benchmarks.peer_sinks import install_hosts

    install_hosts(HOSTS)
    if protection == "aikido":
        os.environ.setdefault("AIKIDO_BLOCK", "true")
        import aikido_zen

        aikido_zen.protect()
    from benchmarks import peer_flask, peer_starlette
    from benchmarks.peer_serve import serve_asgi, serve_wsgi
    from benchmarks.peer_sinks import Sinks

    sinks = Sinks(workdir, mongo_uri=mongo_uri)
    app: Any = peer_flask.create_app(sinks) if framework == "flask" else peer_starlette.create_app(sinks)
    if protection == "rampart":
        from rampart import inprocess
        from rampart.inprocess.config import load_settings

        allow = {"ssrf": {"options": {"allow_hosts": ALLOWED}}}
        app = inprocess.install(app, settings=load_settings(mode="block", detectors=allow))
    served = serve_wsgi(app) if framework == "flask" else serve_asgi(app)
    print(f"{_URL_PREFIX}{served.base}", flush=True)
    while True:
        time.sleep(3600)


@contextmanager
def _process(args: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        # A protection may print its own lines first (Aikido Zen logs to stdout): wait for ours.
        for line in proc.stdout:
            if line.startswith(_URL_PREFIX):
                # Keep reading what it prints, so a full pipe never stalls the app.
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                yield line.removeprefix(_URL_PREFIX).strip()
                break
        else:
            raise RuntimeError(f"{' '.join(args)} did not start")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _seed_mongo(uri: str) -> None:
    from pymongo import MongoClient

    client: Any = MongoClient(uri, serverSelectionTimeoutMS=5000)
    users = client["peer"]["users"]
    users.delete_many({})
    users.insert_many(
        [{"username": "alice", "password": "wonderland"}, {"username": "admin", "password": "s3cret"}]
    )
    client.close()


def run(frameworks: Sequence[str], requests_per_route: int) -> dict[str, Any]:
    from benchmarks.peer_serve import start_simulator

    protections = ["none", "rampart"] + (["aikido"] if importlib.util.find_spec("aikido_zen") else [])
    sim = start_simulator()
    sim.bounce_to[:] = [f"http://LocalHost:{sim.port}/admin"]
    results: dict[str, Any] = {"protections": protections}
    with tempfile.TemporaryDirectory() as tmp, _process(["-c", _MONGO, tmp]) as mongo_uri:
        _seed_mongo(mongo_uri)
        for framework in frameworks:
            urls: dict[str, str] = {}
            with contextlib.ExitStack() as stack:
                for protection in protections:
                    work = Path(tmp) / f"{framework}-{protection}"
                    cmd = ["-m", "benchmarks.guard_peer_apps", "serve", framework, protection]
                    cmd += [str(work), mongo_uri]
                    urls[protection] = stack.enter_context(_process(cmd))
                results[framework] = _measure(urls, sim.port, requests_per_route)
    sim.stop()
    return results


def _measure(urls: dict[str, str], sim_port: int, n: int) -> dict[str, Any]:
    clients = {name: httpx.Client(base_url=url, timeout=20) for name, url in urls.items()}
    try:
        attacks = probes(sim_port)
        worked: dict[str, list[Probe]] = {}
        stopped: dict[str, dict[str, int]] = {p: {} for p in urls if p != "none"}
        missed: dict[str, list[str]] = {p: [] for p in stopped}
        # A refused connection is not a stop: it means the protected app is not serving.
        unreachable: dict[str, list[str]] = {p: [] for p in urls}
        for probe in attacks:
            answer = _send(clients["none"], probe)
            if answer.status_code == _UNREACHABLE:
                unreachable["none"].append(probe.case)
            if not probe.worked(answer):
                continue
            worked.setdefault(probe.attack_class, []).append(probe)
            for name, counts in stopped.items():
                answer = _send(clients[name], probe)
                if answer.status_code == _UNREACHABLE:
                    unreachable[name].append(probe.case)
                elif probe.worked(answer):
                    missed[name].append(probe.case)
                else:
                    counts[probe.attack_class] = counts.get(probe.attack_class, 0) + 1
        detection = {
            name: {cls: f"{counts.get(cls, 0)}/{len(probes_)}" for cls, probes_ in sorted(worked.items())}
            for name, counts in stopped.items()
        }
        false_positives = {
            name: [p.case for p in benign(sim_port) if not p.worked(_send(clients[name], p))] for name in urls
        }
        cost: dict[str, dict[str, float]] = {}
        for probe in benign(sim_port):
            times: dict[str, list[float]] = {name: [] for name in urls}
            for _ in range(n):
                for name, client in clients.items():
                    t0 = time.perf_counter_ns()
                    _send(client, probe)
                    times[name].append((time.perf_counter_ns() - t0) / 1000)
            base = statistics.median(times["none"])
            added = {
                f"{name}_added_us": round(statistics.median(t) - base, 1)
                for name, t in times.items()
                if name != "none"
            }
            cost[probe.case] = {"none_median_us": round(base, 1), **added}
        dead = {name: cases for name, cases in unreachable.items() if cases}
        if dead:
            print(f"warning: apps did not answer some requests: {dead}", file=sys.stderr)
        return {
            "detection": detection,
            "missed": missed,
            "unreachable": dead,
            "false_positives": false_positives,
            "cost": cost,
        }
    finally:
        for client in clients.values():
            client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="(internal) run one app and print its URL")
    serve_cmd.add_argument("framework", choices=["flask", "starlette"])
    serve_cmd.add_argument("protection", choices=["none", "rampart", "aikido"])
    serve_cmd.add_argument("workdir", type=Path)
    serve_cmd.add_argument("mongo_uri")
    parser.add_argument("--framework", choices=["flask", "starlette"], action="append")
    parser.add_argument("--requests", type=int, default=100, help="benign requests per route and side")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.framework, args.protection, args.workdir, args.mongo_uri)
        return 0
    frameworks = args.framework or ["flask", "starlette"]
    results = run(frameworks, max(10, min(args.requests, 2000)))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
