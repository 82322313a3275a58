"""Expand base payloads into attack cases: placements x applicable encoders (and a few chains).

Every base payload yields itself unmutated in each placement its endpoint reads, then one
case per applicable encoder and per declared chain. Value-stage encoders rewrite the payload
the sink sees; wire-stage encoders rewrite how the placement carries it. Ids are stable:
``<base id>[.<placement> unless default][.<encoder>...]``; a variant whose request equals
one already produced is dropped, so the output is de-duplicated and ordered as declared.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from rampart.attacks.cases import Case, Expect, HttpRequest
from rampart.attacks.corpus.schema import BasePayload
from rampart.attacks.mutators import (
    ENDPOINT_SPECS,
    Encoder,
    Placement,
    encoders,
    get,
    get_placement,
    wire_query,
)

__all__ = ["BREAKS_TAG", "CHAINS", "REFLECTED_TAG", "bare_request", "expand", "expand_all", "fingerprint"]

# Encoder pairs real tooling combines; applied where every member applies.
CHAINS: tuple[tuple[str, ...], ...] = (
    ("sql_comment", "sql_case"),
    ("sql_case", "url"),
    ("sql_comment", "url"),
    ("sql_tab", "url_all"),
    ("cmd_ifs", "url"),
    ("cmd_quote_split", "cmd_ifs"),
    ("cmd_backslash", "url_all"),
    ("path_dot_slash", "url"),
    ("path_double_slash", "double_url"),
    ("html_case", "xss_slash"),
    ("html_case", "url"),
    ("html_entity", "json_unicode_escape"),
    ("xss_slash", "json_unicode_escape"),
    ("prompt_homoglyph", "prompt_zero_width"),
    ("prompt_leet", "json_unicode_escape"),
    ("ssti_spaces", "json_unicode_escape"),
    ("ssti_trim", "json_escape_all"),
    ("code_fullwidth", "url"),
    ("code_chr", "url"),
    ("code_spaces", "url_plus"),
    ("ssrf_host_case", "url"),
    ("ssrf_scheme_case", "ssrf_host_case"),
    ("yaml_tag_directive", "yaml_comment"),
    ("yaml_verbose_tag", "yaml_doc_markers"),
)

BREAKS_TAG = "evasion-may-break"
# The marker is the active input itself (XSS): it must come back unescaped, so finding it in
# the request is expected, not a reason to distrust it.
REFLECTED_TAG = "reflected-marker"
FOLLOW_UPS: dict[str, HttpRequest] = {"L9": HttpRequest(method="GET", path="/comments")}


def fingerprint(req: HttpRequest) -> tuple[Any, ...]:
    """What the wire sees: two requests with equal fingerprints are the same request."""
    return (
        req.method,
        req.path,
        wire_query(req),
        req.content_type,
        req.body,
        tuple(sorted(req.headers.items())),
        tuple(sorted(req.cookies.items())),
        req.body_charset,
        req.content_encoding,
        req.chunked,
    )


def _applies(
    enc: Encoder,
    cls: str,
    is_str: bool,
    place: Placement,
    *,
    only: frozenset[str] | None,
    skip: frozenset[str],
) -> bool:
    if (only is not None and enc.name not in only) or enc.name in skip:
        return False
    if enc.stage == "value":
        return cls in enc.classes and is_str
    if enc.classes and cls not in enc.classes:
        return False
    return bool(enc.wires & set(place.wires))


@functools.cache
def _chain_table(
    cls: str, is_str: bool, pname: str, only: frozenset[str] | None, skip: frozenset[str]
) -> tuple[tuple[Encoder, ...], ...]:
    """Every encoder chain that applies to payloads of ``cls`` in placement ``pname``."""
    place = get_placement(pname)
    out: list[tuple[Encoder, ...]] = [()]
    if not place.combines:
        return tuple(out)
    out += [(enc,) for enc in encoders if _applies(enc, cls, is_str, place, only=only, skip=skip)]
    for names in CHAINS:
        chain = tuple(get(n) for n in names)
        if all(_applies(e, cls, is_str, place, only=only, skip=skip) for e in chain):
            out.append(tuple(sorted(chain, key=lambda e: e.stage != "value")))
    return tuple(out)


def _chains(base: BasePayload, place: Placement) -> tuple[tuple[Encoder, ...], ...]:
    only = frozenset(base.mutators) if base.mutators is not None else None
    return _chain_table(
        base.attack_class, isinstance(base.payload, str), place.name, only, frozenset(base.skip_mutators)
    )


def _marker(base: BasePayload, value_chain: Sequence[Encoder], payload: Any) -> tuple[bool, str | None]:
    """``(kept, marker)`` after value-stage encoding; ``kept`` is False when the variant loses it.

    A computed marker never appears in the payload, so encoding keeps it as is; a reflected
    marker (XSS) is encoded like the payload and must still be found in it.
    """
    marker = base.expect.marker
    if marker is None or not isinstance(base.payload, str) or marker not in base.payload:
        return True, marker
    for enc in value_chain:
        marker = enc(marker)
    return isinstance(payload, str) and marker in payload, marker


def expand(
    base: BasePayload,
    seen: set[tuple[Any, ...]] | None = None,
    reserved: set[tuple[Any, ...]] | frozenset[tuple[Any, ...]] = frozenset(),
) -> list[Case]:
    """The attack cases of one base payload (``seen`` de-duplicates across payloads; a
    variant whose request is in ``reserved`` belongs to another base payload and is skipped)."""
    seen = set() if seen is None else seen
    spec = ENDPOINT_SPECS[base.endpoint]
    names = (
        [base.placement]
        if base.placement
        else [p for p in spec.placements if get_placement(p).accepts(base.payload)]
    )
    out: list[Case] = []
    for index, pname in enumerate(names):
        place = get_placement(pname)
        for chain in _chains(base, place):
            values = [e for e in chain if e.stage == "value"]
            wires = [e for e in chain if e.stage == "wire"]
            payload: Any = base.payload
            for enc in values:
                payload = enc(payload)
            if values and payload == base.payload:
                continue
            kept, marker = _marker(base, values, payload)
            if not kept:
                continue
            by_carrier: dict[str, list[Encoder]] = {}
            for enc in wires:
                for carrier in place.wires:
                    if carrier in enc.wires:
                        by_carrier.setdefault(carrier, []).append(enc)
                        break
            request = place.build(spec, base.param, payload, base.fields, by_carrier)
            key = fingerprint(request)
            if key in seen or (chain and key in reserved):
                continue
            seen.add(key)
            suffix = ("" if index == 0 else f".{pname}") + "".join(f".{e.name}" for e in chain)
            tags = list(base.tags)
            if any(e.breaks for e in chain):
                tags.append(BREAKS_TAG)
            if marker is not None and isinstance(payload, str) and marker in payload:
                tags.append(REFLECTED_TAG)
            out.append(
                Case.model_validate(
                    {
                        "id": base.id + suffix,
                        "label": "attack",
                        "class": base.attack_class,
                        "endpoint": base.endpoint,
                        "request": request,
                        "base_payload": base.id,
                        "placement": pname,
                        "encodings": [e.name for e in chain],
                        "expect": Expect(oracle=base.expect.oracle, marker=marker),
                        "provenance": base.provenance,
                        "tags": tags,
                        "follow_up": FOLLOW_UPS.get(base.endpoint),
                        "notes": base.notes,
                    }
                )
            )
    return out


def bare_request(base: BasePayload) -> HttpRequest:
    """The unmutated request of ``base`` in its default placement."""
    spec = ENDPOINT_SPECS[base.endpoint]
    pname = base.placement or next(p for p in spec.placements if get_placement(p).accepts(base.payload))
    return get_placement(pname).build(spec, base.param, base.payload, base.fields, {})


def expand_all(bases: Iterable[BasePayload]) -> list[Case]:
    """Every base payload expanded, in order, de-duplicated across the whole corpus.

    A variant that equals another base payload's own request is dropped in favour of
    that base payload, so every base payload keeps its unmutated case.
    """
    bases = list(bases)
    reserved = {fingerprint(bare_request(b)) for b in bases}
    seen: set[tuple[Any, ...]] = set()
    out: list[Case] = []
    for base in bases:
        out.extend(expand(base, seen, reserved))
    return out
