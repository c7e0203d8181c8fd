"""Scripted chat backends: the reference fakes of `ChatModel` and `AsyncChatModel`.

They are not language models. Each reply comes from a queue of strings or from a function of the
request, and every request is recorded, so tests and notebooks can assert on exactly what was sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeAlias

from tog.llm.base import ChatRequest, Completion

__all__ = ["AsyncScriptedLLM", "ScriptedLLM"]

Replies: TypeAlias = Sequence[str] | Callable[[ChatRequest], str]


class _Script:
    """The state both fakes share: where replies come from and what was asked."""

    __slots__ = ("_function", "_owner", "_queue", "_scripted", "model", "requests")

    def __init__(self, replies: Replies, model: str, owner: str) -> None:
        self.model = model
        self.requests: list[ChatRequest] = []
        self._function: Callable[[ChatRequest], str] | None = None
        self._queue: deque[str] = deque()
        self._scripted = 0
        if isinstance(replies, str):
            # A bare string is a Sequence of characters: almost certainly a mistake.
            raise TypeError(f"{owner} takes a sequence of replies or a function, not one string")
        if callable(replies):
            self._function = replies
        else:
            self._queue.extend(replies)
            self._scripted = len(self._queue)
            if not all(isinstance(reply, str) for reply in self._queue):
                raise TypeError(f"{owner} replies must all be strings")
        self._owner = owner

    def answer(self, request: ChatRequest) -> Completion:
        """Record ``request`` and return the next reply as a `Completion`."""
        self.requests.append(request)
        if self._function is not None:
            text = self._function(request)
        elif self._queue:
            text = self._queue.popleft()
        else:
            raise LookupError(
                f"{self._owner} ran out of replies: {self._scripted} were scripted and "
                f"request {len(self.requests)} found none left"
            )
        prompt_tokens = sum(len(message.content.split()) for message in request.messages)
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(text.split()),
            finish_reason="stop",
            model=self.model,
        )


class ScriptedLLM:
    """A `ChatModel` that replies from a script and records every request.

    Example:
        >>> from tog.llm.base import ChatRequest, ExtractEntities, Message, Sampling
        >>> llm = ScriptedLLM(["Paris"])
        >>> task = ExtractEntities(question="Capital of France?", max_mentions=1)
        >>> request = ChatRequest(task, (Message("user", "Capital of France?"),), Sampling())
        >>> llm.complete(request).text
        'Paris'
        >>> len(llm.requests)
        1
    """

    __test__ = False

    def __init__(self, replies: Replies, *, model: str = "scripted") -> None:
        """Build the fake.

        Args:
            replies: Reply strings returned in order, one per call, or a function computing the
                reply from each request.
            model: The model name reported in each `Completion`.

        Raises:
            TypeError: ``replies`` is a single string or holds a non-string.
        """
        self._script = _Script(replies, model, type(self).__name__)

    @property
    def requests(self) -> list[ChatRequest]:
        """Every request received, in order (the live list)."""
        return self._script.requests

    @property
    def model(self) -> str:
        """The model name reported in each `Completion`."""
        return self._script.model

    def complete(self, request: ChatRequest) -> Completion:
        """Record ``request`` and return the next scripted reply.

        Token counts are whitespace-separated words of the messages and of the reply.

        Raises:
            LookupError: the queue of replies is used up.
        """
        return self._script.answer(request)


class AsyncScriptedLLM:
    """An `AsyncChatModel` that replies from a script and records every request.

    The same as `ScriptedLLM` with ``async def complete``; a reply function stays synchronous.
    """

    __test__ = False

    def __init__(self, replies: Replies, *, model: str = "scripted") -> None:
        """Build the fake; see `ScriptedLLM` for the arguments.

        Raises:
            TypeError: ``replies`` is a single string or holds a non-string.
        """
        self._script = _Script(replies, model, type(self).__name__)

    @property
    def requests(self) -> list[ChatRequest]:
        """Every request received, in order (the live list)."""
        return self._script.requests

    @property
    def model(self) -> str:
        """The model name reported in each `Completion`."""
        return self._script.model

    async def complete(self, request: ChatRequest) -> Completion:
        """Record ``request`` and return the next scripted reply.

        Raises:
            LookupError: the queue of replies is used up.
        """
        return self._script.answer(request)
