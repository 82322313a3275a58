"""The sink guard's detectors run on attacker input too: every registered detector, given a
sink argument made of one adversarial unit repeated and the same text as the user input, costs
at most ``_RATIO`` times a benign text of the same size plus ``_FLOOR_PER_CHAR`` seconds per
character of CPU time (the bound of ``tests/gateway/engines/native/test_linear.py``, which explains it).

The XSS detector used to take 17 s on 80 KB of ``<a x=``` (the standard library's HTML
parser rescans the text after the last ``>`` for every ``<`` in it).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, get, names

_RATIO = 25.0
_FLOOR_PER_CHAR = 3e-6
_SIZE = 60_000
_UNITS = (
    "<a",
    "<a x=`",
    "/*",
    "'",
    "--",
    "\\",
    "{{",
    "{%",
    "{",
    "[",
    "(",
    "$ne",
    "../",
    "//",
    "%s",
    "; ",
    "'a'",
    "&#",
    "%25",
)
_OPTIONS: dict[str, dict[str, str]] = {"deserialization": {"kind": "pickle"}}
# Jinja2's own lexer reads ``{{{{...`` at about 5 us per character: linear (4x the text costs
# 4x the time, measured up to 320 KB), but above the common floor.
_FLOOR_OVERRIDES = {"template": 15e-6}
_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "bakers", "sell", "bread")


def _benign(size: int) -> str:
    rnd = random.Random(size)
    return " ".join(rnd.choice(_WORDS) for _ in range(size // 3))[:size]


def _sink_argument(name: str, value: str) -> str:
    """The input placed where the detector's sink would carry it."""
    if name == "sql":
        return "SELECT * FROM items WHERE name = '" + value + "'"
    if name == "shell":
        return "grep -r '" + value + "' /srv/data"
    if name in ("xss", "stored_xss"):
        return "<html><body><p>" + value + "</p></body></html>"
    return value


def _cpu(name: str, detect: Callable[..., Detection | None], value: str) -> float:
    argument = _sink_argument(name, value)
    inputs = [UserInput("body.q", value)]
    start = time.thread_time()
    detect(argument, inputs, **_OPTIONS.get(name, {}))
    return time.thread_time() - start


@pytest.mark.parametrize("name", names())
def test_detectors_are_linear_in_the_input(name: str) -> None:
    detect = get(name)
    benign = _cpu(name, detect, _benign(_SIZE))
    bound = _RATIO * benign + _FLOOR_OVERRIDES.get(name, _FLOOR_PER_CHAR) * _SIZE
    for unit in _UNITS:
        value = (unit * (_SIZE // len(unit) + 1))[:_SIZE]
        spent = _cpu(name, detect, value)
        if spent > bound:
            spent = min(spent, _cpu(name, detect, value))
        assert spent <= bound, f"{name}: {spent:.3f} s CPU on {_SIZE} chars of {unit!r} (bound {bound:.3f} s)"
