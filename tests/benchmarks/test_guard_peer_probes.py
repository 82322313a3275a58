"""The peer benchmark's probes: built from the corpus, and SSRF probes only ever aim at the
loopback simulator (every host, spelled as the payload spelled it, denotes loopback)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from benchmarks.guard_peer_apps import (
    _UNREACHABLE,
    _URL_PREFIX,
    ALLOWED,
    HOSTS,
    _process,
    _send,
    benign,
    probes,
)
from rampart.inprocess.detectors.ssrf import canonical_host, parse_ip

PORT = 40123


def _denotes_loopback(url: str) -> bool:
    parts = urlsplit(url)
    name = canonical_host(parts.hostname or "")
    if name in ALLOWED:
        inner = parse_qs(parts.query).get("to", [""])[0]
        return parts.path in ("/redirect", "/bounce", "/ok") and (not inner or _denotes_loopback(inner))
    ip = parse_ip(HOSTS.get(name, name))
    return ip is not None and (ip.is_loopback or ip.is_unspecified) and parts.port == PORT


def test_every_ssrf_probe_stays_on_loopback() -> None:
    ssrf = [p for p in probes(PORT) if p.attack_class == "ssrf"]
    assert len(ssrf) > 30
    for probe in ssrf:
        assert probe.params is not None
        assert _denotes_loopback(probe.params["url"]), probe.case


def test_probes_cover_the_corpus_classes_the_apps_expose() -> None:
    classes = {p.attack_class for p in probes(PORT)}
    assert classes == {
        "sql_injection",
        "command_injection",
        "path_traversal",
        "ssti",
        "code_injection",
        "deserialization",
        "nosql_injection",
        "ssrf",
    }
    assert any(p.case.startswith("ssrf.l6.redirect") for p in probes(PORT))


def test_benign_probes_reach_every_route_family() -> None:
    paths = {p.path for p in benign(PORT)}
    assert {"/log", "/model", "/page", "/fetch", "/fetch-httpx", "/mongo/login"} <= paths


def test_app_process_url_is_found_after_a_protections_own_output() -> None:
    """A protection that prints to stdout first (Aikido Zen logs there) does not become the URL."""
    script = (
        "import time; print('Zen: 13:31:18 | WARNING | no token', flush=True); "
        f"print({_URL_PREFIX!r} + 'http://127.0.0.1:1', flush=True); time.sleep(30)"
    )
    with _process(["-c", script]) as url:
        assert url == "http://127.0.0.1:1"


def test_a_refused_connection_is_not_counted_as_a_stop() -> None:
    with httpx.Client(base_url="http://127.0.0.1:1", timeout=2) as client:
        answer = _send(client, benign(PORT)[0])
    assert answer.status_code == _UNREACHABLE
