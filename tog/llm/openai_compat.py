"""Chat backends for OpenAI-compatible HTTP servers such as ``vllm serve``, over httpx.

`OpenAICompatible` and `AsyncOpenAICompatible` differ only in I/O; response parsing, error
classification and retry delays are module-level functions both share, and request bodies come
from `tog.llm.wire`. That is why
this module is long: splitting the twins apart would split what they must agree on. Balancing and
failover over several endpoints (`Plan`) are `tog.llm._endpoints`; structured-output schemas are
`tog.llm.structured`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from tog.llm._endpoints import Endpoint, EndpointPool, EndpointStatus, Plan, is_failover
from tog.llm.base import ChatRequest, Completion, JSONValue
from tog.llm.structured import StructuredStyle, resolve_style, task_fields
from tog.llm.wire import LLMIdentity, request_body

__all__ = ["AsyncOpenAICompatible", "EndpointStatus", "OpenAICompatible"]

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
    """Everything about the endpoints except the client and the model, validated."""

    base_urls: tuple[str, ...]
    headers: Mapping[str, str]
    timeout: float
    max_retries: int
    backoff: float
    max_retry_after: float
    style: StructuredStyle | None = None


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


def _normalize_base_urls(base_url: str | Sequence[str]) -> tuple[str, ...]:
    """One or several endpoints, each normalized.

    Raises:
        ValueError: no endpoint, a malformed one, or one given twice.
    """
    given = [base_url] if isinstance(base_url, str) else list(base_url)
    if not given:
        raise ValueError("base_url must name at least one endpoint; got an empty list")
    urls = tuple(_normalize_base_url(url) for url in given)
    for url in urls:
        if urls.count(url) > 1:
            raise ValueError(f"base_url names the endpoint {url!r} more than once")
    return urls


def _make_settings(
    base_url: str | Sequence[str],
    *,
    api_key: str | None,
    timeout: float,
    max_retries: int,
    backoff: float,
    max_retry_after: float,
    headers: Mapping[str, str] | None,
    structured_outputs: bool | StructuredStyle = False,
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
        base_urls=_normalize_base_urls(base_url),
        headers=merged,
        timeout=float(timeout),
        max_retries=max_retries,
        backoff=float(backoff),
        max_retry_after=float(max_retry_after),
        style=resolve_style(structured_outputs),
    )


# --- request and response (pure) --------------------------------------------------------------


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
    exc: httpx.RequestError, *, base_url: str, timeout: float, model: str
) -> LLMConnectionError | LLMResponseError:
    """Translate an httpx exception into the most specific `LLMError` (raise it ``from exc``)."""
    base = base_url
    detail = _describe(exc)
    if isinstance(exc, httpx.TimeoutException):
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
        return LLMTimeout(
            f"LLM endpoint {base} did not answer within {timeout:g}s{_for_model(model)}: {kind}",
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


def _reason(error: LLMError, cause: BaseException | None) -> str:
    """A few words on why an attempt failed, for the all-endpoints-failed message."""
    if isinstance(error, LLMStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, LLMTimeout):
        return "timed out"
    return _describe(cause) if cause is not None else type(error).__name__


def _response_error(response: httpx.Response, why: str, model: str) -> LLMResponseError:
    return LLMResponseError(
        f"LLM endpoint {response.request.method} {response.request.url} answered HTTP "
        f"{response.status_code} with {why}{_for_model(model)}: {_one_line(response.text)}",
        backend=_BACKEND,
        model=model,
    )


def _parse_completion(
    response: httpx.Response, *, model: str, attempts: int, constrained: bool = False
) -> Completion:
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
        constrained=constrained,
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


def _agree(found: Sequence[tuple[str, list[str]]], model: str | None) -> str:
    """The model every answering endpoint serves: ``model``, or the one the first serves.

    Args:
        found: ``(base_url, served model ids)`` of each endpoint that answered ``GET /models``.
        model: The configured model, or None to discover it.

    Raises:
        ModelNotFound: an endpoint does not serve the model (or serves none).
        LLMError: the first endpoint serves several models, so the caller must choose.
    """
    chosen = model if model is not None else _choose_model(found[0][1], found[0][0])
    for base_url, served in found:
        if chosen not in served:
            served_text = ", ".join(served) or "no model"
            raise ModelNotFound(
                f"model {chosen!r} is not served by LLM endpoint {base_url} (it serves "
                f"{served_text}); the endpoints of one client must serve the same model",
                status_code=200,
                backend=_BACKEND,
                model=chosen,
            )
    return chosen


def _url_of(response: httpx.Response, path: str) -> str:
    """The base URL a response came from (its request URL without ``/path``)."""
    return str(response.request.url).removesuffix(f"/{path}")


# --- clients -----------------------------------------------------------------------------------


class OpenAICompatible:
    """Synchronous `ChatModel` for OpenAI-compatible servers (``vllm serve``, llama.cpp, ...).

    Retries connection errors, timeouts, HTTP 429 and 5xx at most ``max_retries`` times with
    exponential backoff (``backoff * 2**k`` seconds, or the server's Retry-After capped at
    ``max_retry_after``); every other failure is raised at once as a typed `tog.errors.LLMError`.

    **Several endpoints.** Given a list of base URLs (data-parallel replicas of one model), each
    request goes to the endpoint with the fewest requests in flight, ties in turn. An endpoint
    failing with a connection error, timeout or 5xx is skipped for ``cooldown`` seconds, doubled
    per further failure up to ``max_cooldown``, and the request moves on to another endpoint at
    once; after the cooldown the endpoint gets one probe request. When every endpoint is down the
    retry policy above applies, and the final error names the endpoints tried. Safe to share
    between threads.

    **Structured outputs.** With ``structured_outputs`` on, relation-prune, entity-scoring,
    sufficiency and entity-extraction requests carry a JSON schema built from the request's own
    candidates (`tog.llm.structured.schema_for`), which a vLLM server enforces while decoding:
    ``True`` or ``"vllm"`` sends ``structured_outputs`` (vLLM 0.10.2 and later),
    ``"vllm-legacy"`` sends ``guided_json`` (vLLM up to 0.11), ``"openai"`` sends
    ``response_format`` (vLLM 0.6 and later, SGLang, llama.cpp). Off (False) by default, because
    servers without the feature may reject unknown fields. Replies are parsed the same way either
    way, so a server that ignores the fields still works.

    Example:
        >>> with OpenAICompatible(  # doctest: +SKIP
        ...     ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], structured_outputs=True
        ... ) as llm:
        ...     completion = llm.complete(request)
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        structured_outputs: bool | StructuredStyle = False,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Configure the backend; no request is made until the first call.

        Args:
            base_url: The API root, like ``http://127.0.0.1:8000/v1`` (``/v1`` is appended when
                the URL has no path), or a list of them: replicas serving the same model.
            model: The served model name; None asks ``GET /models`` on first use and takes the
                only model served. With several endpoints, the first call checks that every
                endpoint that answers serves the model.
            api_key: Sent as ``Authorization: Bearer ...`` when given.
            timeout: Seconds per HTTP attempt; applied per request, also to an injected client.
            max_retries: Retries after the first attempt (0 disables retrying).
            backoff: Seconds before the first retry; doubled for each further retry.
            max_retry_after: Upper bound on a server's Retry-After wait, in seconds.
            structured_outputs: False, True (same as ``"vllm"``), ``"vllm"``, ``"vllm-legacy"``
                or ``"openai"``: whether and how to ask for schema-constrained replies.
            cooldown: Seconds a failing endpoint is skipped after its first failure.
            max_cooldown: Upper bound on that cooldown as failures repeat.
            client: An httpx client to use; it is not closed by `close`.
            headers: Extra headers sent with every request.
            sleep: Called with the seconds to wait between attempts (tests inject a fake).

        Raises:
            ValueError: a base URL is not an http(s) URL with a host or is given twice, a number
                is out of range, or ``structured_outputs`` is not a known style.
        """
        self._settings = _make_settings(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            headers=headers,
            structured_outputs=structured_outputs,
        )
        self._pool = EndpointPool(
            self._settings.base_urls, cooldown=cooldown, max_cooldown=max_cooldown
        )
        self._model = model
        # One endpoint with a named model needs no check: the server answers 404 if it is wrong.
        self._checked = model is not None and len(self._pool) == 1
        self._check_lock = threading.Lock()
        self._owns_client = client is None
        self._client = httpx.Client(timeout=timeout) if client is None else client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_urls_repr(self._settings)}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The normalized API root, like ``http://127.0.0.1:8000/v1`` (the first, if several)."""
        return self._settings.base_urls[0]

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every endpoint's normalized API root, in the order given."""
        return self._settings.base_urls

    @property
    def model(self) -> str | None:
        """The model name: as given, or as discovered on first use (None until then)."""
        return self._model

    @property
    def structured_outputs(self) -> StructuredStyle | None:
        """The structured-output style requests use, or None when off."""
        return self._settings.style

    def endpoints(self) -> list[EndpointStatus]:
        """A snapshot of each endpoint: requests in flight, failures, cooldown left."""
        return self._pool.status()

    def identity(self) -> LLMIdentity:
        """The model and structured-output style every request body carries (`tog.llm.wire`).

        Built with ``model=None``, the client asks the server for its model once, as the first
        `complete` would.

        Raises:
            LLMError: the model could not be discovered.
        """
        model = self._model if self._model is not None else self._check_model()
        return LLMIdentity(model, self._settings.style, type(self).__name__)

    def complete(self, request: ChatRequest) -> Completion:
        """Send one non-streaming chat completion and return the reply.

        Args:
            request: The task, messages and sampling settings; ``sampling.extra`` is merged into
                the body last, so vendor fields pass through and override ours.

        Returns:
            The first choice's text with token usage, finish reason, model, attempt count and
            whether the request carried a structured-output constraint.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model = self._model if self._checked and self._model else self._check_model()
        constraint = task_fields(request.task, self._settings.style)
        body = request_body(request, model, self._settings.style)
        response, attempts = self._send("POST", "chat/completions", model=model, body=body)
        return _parse_completion(
            response, model=model, attempts=attempts, constrained=bool(constraint)
        )

    def models(self) -> list[str]:
        """The ids of the models served (``GET /models`` of one endpoint, chosen as for chats).

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

    def _check_model(self) -> str:
        """Discover the model, or check every endpoint serves it; once, for all threads."""
        with self._check_lock:
            if not self._checked or self._model is None:
                found = self._models_once_each() if len(self._pool) > 1 else []
                if not found:
                    response, _ = self._send("GET", "models", model=self._model or "")
                    found = [(_url_of(response, "models"), _parse_models(response))]
                self._model = _agree(found, self._model)
                self._checked = True
            return self._model

    def _models_once_each(self) -> list[tuple[str, list[str]]]:
        """``GET /models`` once at every endpoint; unreachable ones are marked down, skipped."""
        found = []
        for endpoint in self._pool.endpoints:
            try:
                response, _ = self._send(
                    "GET", "models", model=self._model or "", only=endpoint, max_retries=0
                )
            except LLMError as error:
                if not is_failover(error):
                    raise
                continue
            found.append((endpoint.base_url, _parse_models(response)))
        return found

    def _send(
        self,
        method: str,
        path: str,
        *,
        model: str,
        body: dict[str, JSONValue] | None = None,
        only: Endpoint | None = None,
        max_retries: int | None = None,
    ) -> tuple[httpx.Response, int]:
        """One request with failover and bounded retries; the 2xx response and attempts made."""
        settings = self._settings
        plan = _plan(self._pool, settings, f"{method} {path}", only, max_retries)
        while True:
            step = plan.next()
            if not isinstance(step, Endpoint):
                self._sleep(step)
                continue
            try:
                response = self._client.request(
                    method,
                    f"{step.base_url}/{path}",
                    json=body,
                    headers=settings.headers,
                    timeout=settings.timeout,
                )
            except httpx.RequestError as exc:
                error: LLMError = _transport_error(
                    exc, base_url=step.base_url, timeout=settings.timeout, model=model
                )
                plan.failed(step, error, _reason(error, exc), exc)
                continue
            except BaseException:
                plan.abandoned(step)
                raise
            if response.is_success:
                plan.succeeded(step)
                return response, plan.attempts
            error = _status_error(response, method=method, model=model)
            plan.failed(step, error, _reason(error, None))


class AsyncOpenAICompatible:
    """Asynchronous `AsyncChatModel` twin of `OpenAICompatible`: same arguments and behaviour.

    A real vLLM server batches concurrent requests itself, so callers get throughput by awaiting
    many `complete` calls at once (under a limiter). With several endpoints, concurrent requests
    spread over them by requests in flight; one client is safe to share between tasks of one
    event loop.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        structured_outputs: bool | StructuredStyle = False,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Configure the backend; see `OpenAICompatible` for the arguments.

        Raises:
            ValueError: a base URL is not an http(s) URL with a host or is given twice, a number
                is out of range, or ``structured_outputs`` is not a known style.
        """
        self._settings = _make_settings(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            headers=headers,
            structured_outputs=structured_outputs,
        )
        self._pool = EndpointPool(
            self._settings.base_urls, cooldown=cooldown, max_cooldown=max_cooldown
        )
        self._model = model
        self._checked = model is not None and len(self._pool) == 1
        self._check_lock = asyncio.Lock()
        self._owns_client = client is None
        self._client = httpx.AsyncClient(timeout=timeout) if client is None else client
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_urls_repr(self._settings)}, model={self._model!r})"

    @property
    def base_url(self) -> str:
        """The normalized API root, like ``http://127.0.0.1:8000/v1`` (the first, if several)."""
        return self._settings.base_urls[0]

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every endpoint's normalized API root, in the order given."""
        return self._settings.base_urls

    @property
    def model(self) -> str | None:
        """The model name: as given, or as discovered on first use (None until then)."""
        return self._model

    @property
    def structured_outputs(self) -> StructuredStyle | None:
        """The structured-output style requests use, or None when off."""
        return self._settings.style

    def endpoints(self) -> list[EndpointStatus]:
        """A snapshot of each endpoint: requests in flight, failures, cooldown left."""
        return self._pool.status()

    async def identity(self) -> LLMIdentity:
        """See `OpenAICompatible.identity`."""
        model = self._model if self._model is not None else await self._check_model()
        return LLMIdentity(model, self._settings.style, type(self).__name__)

    async def complete(self, request: ChatRequest) -> Completion:
        """Send one non-streaming chat completion; see `OpenAICompatible.complete`.

        Concurrent first calls wait for one model discovery (or check) to finish.

        Raises:
            LLMError: a subclass from `tog.errors` saying what failed.
        """
        model = self._model if self._checked and self._model else await self._check_model()
        constraint = task_fields(request.task, self._settings.style)
        body = request_body(request, model, self._settings.style)
        response, attempts = await self._send("POST", "chat/completions", model=model, body=body)
        return _parse_completion(
            response, model=model, attempts=attempts, constrained=bool(constraint)
        )

    async def models(self) -> list[str]:
        """The ids of the models served (``GET /models`` of one endpoint, chosen as for chats).

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

    async def _check_model(self) -> str:
        """Discover the model, or check every endpoint serves it; once, for all tasks."""
        async with self._check_lock:
            if not self._checked or self._model is None:
                found = await self._models_once_each() if len(self._pool) > 1 else []
                if not found:
                    response, _ = await self._send("GET", "models", model=self._model or "")
                    found = [(_url_of(response, "models"), _parse_models(response))]
                self._model = _agree(found, self._model)
                self._checked = True
            return self._model

    async def _models_once_each(self) -> list[tuple[str, list[str]]]:
        """``GET /models`` once at every endpoint, concurrently; unreachable ones are skipped."""

        async def ask(endpoint: Endpoint) -> tuple[str, list[str]] | None:
            try:
                response, _ = await self._send(
                    "GET", "models", model=self._model or "", only=endpoint, max_retries=0
                )
            except LLMError as error:
                if not is_failover(error):
                    raise
                return None
            return endpoint.base_url, _parse_models(response)

        answers = await asyncio.gather(*(ask(e) for e in self._pool.endpoints))
        return [answer for answer in answers if answer is not None]

    async def _send(
        self,
        method: str,
        path: str,
        *,
        model: str,
        body: dict[str, JSONValue] | None = None,
        only: Endpoint | None = None,
        max_retries: int | None = None,
    ) -> tuple[httpx.Response, int]:
        """One request with failover and bounded retries; the 2xx response and attempts made."""
        settings = self._settings
        plan = _plan(self._pool, settings, f"{method} {path}", only, max_retries)
        while True:
            step = plan.next()
            if not isinstance(step, Endpoint):
                await self._sleep(step)
                continue
            try:
                response = await self._client.request(
                    method,
                    f"{step.base_url}/{path}",
                    json=body,
                    headers=settings.headers,
                    timeout=settings.timeout,
                )
            except httpx.RequestError as exc:
                error: LLMError = _transport_error(
                    exc, base_url=step.base_url, timeout=settings.timeout, model=model
                )
                plan.failed(step, error, _reason(error, exc), exc)
                continue
            except BaseException:
                plan.abandoned(step)
                raise
            if response.is_success:
                plan.succeeded(step)
                return response, plan.attempts
            error = _status_error(response, method=method, model=model)
            plan.failed(step, error, _reason(error, None))


def _plan(
    pool: EndpointPool, settings: _Settings, label: str, only: Endpoint | None, retries: int | None
) -> Plan:
    """The failover and retry plan of one request under ``settings``."""
    return Plan(
        pool,
        lambda error, retry: _retry_delay(error, retry, settings),
        settings.max_retries if retries is None else retries,
        label,
        only=only,
    )


def _urls_repr(settings: _Settings) -> str:
    urls = settings.base_urls
    return repr(urls[0]) if len(urls) == 1 else repr(list(urls))
