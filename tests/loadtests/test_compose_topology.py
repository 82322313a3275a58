"""The compose stack: its commands parse with the real CLIs, every service is health-checked,
the image is non-root and installs from the lock, and the topology runs as processes."""

from __future__ import annotations

import argparse
import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rampart.cli import build_parser
from rampart.gateway.cli import _overrides, _settings
from rampart.loadtests.clients import client_address
from rampart.loadtests.compose_topology import COMPOSE_FILE, load_compose, localize, run_topology

DOCKERFILE = COMPOSE_FILE.with_name("Dockerfile")
SERVICES = load_compose()


# Locust is parsed in a child: importing it here would monkey-patch this process with gevent.
_LOCUST_PARSE = (
    "import sys; from locust.argument_parser import parse_options; "
    "o = parse_options(args=sys.argv[1:]); print(o.locustfile)"
)


def _parse(command: tuple[str, ...]) -> argparse.Namespace | None:
    """Run a compose command line through the real parser of its program (SystemExit on error)."""
    program, *args = command
    if program == "rampart":
        return build_parser().parse_args(args)
    if program == "locust":
        done = subprocess.run(
            [sys.executable, "-c", _LOCUST_PARSE, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"locust {' '.join(args)}: {done.stderr.strip().splitlines()[-1:]}")
        return None
    raise AssertionError(f"unknown program {program!r}")


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if s.image is None))
def test_every_command_parses_with_the_real_cli(name: str) -> None:
    args = _parse(SERVICES[name].command)
    if SERVICES[name].command[1:2] == ("gateway",):
        assert args is not None
        settings = _settings(args.config, _overrides(args))
        assert settings.rate_limit.enabled
        assert settings.rate_limit.store.startswith("redis://")
        assert settings.workers >= 2
        assert settings.admin_port is not None


def test_a_wrong_option_in_a_command_is_caught() -> None:
    with pytest.raises(SystemExit):
        _parse(("rampart", "gateway", "--upstream", "http://lab:8000", "--wokers", "2"))
    with pytest.raises(SystemExit):
        _parse(("locust", "-f", "loadtests/locustfile.py", "--mastr"))


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check(name: str) -> None:
    test = SERVICES[name].healthcheck
    assert test, f"{name} has no healthcheck"
    assert test[0] == "CMD"


def test_gateway_health_checks_hit_the_admin_port_they_open() -> None:
    for svc in SERVICES.values():
        if svc.command[1:2] == ("gateway",):
            admin = svc.command[svc.command.index("--admin-port") + 1]
            assert svc.healthcheck[-1] == f"http://127.0.0.1:{admin}/healthz"


def test_image_is_non_root_has_a_healthcheck_and_installs_from_the_lock() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    users = re.findall(r"(?m)^USER\s+(\S+)", text)
    assert users
    assert users[-1] not in ("root", "0")
    assert re.search(r"(?m)^HEALTHCHECK\b", text)
    assert "--require-hashes -r requirements.lock" in text
    assert re.search(r"pip install [^\n]*--no-deps", text)
    assert (COMPOSE_FILE.parent.parent / "requirements.lock").is_file()


def test_localize_keeps_commands_on_loopback() -> None:
    cmd = SERVICES["gateway-native"].command[1:]
    local = localize(cmd, {"lab": "http://127.0.0.1:4321", "redis": "redis://127.0.0.1:6379"})
    assert "0.0.0.0" not in local
    assert local[local.index("--upstream") + 1] == "http://127.0.0.1:4321"
    assert local[local.index("--rate-limit-store") + 1] == "redis://127.0.0.1:6379/0"
    assert local[local.index("--port") + 1] == "0"
    assert local[local.index("--trusted-proxy") + 1] == "127.0.0.1/32"


def test_paced_clients_are_distinct_benchmark_addresses() -> None:
    net = ipaddress.ip_network("198.18.0.0/15")
    addresses = [client_address(n) for n in range(0, 140_000, 7)]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in net for a in addresses)


@pytest.mark.slow
async def test_the_compose_topology_runs_as_processes_under_one_percent_failures(
    redis_url: str, tmp_path: Path
) -> None:
    result = await run_topology(
        duration_s=8, users=6, redis_url=redis_url, workdir=tmp_path, progress=lambda _: None
    )
    assert set(result.started) == {"lab", "gateway-native", "gateway-crs"}
    assert result.health == dict.fromkeys(
        ("lab", "gateway-native", "gateway-crs", "locust-master", "locust-worker")
    )
    assert result.load.requests > 30
    assert result.load.failure_ratio < 0.01
    assert (tmp_path / "compose_stats.csv").is_file()
