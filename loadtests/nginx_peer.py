"""nginx + ModSecurity v3 + OWASP CRS as the perimeter peer for throughput comparisons.

Debian's ``nginx`` with ``libnginx-mod-http-modsecurity`` and ``modsecurity-crs``: one worker,
loopback only, everything (config, pid, logs, temp) in a private temp folder, stopped with
the context manager. ``crs=False`` gives bare nginx, the ceiling of any reverse proxy here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["MODULE", "available", "nginx_conf", "start_nginx_peer"]

MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
CRS_DIR = Path("/usr/share/modsecurity-crs")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")


def available(*, crs: bool = True) -> str | None:
    """None when the peer can run, else what is missing."""
    if shutil.which("nginx") is None:
        return "nginx (apt-get install nginx)"
    if crs and not MODULE.exists():
        return "libnginx-mod-http-modsecurity"
    if crs and not (CRS_DIR / "rules").is_dir():
        return "modsecurity-crs"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def modsec_conf(paranoia: int = 1) -> str:
    """Engine on, request bodies (JSON too), CRS at ``paranoia`` without REQUEST-910 (GeoIP)."""
    rules = sorted(p for p in (CRS_DIR / "rules").glob("*.conf") if "REQUEST-910-" not in p.name)
    lines = [
        "SecRuleEngine On",
        "SecRequestBodyAccess On",
        "SecRequestBodyLimit 1048576",
        "SecRequestBodyNoFilesLimit 1048576",
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" '
        '"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"',
        "SecAuditEngine Off",
        f"Include {CRS_SETUP}",
        f'SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={paranoia}"',
        *(f"Include {p}" for p in rules),
    ]
    return "\n".join(lines) + "\n"


def nginx_conf(root: Path, *, port: int, upstream: str, crs: bool) -> str:
    host_port = upstream.split("://", 1)[-1].rstrip("/")
    modsec = (
        f"        modsecurity on;\n        modsecurity_rules_file {root / 'modsec.conf'};\n" if crs else ""
    )
    load = f"load_module {MODULE};\n" if crs else ""
    return f"""{load}worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root / "body"};
    proxy_temp_path {root / "proxy"};
    fastcgi_temp_path {root / "fastcgi"};
    uwsgi_temp_path {root / "uwsgi"};
    scgi_temp_path {root / "scgi"};
    upstream app {{ server {host_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
{modsec}        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextlib.asynccontextmanager
async def start_nginx_peer(upstream: str, *, crs: bool = True, paranoia: int = 1) -> AsyncIterator[str]:
    """Run nginx (with CRS when ``crs``) in front of ``upstream``; yields its URL."""
    missing = available(crs=crs)
    if missing:
        raise RuntimeError(f"nginx peer unavailable: missing {missing}")
    with tempfile.TemporaryDirectory(prefix="rampart-nginx-") as tmp:
        root = Path(tmp)
        port = _free_port()
        (root / "modsec.conf").write_text(modsec_conf(paranoia), encoding="utf-8")
        conf = root / "nginx.conf"
        conf.write_text(nginx_conf(root, port=port, upstream=upstream, crs=crs), encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            "nginx",
            "-p",
            str(root),
            "-c",
            str(conf),
            "-g",
            "daemon off;",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            await _wait_listening(port, proc, root)
            yield f"http://127.0.0.1:{port}"
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGQUIT)
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()


async def _wait_listening(port: int, proc: asyncio.subprocess.Process, root: Path) -> None:
    for _ in range(200):  # CRS takes a moment to load
        if proc.returncode is not None:
            log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
            raise RuntimeError(f"nginx exited ({proc.returncode}): {log[-2000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("nginx did not start listening within 10 s")
