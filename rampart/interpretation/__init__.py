"""One reading of a request's inputs, shared by the gateway, the sink guard and the lab.

A layer that reads the request differently from the application it protects can be walked
around: a body parsed as JSON by the app but as a form by the filter, the first of two
``charset`` parameters against the last, values past a count the filter stops at. Every
layer therefore reads through this module, and every place where the reading depends on a
choice the application may make differently is *reported* (an :class:`Anomaly`) rather
than resolved silently.

What it owns (pure functions, no I/O, never raises on client input):

* :func:`parse_content_type` -- media type and parameters exactly as aiohttp reads them
  (the email header parser: lower-cased media type, aiohttp's pick among repeated parameters,
  ``application/octet-stream`` for a type without one ``/``), plus the repeated parameters;
* :func:`body_charset` -- the charset aiohttp's ``text()``/``json()``/``post()`` use;
* :func:`parse_pairs` -- ``parse_qsl(keep_blank_values=True)`` (what aiohttp's
  ``request.query`` and ``post()`` give), bounded by the value limit;
* :func:`nest_pairs` -- Express ``qs``-style nesting (``a[b][]=x``), duplicate keys as
  lists, JSON-looking values decoded; nesting deeper than the limit keeps the remainder as
  one literal key (as ``qs`` does) and is reported;
* :func:`read_json` -- ``json.loads`` plus an iterative measure of depth and value count;
  a document too deep for the C parser is reported as over the depth limit, never a
  ``RecursionError``;
* :func:`read_multipart` -- the parts of a ``multipart/form-data`` body (part headers
  read with aiohttp's own ``Content-Disposition`` parser).
"""

from rampart.interpretation.content_type import (
    ContentType,
    body_charset,
    decode_text,
    param_values,
    parse_content_type,
)
from rampart.interpretation.json_reading import JsonReading, looks_like_json, read_json
from rampart.interpretation.limits import DEFAULT_LIMITS, Anomaly, InterpretationLimits
from rampart.interpretation.multipart import MultipartReading, Part, read_multipart
from rampart.interpretation.query import Nested, Pairs, nest_pairs, parse_pairs

__all__ = [
    "DEFAULT_LIMITS",
    "Anomaly",
    "ContentType",
    "InterpretationLimits",
    "JsonReading",
    "MultipartReading",
    "Nested",
    "Pairs",
    "Part",
    "body_charset",
    "decode_text",
    "looks_like_json",
    "nest_pairs",
    "param_values",
    "parse_content_type",
    "parse_pairs",
    "read_json",
    "read_multipart",
]
