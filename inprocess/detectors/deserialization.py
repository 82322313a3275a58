"""Unsafe deserialization: payloads that make the deserializer import and call things.

Sink-only and context-free: nothing is ever unpickled or constructed.

- ``pickle``: the opcode stream (``pickletools.genops``) is walked; every global the stream
  loads (``GLOBAL``, ``INST``, ``STACK_GLOBAL`` with its two pushed strings, memo
  included) must be on a small allow-list of plain data types. Opcodes run as they are
  read, so a stream that turns malformed after a global is judged on what came before.
- ``yaml``: the token stream (``yaml.scan``) is walked; tags that resolve (through ``!!``,
  ``%TAG`` directives or verbatim ``!<...>``) to ``tag:yaml.org,2002:python/object``,
  ``object/apply``, ``object/new``, ``name`` or ``module`` are reported.
- ``marshal``: a serialized code object (type byte ``c``) is reported.
"""

from __future__ import annotations

import codecs
import io
import pickletools
from collections.abc import Callable, Sequence
from typing import Any

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter

__all__ = ["PICKLE_SAFE_GLOBALS", "detect", "pickle_globals", "yaml_python_tags"]

_report = Reporter("deserialization", "deserialization")

PICKLE_SAFE_GLOBALS = frozenset(
    {
        "builtins set",
        "builtins frozenset",
        "builtins complex",
        "builtins bytearray",
        "builtins slice",
        "builtins range",
        "builtins object",
        "builtins list",
        "builtins dict",
        "builtins tuple",
        "builtins int",
        "builtins float",
        "builtins str",
        "builtins bytes",
        "builtins bool",
        "__builtin__ set",
        "__builtin__ frozenset",
        "__builtin__ complex",
        "__builtin__ bytearray",
        "__builtin__ object",
        "__builtin__ list",
        "__builtin__ dict",
        "__builtin__ unicode",
        "_codecs encode",
        "copy_reg _reconstructor",
        "copyreg _reconstructor",
        "collections OrderedDict",
        "collections deque",
        "collections defaultdict",
        "datetime date",
        "datetime datetime",
        "datetime time",
        "datetime timedelta",
        "datetime timezone",
        "decimal Decimal",
        "fractions Fraction",
        "uuid UUID",
    }
)
_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_DANGEROUS_YAML = (
    "tag:yaml.org,2002:python/object",
    "tag:yaml.org,2002:python/name",
    "tag:yaml.org,2002:python/module",
)
_CORE_PREFIX = "tag:yaml.org,2002:"
_MAX_BYTES = 4 * 1024 * 1024


def pickle_globals(data: bytes) -> tuple[list[str], bool]:
    """The globals a pickle stream loads (``"module name"``) and whether it parsed to STOP."""
    found: list[str] = []
    recent: list[Any] = []
    memo: dict[int, Any] = {}
    complete = False
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in _STRING_OPS:
                recent.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
            elif name in ("GLOBAL", "INST"):
                found.append(str(arg))
                recent.append(None)
            elif name == "STACK_GLOBAL":
                module, qual = recent[-2:] if len(recent) >= 2 else (None, None)
                found.append(f"{module} {qual}" if module is not None and qual is not None else "? ?")
                recent.append(None)
            elif name in _PUT_OPS and recent:
                memo[int(str(arg))] = recent[-1]
            elif name == "MEMOIZE" and recent:
                memo[len(memo)] = recent[-1]
            elif name in _GET_OPS:
                recent.append(memo.get(int(str(arg))))
            elif name == "STOP":
                complete = True
                break
            else:
                recent.append(None)
            del recent[:-8]
    except Exception:  # malformed streams: judge what was read so far
        complete = False
    return found, complete


def yaml_python_tags(text: str) -> list[str]:
    """Fully resolved ``python/...`` tags (object, name, module families) in a YAML stream."""
    import yaml  # deferred: tokens only, nothing is constructed

    handles = {"!": "!", "!!": _CORE_PREFIX}
    found: list[str] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.DirectiveToken) and token.name == "TAG" and token.value:
                handle, prefix = token.value
                handles[handle] = prefix
            elif isinstance(token, yaml.TagToken):
                handle, suffix = token.value
                tag = suffix if handle is None else handles.get(handle, handle) + suffix
                if tag.startswith(_DANGEROUS_YAML):
                    found.append(tag)
            elif isinstance(token, yaml.DocumentEndToken):
                handles = {"!": "!", "!!": _CORE_PREFIX}
    except yaml.YAMLError:
        pass
    return found


def _judge_pickle(data: bytes) -> tuple[float, str, str] | None:
    names, complete = pickle_globals(data)
    unsafe = [n for n in names if n not in PICKLE_SAFE_GLOBALS]
    if not unsafe:
        return None
    confidence = 0.95 if complete else 0.85
    return confidence, f"pickle loads non-data global(s) {', '.join(unsafe[:3])}", ", ".join(unsafe[:5])


def yaml_text(data: bytes) -> str:
    """The text PyYAML reads from ``data``: UTF-16 when it starts with a UTF-16 byte order
    mark (either order), else UTF-8 (its ``Reader`` knows no other encoding)."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", "replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def _judge_yaml(data: bytes) -> tuple[float, str, str] | None:
    if b"!" not in data:
        return None  # every tag and every %TAG directive starts with '!' (in UTF-16 too)
    tags = yaml_python_tags(yaml_text(data))
    if not tags:
        return None
    return 0.95, f"YAML python tag(s) {', '.join(tags[:3])}", ", ".join(tags[:5])


def _judge_marshal(data: bytes) -> tuple[float, str, str] | None:
    if data and data[0] & 0x7F == ord("c"):
        return 0.8, "marshal stream holds a code object", data[:16].hex()
    return None


_KINDS: dict[str, Callable[[bytes], tuple[float, str, str] | None]] = {
    "pickle": _judge_pickle,
    "yaml": _judge_yaml,
    "marshal": _judge_marshal,
}


@register("deserialization")
def detect(data: bytes | str, inputs: Sequence[UserInput], *, kind: str) -> Detection | None:
    """Flag a ``kind`` payload that would import or call code when deserialized."""
    try:
        judge = _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown deserialization kind {kind!r}; use one of {', '.join(_KINDS)}") from None
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    if len(raw) > _MAX_BYTES:
        raw = raw[:_MAX_BYTES]
    verdict = judge(raw)
    if verdict is None:
        return None
    confidence, reason, evidence = verdict
    if isinstance(data, str):
        text = data
    else:
        text = yaml_text(raw) if kind == "yaml" else raw.decode("utf-8", "replace")
    source = next(
        (i.source for i in inputs if isinstance(i.value, str) and len(i.value) >= 2 and i.value in text),
        None,
    )
    return _report(confidence, reason, evidence, source)
