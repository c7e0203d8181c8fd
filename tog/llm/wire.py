"""What a request becomes on the wire, and a stable key for it (pure; no I/O).

`request_body` is the JSON body of ``POST /chat/completions`` for a `ChatRequest`: model,
messages, sampling and structured-output fields. `request_key` hashes that body, so two requests
share a key exactly when a server would see the same body; the response cache
(`tog.llm.cache`) and run recordings (`tog.record`) key on it. A backend names the model and
structured-output style its bodies carry through `SupportsIdentity` (``identity()``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol, TypeAlias, runtime_checkable

from tog.llm.base import ChatRequest, Completion, JSONValue
from tog.llm.structured import StructuredStyle, task_fields

__all__ = [
    "KEY_VERSION",
    "LLMIdentity",
    "SupportsAsyncIdentity",
    "SupportsIdentity",
    "aidentity_of",
    "canonical_json",
    "completion_from_json",
    "completion_to_json",
    "identity_of",
    "request_body",
    "request_key",
]

KEY_VERSION: Final = "tog-request/1"
"""Hashed into every key: changing how bodies are built changes this, so old keys stop matching."""

CompletionJSON: TypeAlias = dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class LLMIdentity:
    """What a backend adds to a request's body: the model name and the structured-output style.

    Attributes:
        model: The model named in each request body.
        structured_style: How structured-output fields are written, or None when off.
        backend: The backend's display name (``"OpenAICompatible"``); not part of the key.
    """

    model: str
    structured_style: StructuredStyle | None = None
    backend: str = ""


@runtime_checkable
class SupportsIdentity(Protocol):
    """Optional: a sync backend that says which model and style its request bodies carry."""

    def identity(self) -> LLMIdentity:
        """The model and structured-output style (may ask the server once for its model)."""
        ...


@runtime_checkable
class SupportsAsyncIdentity(Protocol):
    """Optional: `SupportsIdentity` for async backends, as a coroutine."""

    async def identity(self) -> LLMIdentity:
        """See `SupportsIdentity.identity`."""
        ...


def request_body(
    request: ChatRequest, model: str, structured_style: StructuredStyle | None = None
) -> dict[str, JSONValue]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    Structured-output fields (`tog.llm.structured.task_fields`) are merged before
    ``sampling.extra``, which comes last so a caller can override anything.

    Args:
        request: The task, messages and sampling settings.
        model: The model name to send.
        structured_style: The structured-output style, or None for none.

    Returns:
        The body as plain JSON data.

    >>> from tog.llm.base import ExtractEntities, Message, Sampling
    >>> task = ExtractEntities("Who directed Alien?", 2)
    >>> request = ChatRequest(task, (Message("user", "hi"),), Sampling(seed=7))
    >>> request_body(request, "m")
    {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.0, \
'max_tokens': 256, 'seed': 7}
    """
    sampling = request.sampling
    messages: list[JSONValue] = [
        {"role": message.role, "content": message.content} for message in request.messages
    ]
    body: dict[str, JSONValue] = {
        "model": model,
        "messages": messages,
        "temperature": sampling.temperature,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    body.update(task_fields(request.task, structured_style))
    body.update(sampling.extra)
    return body


def canonical_json(value: JSONValue) -> str:
    """``value`` as compact JSON with sorted keys: equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(
    request: ChatRequest, model: str, structured_style: StructuredStyle | None = None
) -> str:
    """A stable key of the request as sent: the SHA-256 of its canonical `request_body`.

    Everything that reaches the server is in it (model, messages, temperature, max tokens,
    top-p, seed, stop, ``sampling.extra`` and the structured-output schema in its style);
    the Python task object is not, beyond what it contributes to the body.

    Args:
        request: The request.
        model: The model name the backend sends.
        structured_style: The backend's structured-output style, or None when off.

    Returns:
        64 hex digits.
    """
    text = canonical_json(request_body(request, model, structured_style))
    return hashlib.sha256(f"{KEY_VERSION}\n{text}".encode()).hexdigest()


def identity_of(llm: object) -> LLMIdentity:
    """A sync backend's identity: its ``identity()``, else its ``model`` attribute or type name.

    A backend without ``identity()`` is taken to send no structured-output fields.

    Raises:
        TypeError: ``llm.identity`` is a coroutine function (use `aidentity_of`).
    """
    if isinstance(llm, SupportsIdentity):
        if inspect.iscoroutinefunction(llm.identity):
            raise TypeError(f"{type(llm).__name__}.identity is async; use aidentity_of")
        return llm.identity()
    model = getattr(llm, "model", None)
    name = type(llm).__name__
    return LLMIdentity(model if isinstance(model, str) and model else name, None, name)


async def aidentity_of(llm: object) -> LLMIdentity:
    """`identity_of` for any backend: an async ``identity()`` is awaited."""
    if isinstance(llm, SupportsAsyncIdentity) and inspect.iscoroutinefunction(llm.identity):
        return await llm.identity()
    return identity_of(llm)


def completion_to_json(completion: Completion) -> CompletionJSON:
    """Every field of a `Completion` as JSON data."""
    return {
        "text": completion.text,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "finish_reason": completion.finish_reason,
        "model": completion.model,
        "attempts": completion.attempts,
        "constrained": completion.constrained,
    }


def completion_from_json(data: Mapping[str, JSONValue]) -> Completion:
    """Read `completion_to_json`'s output back.

    Raises:
        ValueError: a field is missing or has the wrong type.
    """
    text, model, finish = data.get("text"), data.get("model", ""), data.get("finish_reason")
    constrained = data.get("constrained", False)
    counts = {k: data.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "attempts")}
    numbers = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    if (
        not isinstance(text, str)
        or not isinstance(model, str)
        or not (finish is None or isinstance(finish, str))
        or not isinstance(constrained, bool)
        or len(numbers) != len(counts)
    ):
        raise ValueError(f"not a recorded completion: {canonical_json(dict(data))[:200]}")
    return Completion(
        text=text,
        prompt_tokens=numbers["prompt_tokens"],
        completion_tokens=numbers["completion_tokens"],
        finish_reason=finish,
        model=model,
        attempts=numbers["attempts"],
        constrained=constrained,
    )
