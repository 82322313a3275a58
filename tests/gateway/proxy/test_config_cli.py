"""Configuration sources and errors; the ``rampart gateway`` process and its admin listener."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from rampart.gateway.config import ConfigError, load_settings
from rampart.procs import spawn


def test_priority_cli_over_env_over_file(tmp_path, monkeypatch):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        'upstream = "http://127.0.0.1:1"\nmode = "block"\nthreshold = 9\n'
        "[limits]\nmax_body_bytes = 2048\n[rate_limit]\nenabled = true\n"
        '[[rate_limit.rules]]\nname = "a"\nlimit = 7\nwindow = 10\n'
    )
    monkeypatch.setenv("RAMPART_GATEWAY_THRESHOLD", "12")
    monkeypatch.setenv("RAMPART_GATEWAY_LIMITS__MAX_HEADERS", "50")
    s = load_settings(cfg, mode="detect")
    assert (s.upstream, s.mode, s.threshold) == ("http://127.0.0.1:1", "detect", 12)
    assert (s.limits.max_body_bytes, s.limits.max_headers) == (2048, 50)
    assert [(r.name, r.limit) for r in s.rate_limit.rules] == [("a", 7)]
    assert s.engine_settings().threshold == 12


@pytest.mark.parametrize(
    ("toml", "overrides", "message"),
    [
        ('upstream = "http://x:1"\nuptream = 1\n', {}, r"uptream: unknown key; did you mean 'upstream'\?"),
        (
            'upstream = "http://x:1"\n[limits]\nmax_body_byte = 1\n',
            {},
            r"limits\.max_body_byte: unknown key; did you mean 'max_body_bytes'\?",
        ),
        (
            'upstream = "ftp://x"\n',
            {},
            r"upstream = 'ftp://x': .*http:// or https://.*RAMPART_GATEWAY_UPSTREAM",
        ),
        (
            'upstream = "http://x:1"\n',
            {"engines": "native,bogus"},
            r"engines = .*unknown engine\(s\) \['bogus'\]",
        ),
        (
            'upstream = "http://x:1"\n',
            {"paranoia": 7},
            r"paranoia = 7: Input should be less than or equal to 4",
        ),
        (
            'upstream = "http://x:1"\n[[rate_limit.rules]]\nname = "Bad Name"\nlimit = 1\nwindow = 1\n',
            {},
            r"rate_limit\.rules\[0\]\.name = 'Bad Name': .*lowercase",
        ),
        ('upstream = "http://x:1"\ntrusted_proxies = ["10.0.0.0/8", "nope"]\n', {}, r"'nope' is not an IP"),
        ("upstream = \n", {}, r"not valid TOML"),
    ],
)
def test_errors_name_the_key_and_the_fix(tmp_path, toml, overrides, message):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg, **overrides)


def test_missing_upstream_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"upstream: required"):
        load_settings(None)
    with pytest.raises(ConfigError, match=r"cannot read gateway config"):
        load_settings(tmp_path / "absent.toml", upstream="http://x:1")


async def test_cli_rejects_bad_config_with_exit_2():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rampart.cli",
        "gateway",
        "--upstream",
        "http://127.0.0.1:1",
        "--engine",
        "nope",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"unknown engine(s) ['nope']" in err
    assert b"Traceback" not in err


async def test_gateway_process_serves_proxy_health_and_metrics(upstream, tmp_path):
    audit = tmp_path / "audit.jsonl"
    args = [
        "gateway",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--engine",
        "testing",
        "--mode",
        "block",
        "--harness",
        "--admin-port",
        "0",
        "--audit-log",
        str(audit),
    ]
    async with spawn(args) as gw:
        assert gw.name == "gateway"
        admin_line = next(line for line in gw.output if line.startswith("gateway admin: "))
        admin = admin_line.split()[2]
        async with aiohttp.ClientSession() as session:
            async with session.get(gw.url + "/ok") as resp:
                assert resp.status == 200
            async with session.get(gw.url + "/x?q=%3Cscript%3E", headers={"X-Request-ID": "cli-1"}) as resp:
                assert resp.status == 403
            async with session.get(admin + "/healthz") as resp:
                health = await resp.json()
            async with session.get(admin + "/metrics") as resp:
                metrics = await resp.text()
            async with session.get(gw.url + "/metrics") as resp:
                assert "rampart_gateway" not in await resp.text()  # admin stays off the proxy port
    assert health == {"status": "ok", "mode": "block", "engines": ["testing"], "harness": True}
    assert 'rampart_gateway_requests_total{outcome="blocked"} 1.0' in metrics
    assert 'rampart_gateway_requests_total{outcome="forwarded"} 1.0' in metrics
    assert gw.proc.returncode == 0  # SIGTERM: a clean exit
    assert '"request_id":"cli-1"' in audit.read_text()


@pytest.mark.parametrize(
    ("value", "engines"),
    [("testing,crs", ("testing", "crs")), ('["testing"]', ("testing",)), (" testing ", ("testing",))],
)
def test_list_settings_from_the_environment(monkeypatch, value, engines):
    monkeypatch.setenv("RAMPART_GATEWAY_ENGINES", value)
    monkeypatch.setenv("RAMPART_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,::1")
    s = load_settings(None, upstream="http://127.0.0.1:1")
    assert s.engines == engines
    assert s.trusted_proxies == ("10.0.0.0/8", "::1")


def test_bad_json_in_the_environment_is_a_config_error(monkeypatch):
    monkeypatch.setenv("RAMPART_GATEWAY_RATE_LIMIT__RULES", "[{bad")
    with pytest.raises(ConfigError, match=r"environment values of lists and sections are JSON"):
        load_settings(None, upstream="http://127.0.0.1:1")


def test_the_documented_configuration_is_the_default(tmp_path):
    doc = (Path(__file__).resolve().parents[3] / "docs" / "GATEWAY.md").read_text(encoding="utf-8")
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(doc.split("```toml\n", 1)[1].split("```", 1)[0])
    assert load_settings(cfg) == load_settings(None, upstream="http://127.0.0.1:8000")
