"""Shared fixtures for the LLM backend tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tog.llm.base import ChatRequest, ExtractEntities, Message, Sampling
from tog.llm.standin import StandInServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def echo_policy(messages: list[Message]) -> str:
    """Reply with the last message's content, prefixed, so replies are easy to predict."""
    return f"echo: {messages[-1].content}"


def make_request(*contents: str, sampling: Sampling | None = None) -> ChatRequest:
    """A request whose messages are a system prompt followed by user turns."""
    users = tuple(Message("user", content) for content in contents)
    messages = (Message("system", "You answer questions."), *users)
    return ChatRequest(
        task=ExtractEntities(question=contents[-1] if contents else "", max_mentions=3),
        messages=messages,
        sampling=sampling or Sampling(),
    )


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    """A started stand-in server with `echo_policy`, stopped at teardown."""
    with StandInServer(echo_policy, model="standin-model") as server:
        yield server
