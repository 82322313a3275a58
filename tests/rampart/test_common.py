from __future__ import annotations

import socket

import pytest

from rampart import netguard
from rampart.incidents import Incident, IncidentWriter, read_incidents, redact
from rampart.requestid import ensure_request_id, is_valid_request_id
from rampart.verdicts import format_rasp_header, format_waf_header, parse_verdict_header


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("has space", False),
        ("x\r\nInjected: 1", False),
        ("-leading", False),
    ],
)
def test_request_id_validation(value: str, valid: bool) -> None:
    assert is_valid_request_id(value) is valid
    kept = ensure_request_id(value)
    assert (kept == value) is valid
    assert is_valid_request_id(kept)


def test_verdict_headers_round_trip() -> None:
    waf = parse_verdict_header(format_waf_header("block", 15, ["942100", "942100", "932100"]))
    assert waf is not None
    assert (waf.decision, waf.score, waf.rules) == ("block", 15, ("942100", "932100"))
    rasp = parse_verdict_header(format_rasp_header("detect", ["ssrf"]))
    assert rasp is not None
    assert (rasp.decision, rasp.detections) == ("detect", ("ssrf",))
    assert parse_verdict_header(None) is None
    with pytest.raises(ValueError, match="unknown verdict"):
        parse_verdict_header("maybe; score=1")


@pytest.mark.parametrize(
    ("text", "absent", "present"),
    [
        ('{"username": "bob", "password": "hunter2"}', "hunter2", "bob"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "Authorization"),
        ("token=s3cr3t&q=shoes", "s3cr3t", "q=shoes"),
        ("line1\nInjected\x1b[31m", "\x1b", "\\x1b"),
    ],
)
def test_redact(text: str, absent: str, present: str) -> None:
    out = redact(text)
    assert absent not in out
    assert present in out


def test_redact_truncates() -> None:
    assert len(redact("x" * 10_000, limit=50)) == 50


def test_incident_jsonl_round_trip(tmp_path) -> None:
    writer = IncidentWriter(tmp_path / "inc.jsonl")
    inc = Incident.create(
        request_id="r1",
        layer="rasp",
        engine="sinkguard",
        rule="nosql.operator",
        attack_class="nosql_injection",
        action="block",
        confidence=0.99,
        evidence='{"password": {"$ne": 1}}',
        sink="pymongo",
        operation="find_one",
    )
    writer.write(inc)
    writer.close()
    line = (tmp_path / "inc.jsonl").read_text().strip()
    assert '"class":"nosql_injection"' in line
    back = read_incidents(tmp_path / "inc.jsonl")
    assert back[0].attack_class == "nosql_injection"
    assert back[0].sink == "pymongo"


def test_socket_guard_refuses_non_loopback() -> None:
    before = len(netguard.violations)
    with socket.socket() as s, pytest.raises(netguard.NonLoopbackError):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and never tried
    with pytest.raises(netguard.NonLoopbackError):
        socket.getaddrinfo("example.com", 80)
    assert len(netguard.violations) == before + 2
    del netguard.violations[before:]  # this test's own violations were intended


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("169.254.169.254", False),
        ("10.0.0.1", False),
        ("lab.test", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert netguard.is_loopback_host(host) is loopback


def test_minted_request_ids_are_unique_valid_and_differ_across_processes() -> None:
    import subprocess
    import sys

    from rampart.requestid import mint_request_id

    ids = [mint_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and is_valid_request_id(i) for i in ids)
    other = subprocess.run(
        [sys.executable, "-c", "from rampart.requestid import mint_request_id; print(mint_request_id())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert other[:16] != ids[0][:16]  # each process draws its own random prefix


def test_forked_child_mints_a_different_prefix() -> None:
    import subprocess
    import sys

    # forked in a fresh single-threaded interpreter (pytest's own process has threads)
    script = (
        "import os\n"
        "from rampart.requestid import mint_request_id\n"
        "parent = mint_request_id()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print('child', mint_request_id(), flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent', parent, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    ids = dict(line.split() for line in out.splitlines())
    assert len(ids["child"]) == 32
    assert ids["child"][:16] != ids["parent"][:16]
