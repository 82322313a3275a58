"""SecLang transformations (``t:name``) with libmodsecurity 3 semantics, looked up by name.

A transformation takes a value holding one character per byte (the raw bytes decoded as
latin-1) and returns another such value. Every function is linear in its input and never
raises. Names are case-insensitive, as in ModSecurity (``t:urlDecodeUni`` = ``t:urldecodeuni``).
Each family lives in its own module and registers its functions on import (in
:mod:`~rampart.gateway.engines.native.seclang.transforms.registry`).
"""

from __future__ import annotations

from rampart.accel import extend

__path__ = extend(__path__, __name__)  # compiled modules first, when current (rampart.accel)

from rampart.gateway.engines.native.seclang.transforms import (  # noqa: F401  (each registers on import)
    codecs,
    comments,
    markup,
    paths,
    text,
    url,
)
from rampart.gateway.engines.native.seclang.transforms.registry import (
    Transformation,
    UnknownTransformationError,
    get,
    names,
    register,
    transforms,
)

__all__ = [
    "Transformation",
    "UnknownTransformationError",
    "get",
    "names",
    "register",
    "transforms",
]
