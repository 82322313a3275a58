"""Does stored text contain active HTML? The stored-XSS oracle, written for the lab alone.

A browser would run script from: script-capable elements, any ``on*`` event-handler
attribute, and URL attributes whose scheme executes (``javascript:``, ``vbscript:``,
``data:text/html``). Parsing uses :mod:`html.parser`, which decodes character references
in attribute values the way a browser does.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["find_active_html"]

_SCRIPT_ELEMENTS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base"})
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster", "srcdoc", "content"}
)
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg+xml")


def _active_url(value: str) -> bool:
    cleaned = _URL_JUNK.sub("", value).lower()
    return cleaned.startswith(_ACTIVE_SCHEMES) or "url=javascript:" in cleaned


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SCRIPT_ELEMENTS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") and len(name) > 2:
                self.found.append(f"<{tag} {name}=>")
            elif value is not None and (name in _URL_ATTRIBUTES or tag == "meta") and _active_url(value):
                self.found.append(f"<{tag} {name}={value[:40]!r}>")
            elif name == "style" and value is not None and "expression(" in value.lower():
                self.found.append(f"<{tag} style=expression()>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)


def find_active_html(text: str) -> list[str]:
    """Descriptions of every active construct in ``text`` (empty when it is inert)."""
    if "<" not in text:
        return []
    finder = _Finder()
    try:
        finder.feed(text)
        finder.close()
    except Exception:  # html.parser is tolerant; an internal assertion is still inert text
        return finder.found
    return finder.found
