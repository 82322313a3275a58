"""The gateway's own responses: small pages that carry a status and an incident id only.

Never rule ids, scores, engine names or exception text: a client learns that it was refused
and which id to quote, nothing an attacker could tune a payload against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from http import HTTPStatus

from aiohttp import web

__all__ = ["Page", "error_page", "render_page"]

_MESSAGES: dict[int, str] = {
    400: "The request could not be understood.",
    403: "The request was blocked.",
    405: "This method is not allowed.",
    408: "The request took too long to arrive.",
    413: "The request body is too large.",
    429: "Too many requests. Try again later.",
    431: "The request headers are too large.",
    502: "The upstream service is unavailable.",
    504: "The upstream service did not answer in time.",
}


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page: body and its content type (the front end adds the headers)."""

    status: int
    body: bytes
    content_type: str  # with charset


def render_page(status: int, request_id: str, *, accept: str = "") -> Page:
    """JSON when the client asks for it, otherwise a minimal HTML page. Only the status and
    the request id (already validated or minted) go in: never anything the client sent."""
    phrase = HTTPStatus(status).phrase
    message = _MESSAGES.get(status, phrase)
    if "json" in accept:
        body = json.dumps({"status": status, "error": phrase, "message": message, "incident": request_id})
        return Page(status, body.encode(), "application/json; charset=utf-8")
    html = (
        f"<!doctype html><title>{status} {escape(phrase)}</title>"
        f"<h1>{status} {escape(phrase)}</h1><p>{escape(message)}</p>"
        f"<p>Incident: <code>{escape(request_id)}</code></p>\n"
    )
    return Page(status, html.encode(), "text/html; charset=utf-8")


def error_page(status: int, request_id: str, *, accept: str = "", close: bool = False) -> web.Response:
    """:func:`render_page` as an aiohttp response (``Cache-Control: no-store``)."""
    page = render_page(status, request_id, accept=accept)
    resp = web.Response(status=status, body=page.body, headers={"Content-Type": page.content_type})
    resp.headers["Cache-Control"] = "no-store"
    if close:
        resp.force_close()
    return resp
