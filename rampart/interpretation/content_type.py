"""``Content-Type`` media type and parameters exactly as aiohttp reads them, the charset
it decodes a body with, and the parameters given more than once."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import HTTP
from types import MappingProxyType

__all__ = ["ContentType", "body_charset", "decode_text", "param_values", "parse_content_type"]


class _OctetStreamDefault(EmailMessage):
    def get_content_type(self) -> str:
        value = str(self.get("content-type", "")).lower()
        media = value.partition(";")[0].strip()
        return media if media.count("/") == 1 else "application/octet-stream"


_PARAM_NAME = re.compile(r";\s*([^\s=;]+)\s*=")


@dataclass(frozen=True, slots=True)
class ContentType:
    """A parsed ``Content-Type``: ``media`` (lower case), ``params`` (names lower case; of
    repeated names the one aiohttp keeps -- the first of identical spellings, the last of
    differently-cased ones) and ``repeated`` (names given more than once, in any case: the
    header means different things to different parsers; or :data:`TOO_MANY_PARAMETERS` for a
    header of more than :data:`MAX_PARAMETERS` parameters, which is not read)."""

    media: str
    params: MappingProxyType[str, str]
    repeated: tuple[str, ...] = ()

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def ambiguous(self) -> bool:
        return bool(self.repeated)


MAX_PARAMETERS = 32
TOO_MANY_PARAMETERS = "(more parameters than read)"


@functools.lru_cache(maxsize=256)
def parse_content_type(raw: str | None) -> ContentType:
    """``raw`` (a ``Content-Type`` value, or None) read the way aiohttp reads it."""
    if raw is None:
        return ContentType("application/octet-stream", MappingProxyType({}))
    names = [m.group(1).lower() for m in _PARAM_NAME.finditer(raw)]
    if len(names) > MAX_PARAMETERS:
        # the email parser spends ~0.1 s of CPU on an 8 KB header of parameters; no real
        # client sends that many, so the header is refused as ambiguous without reading them
        media = raw.partition(";")[0].strip().lower()
        media = media if media.count("/") == 1 else "application/octet-stream"
        return ContentType(media, MappingProxyType({}), (TOO_MANY_PARAMETERS,))
    message = HeaderParser(_OctetStreamDefault, policy=HTTP).parsestr(f"Content-Type: {raw}")
    params = message.get_params(())
    # exactly aiohttp's ``dict(params[1:])``: the email parser keeps the first of names
    # spelt alike and every differently-cased spelling, and the dict keeps the last of those
    values = {str(name): value if isinstance(value, str) else str(value) for name, value in params[1:]}
    repeated = tuple(sorted(n for n, seen in Counter(names).items() if seen > 1))
    return ContentType(message.get_content_type(), MappingProxyType(values), repeated)


_PARAM_VALUE = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def param_values(raw: str | None, name: str) -> tuple[str, ...]:
    """Every value of parameter ``name`` (any case) in the ``Content-Type`` ``raw``, in the
    order given, unquoted, each once: the readings a repeated ``charset`` or ``boundary``
    allows (aiohttp takes the first, other parsers the last). At most
    :data:`MAX_PARAMETERS` parameters are looked at, and a header of more than four times
    as many ``;`` is not read at all (an unclosed quote makes each try scan to the end)."""
    if not raw or ";" not in raw or raw.count(";") > 4 * MAX_PARAMETERS:
        return ()
    wanted = name.lower()
    found: list[str] = []
    for i, match in enumerate(_PARAM_VALUE.finditer(raw)):
        if i >= MAX_PARAMETERS:
            break
        if match.group(1).lower() != wanted:
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if value and value not in found:
            found.append(value)
    return tuple(found)


def body_charset(content_type: ContentType) -> str:
    """The charset aiohttp decodes a body with: the (first) ``charset`` parameter, else UTF-8."""
    return content_type.charset or "utf-8"


def decode_text(raw: bytes, charset: str) -> tuple[str, bool]:
    """``raw`` decoded as ``charset`` -> (text, strict): ``strict`` is False when the bytes do
    not decode cleanly (the app's strict decode would fail) or the charset is unknown
    (then UTF-8 with replacement is returned)."""
    try:
        return raw.decode(charset), True
    except LookupError:
        return raw.decode("utf-8", "replace"), False
    except UnicodeDecodeError:
        return raw.decode(charset, "replace"), False
