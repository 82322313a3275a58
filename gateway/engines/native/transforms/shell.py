"""Shell command-line normalisation, after CRS's ``cmdLine``: drop quotes, backslashes and
carets, read a newline as ``;``,
turn ``$IFS``/``${IFS}`` and commas-as-spaces into one space, lower-case, and drop spaces
before ``/`` and ``(``."""

from __future__ import annotations

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["cmdline"]

_DROP = dict.fromkeys(map(ord, "\"'\\^"), None)
_IFS_FORMS = ("${ifs}", "$ifs", "${ifs%??}", "$@", "${9}", "$*")
_NEWLINE_AS_SEPARATOR = str.maketrans({"\n": ";"})


def cmdline(value: str) -> tuple[str, bool]:
    """Normalise a would-be shell command so that ``w'h'o\\ami`` reads ``whoami``."""
    text = value.translate(_DROP).translate(_NEWLINE_AS_SEPARATOR).lower()
    for form in _IFS_FORMS:
        if form in text:
            text = text.replace(form, " ")
    text = " ".join(text.replace(",", " ").split())
    text = text.replace(" /", "/").replace(" (", "(")
    return text, text != value


register("cmdline", cmdline)
