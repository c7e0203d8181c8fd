"""Errors raised by the agent and its LLM backends.

```
ToGError
├── LLMError                  .backend, .model
│   ├── LLMConnectionError    the endpoint could not be reached
│   │   └── LLMTimeout        the endpoint did not answer in time
│   ├── LLMStatusError        .status_code, .body: the endpoint answered with an HTTP error
│   │   ├── LLMRateLimited    .retry_after: HTTP 429
│   │   ├── ModelNotFound     the endpoint does not serve the requested model
│   │   └── ContextLengthExceeded   the prompt is longer than the model's context
│   └── LLMResponseError      a 2xx answer that is not an OpenAI-style completion
├── OutputParseError          .prompt, .raw: a reply that no parser could read
├── PromptError               a template could not be loaded or rendered
├── NoTopicEntity             the question links to no entity of the graph (CLI and API callers)
├── ReplayMiss                a replayed run made a request its recording lacks (`tog.record`)
│   └── KGReplayMiss          ... a KG request; also a `kg_adapters.errors.KGError`
└── RecordedError             a recorded failure replay cannot rebuild as its own class
```

Developer mistakes (bad arguments) raise `TypeError` / `ValueError`, never `ToGError`.
"""

from __future__ import annotations

from kg_adapters.errors import KGError


class ToGError(Exception):
    """Base class of every runtime failure raised by `tog`."""


class LLMError(ToGError):
    """An LLM backend failed; carries the backend name and model."""

    def __init__(self, message: str, *, backend: str = "", model: str = "") -> None:
        super().__init__(message)
        self.backend = backend
        self.model = model


class LLMConnectionError(LLMError):
    """The endpoint could not be reached (refused, DNS, reset)."""


class LLMTimeout(LLMConnectionError):
    """The endpoint did not answer within the timeout."""


class LLMStatusError(LLMError):
    """The endpoint answered with an HTTP error status."""

    def __init__(
        self, message: str, *, status_code: int, body: str = "", backend: str = "", model: str = ""
    ) -> None:
        super().__init__(message, backend=backend, model=model)
        self.status_code = status_code
        self.body = body


class LLMRateLimited(LLMStatusError):
    """HTTP 429; ``retry_after`` holds the server's Retry-After in seconds, if it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        body: str = "",
        retry_after: float | None = None,
        backend: str = "",
        model: str = "",
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, backend=backend, model=model)
        self.retry_after = retry_after


class ModelNotFound(LLMStatusError):
    """The endpoint does not serve the requested model (HTTP 404, or absent from /v1/models)."""


class ContextLengthExceeded(LLMStatusError):
    """The prompt does not fit the model's context window (vLLM answers HTTP 400)."""


class LLMResponseError(LLMError):
    """The endpoint answered 2xx with a body that is not a chat completion."""


class OutputParseError(ToGError):
    """A model reply could not be parsed; ``raw`` is the reply and ``prompt`` names the task.

    ``rejected`` lists names the reply gave that match no candidate (never queried).
    """

    def __init__(
        self, message: str, *, prompt: str, raw: str, rejected: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.prompt = prompt
        self.raw = raw
        self.rejected = rejected


class PromptError(ToGError):
    """A prompt template is missing, malformed, or was rendered with wrong placeholder names."""


class NoTopicEntity(ToGError):
    """No topic entity was given and none of the question's mentions links to the graph."""


class ReplayMiss(ToGError):
    """A replayed run sent a request that its recording does not hold (or holds fewer times).

    ``what`` names the request: the LLM task and key prefix, or the KG method and arguments.
    """

    def __init__(self, message: str, *, what: str = "") -> None:
        super().__init__(message)
        self.what = what


class KGReplayMiss(ReplayMiss, KGError):
    """A replayed KG was asked something the recording lacks; ``adapter`` is ``"replay"``."""

    def __init__(self, message: str, *, what: str = "") -> None:
        KGError.__init__(self, message, adapter="replay", query=what)
        self.what = what


class RecordedError(ToGError):
    """A recorded run failed here with an error that replay cannot rebuild as its own class.

    Replay rebuilds errors of `tog.errors`, `kg_adapters.errors` and the builtins; any other
    is raised as this, with the original ``"module.Class: message"`` as its message.
    """
