"""Supply chain: the lock pins and hashes everything pyproject asks for, the SBOM matches the
lock, the GPL lab database stays out of the gateway's and the guard's way, the licence is there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) from requirements.lock."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8")):
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if m:
            found[canonicalize_name(m[1])] = (m[2], block.count("--hash=sha256:"))
    return found


def _wanted() -> set[str]:
    extras = PYPROJECT["project"]["optional-dependencies"]
    reqs = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for name in ("lab", "fast", "crs", "mitm", "load", "frameworks", "dev"):
        reqs += extras[name]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def test_the_lock_pins_and_hashes_every_requirement() -> None:
    locked = _locked()
    assert len(locked) > 50
    missing = _wanted() - set(locked)
    assert not missing, f"in pyproject.toml, not in requirements.lock: {sorted(missing)} (scripts/lock.sh)"
    unhashed = [name for name, (_, hashes) in locked.items() if hashes == 0]
    assert not unhashed
    assert "rampart" not in locked
    assert "file://" not in LOCK.read_text(encoding="utf-8")


def test_the_locked_versions_satisfy_pyproject() -> None:
    locked = _locked()
    extras = PYPROJECT["project"]["optional-dependencies"]
    for raw in [*PYPROJECT["project"]["dependencies"], *extras["lab"], *extras["crs"], *extras["dev"]]:
        req = Requirement(raw)
        version = locked[canonicalize_name(req.name)][0]
        assert req.specifier.contains(version, prereleases=True), f"{req} vs locked {version}"


def test_the_sbom_lists_exactly_the_locked_packages_and_the_vendored_openssl() -> None:
    bom = json.loads((ROOT / "sbom.cdx.json").read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX"
    listed = {canonicalize_name(c["name"]): c["version"] for c in bom["components"]}
    assert listed == {name: version for name, (version, _) in _locked().items()}, (
        "sbom.cdx.json is stale: run scripts/sbom.sh"
    )
    modsec = next(c for c in bom["components"] if c["name"] == "libmodsecurity")
    assert any(sub["name"] == "openssl" for sub in modsec.get("components", []))


def test_secantusdb_is_only_in_the_lab_extra() -> None:
    core = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "secantusdb" not in core
    assert [Requirement(r).name for r in extras["lab"]] == ["secantusdb"]
    assert "lab" in Requirement(extras["all"][0]).extras


_WITHOUT_SECANTUS = """
import sys
sys.modules["secantus"] = None  # as if SecantusDB were not installed
sys.modules["secantusdb"] = None
import asyncio
import rampart.gateway.app, rampart.gateway.workers.supervisor, rampart.gateway.engines.native.engine
import inprocess, rampart.labapp.app, rampart.loadtests.runner
from rampart.cli import build_parser
build_parser()
from rampart.labapp.stores.mongo import EmbeddedMongo
try:
    asyncio.run(EmbeddedMongo().start())
except RuntimeError as exc:
    print(exc)
"""


def test_gateway_guard_and_cli_import_without_secantusdb() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SECANTUS], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'rampart[lab]'" in done.stdout
    assert "MONGODB_URL" in done.stdout


def test_license_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PYPROJECT["project"]["license"] == "Apache-2.0"


def test_bootstrap_installs_from_the_lock_and_reinstalls_when_it_changes() -> None:
    script = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    assert "cat pyproject.toml requirements.lock | sha256sum" in script
    assert "--require-hashes -r requirements.lock" in script
    assert "--no-deps" in script
