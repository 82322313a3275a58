"""go-ftw regression tests (the format OWASP CRS ships its own tests in): a pure reader
(:mod:`rampart.attacks.ftw.reader`) and a runner that replays them through an inspection engine
(:mod:`rampart.attacks.ftw.runner`, ``python -m rampart.attacks.ftw``)."""

from rampart.attacks.ftw.reader import (
    FtwFormatError,
    FtwOverride,
    FtwStage,
    FtwTest,
    apply_overrides,
    load_dir,
    load_file,
    load_overrides,
)

__all__ = [
    "FtwFormatError",
    "FtwOverride",
    "FtwStage",
    "FtwTest",
    "apply_overrides",
    "load_dir",
    "load_file",
    "load_overrides",
]
