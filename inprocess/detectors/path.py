"""Path traversal: a user input that takes a file path outside where the application meant.

With ``root``: the normalised path (no filesystem access, no symlink resolution) leaves
``root`` and a user input occurs in the path. Without ``root``: the input's own ``..``
segments climb above where it starts, or the input is an absolute path that became the
start of the path. Always: a NUL byte in an input that is in the path. Sensitive system
files reached through user input raise the confidence. When no input occurs verbatim,
a ``..`` segment whose file name came from an input that held a traversal is reported
too: the application rewrote the input (stripped ``../`` once, NFKC-folded ``．．``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurring

__all__ = ["climbs", "detect"]

_report = Reporter("path", "path_traversal")

_SENSITIVE = re.compile(
    r"^/(etc/(passwd|shadow|group|hosts|sudoers)|proc/self/|proc/\d+/|root/|var/run/secrets/)"
    r"|(^|/)\.(ssh|aws|git|env)(/|$)|(^|/)id_(rsa|ed25519)"
)
_TRAVERSAL = re.compile(r"\.\.[/\\]|[/\\]\.\.(?:[/\\]|$)|^\.\.$")
_WINDOWS_ABS = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")


def climbs(value: str, separators: str = "/") -> bool:
    """True when ``value``'s ``..`` segments climb above the directory it starts in."""
    if ".." not in value:
        return False
    for extra in separators[1:]:
        value = value.replace(extra, separators[0])
    parts = value.split(separators[0])
    depth = 0
    for part in parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _inside(path: str, root: str) -> bool:
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, path))
    return full == base or full.startswith(base.rstrip(os.sep) + os.sep)


@register("path")
def detect(
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | int,
    inputs: Sequence[UserInput],
    *,
    root: str | None = None,
) -> Detection | None:
    """Flag a user input that makes ``path`` escape ``root`` (or climb, or go absolute).

    ``path`` is what ``open`` accepts; a file descriptor (int) names no path and passes.
    """
    if isinstance(path, int):
        return None
    path = os.fsdecode(path)
    # The normalised path and its sensitivity are worked out only when a finding needs them:
    # a benign name (``readme.txt``) costs a few substring tests.
    for item in occurring(path, inputs):
        value: str = item.value
        if "\x00" in value:
            return _report(0.95, "NUL byte in a file path", value, item.source)
        escapes = root is not None and not _inside(path, root)
        if escapes:
            norm = os.path.normpath(path)
            return _report(_confidence(norm), f"path leaves its root ({norm})", value, item.source)
        if root is None and climbs(value):
            confidence = _confidence(os.path.normpath(path))
            return _report(confidence, "input climbs out with '..' segments", value, item.source)
        if climbs(value, "/\\"):
            return _report(
                0.6,
                "input climbs with '..' segments (backslash separators)",
                value,
                item.source,
            )
        if root is not None or not path.startswith(value):
            continue  # with a root, only leaving it counts (decided above)
        if value.startswith("/") or _WINDOWS_ABS.match(value):
            return _report(
                _confidence(os.path.normpath(path)),
                "absolute path where a relative name was expected",
                value,
                item.source,
            )
        norm = os.path.normpath(path)
        if _SENSITIVE.search(norm):
            return _report(0.8, f"user-chosen path to a sensitive file ({norm})", value, item.source)
    # an input that merely occurs in the path (the route segment ``file`` inside ``files/``)
    # must not hide a traversal whose spelling the application normalised away
    return _transformed(path, inputs)


def _confidence(norm: str) -> float:
    return 0.95 if _SENSITIVE.search(norm) else 0.9


def _transformed(path: str, inputs: Sequence[UserInput]) -> Detection | None:
    """A ``..`` segment in the path whose file name comes from an input that held a
    traversal before the application rewrote it (``....//x`` after stripping ``../``
    once, fullwidth dots after NFKC, ``file:`` prefixes removed)."""
    if ".." not in path:
        return None
    parts = path.replace("\\", "/").split("/")
    if ".." not in parts or len(parts[-1]) < 3:
        return None
    name = parts[-1]
    for item in inputs:
        value = item.value
        if type(value) is str and name in value and value not in path:  # verbatim: judged above
            folded = unicodedata.normalize("NFKC", value)
            if _TRAVERSAL.search(folded):
                return _report(
                    0.8, "path climbs with '..' built from a rewritten user input", value, item.source
                )
    return None
