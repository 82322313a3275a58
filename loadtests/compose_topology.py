"""The compose stack (compose/docker-compose.yml) run as processes on this machine.

Where no container runtime runs, the same services start from the compose file's own
commands, translated for one host: listen on 127.0.0.1 port 0 instead of 0.0.0.0 and fixed
ports, service names become the started processes' URLs, Redis is the machine's Redis (a
unique key prefix), MongoDB is the lab's embedded one, the trusted network is loopback.
Each service's compose health check is then run against the process, Locust's master and
workers run the compose load profile, and the figures come back with the failure ratio.

    .venv/bin/python -m rampart.loadtests.compose_topology --duration 20 --users 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rampart.healthcheck import check
from rampart.loadtests.runner import LoadResult, parse_locust_stats
from rampart.procs import ServerProcess, spawn

__all__ = ["COMPOSE_FILE", "Service", "TopologyResult", "load_compose", "localize", "run_topology"]

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "compose" / "docker-compose.yml"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_PORT_OPTIONS = ("--port", "--admin-port")
_SERVICE_URL = re.compile(r"^(?P<scheme>https?|tcp|redis)://(?P<host>[\w.-]+):(?P<port>\d+)(?P<rest>/.*)?$")


@dataclass(frozen=True, slots=True)
class Service:
    """One compose service, as far as running it as processes needs."""

    name: str
    image: str | None
    command: tuple[str, ...]
    environment: dict[str, str]
    depends_on: tuple[str, ...]
    healthcheck: tuple[str, ...]
    replicas: int = 1


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """The services of ``path``; ``ValueError`` naming the file and the service on a bad entry."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    services: dict[str, Service] = {}
    for name, spec in (doc.get("services") or {}).items():
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: service {name!r} is not a mapping")
        deps = spec.get("depends_on") or ()
        health = (spec.get("healthcheck") or {}).get("test") or ()
        env = {str(k): str(v) for k, v in (spec.get("environment") or {}).items()}
        services[name] = Service(
            name=name,
            image=spec.get("image"),
            command=tuple(str(c) for c in spec.get("command") or ()),
            environment=env,
            depends_on=tuple(deps),
            healthcheck=tuple(str(t) for t in health),
            replicas=int((spec.get("deploy") or {}).get("replicas", 1)),
        )
    return services


def _rewrite_url(value: str, urls: dict[str, str]) -> str:
    m = _SERVICE_URL.match(value)
    if not m or m["host"] not in urls:
        return value
    return urls[m["host"]] + (m["rest"] or "")


def localize(command: Sequence[str], urls: dict[str, str]) -> list[str]:
    """A compose command for this host: loopback, port 0, service URLs replaced by ``urls``
    (keys: compose service names, values: base URLs without a trailing slash)."""
    out: list[str] = []
    it = iter(command)
    for arg in it:
        if arg == "--i-know-this-is-vulnerable-bind-anyway":
            continue
        if arg in _PORT_OPTIONS:
            next(it)
            out += [arg, "0"]
        elif arg == "--trusted-proxy":
            next(it)
            out += [arg, "127.0.0.1/32"]
        elif arg == "0.0.0.0":  # noqa: S104 (the compose value being replaced by loopback)
            out.append("127.0.0.1")
        else:
            out.append(_rewrite_url(arg, urls))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health_url(service: Service, ports: dict[str, str]) -> str | None:
    """The URL of the service's ``rampart.healthcheck`` test, with container ports mapped."""
    test = service.healthcheck
    if "rampart.healthcheck" not in test:
        return None
    url = test[-1]
    m = _SERVICE_URL.match(url)
    if not m:
        return url
    key = m["port"] if m["host"] == "127.0.0.1" else f"{m['host']}:{m['port']}"
    return _rewrite_url(url, {}) if key not in ports else f"{m['scheme']}://{ports[key]}{m['rest'] or ''}"


@dataclass
class TopologyResult:
    load: LoadResult
    started: list[str]
    health: dict[str, str | None] = field(default_factory=dict)  # service -> problem (None: healthy)
    rate_limited: float = 0.0


async def _metric_total(admin: str, name: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(admin + "/metrics") as resp:
        text = await resp.text()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def _hostport(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


@contextlib.asynccontextmanager
async def _services(
    services: dict[str, Service], redis_url: str, key_prefix: str, progress: Callable[[str], None]
) -> AsyncIterator[tuple[dict[str, str], dict[str, dict[str, str]], list[str]]]:
    """Start every rampart service (not Locust) in dependency order."""
    urls: dict[str, str] = {"redis": redis_url.rstrip("/").rsplit("/", 1)[0]}
    ports: dict[str, dict[str, str]] = {}
    started: list[str] = []
    env = {"RAMPART_LOOPBACK_ONLY": "1", "RAMPART_GATEWAY_RATE_LIMIT__KEY_PREFIX": key_prefix}
    async with contextlib.AsyncExitStack() as stack:
        pending = [s for s in services.values() if s.image is None and s.command[:1] == ("rampart",)]
        while pending:
            ready = [s for s in pending if all(d in started or services[d].image for d in s.depends_on)]
            if not ready:
                raise ValueError(f"compose: circular or unknown depends_on among {[s.name for s in pending]}")
            for svc in ready:
                argv = localize(svc.command[1:], urls)
                progress(f"starting {svc.name}: rampart {' '.join(argv)}")
                proc: ServerProcess = await stack.enter_async_context(spawn(argv, env=env, timeout=300))
                urls[svc.name] = proc.url.rstrip("/")
                mapped = {_container_port(svc.command, "--port"): _hostport(proc.url)}
                admin = next((ln.split()[2] for ln in proc.output if ln.startswith("gateway admin: ")), None)
                if admin:
                    mapped[_container_port(svc.command, "--admin-port")] = _hostport(admin)
                ports[svc.name] = mapped
                started.append(svc.name)
                pending.remove(svc)
        yield urls, ports, started


def _locust_argv(command: Sequence[str], urls: dict[str, str]) -> list[str]:
    """A compose ``locust ...`` command as ``python -m locust ...`` from this checkout."""
    names = {"loadtests/locustfile.py": str(LOCUSTFILE), "locust-master": "127.0.0.1"}
    return [sys.executable, "-m", *(names.get(a, a) for a in localize(command, urls))]


def _container_port(command: Sequence[str], option: str) -> str:
    args = list(command)
    return args[args.index(option) + 1] if option in args else ""


async def run_topology(
    *,
    duration_s: float = 15.0,
    users: int = 8,
    redis_url: str = "redis://127.0.0.1:6379/0",
    compose_file: Path = COMPOSE_FILE,
    workdir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> TopologyResult:
    """Start the compose services as processes, check each health check, run the Locust
    master with its workers (the compose load profile) against the gateway it names."""
    services = load_compose(compose_file)
    master = services["locust-master"]
    worker = services["locust-worker"]
    key_prefix = f"rampart:compose:{uuid.uuid4().hex}:"
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="rampart-compose-")))
        async with _services(services, redis_url, key_prefix, progress) as (urls, ports, started):
            health = {
                name: check(url)
                for name in started
                if (url := _health_url(services[name], ports[name])) is not None
            }
            master_port, web_port = _free_port(), _free_port()
            urls["locust-master"] = f"tcp://127.0.0.1:{master_port}"
            lenv = {**os.environ, **master.environment, "RAMPART_LOOPBACK_ONLY": "1"}
            margv = [
                *_locust_argv(master.command, urls),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(master_port),
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(web_port),
                "--autostart",
                "--autoquit",
                "0",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{duration_s:g}s",
                "--csv",
                str(workdir / "compose"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ]
            progress(f"starting locust-master and {worker.replicas} workers ({users} users, {duration_s:g}s)")
            mproc = await asyncio.create_subprocess_exec(
                *margv, env=lenv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            wargv = [*_locust_argv(worker.command, urls), "--master-port", str(master_port)]
            wenv = {**os.environ, **worker.environment, "RAMPART_LOOPBACK_ONLY": "1"}
            workers = [
                await asyncio.create_subprocess_exec(
                    *wargv, env=wenv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                for _ in range(worker.replicas)
            ]
            try:
                health["locust-master"] = await _healthy_soon(f"http://127.0.0.1:{web_port}/")
                health["locust-worker"] = await _healthy_soon(f"tcp://127.0.0.1:{master_port}")
                _, err = await asyncio.wait_for(mproc.communicate(), duration_s + 90)
            finally:
                for proc in (mproc, *workers):
                    if proc.returncode is None:
                        proc.terminate()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), 15)
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
            stats = workdir / "compose_stats.csv"
            if not stats.exists():
                raise RuntimeError(f"locust master wrote no stats:\n{err.decode()[-2000:]}")
            load = parse_locust_stats(stats, config="compose", duration_s=duration_s, users=users)
            limited = 0.0
            for name in started:
                admin = ports[name].get(_container_port(services[name].command, "--admin-port"))
                if admin:
                    limited += await _metric_total(f"http://{admin}", "rampart_gateway_rate_limited_total")
    await _forget(redis_url, key_prefix)
    return TopologyResult(load=load, started=started, health=health, rate_limited=limited)


async def _healthy_soon(url: str, within_s: float = 30.0) -> str | None:
    """Like a compose health check with retries: None once ``url`` is healthy, else the last problem."""
    problem: str | None = None
    for _ in range(int(within_s / 0.5)):
        problem = await asyncio.to_thread(check, url, timeout=2.0)
        if problem is None:
            return None
        await asyncio.sleep(0.5)
    return problem


async def _forget(redis_url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=prefix + "*"):
            await client.delete(key)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rampart.loadtests.compose_topology", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load (default: 15)")
    parser.add_argument("--users", type=int, default=8, help="Locust users (default: 8)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL (default: local)")
    parser.add_argument("--budget", type=float, default=0.01, help="failure ratio allowed (default: 0.01)")
    args = parser.parse_args(argv)
    result = asyncio.run(run_topology(duration_s=args.duration, users=args.users, redis_url=args.redis))
    r = result.load
    print(
        f"services: {', '.join(result.started)}; health: "
        + ", ".join(f"{k} {'ok' if v is None else v}" for k, v in result.health.items())
    )
    print(
        f"{r.requests} requests, {r.rps:.1f} req/s, p95 {r.p95_ms:g} ms, failures {r.failure_ratio:.2%}, "
        f"rate-limited answers {result.rate_limited:.0f}"
    )
    healthy = all(v is None for v in result.health.values())
    return 0 if healthy and r.requests and r.failure_ratio < args.budget else 3


if __name__ == "__main__":
    sys.exit(main())
