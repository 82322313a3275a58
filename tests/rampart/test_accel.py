"""The compiled native engine (rampart.accel): loaded when current, refused when stale, and
giving the same answers as pure Python on CRS's own regression requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rampart import accel
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]

# Each CRS version's regression requests (every 7th stage of every test, attack and benign)
# through the SecLang engine at paranoia 4, and rampart's full native engine on the same
# requests: per request the score and the rules that matched.
_ANSWERS = textwrap.dedent(
    """
    import json, sys
    from rampart import accel
    from rampart.attacks.ftw.runner import CRS_VERSIONS, load_tests, stage_request, test_settings
    from rampart.gateway.engines import create_engine
    from rampart.gateway.engines.native.seclang.engine import SecLangEngine
    out = {"status": accel.status(), "answers": []}
    for name, version in CRS_VERSIONS.items():
        stages = [s for t in load_tests(version) for s in t.stages][::7]
        with test_settings(version, 4) as settings:
            engines = [SecLangEngine(settings)]
            if name == "3.3.4":
                engines.append(create_engine("native", settings))
            for engine in engines:
                for stage in stages:
                    verdict = engine.inspect(stage_request(stage))
                    out["answers"].append(
                        [verdict.score, sorted(m.rule_id for m in verdict.matches), verdict.error]
                    )
                engine.close()
    json.dump(out, sys.stdout)
    """
)


def _answers(pure: bool) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), accel.PURE_ENV: "1" if pure else "0"}
    done = subprocess.run(
        [sys.executable, "-c", _ANSWERS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_compiled_build_is_loaded_where_it_was_built() -> None:
    need(accel.current(), "a compiled native engine (python -m rampart.accel build; needs a C compiler)")
    assert all(accel.active().values())
    assert accel.status().startswith("compiled")


def test_compiled_and_pure_python_give_the_same_answers() -> None:
    from rampart.attacks.ftw.runner import CRS_VERSIONS

    need(accel.current(), "a compiled native engine (python -m rampart.accel build; needs a C compiler)")
    for version in CRS_VERSIONS.values():
        need(version.tests.is_dir(), f"CRS {version.name}'s regression tests in {version.tests}")
        need((version.crs_dir / "rules").is_dir(), f"CRS {version.name}'s rules in {version.crs_dir}")
    compiled = _answers(pure=False)
    pure = _answers(pure=True)
    assert str(compiled["status"]).startswith("compiled")
    assert str(pure["status"]).startswith("pure Python")
    answers = compiled["answers"]
    assert isinstance(answers, list)
    assert len(answers) > 500
    flagged = [a for a in answers if a[1]]
    assert len(flagged) > len(answers) // 4  # mostly attacks: many match
    assert len(flagged) < len(answers)  # and the benign stages do not
    assert not any(a[2] for a in answers)  # no engine failed open
    assert answers == pure["answers"]


def test_a_stale_build_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stamp that does not name the current source (an edit since the build) turns the
    compiled folders off; so does the environment switch."""
    package = str(ROOT / "gateway" / "engines" / "native" / "seclang")
    monkeypatch.setattr(accel, "_current", False)
    monkeypatch.delenv(accel.PURE_ENV, raising=False)
    assert accel.extend([package], "x") == [package]
    monkeypatch.setattr(accel, "_current", None)
    monkeypatch.setattr(accel, "_digest", lambda: "not the build's digest")
    assert not accel.current()
    assert "pure Python" in accel.status()
    monkeypatch.setattr(accel, "_current", True)
    monkeypatch.setenv(accel.PURE_ENV, "1")
    assert accel.extend([package], "x") == [package]
    assert accel.status() == f"pure Python ({accel.PURE_ENV} is set)"


def test_a_current_build_goes_first_on_the_package_path(monkeypatch: pytest.MonkeyPatch) -> None:
    need(accel.current(), "a compiled native engine (python -m rampart.accel build; needs a C compiler)")
    monkeypatch.delenv(accel.PURE_ENV, raising=False)
    package = str(ROOT / "gateway" / "engines" / "native" / "seclang")
    assert accel.extend([package], "x") == [os.path.join(package, accel.COMPILED), package]
    assert accel.extend([], "x") == []
