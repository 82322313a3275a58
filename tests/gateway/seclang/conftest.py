"""Shared helpers for the SecLang operator and transformation tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.seclang.operators import Operator, OperatorContext, get


@pytest.fixture
def context(tmp_path: Path) -> OperatorContext:
    return OperatorContext(tmp_path)


def build(name: str, argument: str, base_dir: Path | None = None) -> Operator:
    """The operator ``@name argument`` for a rule file in ``base_dir`` (default: here)."""
    return get(name)(argument, OperatorContext(base_dir or Path(__file__).parent))
