"""Mutators: encoders (pure ``str -> str`` rewrites) and placements (where a payload sits).

``register(name, ...)`` adds an encoder, ``get(name)`` returns one (an unknown name raises
:class:`UnknownNameError` listing the known ones); ``get_placement(name)`` does the same for
placements. Importing this package registers every built-in encoder and placement.
"""

from __future__ import annotations

from rampart.attacks.mutators import encoders as _encoders  # noqa: F401  (registers the built-ins)
from rampart.attacks.mutators.placements import (
    ENDPOINT_SPECS,
    EndpointSpec,
    Placement,
    encode_query,
    get_placement,
    placements,
    wire_query,
)
from rampart.attacks.mutators.registry import Encoder, UnknownNameError, encoders, get, names, register

__all__ = [
    "ENDPOINT_SPECS",
    "Encoder",
    "EndpointSpec",
    "Placement",
    "UnknownNameError",
    "encode_query",
    "encoders",
    "get",
    "get_placement",
    "names",
    "placements",
    "register",
    "wire_query",
]
