"""Cross-site scripting: user (or stored) text that becomes HTML structure in a response.

``xss`` (reflected): an input that occurs unescaped in the response is compared against
a plain placeholder in its place. Inputs with a tag opener (``<a``, ``</``, ``<!``) are
compared on the whole document (parsed with :class:`html.parser.HTMLParser`), other
inputs only on the tag they sit in. What the input added sets the verdict:

- active content (script-capable elements, ``on*`` handlers, ``javascript:``/``vbscript:``/
  ``data:text/html`` URLs, ``srcdoc``): 0.95;
- a closed raw-text context (``</textarea>``, ``</script>``, ``</title>``...), new
  attributes on a page tag, or the end of the JS string the input sits in: 0.85;
- new elements that matter without script (links, forms, images, styles, frames...): 0.75;
- a new comment: 0.7;
- inert formatting (``<b>``, ``<i>``, an unknown ``<ana at shop>`` element): not reported.

``stored_xss``: a value read from the database during this request is in the response
unescaped and, parsed alone, holds active content.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from html.parser import HTMLParser

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter, occurrences, occurring

__all__ = ["active_content", "detect", "detect_stored"]

_report = Reporter("xss", "xss")
_report_stored = Reporter("stored_xss", "xss")

_PLACEHOLDER = "rmpsafe"
_URL_ATTRS = frozenset(
    {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster", "srcdoc"}
)
_ACTIVE_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "frame", "base", "applet", "meta", "svg", "math"}
)
_SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html|data\s*:\s*image/svg)", re.I)
_CONTROL = re.compile(r"[\x00-\x20]+")
_HANDLER = re.compile(r"\son[a-z]+\s*=\s*([\"']?)")
_RAW_CONTEXTS = frozenset(
    {"textarea", "title", "script", "style", "noscript", "xmp", "iframe", "noembed", "noframes", "plaintext"}
)
_MARKUP_THAT_MATTERS = frozenset(
    {
        "a",
        "form",
        "input",
        "button",
        "img",
        "image",
        "video",
        "audio",
        "source",
        "link",
        "style",
        "base",
        "meta",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "svg",
        "math",
        "script",
        "template",
        "textarea",
        "select",
        "option",
        "table",
        "details",
        "marquee",
        "portal",
    }
)
_MARKUP = re.compile(r"<[A-Za-z/!?]")
_TRIGGERS = ("<", ">", '"', "'", ":", "`")


class _Shape(HTMLParser):
    """Records the structure of a document: tags, attribute names, script URLs, comments."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, ...]] = []
        self.active: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, *sorted(name for name, _ in attrs)))
        if tag in _ACTIVE_TAGS:
            self.active.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.active.append(f"{name}= handler")
            elif name in _URL_ATTRS and value and _SCRIPT_URL.match(_CONTROL.sub("", value)):
                self.active.append(f"{name}={value.split(':', 1)[0].strip()}: URL")
            elif name == "srcdoc":
                self.active.append("srcdoc")
            if value:
                self.events.append(("attr", tag, name, _url_kind(name, value)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment",))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl",))

    def handle_pi(self, data: str) -> None:
        self.events.append(("pi",))


def _url_kind(name: str, value: str) -> str:
    if name in _URL_ATTRS and _SCRIPT_URL.match(_CONTROL.sub("", value)):
        return "script-url"
    return ""


def _shape(html: str) -> _Shape:
    """The shape of ``html``. Text after the last ``>`` is not fed: it cannot hold a whole tag,
    comment or declaration, so it only makes data events (ignored here), and the standard
    library's parser rescans it to the end for every ``<`` in it (quadratic on ``<a<a<a...``
    before CPython 3.13.4)."""
    parser = _Shape()
    try:
        parser.feed(html[: html.rfind(">") + 1])
        parser.close()
    except Exception:  # HTMLParser is lenient; anything else is a parser bug, not a verdict
        parser.events.append(("error",))
    return parser


def active_content(fragment: str) -> list[str]:
    """Active constructs (scripts, handlers, script URLs, ``srcdoc``) in an HTML fragment."""
    return _shape(fragment).active


@register("xss")
def detect(html: str | bytes, inputs: Sequence[UserInput]) -> Detection | None:
    """Flag a user input that adds HTML structure or script to a response."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    full: _Shape | None = None
    for item in occurring(html, inputs):
        value: str = item.value
        if not any(t in value for t in _TRIGGERS):
            continue
        if _MARKUP.search(value):
            if full is None:
                full = _shape(html)
            found = _compare(full, _shape(html.replace(value, _PLACEHOLDER)), value, item.source)
        else:
            found = _judge_in_tags(html, value, item.source)
        if found is None and _breaks_script(html, value):
            found = _report(0.85, "input breaks out of a script or event-handler string", value, item.source)
        if found is not None:
            return found
    return None


def _compare(full: _Shape, clean: _Shape, value: str, source: str) -> Detection | None:
    """Grade what the input added to the document's structure (None: nothing that matters)."""
    added = [a for a in full.active if a not in clean.active]
    if added:
        return _report(0.95, f"input adds active HTML ({', '.join(added[:3])})", value, source)
    new = Counter(full.events) - Counter(clean.events)
    if not new:
        return None
    closed = sorted({e[1] for e in new if e[0] == "end" and e[1] in _RAW_CONTEXTS})
    if closed:
        return _report(0.85, f"input closes a <{closed[0]}> context", value, source)
    opened = sorted({e[1] for e in new if e[0] == "start" and e[1] in _MARKUP_THAT_MATTERS})
    if opened:
        return _report(0.75, f"input adds <{opened[0]}> markup", value, source)
    gone = Counter(clean.events) - Counter(full.events)
    if any(e[0] == "start" for e in new) and any(e[0] == "start" for e in gone):
        return _report(0.85, "input adds attributes to a tag of the page", value, source)
    if any(e[0] == "comment" for e in new):
        return _report(0.7, "input opens an HTML comment", value, source)
    return None


def _judge_in_tags(html: str, value: str, source: str) -> Detection | None:
    """An input without a tag opener can only change the tag it sits in: compare that tag."""
    for at in occurrences(html, value):
        opened = html.rfind("<", max(0, at - 4000), at)
        if opened == -1 or html.rfind(">", opened, at) != -1:
            continue  # in text, not inside a tag
        closed = html.find(">", at + len(value))
        tag = html[opened : closed + 1 if closed != -1 else len(html)]
        found = _compare(_shape(tag), _shape(tag.replace(value, _PLACEHOLDER)), value, source)
        if found is not None:
            return found
    return None


def _breaks_script(html: str, value: str) -> bool:
    """The input sits in a ``<script>`` body or an ``on*=`` attribute and ends its JS string."""
    if not any(q in value for q in "'\"`"):
        return False
    at = html.find(value)
    before = html[max(0, at - 4000) : at]
    lower = before.lower()
    opened = lower.rfind("<script")
    if opened > lower.rfind("</script"):
        body_start = lower.find(">", opened)
        code = before[body_start + 1 :] if body_start != -1 else ""
    else:
        handlers = list(_HANDLER.finditer(lower))
        if not handlers:
            return False
        last = handlers[-1]
        code = before[last.end() :]
        delimiter = last.group(1)
        if (delimiter and delimiter in code) or (not delimiter and re.search(r"[\s>]", code)):
            return False
    quote = _js_string_state(code)
    return quote == "" or quote in value


def _js_string_state(code: str) -> str:
    """The JS string delimiter open at the end of ``code`` (``""`` when in plain code)."""
    quote = ""
    escaped = False
    for c in code:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif quote:
            if c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
    return quote


@register("stored_xss")
def detect_stored(html: str | bytes, db_values: Sequence[str | UserInput]) -> Detection | None:
    """Flag active HTML in a response whose text came from a database read in this request.

    The sinks also call it at write time, with the written document's strings as ``html``
    and the request's markup-looking inputs as ``db_values``: stored payloads are caught
    before they are stored.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    for entry in db_values:
        value = entry.value if isinstance(entry, UserInput) else entry
        if not isinstance(value, str) or len(value) < 3 or "<" not in value or value not in html:
            continue
        active = active_content(value)
        if active:
            return _report_stored(
                0.95,
                f"stored value renders active HTML ({', '.join(active[:3])})",
                value,
                "db",
            )
    return None
