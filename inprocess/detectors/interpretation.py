"""``interpretation``: the request could not be read the way the application will read it.

Not a sink check: capture (``rampart.inprocess.frameworks._capture``) records each ambiguity it
meets on the request context -- a body that parses under no reading (declared JSON that is
not JSON, multipart without boundary or parts, XML that does not parse, a Content-Encoding
that cannot be undone), more values or deeper nesting than capture reads whole, a body too
large to read, a repeated Content-Type parameter it could not read every way -- and the
middleware judges them here before the handler runs. The argument is the tuple of anomaly
names; any anomaly not allowed is a detection (class ``protocol``, critical: it blocks in
block mode). Policy applies as for every detector: in ``detect`` mode it is logged,
``detectors.interpretation.enabled = false`` turns it off.

Options (``[guard.detectors.interpretation.options]``), for applications that need such
requests: ``allow`` -- anomaly names accepted everywhere; ``allow_routes`` -- a table of
request path (exact, or a prefix ending in ``*``) to the anomaly names accepted there::

    [guard.detectors.interpretation.options]
    allow_routes = { "/api/bulk" = ["too_many_values"], "/legacy/*" = ["json_invalid"] }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rampart.inprocess.detectors import Detection, register

__all__ = ["ANOMALIES", "detect", "validate_options"]

ANOMALIES: dict[str, str] = {
    "content_type_param_repeated": "a Content-Type parameter (charset, boundary) is given twice",
    "too_many_values": "more values than the guard reads",
    "too_deep": "nesting deeper than the guard reads",
    "body_unread": "a body larger than the guard reads",
    "json_invalid": "a body declared JSON does not parse",
    "multipart_invalid": "a body declared multipart has no boundary or no parts",
    "xml_invalid": "a body declared XML does not parse",
    "encoding_invalid": "a Content-Encoding that cannot be undone",
}


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"interpretation options.{where} must be a list of anomaly names")
    unknown = sorted(str(v) for v in value if v not in ANOMALIES)
    if unknown:
        raise ValueError(
            f"interpretation options.{where}: unknown anomaly {', '.join(unknown)}; "
            f"use one of {', '.join(ANOMALIES)}"
        )
    return tuple(str(v) for v in value)


def validate_options(options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the option for a malformed ``allow`` / ``allow_routes``
    (settings load calls it)."""
    unknown = sorted(set(options) - {"allow", "allow_routes"})
    if unknown:
        raise ValueError(f"interpretation options: unknown {', '.join(unknown)}; use allow, allow_routes")
    if "allow" in options:
        _names(options["allow"], "allow")
    routes = options.get("allow_routes", {})
    if not isinstance(routes, Mapping):
        raise ValueError("interpretation options.allow_routes must be a table of path -> anomaly names")
    for path, names in routes.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"interpretation options.allow_routes: {path!r} is not a path starting with /")
        _names(names, f"allow_routes[{path!r}]")


def _allowed_on(path: str, routes: Mapping[str, Sequence[str]]) -> set[str]:
    out: set[str] = set()
    for route, names in routes.items():
        if route == path or (route.endswith("*") and path.startswith(route[:-1])):
            out.update(names)
    return out


@register("interpretation")
def detect(
    argument: Sequence[str],
    inputs: Sequence[Any] = (),
    *,
    path: str = "",
    allow: Sequence[str] = (),
    allow_routes: Mapping[str, Sequence[str]] | None = None,
    **_options: Any,
) -> Detection | None:
    accepted = set(allow)
    if allow_routes:
        accepted |= _allowed_on(path, allow_routes)
    left = [a for a in argument if a not in accepted]
    if not left:
        return None
    reasons = "; ".join(ANOMALIES.get(a, a) for a in left)
    return Detection(
        detector="interpretation",
        attack_class="protocol",
        confidence=0.9,
        reason=f"request framing the app may read differently: {reasons}",
        evidence=",".join(left),
    )
