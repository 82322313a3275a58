"""``rampart demo`` end to end on a corpus slice with the real lab, gateway and guard:
it writes the three report files, results.json has docs/CONTRACTS.md's keys, and every process it
started is gone when it returns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.attacks.replay.procscan import TAG_VAR, tagged_pids

pytestmark = [pytest.mark.slow]

SUITE = Path(__file__).resolve().parents[2] / "attacks" / "importers" / "data" / "gotestwaf"


def test_demo_on_a_slice(tmp_path: Path) -> None:
    out = tmp_path / "report"
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG_VAR: tag, "RAMPART_LOOPBACK_ONLY": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rampart.cli",
            "demo",
            "--limit-per-class",
            "2",
            "--benign-limit",
            "12",
            "--configs",
            "none,waf,rasp,waf+rasp",
            "--no-load",
            "--suite",
            str(SUITE),
            "--concurrency",
            "8",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert tagged_pids(tag) == [], "the demo left processes behind"
    for name in ("index.html", "summary.md", "results.json"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert set(results["corpus"]) >= {"attack", "benign", "base_payloads", "classes"}
    assert set(results["configs"]) == {"none", "waf", "rasp", "waf+rasp"}
    for cfg in results["configs"].values():
        assert set(cfg["attacks"]) >= {"caught", "total"}
        assert set(cfg["working_exploits"]) >= {"stopped", "total"}
        assert set(cfg["benign"]) >= {"flagged", "total"}
        for pc in cfg["per_class"].values():
            assert set(pc) >= {"caught", "total", "stopped", "working"}
    assert "working exploits stopped" in proc.stdout
    assert "waf+rasp" in proc.stdout
    # the imported suite is replayed beside the corpus and read per source
    assert next(iter(results["sources"])) == "rampart"
    assert {"gotestwaf:owasp", "gotestwaf:false-pos"} <= set(results["sources"])
    assert "## Per corpus source" in (out / "summary.md").read_text()
    assert "load comparison skipped" in proc.stdout


def test_demo_bad_option_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rampart.cli", "demo", "--configs", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown configuration" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


# Starts a command the way a terminal does, with Ctrl-C at its default and not blocked: a
# process started with SIGINT ignored keeps ignoring it (Python then installs no handler), and
# something earlier in the full test run leaves this process with SIGINT ignored.
_AS_FROM_A_TERMINAL = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def test_demo_ctrl_c_stops_everything(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG_VAR: tag, "RAMPART_LOOPBACK_ONLY": "1"}
    demo = ["-m", "rampart.cli", "demo", "--quick", "--no-load", "--out", str(tmp_path / "r")]
    argv = [sys.executable, "-c", _AS_FROM_A_TERMINAL, *demo]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(tagged_pids(tag)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(tagged_pids(tag)) >= 2, "the demo never started its servers"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-2000:]
    assert "interrupted" in out
    assert tagged_pids(tag) == []
