"""SecLang operators (``@name argument``) with libmodsecurity 3 semantics, looked up by name.

A factory takes the operator's argument (after the core's macro expansion) and an
:class:`OperatorContext`, and returns an :class:`Operator`; a bad argument raises
``ValueError`` at construction. Values are strings holding one character per byte (raw bytes
decoded as latin-1).

``prefilter`` lists Hyperscan patterns (latin-1 text, byte semantics) that match wherever the
operator can match, so the core only calls :meth:`Operator.evaluate` on values where one of
them hit; ``None`` means "always evaluate" (used for operators that can match the empty
value, numeric and validation operators, and patterns Hyperscan cannot compile). The core
compiles them with :data:`PREFILTER_FLAGS` (``HS_FLAG_PREFILTER | HS_FLAG_DOTALL |
HS_FLAG_MULTILINE | HS_FLAG_SINGLEMATCH``): every pattern given here compiles with those
flags, and each of them only widens the match set.

Names are case-insensitive, as in ModSecurity; one module per family registers on import
(in :mod:`~rampart.gateway.engines.native.seclang.operators.registry`).
"""

from __future__ import annotations

from rampart.accel import extend

__path__ = extend(__path__, __name__)  # compiled modules first, when current (rampart.accel)

from rampart.gateway.engines.native.seclang.operators import (  # noqa: F401  (each registers on import)
    always,
    identifiers,
    injection,
    network,
    numeric,
    phrases,
    regex,
    strings,
    validation,
)
from rampart.gateway.engines.native.seclang.operators.registry import (
    PREFILTER_FLAGS,
    Operator,
    OperatorContext,
    OperatorFactory,
    OperatorMatch,
    UnknownOperatorError,
    get,
    names,
    operators,
    register,
)

__all__ = [
    "PREFILTER_FLAGS",
    "Operator",
    "OperatorContext",
    "OperatorFactory",
    "OperatorMatch",
    "UnknownOperatorError",
    "get",
    "names",
    "operators",
    "register",
]
