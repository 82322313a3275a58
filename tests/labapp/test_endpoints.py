"""L1-L13 against a real lab: benign use works, a working exploit produces its effect.

The cases come from ``labapp/endpoint_cases.yaml``; ``Case`` is their test-side form (the
sink guard's tests build a few more of their own)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from rampart import netguard
from rampart.labapp.canaries import LabSecrets
from rampart.labapp.endpoint_cases import EndpointCase, Expected, load_endpoint_cases

MARKER = "rmp1337x"
_META = "/latest/meta-data/iam/security-credentials/lab-role"


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    contains: tuple[str | Callable[[LabSecrets], str], ...] = ()
    absent: tuple[str | Callable[[LabSecrets], str], ...] = ()
    effects: frozenset[str] = frozenset()
    json_secrets: dict[str, str] = field(default_factory=dict)  # JSON field -> lab secret sent there


def _expected(item: Expected) -> str | Callable[[LabSecrets], str]:
    return item if isinstance(item, str) else item.text


def _case(data: EndpointCase) -> Case:
    return Case(
        data.id,
        data.method,
        data.path,
        data.request_kwargs(),
        data.status,
        contains=tuple(_expected(x) for x in data.contains),
        absent=tuple(_expected(x) for x in data.absent),
        effects=data.effects,
        json_secrets=dict(data.json_secrets),
    )


# the table itself is data: labapp/endpoint_cases.yaml
_CASES = load_endpoint_cases()
BENIGN = [_case(c) for c in _CASES.benign]
BAD_INPUT = [_case(c) for c in _CASES.bad_input]
ATTACKS = [_case(c) for c in _CASES.attacks]


def _text(item: str | Callable[[LabSecrets], str], secrets: LabSecrets) -> str:
    return item if isinstance(item, str) else item(secrets)


async def _run(client: Any, lab: Any, case: Case) -> None:
    kwargs = json.loads(json.dumps(case.kwargs))
    for name, secret in case.json_secrets.items():
        kwargs["json"][name] = getattr(lab.secrets, secret)
    status, text, rid, _ = await client.send(case.method, case.path, **kwargs)
    assert status == case.status, text
    for item in case.contains:
        assert _text(item, lab.secrets) in text
    for item in case.absent:
        assert _text(item, lab.secrets) not in text
    assert await client.kinds(rid) == set(case.effects)
    if status >= 400:
        assert "error" in json.loads(text)
        assert "Traceback" not in text


@pytest.mark.parametrize("case", BENIGN, ids=lambda c: c.id)
async def test_benign(client, lab, case: Case):
    await _run(client, lab, case)


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda c: c.id)
async def test_bad_input_is_a_clean_4xx(client, lab, case: Case):
    await _run(client, lab, case)


@pytest.mark.parametrize("case", ATTACKS, ids=lambda c: c.id)
async def test_exploit_has_its_effect(client, lab, case: Case):
    before = len(netguard.violations)
    await _run(client, lab, case)
    assert netguard.violations[before:] == []


async def test_markers_are_computed_not_reflected(client):
    """The payload text itself never contains the marker."""
    for case in ATTACKS:
        if MARKER in [c for c in case.contains if isinstance(c, str)]:
            assert MARKER not in json.dumps(case.kwargs) + case.path


async def test_ssrf_records_the_virtual_destination(client):
    before = len(netguard.violations)
    _, _, rid, _ = await client.send("GET", "/api/preview", params={"url": "http://2852039166" + _META})
    async with client.session.get(f"{client.base}/__lab/effects", params={"request_id": rid}) as resp:
        body = await resp.json()
    (contact,) = [e for e in body["effects"] if e["kind"] == "internal_contact"]
    assert contact["detail"]["address"] == "169.254.169.254"
    assert contact["detail"]["place"] == "metadata"
    assert [o["address"] for o in body["outbound"]] == ["169.254.169.254"]
    assert netguard.violations[before:] == []


async def test_redirect_chain_is_recorded_hop_by_hop(client):
    _, _, rid, _ = await client.send(
        "GET",
        "/api/preview",
        params={"url": "http://partner.lab.test/redirect?to=http://internal-api.lab.test/"},
    )
    async with client.session.get(f"{client.base}/__lab/effects", params={"request_id": rid}) as resp:
        body = await resp.json()
    assert [(o["host"], o["place"]) for o in body["outbound"]] == [
        ("partner.lab.test", "public"),
        ("internal-api.lab.test", "private"),
    ]


async def test_stored_payload_renders_unescaped(client):
    payload = "<svg onload=alert(document.domain)>"
    status, _, rid, _ = await client.send(
        "POST", "/api/comments", json={"text": payload, "author": "mallory"}
    )
    assert status == 201
    assert await client.kinds(rid) == {"stored_payload"}
    status, page, _, headers = await client.send("GET", "/comments")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert f"<b>mallory</b>: {payload}</li>" in page


async def test_reset_clears_comments_and_effects(client):
    _, _, rid, _ = await client.send("POST", "/api/comments", json={"text": "<script>x()</script>"})
    assert await client.kinds(rid) == {"stored_payload"}
    status, _, _, _ = await client.send("POST", "/__lab/reset")
    assert status == 200
    assert await client.kinds(rid) == set()
    _, page, _, _ = await client.send("GET", "/comments")
    assert "<script>x()</script>" not in page


async def test_request_id_minted_when_missing_or_invalid(http, lab):
    for sent in (None, "bad id with spaces"):
        headers = {"X-Request-ID": sent} if sent else {}
        async with http.get(lab.url + "/greet", headers=headers) as resp:
            rid = resp.headers["X-Request-ID"]
            assert rid
            assert rid != sent
            assert " " not in rid


async def test_health_and_index(client):
    status, text, _, _ = await client.send("GET", "/__lab/health")
    assert status == 200
    assert json.loads(text)["status"] == "ok"
    status, text, _, _ = await client.send("GET", "/")
    assert status == 200
    assert "Vulnerable by design" in text
    assert "/api/login" in text


async def test_every_secret_is_distinct_and_random(lab):
    tokens = list(lab.secrets.canaries().values())
    assert len(set(tokens)) == len(tokens)
    assert all(t.startswith("rmpsecret-") and len(t) > 20 for t in tokens)
    assert (lab.data_dir / "secret.txt").read_text().strip().endswith(lab.secrets.secret_file)
