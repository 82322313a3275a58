"""OpenAI-compatible HTTP surface of the simulator: ``/v1/chat/completions``,
``/v1/responses`` and ``/v1/models``, enough for the official ``openai`` client."""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiohttp import web

from rampart.labapp.llmsim.naive_llm import reply

__all__ = ["MODEL_NAME", "build_llm_app"]

MODEL_NAME = "lab-assistant-1"
_ids = itertools.count(1)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
        )
    return "" if content is None else str(content)


def _split(messages: list[Any]) -> tuple[str, str]:
    system = "\n".join(
        _text(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    )
    users = [_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return system, users[-1] if users else ""


def _usage(prompt: str, answer: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(answer.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": {"message": "body is not JSON"}}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": {"message": "body must be an object"}}', content_type="application/json"
        )
    return body


async def chat_completions(request: web.Request) -> web.Response:
    body = await _json_body(request)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return web.json_response({"error": {"message": "'messages' must be a list"}}, status=400)
    system, user = _split(messages)
    answer = reply(system, user)
    return web.json_response(
        {
            "id": f"chatcmpl-lab{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or MODEL_NAME),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
            ],
            "usage": _usage(system + " " + user, answer),
        }
    )


async def responses(request: web.Request) -> web.Response:
    body = await _json_body(request)
    raw = body.get("input")
    if isinstance(raw, str):
        system, user = "", raw
    elif isinstance(raw, list):
        system, user = _split(raw)
    else:
        return web.json_response({"error": {"message": "'input' must be a string or a list"}}, status=400)
    system = "\n".join(s for s in (_text(body.get("instructions")), system) if s)
    answer = reply(system, user)
    n = next(_ids)
    return web.json_response(
        {
            "id": f"resp_lab{n}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": str(body.get("model") or MODEL_NAME),
            "output": [
                {
                    "type": "message",
                    "id": f"msg_lab{n}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": answer, "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": len(user.split()),
                "output_tokens": len(answer.split()),
                "total_tokens": len(user.split()) + len(answer.split()),
            },
        }
    )


async def models(_request: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "lab"}]}
    )


def build_llm_app() -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/responses", responses)
    app.router.add_get("/v1/models", models)
    return app
