"""Path normalisation: ``normalisePath``/``normalizePath`` and the Windows variants.

libmodsecurity normalises in place, one byte at a time, and its results carry quirks a
segment-based normaliser would not have (a segment merely ending in ``..``, such as ``\\..``
on the non-Windows variant, counts as a back-reference; a relative path drops its leading
slashes and keeps back-references it cannot resolve). The rewrite below follows the same
byte-level steps so the outputs agree on every input; the differential tests check it against
libmodsecurity itself.
"""

from __future__ import annotations

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = ["normalise_path", "normalise_path_win"]


class _Normaliser:
    """One in-place pass over ``buf``: ``src`` reads, ``dst`` writes (``dst <= src``)."""

    def __init__(self, value: str, win: bool) -> None:
        self.buf = list(value)
        self.win = win
        self.end = len(value) - 1
        self.relative = not self.is_slash(self.buf[0])
        self.trailing = self.is_slash(self.buf[self.end])
        self.hit_root = False
        self.src = 0
        self.dst = 0

    def is_slash(self, ch: str) -> bool:
        return ch == "/" or (self.win and ch == "\\")

    def run(self) -> str:
        buf, end = self.buf, self.end
        done = False
        while not done and self.src <= end and self.dst <= end:
            if self.win:
                if buf[self.src] == "\\":
                    buf[self.src] = "/"
                if self.src < end and buf[self.src + 1] == "\\":
                    buf[self.src + 1] = "/"
            if self.src == end:
                done = True
            elif buf[self.src + 1] != "/":
                self.copy()
                continue
            if self.segment_end(done):
                continue
            self.copy()
        length = self.dst
        if not self.trailing and length > 0 and buf[length - 1] == "/":
            length -= 1
        return "".join(buf[:length])

    def segment_end(self, done: bool) -> bool:
        """Handle the byte that ends a segment (a ``.`` may step ``src`` past itself and move
        ``dst`` back); True if nothing is to be copied this step (the end was reached)."""
        buf, src, dst = self.buf, self.src, self.dst
        if src != self.end and buf[src] == "/":
            return False
        if buf[src] != ".":
            if dst > 0:
                self.hit_root = False
            return False
        if dst > 0 and buf[dst - 1] == ".":
            if self.relative and (self.hit_root or dst - 2 <= 0):
                self.hit_root = True
                return False
            dst -= 3
            while dst > 0 and buf[dst] != "/":
                dst -= 1
            if dst <= 0:
                self.hit_root = True
                dst = 0
                if not self.relative and src == self.end:
                    dst = 1
            self.dst = dst
        elif dst == 0:
            pass
        elif buf[dst - 1] == "/":
            if done:
                return True
            self.dst = dst - 1
        else:
            return False
        if done:
            return True
        self.src = src + 1
        return False

    def copy(self) -> None:
        buf = self.buf
        if buf[self.src] == "/":
            while self.src < self.end and self.is_slash(buf[self.src + 1]):
                self.src += 1
            if self.relative and self.dst == 0:
                self.src += 1
                return
        buf[self.dst] = buf[self.src]
        self.dst += 1
        self.src += 1


def normalise_path(value: str) -> str:
    """Repeated slashes collapsed, ``.`` segments dropped, ``..`` resolved (never above the
    root), a trailing slash kept only if there was one, with libmodsecurity's quirks. A value
    without a slash that does not end in ``.`` has nothing to normalise and is returned as is."""
    if not value or ("/" not in value and value[-1] != "."):
        return value
    return _Normaliser(value, win=False).run()


def normalise_path_win(value: str) -> str:
    """``normalisePath`` that also reads ``\\`` as ``/`` (and writes ``/``)."""
    if not value or ("/" not in value and "\\" not in value and value[-1] != "."):
        return value
    return _Normaliser(value, win=True).run()


register("normalisePath", normalise_path)
register("normalizePath", normalise_path)
register("normalisePathWin", normalise_path_win)
register("normalizePathWin", normalise_path_win)
