"""``detectSQLi`` and ``detectXSS``: libinjection, the very build libmodsecurity runs.

The ``libmodsecurity`` wheel (the ``crs`` extra) bundles libinjection inside its shared
library and exports its C entry points; they are called here through ``ctypes`` on the raw
bytes of the value, so verdicts and SQLi fingerprints are libmodsecurity's own. Without that
wheel the operators cannot be built: construction raises ``ValueError`` saying what to install
(no pure-Python stand-in would give the same verdicts).

``detectSQLi``'s matched text (and ``TX:0`` under ``capture``) is the fingerprint, as in
ModSecurity; ``detectXSS``'s is the value.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["DetectSqli", "DetectXss", "libinjection", "libinjection_version"]

_FINGERPRINT_SIZE = 8
_INSTALL_HINT = (
    "install the crs extra (pip install 'rampart[crs]'), whose libmodsecurity wheel carries libinjection"
)


@cache
def libinjection() -> ctypes.CDLL | None:
    """The shared library exporting libinjection's functions, or None if it is not installed."""
    spec = importlib.util.find_spec("libmodsecurity")
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).resolve().parent.parent
    for candidate in sorted(site.glob("libmodsecurity.libs/libmodsecurity*.so*")):
        try:
            library = ctypes.CDLL(str(candidate))
        except OSError:
            continue
        if hasattr(library, "libinjection_sqli") and hasattr(library, "libinjection_xss"):
            library.libinjection_sqli.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
            library.libinjection_sqli.restype = ctypes.c_int
            library.libinjection_xss.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
            library.libinjection_xss.restype = ctypes.c_int
            library.libinjection_version.argtypes = []
            library.libinjection_version.restype = ctypes.c_char_p
            return library
    return None


def libinjection_version() -> str | None:
    """libinjection's version string, or None if it is not installed."""
    library = libinjection()
    if library is None:
        return None
    raw = library.libinjection_version()
    return None if raw is None else bytes(raw).decode("ascii", "replace")


def _require() -> ctypes.CDLL:
    library = libinjection()
    if library is None:
        raise ValueError(f"libinjection is not available: {_INSTALL_HINT}")
    return library


_BUFFERS = threading.local()  # per thread: the fingerprint buffer (ctypes lets go of the GIL in the call)


def _fingerprint_buffer() -> ctypes.Array[ctypes.c_char]:
    """This thread's buffer for libinjection's SQLi fingerprint (written whole by every call
    that reports a match; making one per call cost more than the call on a short value)."""
    buffer: ctypes.Array[ctypes.c_char] | None = getattr(_BUFFERS, "fingerprint", None)
    if buffer is None:
        buffer = ctypes.create_string_buffer(_FINGERPRINT_SIZE)
        _BUFFERS.fingerprint = buffer
    return buffer


@dataclass(frozen=True, slots=True)
class DetectSqli:
    """libinjection's SQL injection test; the match is the token fingerprint."""

    _library: ctypes.CDLL
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        data = value.encode("latin-1", "replace")
        fingerprint = _fingerprint_buffer()
        if self._library.libinjection_sqli(data, len(data), fingerprint) != 1:
            return None
        text = fingerprint.value.decode("latin-1")
        return OperatorMatch(text, (text,))


@dataclass(frozen=True, slots=True)
class DetectXss:
    """libinjection's XSS test (every HTML context it knows)."""

    _library: ctypes.CDLL
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        data = value.encode("latin-1", "replace")
        if self._library.libinjection_xss(data, len(data)) != 1:
            return None
        return OperatorMatch(value, (value,))


def _detect_sqli(argument: str, context: OperatorContext) -> DetectSqli:
    return DetectSqli(_require())


def _detect_xss(argument: str, context: OperatorContext) -> DetectXss:
    return DetectXss(_require())


register("detectSQLi", _detect_sqli)
register("detectXSS", _detect_xss)
