"""Small helpers shared by the lab's handlers: JSON out, JSON in, clean client errors."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

__all__ = ["ClientError", "json_object", "json_out", "required_query"]

_dumps = partial(json.dumps, default=str, ensure_ascii=False)


class ClientError(Exception):
    """Bad input: becomes ``{"error": message}`` with ``status`` (never a traceback)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_out(data: Any, status: int = 200) -> web.Response:
    """JSON response; values JSON cannot hold (bytes, dates, objects) become their ``str``."""
    return web.json_response(data, status=status, dumps=_dumps)


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError, LookupError):
        raise ClientError("request body must be JSON") from None
    except RecursionError:
        raise ClientError("request body nests too deeply") from None
    if not isinstance(body, dict):
        raise ClientError("request body must be a JSON object")
    return body


def required_query(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if value is None:
        raise ClientError(f"missing query parameter {name!r}")
    return value
