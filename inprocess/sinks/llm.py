"""LLM sink: the official ``openai`` client, sync and async ``chat.completions.create``
and ``responses.create``. The messages (or the Responses ``input`` with its
``instructions``) go to the ``prompt`` detector before the request is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher, before, version_at_least

__all__ = ["patch"]

SINK = "llm"


def _chat_prompt(kwargs: dict[str, Any]) -> Any:
    messages = kwargs.get("messages")
    return list(messages) if messages is not None else None


def _responses_prompt(kwargs: dict[str, Any]) -> Any:
    given = kwargs.get("input")
    instructions = kwargs.get("instructions")
    if not isinstance(instructions, str):
        return given
    messages: list[Any] = [{"role": "system", "content": instructions}]
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif given is not None:
        messages.extend(given)
    return messages


def _wrap(operation: str, extract: Callable[[dict[str, Any]], Any]) -> Callable[[Any], Any]:
    def judge(self: Any, *args: Any, **kwargs: Any) -> None:
        prompt = extract(kwargs)
        if prompt is not None:
            guard.check(SINK, operation, "prompt", prompt)

    return before(judge, where=f"{SINK}.{operation}", quiet=False)


def _patch_chat(patcher: Patcher, module: Any) -> None:
    if not version_at_least("openai", (1, 40)):
        return
    patcher.wrap(module.Completions, "create", _wrap("chat.completions.create", _chat_prompt))
    patcher.wrap(module.AsyncCompletions, "create", _wrap("chat.completions.create", _chat_prompt))


def _patch_responses(patcher: Patcher, module: Any) -> None:
    if not version_at_least("openai", (1, 66)):
        return
    patcher.wrap(module.Responses, "create", _wrap("responses.create", _responses_prompt))
    patcher.wrap(module.AsyncResponses, "create", _wrap("responses.create", _responses_prompt))


def patch(patcher: Patcher) -> None:
    patcher.when_imported("openai.resources.chat.completions.completions", lambda m: _patch_chat(patcher, m))
    patcher.when_imported("openai.resources.responses.responses", lambda m: _patch_responses(patcher, m))
