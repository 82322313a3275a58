"""The sink guard in real Flask and Starlette apps (served on loopback, ``rampart.inprocess.install``
in block mode): every spelling of an internal destination is refused before the connection,
redirects from an allowed host included; benign outbound calls to an allowed host, and
handlers that make the interpreter compile text (logged tracebacks, dataclasses, pydantic
models, templates) pass; the other injection sinks block."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import peer_flask, peer_starlette
from benchmarks.peer_serve import PARTNER_PAGE, SECRET, Simulator, serve_asgi, serve_wsgi, start_simulator
from benchmarks.peer_sinks import Sinks, install_hosts
from rampart import inprocess
from rampart.incidents import read_incidents
from rampart.inprocess import guard as guard_module
from rampart.inprocess.config import load_settings
from rampart.inprocess.install import deactivate

pytestmark = pytest.mark.timeout(120)

# The suite's netguard refuses to resolve names it cannot prove loopback, odd IPv4 spellings
# included: the table answers them (as the system resolver would) below the guard's hook,
# which still sees the spelling the client asked for.
HOSTS = {
    name: "127.0.0.1"
    for name in ("partner.lab.test", "localtest.lab.test", "2130706433", "0x7f000001", "0177.0.0.1", "127.1")
}


@dataclass
class Peer:
    kind: str
    client: httpx.Client
    sim: Simulator
    incidents: Path
    guard: guard_module.Guard

    def incidents_read(self) -> list[Any]:
        return read_incidents(self.incidents) if self.incidents.exists() else []

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = start_simulator()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from secantus import SecantusDBServer

    storage = str(tmp_path_factory.mktemp("peer-mongo"))
    server = SecantusDBServer(port=0, storage_path=storage, replica_set_name=None)
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(params=["flask", "starlette"])
def peer(request: pytest.FixtureRequest, tmp_path: Path, sim: Simulator, mongo_uri: str) -> Iterator[Peer]:
    restore = install_hosts(HOSTS)
    incidents = tmp_path / "incidents.jsonl"
    allow = {"ssrf": {"options": {"allow_hosts": ["partner.lab.test"]}}}
    settings = load_settings(mode="block", detectors=allow)
    sinks = Sinks(tmp_path / "work", mongo_uri=mongo_uri)
    app = peer_flask.create_app(sinks) if request.param == "flask" else peer_starlette.create_app(sinks)
    guarded = inprocess.install(app, settings=settings, incidents_path=incidents)
    served = serve_wsgi(guarded) if request.param == "flask" else serve_asgi(guarded)
    active = guard_module.active()
    assert active is not None
    sim.hits.clear()
    with httpx.Client(base_url=served.base, timeout=20) as client:
        yield Peer(request.param, client, sim, incidents, active)
    served.stop()
    deactivate(active)
    restore()
    assert guard_module.active() is None


def spellings(port: int) -> list[str]:
    """Internal destinations as attackers spell them (all reach the simulator on loopback)."""
    return [
        f"http://127.0.0.1:{port}/admin",
        f"http://localhost:{port}/admin",
        f"http://LocalHost:{port}/admin",
        f"http://LOCALHOST:{port}/admin",
        f"http://localtest.lab.test:{port}/admin",  # a hosts-file name for loopback
        f"http://2130706433:{port}/admin",
        f"http://0x7f000001:{port}/admin",
        f"http://0177.0.0.1:{port}/admin",
        f"http://127.1:{port}/admin",
        f"http://%6c%6f%63%61%6c%68%6f%73%74:{port}/admin",
        f"http://[::ffff:127.0.0.1]:{port}/admin",
        f"http://partner.lab.test@localhost:{port}/admin",
        f"http://partner.lab.test:{port}/redirect?to=http://localhost:{port}/admin",
        f"http://partner.lab.test:{port}/redirect?to=http://2130706433:{port}/admin",
        f"http://partner.lab.test:{port}/bounce",  # the server picks the internal target
    ]


@pytest.mark.parametrize("route", ["/fetch", "/fetch-httpx"])
def test_every_spelling_of_an_internal_destination_is_refused(peer: Peer, route: str) -> None:
    peer.sim.bounce_to[:] = [f"http://LocalHost:{peer.sim.port}/admin"]
    # httpx itself rejects an octal host and resolves a percent-encoded one undecoded (no
    # such name): neither can reach anything through it
    unusable = ("0177.0.0.1", "%6c%6f") if route == "/fetch-httpx" else ()
    unblocked = []
    for url in spellings(peer.sim.port):
        if any(u in url for u in unusable):
            continue
        response = peer.get(route, url=url)
        assert SECRET not in response.text, url
        if response.status_code != 403:
            unblocked.append((url, response.status_code))
    assert unblocked == []
    assert "/admin" not in peer.sim.hits
    assert all(i.attack_class == "ssrf" for i in peer.incidents_read())


@pytest.mark.parametrize("route", ["/fetch", "/fetch-httpx"])
def test_allowed_partner_host_is_fetched(peer: Peer, route: str) -> None:
    response = peer.get(route, url=f"http://partner.lab.test:{peer.sim.port}/ok")
    assert response.status_code == 200
    assert PARTNER_PAGE in response.text
    response = peer.get(route, url=f"http://partner.lab.test:{peer.sim.port}/redirect?to=/ok")
    assert response.status_code == 200
    assert peer.incidents_read() == []


def test_redirect_incident_names_the_chain(peer: Peer) -> None:
    peer.sim.bounce_to[:] = [f"http://2130706433:{peer.sim.port}/admin"]
    assert peer.get("/fetch", url=f"http://partner.lab.test:{peer.sim.port}/bounce").status_code == 403
    [incident] = peer.incidents_read()
    assert "redirect" in incident.message


BENIGN: list[tuple[str, dict[str, Any]]] = [
    ("/log", {"count": "count"}),  # traceback formatting compiles the line `int(count)`
    ("/log", {"count": "abc"}),
    ("/model", {"field": "name", "value": "name"}),  # make_dataclass / pydantic compile `name`
    ("/model", {"field": "count", "value": "int(count) * 2"}),
    ("/page", {"title": "items", "item": ["item", "upper"]}),  # jinja compiles `item | upper`
    ("/greet", {"name": "Bob"}),
    ("/calc", {"expr": "round(2.5 * 4) + 1"}),
    ("/sql", {"name": "apple"}),
    ("/file", {"name": "readme.txt"}),
    ("/shell", {"host": "example.test"}),
]


@pytest.mark.parametrize(("path", "params"), BENIGN)
def test_benign_requests_pass_in_block_mode(peer: Peer, path: str, params: dict[str, Any]) -> None:
    response = peer.get(path, **params)
    assert response.status_code == 200, response.text
    assert peer.incidents_read() == []


ATTACKS: list[tuple[str, dict[str, Any], str]] = [
    ("/sql", {"name": "x' OR '1'='1"}, "sql_injection"),
    ("/shell", {"host": "example.test; id"}, "command_injection"),
    ("/file", {"name": "../secret.txt"}, "path_traversal"),
    ("/greet", {"name": "{{ cycler.__init__.__globals__ }}"}, "ssti"),
    ("/greet", {"name": "{% set x = 7 * 7 %}{{ x }}"}, "ssti"),
    ("/calc", {"expr": "__import__('os').getcwd()"}, "code_injection"),
]


@pytest.mark.parametrize(("path", "params", "attack_class"), ATTACKS)
def test_injections_are_blocked(peer: Peer, path: str, params: dict[str, Any], attack_class: str) -> None:
    response = peer.get(path, **params)
    assert response.status_code == 403, response.text
    assert [i.attack_class for i in peer.incidents_read()][:1] == [attack_class]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/yaml", "!!python/object/apply:os.getcwd []"),
        ("/pickle", base64.b64encode(pickle.dumps(print, protocol=2)).decode()),
    ],
)
def test_unsafe_deserialization_is_blocked(peer: Peer, path: str, body: str) -> None:
    response = peer.client.post(path, content=body)
    assert response.status_code == 403, response.text


def test_extraction_error_fails_open(peer: Peer) -> None:
    class Exploding:
        def as_string(self, context: Any) -> str:
            raise RuntimeError("as_string broke")

    import psycopg

    before = peer.guard.errors
    cursor_cls: Any = psycopg.Cursor
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the driver's own error, not ours
        cursor_cls.execute(object.__new__(cursor_cls), Exploding())
    assert "as_string broke" not in str(raised.value)
    assert peer.guard.errors == before + 1


def test_mongo_login(peer: Peer) -> None:
    good = {"username": "alice", "password": "wonderland"}
    assert peer.client.post("/mongo/login", json=good).json() == {"ok": True}
    bypass = {"username": "alice", "password": {"$ne": ""}}
    assert peer.client.post("/mongo/login", json=bypass).status_code == 403
    assert [i.attack_class for i in peer.incidents_read()] == ["nosql_injection"]
