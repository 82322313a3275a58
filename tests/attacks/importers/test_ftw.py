"""go-ftw files (CRS's regression tests) as cases: labels, classes, placement; the real suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.attacks.ftw.runner import shared_crs
from rampart.attacks.importers import SuiteImportError, detect_suite_format, import_any
from rampart.attacks.importers.ftw import import_ftw, version_of
from tests.conftest import need

FTW = """\
---
meta:
  author: rampart tests
  enabled: true
  name: 942999.yaml
tests:
  - test_title: 942999-1
    desc: SQL injection in a query parameter
    stages:
      - stage:
          input:
            dest_addr: 127.0.0.1
            port: 80
            uri: "/?var=1%27%20OR%20%271%27=%271"
            headers:
              Host: localhost
              User-Agent: "OWASP CRS test agent"
          output:
            log_contains: id "942999"
  - test_title: 942999-2
    desc: SQL injection in a form body with a cookie
    stages:
      - stage:
          input:
            method: POST
            uri: /
            headers:
              Host: localhost
              Cookie: session=abc
              Content-Type: application/x-www-form-urlencoded
            data: "a=1&b=2 UNION SELECT 1"
          output:
            log_contains: id "942999"
  - test_title: 942999-3
    desc: this variant must not match 942999
    stages:
      - stage:
          input:
            uri: "/?var=select%20union"
          output:
            no_log_contains: id "942999"
  - test_title: 942999-4
    desc: "FP: plain prose with the word select"
    stages:
      - stage:
          input:
            uri: "/?q=please%20select%20a%20size"
          output:
            no_log_contains: id "942999"
  - test_title: 942999-5
    desc: raw request
    stages:
      - stage:
          input:
            raw_request: "GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n"
          output:
            log_contains: id "942999"
"""


def _crs_tests(version: str) -> Path:
    """CRS's regression tests: ``../shared/crs`` beside the repository (CI), or RAMPART_SHARED_CRS."""
    path = shared_crs() / version / "tests" / "regression" / "tests"
    if path.is_dir():
        return path
    need(False, f"CRS {version} regression tests in ../shared/crs/{version}")
    raise AssertionError("unreachable")


def test_stages_become_labelled_placed_cases(tmp_path: Path) -> None:
    folder = tmp_path / "v9.9.9" / "REQUEST-942"
    folder.mkdir(parents=True)
    (folder / "942999.yaml").write_text(FTW, encoding="utf-8")
    assert detect_suite_format(tmp_path / "v9.9.9") == "ftw"
    result = import_ftw(tmp_path / "v9.9.9")
    by_title = {c.id.split("-")[3]: c for c in result.cases}
    assert {c.source for c in result.cases} == {"crs-ftw:9.9.9"}
    one = by_title["1"]
    assert one.label == "attack"
    assert one.attack_class == "sql_injection"
    assert one.endpoint == "L4"
    assert one.request.raw_query == "item=1%27%20OR%20%271%27=%271"
    assert one.expect is not None
    assert one.expect.oracle == "canary_leak"
    assert "crs-rule:942999" in one.tags
    two = by_title["2"]  # two parameters and a cookie: kept as CRS wrote it, flag-only
    assert two.endpoint == "external"
    assert two.expect is None
    assert two.request.cookies == {"session": "abc"}
    assert two.request.body == "a=1&b=2 UNION SELECT 1"
    four = by_title["4"]
    assert four.label == "benign"
    assert four.attack_class is None
    assert "3" not in by_title
    assert "5" not in by_title
    reasons = "\n".join(result.skipped)
    assert "942999-3 stage 1: expects no rule (must stay silent: 942999)" in reasons
    assert "942999-5 stage 1: given as raw bytes" in reasons


def test_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tests:\n  - test_title: x\n    stages: 3\n", encoding="utf-8")
    with pytest.raises(SuiteImportError, match=r"bad\.yaml"):
        import_any(bad, "ftw")
    with pytest.raises(SuiteImportError, match="no such"):
        import_ftw(tmp_path / "missing")
    assert version_of(tmp_path / "v4.28.0" / "x") == "4.28.0"


@pytest.mark.parametrize("version", ["v3.3.4", "v4.28.0"])
def test_crs_regression_suites_import(version: str) -> None:
    result = import_any(_crs_tests(version))
    cases = result.cases
    assert len(cases) > 2000
    assert {c.source for c in cases} == {f"crs-ftw:{version[1:]}"}
    graded = [c for c in cases if c.graded]
    assert {c.attack_class for c in graded} >= {"sql_injection", "ssrf", "xss"}
    assert all(c.endpoint != "external" for c in graded)
    assert sum(c.label == "benign" for c in cases) > 20
    assert len({c.id for c in cases}) == len(cases)
    # every stage is accounted for: a case or a skipped line with its reason
    from rampart.attacks.ftw import load_dir

    stages = sum(len(t.stages) for t in load_dir(_crs_tests(version)))
    assert len(cases) + len(result.skipped) == stages
