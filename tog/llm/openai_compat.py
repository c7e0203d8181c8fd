"""Chat backends for OpenAI-compatible HTTP servers such as ``vllm serve``, over httpx.

`OpenAICompatible` and `AsyncOpenAICompatible` differ only in I/O; request bodies, response
parsing, error classification and retry delays are module-level functions both share. That is
why this module is long: splitting the twins apart would split what they must agree on.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import httpx

from tog.errors import (
    ContextLengthExceeded,
    LLMConnectionError,
    LLMError,
    LLMRateLimited,
    LLMResponseError,
    LLMStatusError,
    LLMTimeout,
    ModelNotFound,
)
from tog.llm.base import ChatRequest, Completion, JSONValue

__all__ = ["AsyncOpenAICompatible", "OpenAICompatible"]

logger = logging.getLogger(__name__)

_BACKEND: Final = "openai-compatible"
_SNIPPET_CHARS: Final = 300
# vLLM's wording ("This model's maximum context length is 4096 tokens") and its newer one ("is
# longer than the maximum model length of 4096").
_CONTEXT_LENGTH = re.compile(r"maximum context length|maximum model length", re.IGNORECASE)
_MODEL_MISSING = re.compile(
    r"model\b.*\b(does not exist|not found)|model_not_found", re.IGNORECASE | re.DOTALL
)
_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")


# --- configuration (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    """Everything about an endpoint except the client and the model, validated."""

    base_url: str
    headers: Mapping[str, str]
    timeout: float
    max_retries: int
    backoff: float
    max_retry_after: float

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` under the base URL."""
        return f"{self.base_url}/{path}"


def _normalize_base_url(base_url: str) -> str:
    """``http://host:8000``, ``.../v1`` and ``.../v1/`` all become ``http://host:8000/v1``.

    Raises:
        ValueError: ``base_url`` is not an http(s) URL with a host.
    """
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError, AttributeError) as exc:
        raise ValueError(f"base_url {base_url!r} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"base_url must be an http(s) URL with a host, like 'http://127.0.0.1:8000/v1'; "
            f"got {base_url!r}"
        )
    if url.query or url.fragment:
        raise ValueError(f"base_url must not have a query or fragment; got {base_url!r}")
    return str(url.copy_with(path=url.path.rstrip("/") or "/v1"))


def _make_settings(
    base_url: str,
    *,
    api_key: str | None,
    timeout: float,
    max_retries: int,
    backoff: float,
    max_retry_after: float,
    headers: Mapping[str, str] | None,
) -> _Settings:
    """Validate the constructor arguments shared by both clients."""
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds; got {timeout!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0; got {max_retries!r}")
    if backoff < 0 or max_retry_after < 0:
        raise ValueError(
            f"backoff and max_retry_after must be >= 0; got {backoff!r} and {max_retry_after!r}"
        )
    merged = dict(headers or {})
    if api_key is not None:
        merged["Authorization"] = f"Bearer {api_key}"
    return _Settings(
        base_url=_normalize_base_url(base_url),
        headers=merged,
        timeout=float(timeout),
        max_retries=max_retries,
        backoff=float(backoff),
        max_retry_after=float(max_retry_after),
    )


# --- request and response (pure) --------------------------------------------------------------


def _request_body(request: ChatRequest, model: str) -> dict[str, JSONValue]:
    """The JSON body of ``POST /chat/completions``; ``sampling.extra`` is merged in last."""
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
    body.update(sampling.extra)
    return body


def _one_line(text: str) -> str:
    """Collapse whitespace and cut long text, so error messages stay one readable line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET_CHARS else flat[: _SNIPPET_CHARS - 3] + "..."


def _for_model(model: str) -> str:
    return f" (model {model!r})" if model else ""


def _json_object(response: httpx.Response) -> dict[str, object] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data: object = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_detail(response: httpx.Response) -> str:
    """The server's own error message: ``error.message`` (OpenAI, vLLM), ``message``, ``detail``."""
    data = _json_object(response)
    message: object = None
    if data is not None:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str):
            message = data.get("message", data.get("detail"))
    text = message if isinstance(message, str) else response.text
    return _one_line(text) or "(empty body)"


def _retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _status_error(response: httpx.Response, *, method: str, model: str) -> LLMStatusError:
    """Classify a non-2xx answer as the most specific `LLMStatusError`."""
    status = response.status_code
    url = f"{method} {response.request.url}"
    detail = _error_detail(response)
    body = response.text
    if status == 429:
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        wait = "" if retry_after is None else f", retry after {retry_after:g}s"
        return LLMRateLimited(
            f"LLM endpoint rate-limited {url}{_for_model(model)} with HTTP 429{wait}: {detail}",
            retry_after=retry_after,
            body=body,
            backend=_BACKEND,
            model=model,
        )
    error_class: type[LLMStatusError] = LLMStatusError
    message = f"LLM endpoint answered HTTP {status} to {url}{_for_model(model)}: {detail}"
    if status == 400 and _CONTEXT_LENGTH.search(body):
        error_class = ContextLengthExceeded
        message = f"prompt does not fit the context window{_for_model(model)} at {url}: {detail}"
    elif status == 404 or (400 <= status < 500 and _MODEL_MISSING.search(detail)):
        error_class = ModelNotFound
        name = repr(model) if model else "(unnamed)"
        message = (
            f"model {name} not found at {url} (HTTP {status}): {detail}; check model= and base_url"
        )
    return error_class(message, status_code=status, body=body, backend=_BACKEND, model=model)


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure, such as ``connection refused``.

    Prefers the OS error underneath: the async stack wraps it as "All connection attempts failed".
    """
    text = str(exc)
    cause: BaseException | None = exc
    for _ in range(8):  # exception chains are short; the bound only guards against cycles
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.errno is not None:
            text = os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror or cause)
            break
        cause = cause.__cause__ or cause.__context__
    text = _ERRNO_PREFIX.sub("", _one_line(text)) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _transport_error(
    exc: httpx.RequestError, *, settings: _Settings, model: str
) -> LLMConnectionError | LLMResponseError:
    """Translate an httpx exception into the most specific `LLMError` (raise it ``from exc``)."""
    base = settings.base_url
    detail = _describe(exc)
    if isinstance(exc, httpx.TimeoutException):
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
        return LLMTimeout(
            f"LLM endpoint {base} did not answer within {settings.timeout:g}s"
            f"{_for_model(model)}: {kind}",
            backend=_BACKEND,
            model=model,
        )
    if isinstance(exc, httpx.ConnectError):
        return LLMConnectionError(
            f"cannot reach LLM endpoint {base}: {detail}", backend=_BACKEND, model=model
        )
    if isinstance(exc, httpx.TransportError):
        return LLMConnectionError(
            f"connection to LLM endpoint {base} failed{_for_model(model)}: {detail}",
            backend=_BACKEND,
            model=model,
        )
    # DecodingError, TooManyRedirects: the server answered, but not with a usable response.
    return LLMResponseError(
        f"unusable response from LLM endpoint {base}{_for_model(model)}: {detail}",
        backend=_BACKEND,
        model=model,
    )


def _retry_delay(error: LLMError, retry: int, settings: _Settings) -> float | None:
    """Seconds to wait before retry number ``retry`` (0-based), or None to give up on ``error``.

    Connection errors, timeouts, 429 and 5xx are retried; every other error is final.
    """
    if retry >= settings.max_retries:
        return None
    if isinstance(error, LLMRateLimited):
        if error.retry_after is not None:
            return min(error.retry_after, settings.max_retry_after)
    elif isinstance(error, LLMStatusError):
        if error.status_code < 500:
            return None
    elif not isinstance(error, LLMConnectionError):
        return None
    return settings.backoff * 2.0**retry


def _log_retry(method: str, url: str, attempt: int, error: LLMError, delay: float) -> None:
    logger.warning(
        "%s %s: attempt %d failed, retrying in %.2fs: %s", method, url, attempt, delay, error
    )


def _final(error: LLMError, attempts: int) -> LLMError:
    """The error to raise after ``attempts`` tries; notes the attempt count when it retried."""
    if attempts > 1:
        error.add_note(f"gave up after {attempts} attempts")
    return error


def _response_error(response: httpx.Response, why: str, model: str) -> LLMResponseError:
    return LLMResponseError(
        f"LLM endpoint {response.request.method} {response.request.url} answered HTTP "
        f"{response.status_code} with {why}{_for_model(model)}: {_one_line(response.text)}",
        backend=_BACKEND,
        model=model,
    )


def _parse_completion(response: httpx.Response, *, model: str, attempts: int) -> Completion:
    """Read a 2xx chat-completion body into a `Completion`.

    Raises:
        LLMResponseError: the body is not JSON or has no ``choices[0].message``.
    """
    data = _json_object(response)
    if data is None:
        raise _response_error(response, "a body that is not a JSON object", model)
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise _response_error(response, "no choices[0].message", model)
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _response_error(response, "a non-text choices[0].message.content", model)
    usage = data.get("usage")
    finish_reason = choice.get("finish_reason")
    served = data.get("model")
    return Completion(
        text=content or "",
        prompt_tokens=_usage_count(usage, "prompt_tokens"),
        completion_tokens=_usage_count(usage, "completion_tokens"),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        model=served if isinstance(served, str) and served else model,
        attempts=attempts,
    )


def _usage_count(usage: object, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _parse_models(response: httpx.Response) -> list[str]:
    """Read a ``GET /models`` body (OpenAI list format) into model ids, in served order.

    Raises:
        LLMResponseError: the body is not an OpenAI model list.
    """
    data = _json_object(response)
    entries = data.get("data") if data is not None else None
    if not isinstance(entries, list):
        raise _response_error(response, "no model list ('data')", "")
    ids = [entry.get("id") for entry in entries if isinstance(entry, dict)]
    return [model_id for model_id in ids if isinstance(model_id, str)]


def _choose_model(served: list[str], base_url: str) -> str:
    """The one model an endpoint serves, for clients built with ``model=None``.

    Raises:
        ModelNotFound: the endpoint serves no model.
        LLMError: it serves several, so the caller must choose.
    """
    if len(served) == 1:
        return served[0]
    if not served:
        raise ModelNotFound(
            f"LLM endpoint {base_url} serves no model (GET {base_url}/models is empty)",
            status_code=200,
            backend=_BACKEND,
        )
    raise LLMError(
        f"LLM endpoint {base_url} serves {len(served)} models ({', '.join(served)}); "
        f"pass model= to choose one",
        backend=_BACKEND,
    )


# --- clients -----------------------------------------------------------------------------------


class OpenAICompatible:
    """Synchronous `ChatModel` for an OpenAI-compatible server (``vllm serve``, llama.cpp, ...).

    Retries connection errors, timeouts, HTTP 429 and 5xx at most ``max_retries`` times with
    exponential backoff (``backoff * 2**k`` seconds, or the server's Retry-After capped at
    ``max_retry_after``); every other failure is raised at once as a typed `tog.errors.LLMError`.

    Example:
        >>> with OpenAICompatible("http://127.0.0.1:8000/v1") as llm:  # doctest: +SKIP
        ...     completion = llm.complete(request)
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Configure the backend; no request is made until the first call.

        Args:
            base_url: The API root, like ``http://127.0.0.1:8000/v1``; ``/v1`` is appended when
                the URL has no path.
            model: The served model name; None asks ``GET /models`` on first use and takes the
                only model served.
            api_key: Sent as ``Authorization: Bearer ...`` when given.
            timeout: Seconds per HTTP attempt; applied per request, also to an injected client.
            max_retries: Retries after the first attempt (0 disables retrying).
            backoff: Seconds before the first retry; doubled for each further retry.
            max_retry_after: Upper bound on a server's Retry-After wait, in seconds.
            client: An httpx client to use; it is not closed by `close`.
            headers: Extra headers sent with every request.
            sleep: Called with the seconds to wait between attempts (tests inject a fake).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL with a host, or a number is out of range.
        """
        self._settings = _make_settings(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            headers=headers,
        )
        self._model = model
        self._owns_client = client is None
        self._client = httpx.Client(timeout=timeout) if client is None else client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The normalized API root, like ``http://127.0.0.1:8000/v1``."""
        return self._settings.base_url

    @property
    def model(self) -> str | None:
        """The model name: as given, or as discovered on first use (None until then)."""
        return self._model

    def complete(self, request: ChatRequest) -> Completion:
        """Send one non-streaming chat completion and return the reply.

        Args:
            request: The messages and sampling settings; ``sampling.extra`` is merged into the
                body last, so vendor fields (``guided_json``, ``response_format``) pass through.

        Returns:
            The first choice's text with token usage, finish reason, model and attempt count.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model = self._model if self._model is not None else self._discover_model()
        body = _request_body(request, model)
        response, attempts = self._send("POST", "chat/completions", model=model, body=body)
        return _parse_completion(response, model=model, attempts=attempts)

    def models(self) -> list[str]:
        """The ids of the models the endpoint serves (``GET /models``).

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        response, _ = self._send("GET", "models", model=self._model or "")
        return _parse_models(response)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _discover_model(self) -> str:
        self._model = _choose_model(self.models(), self.base_url)
        return self._model

    def _send(
        self, method: str, path: str, *, model: str, body: dict[str, JSONValue] | None = None
    ) -> tuple[httpx.Response, int]:
        """One request with bounded retries; returns the 2xx response and the attempts made."""
        settings = self._settings
        url = settings.url(path)
        attempt = 0
        while True:
            attempt += 1
            cause: httpx.RequestError | None = None
            try:
                response = self._client.request(
                    method, url, json=body, headers=settings.headers, timeout=settings.timeout
                )
            except httpx.RequestError as exc:
                cause = exc
                error: LLMError = _transport_error(exc, settings=settings, model=model)
            else:
                if response.is_success:
                    return response, attempt
                error = _status_error(response, method=method, model=model)
            delay = _retry_delay(error, attempt - 1, settings)
            if delay is None:
                raise _final(error, attempt) from cause
            _log_retry(method, url, attempt, error, delay)
            self._sleep(delay)


class AsyncOpenAICompatible:
    """Asynchronous `AsyncChatModel` twin of `OpenAICompatible`: same arguments and behaviour.

    A real vLLM server batches concurrent requests itself, so callers get throughput by awaiting
    many `complete` calls at once (under a limiter).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Configure the backend; see `OpenAICompatible` for the arguments.

        Raises:
            ValueError: ``base_url`` is not an http(s) URL with a host, or a number is out of range.
        """
        self._settings = _make_settings(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            headers=headers,
        )
        self._model = model
        self._owns_client = client is None
        self._client = httpx.AsyncClient(timeout=timeout) if client is None else client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The normalized API root, like ``http://127.0.0.1:8000/v1``."""
        return self._settings.base_url

    @property
    def model(self) -> str | None:
        """The model name: as given, or as discovered on first use (None until then)."""
        return self._model

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one non-streaming chat completion; see `OpenAICompatible.complete`.

        Concurrent first calls with ``model=None`` may each ask ``GET /models``; the answer is
        the same, so the duplicate request is harmless.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model = self._model if self._model is not None else await self._discover_model()
        body = _request_body(request, model)
        response, attempts = await self._send("POST", "chat/completions", model=model, body=body)
        return _parse_completion(response, model=model, attempts=attempts)

    async def models(self) -> list[str]:
        """The ids of the models the endpoint serves (``GET /models``).

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        response, _ = await self._send("GET", "models", model=self._model or "")
        return _parse_models(response)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _discover_model(self) -> str:
        self._model = _choose_model(await self.models(), self.base_url)
        return self._model

    async def _send(
        self, method: str, path: str, *, model: str, body: dict[str, JSONValue] | None = None
    ) -> tuple[httpx.Response, int]:
        """One request with bounded retries; returns the 2xx response and the attempts made."""
        settings = self._settings
        url = settings.url(path)
        attempt = 0
        while True:
            attempt += 1
            cause: httpx.RequestError | None = None
            try:
                response = await self._client.request(
                    method, url, json=body, headers=settings.headers, timeout=settings.timeout
                )
            except httpx.RequestError as exc:
                cause = exc
                error: LLMError = _transport_error(exc, settings=settings, model=model)
            else:
                if response.is_success:
                    return response, attempt
                error = _status_error(response, method=method, model=model)
            delay = _retry_delay(error, attempt - 1, settings)
            if delay is None:
                raise _final(error, attempt) from cause
            _log_retry(method, url, attempt, error, delay)
            await self._sleep(delay)
