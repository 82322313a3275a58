"""Path normalisation: backslashes, duplicate slashes, ``;`` segment parameters and dot
segments. Leading ``..`` that would climb above the start are kept, so traversal stays visible."""

from __future__ import annotations

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["normalise_path", "normalise_path_str"]


def normalise_path_str(value: str) -> str:
    """The normalised path (pure helper shared with the request parser)."""
    text = value.replace("\\", "/")
    absolute = text.startswith("/")
    trailing = text.endswith("/") or text.endswith("/.") or text.endswith("/..")
    out: list[str] = []
    for raw in text.split("/"):
        segment = raw.split(";", 1)[0] if ";" in raw else raw
        if segment in ("", "."):
            continue
        if segment == "..":
            if out and out[-1] != "..":
                out.pop()
            else:
                out.append("..")
            continue
        out.append(segment)
    joined = "/".join(out)
    if absolute:
        joined = "/" + joined
    if trailing and joined and not joined.endswith("/"):
        joined += "/"
    return joined or ("/" if absolute else "")


def normalise_path(value: str) -> tuple[str, bool]:
    """Normalise ``value`` as a path; see :func:`normalise_path_str`."""
    if "/" not in value and "\\" not in value and value not in (".", ".."):
        return value, False
    normal = normalise_path_str(value)
    return normal, normal != value


register("normalise_path", normalise_path)
