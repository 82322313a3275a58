"""The gateway's own responses: small pages that carry a status and an incident id only.

Never rule ids, scores, engine names or exception text: a client learns that it was refused
and which id to quote, nothing an attacker could tune a payload against.
"""

from __future__ import annotations

import json
from html import escape
from http import HTTPStatus

from aiohttp import web

__all__ = ["error_page"]

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


def error_page(status: int, request_id: str, *, accept: str = "", close: bool = False) -> web.Response:
    """JSON when the client asks for it, otherwise a minimal HTML page."""
    phrase = HTTPStatus(status).phrase
    message = _MESSAGES.get(status, phrase)
    if "json" in accept:
        body = json.dumps({"status": status, "error": phrase, "message": message, "incident": request_id})
        resp = web.Response(status=status, text=body, content_type="application/json")
    else:
        html = (
            f"<!doctype html><title>{status} {escape(phrase)}</title>"
            f"<h1>{status} {escape(phrase)}</h1><p>{escape(message)}</p>"
            f"<p>Incident: <code>{escape(request_id)}</code></p>\n"
        )
        resp = web.Response(status=status, text=html, content_type="text/html")
    resp.headers["Cache-Control"] = "no-store"
    if close:
        resp.force_close()
    return resp
