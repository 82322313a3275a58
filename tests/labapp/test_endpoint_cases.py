"""The lab's endpoint case file loads, and a bad entry is refused naming file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.labapp.canaries import LabSecrets
from rampart.labapp.endpoint_cases import (
    CASES_FILE,
    EndpointCaseError,
    SecretText,
    UploadDigest,
    load_endpoint_cases,
)

GOOD = """\
benign:
  - {id: ok, method: GET, path: /api/products}
bad_input:
  - {id: bad, method: GET, path: /api/nope, status: 404}
attacks:
  - id: leak
    method: POST
    path: /api/login
    json: {username: admin, password: x}
    json_secrets: {password: admin_password}
    contains: [{secret: admin_profile}, {upload_sha256: report.pdf}, plain]
    effects: [canary_leak]
"""


def test_the_shipped_file_loads_with_unique_ids() -> None:
    cases = load_endpoint_cases()
    assert CASES_FILE.name == "endpoint_cases.yaml"
    assert cases.benign
    assert cases.bad_input
    assert cases.attacks
    ids = [c.id for c in cases.all()]
    assert len(ids) == len(set(ids))
    endpoints = {c.id.split()[0] for c in cases.benign}
    assert {f"L{n}" for n in range(1, 14)} <= endpoints


def test_a_case_builds_its_request_and_expected_text(tmp_path: Path) -> None:
    file = tmp_path / "cases.yaml"
    file.write_text(GOOD, encoding="utf-8")
    leak = load_endpoint_cases(file).attacks[0]
    secrets = LabSecrets.generate()
    assert leak.request_kwargs() == {"json": {"username": "admin", "password": "x"}}
    assert leak.request_kwargs(secrets)["json"]["password"] == secrets.admin_password
    secret, digest, plain = leak.contains
    assert isinstance(secret, SecretText)
    assert secret.text(secrets) == secrets.admin_profile
    assert isinstance(digest, UploadDigest)
    assert len(digest.text(secrets)) == 64
    assert plain == "plain"
    assert leak.effects == {"canary_leak"}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (GOOD.replace("method: GET, path: /api/products", "path: /api/products"), 2, "add the key 'method'"),
        (GOOD.replace("status: 404", "status: 404, statsu: 1"), 4, "remove 'statsu' or fix its spelling"),
        (GOOD.replace("{secret: admin_profile}", "{secret: nope}"), 6, "unknown secret 'nope'; use one of"),
        (GOOD.replace("{upload_sha256: report.pdf}", "{upload_sha256: x.bin}"), 6, "unknown upload 'x.bin'"),
        (GOOD.replace("password: admin_password", "password: nope"), 6, "unknown secret 'nope'"),
        (GOOD.replace("id: bad,", "id: ok,"), 4, "case id 'ok' is already used at line 2; rename one"),
        (GOOD.replace("path: /api/nope", "path: /api/nope, data: x, nested_arrays: 3"), 4, "give one body"),
        (GOOD.replace("bad_input:", "bad_inptu:"), 3, "unknown group 'bad_inptu'"),
        (GOOD.replace("path: /api/products}", "path: [}"), 2, "YAML syntax error"),
    ],
)
def test_a_bad_entry_names_file_line_and_fix(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    file = tmp_path / "cases.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(EndpointCaseError) as err:
        load_endpoint_cases(file)
    assert str(err.value).startswith(f"{file}:{line}: ")
    assert fragment in str(err.value)
    assert err.value.line == line


def test_missing_file_and_missing_group(tmp_path: Path) -> None:
    with pytest.raises(EndpointCaseError, match="cannot read the file"):
        load_endpoint_cases(tmp_path / "none.yaml")
    file = tmp_path / "cases.yaml"
    file.write_text(GOOD.split("bad_input:", maxsplit=1)[0], encoding="utf-8")
    with pytest.raises(EndpointCaseError, match="missing group"):
        load_endpoint_cases(file)
