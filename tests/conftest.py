"""Suite-wide fixtures: the loopback socket guard, service and system-package gates."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart import netguard

REQUIRE = os.environ.get("RAMPART_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"

# Child processes (lab, gateway) guard themselves too.
os.environ[netguard.ENV_FLAG] = "1"
netguard.install()


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Fail any test during which something tried to reach a non-loopback address."""
    before = len(netguard.violations)
    yield
    new = netguard.violations[before:]
    if new:
        pytest.fail(f"non-loopback network access attempted: {new}")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need(condition: bool, what: str) -> None:
    """Skip without ``what``; in CI (RAMPART_REQUIRE_SERVICES=1) fail instead."""
    if condition:
        return
    if REQUIRE:
        pytest.fail(f"{what} is required in CI (RAMPART_REQUIRE_SERVICES=1) but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("RAMPART_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    need(_port_open("127.0.0.1", 5432), "PostgreSQL at 127.0.0.1:5432")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    need(_port_open("127.0.0.1", 6379), "Redis at 127.0.0.1:6379")
    return os.environ.get("RAMPART_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def crs_dir() -> Path:
    path = Path(os.environ.get("RAMPART_CRS_DIR", "/usr/share/modsecurity-crs"))
    need((path / "rules").is_dir(), f"OWASP CRS at {path} (apt-get install modsecurity-crs)")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    need(exe is not None, "chromium (apt-get install chromium)")
    assert exe is not None
    return exe


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
