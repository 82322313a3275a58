"""settle_heap: a serving process's start-up objects leave the cyclic collector's generations;
after a reload the retired objects become collectable again. Each case runs in a child
process, so the test runner's own heap is never frozen."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import gc, sys, weakref
from rampart.serve import settle_heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

settle_heap(again=True)  # never settled: nothing happens
assert gc.get_freeze_count() == 0, "a process that never settled was frozen"

kept = cycle()
settle_heap()
assert gc.get_freeze_count() > 0
probe = weakref.ref(kept)
del kept
gc.collect()
assert probe() is not None, "a frozen cycle must stay until the next settle"

settle_heap(again=True)  # the reload case: what was frozen and is now garbage goes
assert probe() is None, "the retired cycle survived settle_heap(again=True)"
assert gc.get_freeze_count() > 0
print("ok")
"""


def test_settle_heap_freezes_and_releases_on_reload() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], check=False, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
