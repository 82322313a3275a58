"""Issue 11, linear time, for the SecLang engine: every transformation and operator takes any
bytes without raising, and an adversarial input costs at most a fixed multiple of a benign
input of the same size (100 KB and 1 MiB).

The registries are iterated, so a new transformation or operator is covered on registration
(an operator none of whose sample arguments builds it fails the test until one is added).
CRS's own operators (every rule of CRS 4.28.0 at paranoia 4, with its real argument: the
``@rx`` patterns, ``@pm`` phrase lists, ...) are covered on their own trigger characters too.

Cost bound, as in the YAML engine's test (tests/gateway/engines/native/test_linear.py): the
thread's CPU time on an adversarial input (one unit repeated to the size) may be at most
``_RATIO`` times that of benign prose of the same size, plus ``_FLOOR_PER_CHAR`` seconds per
character for linear work that prose skips through C-level fast paths. Both are measured in the
same test, one after the other; a quadratic path grows with the input (tenfold from 100 KB to
1 MiB) and fails by a wide margin.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rampart.attacks.ftw.runner import shared_crs
from rampart.gateway.engines.native.seclang import operators, transforms
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.engines.native.seclang.executor import CompiledRule
from rampart.gateway.engines.native.seclang.operators import Operator, OperatorContext
from rampart.gateway.engines.native.seclang.rules import Marker
from rampart.gateway.model import EngineSettings, RawRequest
from tests.conftest import need

_RATIO = 25.0
_FLOOR_PER_CHAR = 3e-6
_SIZES = (100_000, 1 << 20)
# At 1 MiB (each check costs ten times as much) only the rescan triggers of the decoders and
# comment strippers; the path and UTF-8 units are checked at 100 KB.
_MIB_UNITS = ["/*", "%u00", "&#x", "\\u00"]
# One spelling of each transformation (normalizePath is normalisePath)
_TRANSFORMS = tuple(n for n in transforms.names() if n not in ("normalizePath", "normalizePathWin"))

# Arguments tried in order until the operator's factory accepts one.
_SAMPLE_ARGUMENTS = (
    "ips.data",
    "words.data",
    "(?i)union\\s+select|<script|/\\*.*?\\*/",
    "union select /* <script",
    "10",
    "10.0.0.0/8,127.0.0.1",
    "1-255",
    "a,b",
)

# The classic rescan triggers of decoders, comment strippers, tokenizers and regexes.
_COMMON_UNITS = (
    "/*",
    "*/",
    "<!--",
    "<a",
    "'",
    "--",
    "%",
    "%25",
    "%u",
    "%u00",
    "&#",
    "&#x",
    "&lt",
    "\\",
    "\\x",
    "\\u00",
    "\\1",
    "0x",
    "../",
    "./",
    "//",
    "\\..",
    "\xc3",
    "\xe2\x82",
    "; select , /*",
    "' or '",
    "union ",
    "<a x=`",
    "a@",
    "=(",
    "\x00",
    "\t \n",
)

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "bakers", "sell", "bread")


def _benign(size: int) -> str:
    """Prose of ``size`` characters: words, spaces, a comma or full stop now and then."""
    rnd = random.Random(size)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rnd.choice(_WORDS) + rnd.choice(("", "", "", ",", "."))
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _cpu(fn: Callable[[str], object], value: str) -> float:
    start = time.thread_time()
    fn(value)
    return time.thread_time() - start


def _assert_linear(label: str, fn: Callable[[str], object], units: list[str], size: int) -> None:
    benign = _cpu(fn, _benign(size))
    bound = _RATIO * benign + _FLOOR_PER_CHAR * size
    for unit in dict.fromkeys(units):
        value = _repeat(unit, size)
        spent = _cpu(fn, value)
        if spent > bound:
            spent = min(spent, _cpu(fn, value))  # one retry: a page-fault storm is not a trend
        assert spent <= bound, (
            f"{label} took {spent:.3f} s CPU on {size} chars of {unit!r} repeated; "
            f"benign text took {benign:.4f} s (bound {bound:.3f} s)"
        )


@cache
def _context() -> OperatorContext:
    """A rule folder holding ``ips.data`` and ``words.data`` for the ``*FromFile`` operators."""
    folder = Path(tempfile.mkdtemp(prefix="rampart-seclang-linear-"))
    (folder / "ips.data").write_text("10.0.0.0/8\n127.0.0.1\n", encoding="ascii")
    (folder / "words.data").write_text("union\nselect\n<script\n", encoding="ascii")
    return OperatorContext(folder)


@cache
def _registered_operators() -> tuple[tuple[str, Operator], ...]:
    built: list[tuple[str, Operator]] = []
    for name in operators.names():
        factory = operators.get(name)
        for argument in _SAMPLE_ARGUMENTS:
            try:
                built.append((name, factory(argument, _context())))
                break
            except (ValueError, OSError):
                continue
        else:
            raise AssertionError(f"no sample argument builds operator {name!r}; add one to _SAMPLE_ARGUMENTS")
    return tuple(built)


def _compiled_rules(engine: SecLangEngine) -> Iterator[CompiledRule]:
    for items in engine.ruleset.phases.values():
        for item in items:
            link = item if not isinstance(item, Marker) else None
            while link is not None:
                yield link
                link = link.chain


@cache
def _crs_engine() -> SecLangEngine:
    folder = shared_crs() / "v4.28.0"
    need((folder / "rules").is_dir(), f"CRS 4.28.0 rules in {folder}")
    return SecLangEngine(EngineSettings(paranoia=4, crs_dir=str(folder), budget_ms=0))


@cache
def _crs_operators() -> tuple[tuple[str, Operator], ...]:
    """Every distinct operator of CRS 4.28.0 (paranoia 4), labelled with its rule."""
    seen: dict[tuple[str, str], tuple[str, Operator]] = {}
    for compiled in _compiled_rules(_crs_engine()):
        rule = compiled.rule
        if compiled.operator is not None:
            seen.setdefault(
                (rule.operator, rule.operator_arg), (f"@{rule.operator}#{rule.id}", compiled.operator)
            )
    return tuple(seen.values())


def _triggers(operator: Operator) -> list[str]:
    """Units from the operator's literals: its punctuation, its words, and each of the first
    words followed by punctuation (a keyword, then the character that would continue it)."""
    source = "".join(operator.prefilter or ())
    source = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), source).replace("(?i)", "")
    chars = sorted({c for c in source if c.isprintable() and not c.isalnum() and c != " "})[:8]
    words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{3,}", source)})[:4]
    return [*chars, *words, *(f"{w}{c}" for w in words[:2] for c in chars[:3])]


# --- cost: linear in the input ------------------------------------------------------------


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", _TRANSFORMS)
def test_transformations_are_linear(name: str, size: int) -> None:
    units = list(_COMMON_UNITS) if size == _SIZES[0] else _MIB_UNITS
    _assert_linear(f"t:{name}", transforms.get(name), units, size)


def test_every_registered_operator_is_built_from_a_sample_argument() -> None:
    assert {name for name, _ in _registered_operators()} == set(operators.names())


@pytest.mark.parametrize("size", _SIZES)
@pytest.mark.parametrize("name", operators.names())
def test_registered_operators_are_linear(name: str, size: int) -> None:
    operator = dict(_registered_operators())[name]
    units = [*_COMMON_UNITS, *_triggers(operator)] if size == _SIZES[0] else _MIB_UNITS
    _assert_linear(f"@{name}", operator.evaluate, units, size)


@pytest.mark.slow
def test_crs_operators_are_linear_on_their_own_triggers() -> None:
    """Each of CRS 4.28.0's distinct operators, at 100 KB, on the common units (a few) and
    on its own literals."""
    for label, operator in _crs_operators():
        _assert_linear(label, operator.evaluate, [*_COMMON_UNITS[:4], *_triggers(operator)], _SIZES[0])


_MIB = 1 << 20
_BODIES: tuple[tuple[str, str, bytes], ...] = (
    ("many form pairs", "application/x-www-form-urlencoded", b"a=1&" * (_MIB // 4)),
    ("one form value of /*", "application/x-www-form-urlencoded", b"q=" + b"/*" * (_MIB // 2 - 1)),
    ("one form value of <a", "application/x-www-form-urlencoded", b"q=" + b"%3Ca" * (_MIB // 4 - 1)),
    ("one form value of %u", "application/x-www-form-urlencoded", b"q=" + b"%25u00" * (_MIB // 6 - 1)),
    ("one json value of \\", "application/json", b'{"q": "' + b"\\\\" * (_MIB // 2 - 8) + b'"}'),
    ("deep json", "application/json", b"[" * _MIB),
    ("deep xml", "text/xml", b"<a>" * (_MIB // 7) + b"</a>" * (_MIB // 7)),
)


def _post(content_type: str, body: bytes) -> RawRequest:
    return RawRequest(
        "POST",
        "/api/import",
        (("Host", "lab"), ("Content-Type", content_type), ("Content-Length", str(len(body)))),
        body,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("label", "content_type", "body"), _BODIES, ids=[b[0] for b in _BODIES])
def test_the_engine_is_linear_on_adversarial_bodies(label: str, content_type: str, body: bytes) -> None:
    """A whole 1 MiB request through CRS 4.28.0 at paranoia 4, against a benign form body of
    the same size in the same test."""
    engine = _crs_engine()
    benign = _post("application/x-www-form-urlencoded", ("q=" + _benign(len(body) - 2)).encode())
    start = time.thread_time()
    assert engine.inspect(benign).error is None
    bound = _RATIO * (time.thread_time() - start) + _FLOOR_PER_CHAR * len(body)
    start = time.thread_time()
    verdict = engine.inspect(_post(content_type, body))
    spent = time.thread_time() - start
    assert verdict.error is None
    assert spent <= bound, f"{label}: {spent:.3f} s CPU for {len(body)} bytes (bound {bound:.3f} s)"


# --- arbitrary bytes never raise ----------------------------------------------------------

_ANY_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from((*_COMMON_UNITS, "%", "&", ";", "=", ">", '"', "ÿ", "A")), max_size=40).map(
        lambda parts: "".join(parts).encode("latin-1")
    ),
)
_EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", _TRANSFORMS)
@_EXAMPLES
@given(value=_ANY_BYTES)
def test_transformations_take_any_bytes(name: str, value: bytes) -> None:
    out = transforms.get(name)(value.decode("latin-1"))
    assert all(ord(ch) <= 0xFF for ch in out)


@pytest.mark.parametrize("name", operators.names())
@_EXAMPLES
@given(value=_ANY_BYTES)
def test_operators_take_any_bytes(name: str, value: bytes) -> None:
    found = dict(_registered_operators())[name].evaluate(value.decode("latin-1"))
    assert found is None or isinstance(found.matched, str)


@_EXAMPLES
@given(value=_ANY_BYTES)
def test_crs_operators_take_any_bytes(value: bytes) -> None:
    text = value.decode("latin-1")
    for _, operator in _crs_operators():
        found = operator.evaluate(text)
        assert found is None or all(isinstance(c, str) for c in found.captures)


@_EXAMPLES
@given(
    body=st.binary(max_size=1024),
    query=_ANY_BYTES,
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "text/xml",
        ]
    ),
)
def test_the_engine_never_fails_on_any_request(body: bytes, query: bytes, content_type: str) -> None:
    target = "/api?" + "".join(
        ch if 0x21 <= ord(ch) < 0x7F and ch != "#" else "%20" for ch in query.decode("latin-1")
    )
    request = RawRequest(
        "POST",
        target,
        (("Host", "lab"), ("Content-Type", content_type), ("Content-Length", str(len(body)))),
        body,
    )
    assert _crs_engine().inspect(request).error is None
