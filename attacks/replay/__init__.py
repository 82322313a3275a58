"""The replay harness: send every corpus case through each layer configuration, record
every layer's verdict and the oracle's effects (see :mod:`rampart.attacks.replay.runner`)."""

from rampart.attacks.replay.configs import CONFIGS, LAYERS, LayerConfig, parse_configs
from rampart.attacks.replay.records import LayerVerdict, Record, read_records, write_records
from rampart.attacks.replay.runner import (
    ReplayOptions,
    ReplayResult,
    Targets,
    parse_targets,
    replay,
    select_slice,
)

__all__ = [
    "CONFIGS",
    "LAYERS",
    "LayerConfig",
    "LayerVerdict",
    "Record",
    "ReplayOptions",
    "ReplayResult",
    "Targets",
    "parse_configs",
    "parse_targets",
    "read_records",
    "replay",
    "select_slice",
    "write_records",
]
