"""Chat backends over any langchain-core chat model (extra ``think-on-graph[langchain]``).

`LangChainChat` calls ``invoke`` and `AsyncLangChainChat` calls ``ainvoke``; both share the
message mapping, the sampling rule, the reply reading and the error translation below. This module
imports langchain-core only when a backend is built, so ``from tog.llm import *`` works without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeAlias, assert_never, cast

import httpx
from pydantic import BaseModel

from tog.errors import (
    ContextLengthExceeded,
    LLMConnectionError,
    LLMError,
    LLMRateLimited,
    LLMResponseError,
    LLMStatusError,
    LLMTimeout,
    ModelNotFound,
    ToGError,
)
from tog.llm.base import ChatRequest, Completion, JSONValue, Message

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable

    ChatRunnable: TypeAlias = Runnable[LanguageModelInput, BaseMessage]

__all__ = ["AsyncLangChainChat", "LangChainChat"]

_BACKEND: Final = "langchain"
_SNIPPET_CHARS: Final = 300
# `Sampling` field -> the chat-model fields that mean it, first match wins: OpenAI and Anthropic
# say max_tokens, Google max_output_tokens, Ollama num_predict, Hugging Face max_new_tokens.
_SAMPLING_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "temperature": ("temperature",),
    "max_tokens": ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens"),
    "top_p": ("top_p",),
    "seed": ("seed", "random_seed"),
}
_CONTEXT_LENGTH = re.compile(
    r"maximum context length|maximum model length|context window|prompt is too long",
    re.IGNORECASE,
)
# Exception class names, matched anywhere in the MRO: langchain-core's own `ModelError` tree
# (1.x) and the provider SDKs (openai, anthropic, ...) that langchain integrations re-raise.
_TIMEOUT_NAMES: Final = frozenset({"ModelTimeoutError", "APITimeoutError", "TimeoutException"})
_CONNECTION_NAMES: Final = frozenset({"ModelConnectionError", "APIConnectionError"})
_CONTEXT_NAMES: Final = frozenset({"ContextOverflowError"})
_RATE_LIMIT_NAMES: Final = frozenset({"ModelRateLimitError", "RateLimitError"})
_NOT_FOUND_NAMES: Final = frozenset({"ModelNotFoundError", "NotFoundError"})


def _require_langchain() -> None:
    try:
        import langchain_core.messages  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "tog.llm.LangChainChat needs langchain-core: pip install 'think-on-graph[langchain]'"
        ) from exc


def _model_name(chat_model: object) -> str:
    """The model's own name (``model_name``, ``model`` or ``model_id``), else its class name."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__


def _sampling_targets(chat_model: object) -> dict[str, str]:
    """Map each `Sampling` field to the field the chat model declares for it (absent: none)."""
    if not isinstance(chat_model, BaseModel):
        return {}
    declared = type(chat_model).model_fields
    targets: dict[str, str] = {}
    for ours, candidates in _SAMPLING_FIELDS.items():
        found = next((name for name in candidates if name in declared), None)
        if found is not None:
            targets[ours] = found
    return targets


def _to_langchain(messages: tuple[Message, ...]) -> list[BaseMessage]:
    """Our messages as langchain messages: system, human and AI, in order."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    converted: list[BaseMessage] = []
    for message in messages:
        match message.role:
            case "system":
                converted.append(SystemMessage(content=message.content))
            case "user":
                converted.append(HumanMessage(content=message.content))
            case "assistant":
                converted.append(AIMessage(content=message.content))
            case _:
                assert_never(message.role)
    return converted


def _text(content: object) -> str | None:
    """Reply text from ``content``: a string, or the text parts of a list of content blocks.

    Returns None when ``content`` is neither (the caller raises).
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def _count(usage: object, key: str) -> int:
    value = usage.get(key) if isinstance(usage, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _first_str(metadata: object, *keys: str) -> str | None:
    if not isinstance(metadata, Mapping):
        return None
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 3] + "..."


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (``status_code`` or ``response.status_code``)."""
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if isinstance(headers, Mapping) else None
    try:
        seconds = float(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return None if seconds is None or seconds < 0 else seconds


def _body(exc: BaseException) -> str:
    text = getattr(getattr(exc, "response", None), "text", None)
    if isinstance(text, str):
        return text
    body = getattr(exc, "body", None)
    return "" if body is None else str(body)


class _Bridge:
    """What both backends share: request building, reply reading and error translation."""

    __slots__ = ("chat_model", "model", "pass_sampling", "targets")

    def __init__(self, chat_model: ChatRunnable, *, pass_sampling: bool) -> None:
        _require_langchain()
        if not callable(getattr(chat_model, "invoke", None)):
            raise TypeError(
                f"chat_model must be a langchain-core chat model; got {type(chat_model).__name__}"
            )
        self.chat_model = chat_model
        self.model = _model_name(chat_model)
        self.pass_sampling = pass_sampling
        self.targets = _sampling_targets(chat_model) if pass_sampling else {}

    def prepare(
        self, request: ChatRequest
    ) -> tuple[ChatRunnable, list[BaseMessage], dict[str, JSONValue]]:
        """The model to call (a per-call copy when sampling fields are set), messages, keywords."""
        messages = _to_langchain(request.messages)
        if not self.pass_sampling:
            return self.chat_model, messages, {}
        sampling = request.sampling
        values: dict[str, object] = {
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        }
        update = {
            field: values[ours] for ours, field in self.targets.items() if values[ours] is not None
        }
        model = self.chat_model
        if update and isinstance(model, BaseModel):
            # A shallow copy shares the client, cache and rate limiter; the model then applies
            # the values its own way (request body, Ollama options, ...).
            model = cast("ChatRunnable", model.model_copy(update=update))
        keywords: dict[str, JSONValue] = dict(sampling.extra)
        if sampling.stop:
            keywords["stop"] = list(sampling.stop)
        return model, messages, keywords

    def completion(self, reply: object) -> Completion:
        """Read a reply message into a `Completion`.

        Raises:
            LLMResponseError: the reply is not a message with text content.
        """
        text = _text(getattr(reply, "content", None))
        if text is None:
            raise LLMResponseError(
                f"{self.describe()} returned {type(reply).__name__}, not a message with text "
                f"content: {_one_line(repr(reply))}",
                backend=_BACKEND,
                model=self.model,
            )
        usage = getattr(reply, "usage_metadata", None)
        metadata = getattr(reply, "response_metadata", None)
        return Completion(
            text=text,
            prompt_tokens=_count(usage, "input_tokens"),
            completion_tokens=_count(usage, "output_tokens"),
            finish_reason=_first_str(metadata, "finish_reason", "stop_reason", "done_reason"),
            model=_first_str(metadata, "model_name", "model") or self.model,
        )

    def describe(self) -> str:
        """``ChatOpenAI 'gpt-4o-mini'``, or the class name alone when the model has no name."""
        kind = type(self.chat_model).__name__
        return f"LangChain chat model {kind}" + ("" if self.model == kind else f" {self.model!r}")

    def error(self, exc: Exception) -> LLMError:
        """The most specific `LLMError` for an exception raised by the chat model."""
        names = {cls.__name__ for cls in type(exc).__mro__}
        status = _status_code(exc)
        where = self.describe()
        detail = f"{type(exc).__name__}: {_one_line(str(exc))}"
        model = self.model
        if names & _TIMEOUT_NAMES or isinstance(exc, TimeoutError | httpx.TimeoutException):
            return LLMTimeout(f"{where} timed out: {detail}", backend=_BACKEND, model=model)
        if names & _CONNECTION_NAMES or isinstance(exc, ConnectionError | httpx.TransportError):
            return LLMConnectionError(
                f"{where} could not reach its endpoint: {detail}", backend=_BACKEND, model=model
            )
        body = _body(exc)
        if names & _CONTEXT_NAMES or (
            status == 400 and _CONTEXT_LENGTH.search(f"{exc} {body}") is not None
        ):
            return ContextLengthExceeded(
                f"prompt does not fit the context window of {where}: {detail}",
                status_code=status or 400,
                body=body,
                backend=_BACKEND,
                model=model,
            )
        if names & _RATE_LIMIT_NAMES or status == 429:
            return LLMRateLimited(
                f"{where} was rate-limited: {detail}",
                status_code=status or 429,
                body=body,
                retry_after=_retry_after(exc),
                backend=_BACKEND,
                model=model,
            )
        if names & _NOT_FOUND_NAMES or status == 404:
            return ModelNotFound(
                f"{where} was not found by its provider: {detail}",
                status_code=status or 404,
                body=body,
                backend=_BACKEND,
                model=model,
            )
        if status is not None:
            return LLMStatusError(
                f"{where} failed with HTTP {status}: {detail}",
                status_code=status,
                body=body,
                backend=_BACKEND,
                model=model,
            )
        return LLMError(f"{where} failed: {detail}", backend=_BACKEND, model=model)


class LangChainChat:
    """A synchronous `ChatModel` over a langchain-core chat model: each call is one ``invoke``.

    Roles map to ``SystemMessage`` / ``HumanMessage`` / ``AIMessage``. The reply text is the
    message's ``content`` (the text parts joined when it is a list of content blocks); token
    counts come from ``usage_metadata`` when the model reports it (0 otherwise).

    Sampling: with ``pass_sampling=True``, each call runs on a shallow ``model_copy`` of the chat
    model with ``temperature``, ``max_tokens`` (or the model's ``max_output_tokens`` /
    ``num_predict`` / ``max_new_tokens``), ``top_p`` and ``seed`` (or ``random_seed``) set, but
    only those fields the model declares: an undeclared one is never sent, so the model's own
    default applies. ``Sampling.stop`` goes as ``invoke(stop=...)`` and ``Sampling.extra`` as
    further ``invoke`` keywords, unchanged. A provider that rejects a value raises, and the error
    arrives as a `tog.errors.LLMError`; then build with ``pass_sampling=False`` and configure
    the chat model itself. A wrapped model (``model.with_retry()``) declares no such fields, so
    only ``stop`` and ``extra`` reach it.

    Errors: anything the chat model raises becomes the most specific `tog.errors.LLMError`
    (timeout, connection, context length, HTTP 429 / 404 / other status, else `LLMError`),
    naming the model, with the original as ``__cause__``. Retries are the chat model's own
    (``max_retries`` on most providers); ``Completion.attempts`` is always 1.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> from tog.llm.base import ChatRequest, ExtractEntities, Message, Sampling
        >>> llm = LangChainChat(FakeListChatModel(responses=["Paris"]))
        >>> task = ExtractEntities(question="Capital of France?", max_mentions=1)
        >>> llm.complete(ChatRequest(task, (Message("user", "Capital?"),), Sampling())).text
        'Paris'
    """

    def __init__(self, chat_model: ChatRunnable, *, pass_sampling: bool = True) -> None:
        """Wrap ``chat_model``; no call is made until `complete`.

        Args:
            chat_model: Any langchain-core chat model (a ``BaseChatModel`` such as
                ``ChatOpenAI(...)``, or one wrapped with ``.with_retry()`` / ``.bind(...)``).
            pass_sampling: Send each request's `Sampling` to the model (see the class notes);
                False leaves the model's own settings alone.

        Raises:
            ImportError: langchain-core is not installed.
            TypeError: ``chat_model`` has no ``invoke`` method.
        """
        self._bridge = _Bridge(chat_model, pass_sampling=pass_sampling)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.chat_model).__name__}, model={self.model!r})"

    @property
    def chat_model(self) -> ChatRunnable:
        """The wrapped langchain chat model."""
        return self._bridge.chat_model

    @property
    def model(self) -> str:
        """The model's name (its ``model_name`` / ``model``), else the chat model's class name."""
        return self._bridge.model

    def complete(self, request: ChatRequest) -> Completion:
        """Send one request with ``chat_model.invoke`` and return the reply.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model, messages, keywords = self._bridge.prepare(request)
        try:
            reply: object = model.invoke(messages, None, **keywords)
        except ToGError:
            raise
        except Exception as exc:
            raise self._bridge.error(exc) from exc
        return self._bridge.completion(reply)


class AsyncLangChainChat:
    """An `AsyncChatModel` twin of `LangChainChat`: each call is one ``ainvoke``.

    Same arguments and behaviour; use it with `tog.aanswer` / `ThinkOnGraph.arun` so concurrent
    steps await the model instead of occupying worker threads.
    """

    def __init__(self, chat_model: ChatRunnable, *, pass_sampling: bool = True) -> None:
        """Wrap ``chat_model``; see `LangChainChat` for the arguments.

        Raises:
            ImportError: langchain-core is not installed.
            TypeError: ``chat_model`` has no ``invoke`` method.
        """
        self._bridge = _Bridge(chat_model, pass_sampling=pass_sampling)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.chat_model).__name__}, model={self.model!r})"

    @property
    def chat_model(self) -> ChatRunnable:
        """The wrapped langchain chat model."""
        return self._bridge.chat_model

    @property
    def model(self) -> str:
        """The model's name (its ``model_name`` / ``model``), else the chat model's class name."""
        return self._bridge.model

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one request with ``chat_model.ainvoke`` and return the reply.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model, messages, keywords = self._bridge.prepare(request)
        try:
            reply: object = await model.ainvoke(messages, None, **keywords)
        except ToGError:
            raise
        except Exception as exc:
            raise self._bridge.error(exc) from exc
        return self._bridge.completion(reply)
