"""Operators: what a rule tests a (transformed) target value with, looked up by name.

:mod:`~rampart.gateway.engines.native.operators.registry` holds the registry and the
:class:`Operator` protocol; one module per operator registers itself there, and importing this
package loads them all.
"""

from __future__ import annotations

from rampart.accel import extend

__path__ = extend(__path__, __name__)  # compiled modules first, when current (rampart.accel)

from rampart.gateway.engines.native.operators import (  # noqa: F401  (each registers on import)
    begins_with,
    contains,
    detect_sqli,
    detect_ssrf,
    detect_xss,
    equals,
    ip_match,
    length,
    numeric,
    pm,
    rx,
)
from rampart.gateway.engines.native.operators.registry import (
    Operator,
    OperatorFactory,
    UnknownOperatorError,
    escape_literal,
    get,
    names,
    operators,
    register,
)

__all__ = [
    "Operator",
    "OperatorFactory",
    "UnknownOperatorError",
    "escape_literal",
    "get",
    "names",
    "operators",
    "register",
]
