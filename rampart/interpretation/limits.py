"""The one set of bounds every layer reads with, and the names of what cannot be read
alike (:class:`Anomaly`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Anomaly", "InterpretationLimits"]


class Anomaly:
    """Names of the ambiguities a reading reports (the gateway's ``PROTOCOL_FLAGS`` use the
    same names; the guard records them on the request context)."""

    DUPLICATE_PARAM = "content_type_param_repeated"
    TOO_MANY_VALUES = "too_many_values"
    TOO_DEEP = "too_deep"
    BODY_UNREAD = "body_unread"
    # a body that does not parse under its declared type (nor as JSON, which every layer
    # also reads): the application's own reader may still make something of it
    JSON_INVALID = "json_invalid"
    MULTIPART_INVALID = "multipart_invalid"
    XML_INVALID = "xml_invalid"
    # a Content-Encoding that could not be undone (not the compression it names, or one
    # the reader does not know)
    ENCODING_INVALID = "encoding_invalid"


@dataclass(frozen=True, slots=True)
class InterpretationLimits:
    """The one set of bounds every layer reads with.

    ``max_values``: query/form pairs, multipart parts and JSON values (keys and leaves)
    read from one source; ``max_depth``: JSON nesting and bracket (``a[b][c]``) depth.
    Past either the reading is flagged; nothing past a limit is dropped silently."""

    max_values: int = 4096
    max_depth: int = 32

    def __post_init__(self) -> None:
        if self.max_values < 1 or self.max_depth < 1:
            raise ValueError("InterpretationLimits: max_values and max_depth must be >= 1")


DEFAULT_LIMITS = InterpretationLimits()
