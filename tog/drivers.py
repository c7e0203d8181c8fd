"""Drivers: the only place where the engine's steps meet a KG adapter and an LLM backend.

`drive` runs each batch's steps in order (scripts, notebooks); `adrive` runs each batch
concurrently under a limit (servers, evaluation). Both record every step in a `Trace` and close
the flow even when a step raises; errors propagate unchanged.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from contextlib import closing
from typing import Any, TypeVar, assert_never, cast

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    KnowledgeGraph,
    SupportsAsyncEntitySearch,
    SupportsDescribe,
    SupportsEntitySearch,
    SupportsMentions,
)
from tog.embeddings import Embedder
from tog.llm.base import AsyncChatModel, ChatModel, ChatRequest, Completion
from tog.steps import (
    AskLLM,
    Describe,
    Embed,
    FindMentions,
    Flow,
    GetLabels,
    ListNeighbors,
    ListRelations,
    Mentions,
    SearchEntities,
    Step,
    StepResult,
)
from tog.trace import Trace

T = TypeVar("T")


def run_step(
    step: Step, kg: KnowledgeGraph, llm: ChatModel, embedder: Embedder | None = None
) -> StepResult:
    """Run one step synchronously."""
    match step:
        case ListRelations(entities=entities, directions=directions, limit=limit):
            return {d: kg.relations(entities, direction=d, limit=limit) for d in directions}
        case ListNeighbors(hops=hops, limit=limit):
            return kg.neighbors(hops, limit=limit)
        case GetLabels(ids=ids):
            return kg.labels(ids)
        case SearchEntities(text=text, limit=limit):
            return cast(SupportsEntitySearch, kg).search_entities(text, limit=limit)
        case FindMentions(text=text):
            return cast(SupportsMentions, kg).find_mentions(text)
        case Describe(entities=entities, limit=limit):
            return cast(SupportsDescribe, kg).describe(entities, limit=limit)
        case Embed(texts=texts):
            return _embedder(embedder).embed(texts)
        case AskLLM(request=request):
            return llm.complete(request)
        case _:
            assert_never(step)


def _embedder(embedder: Embedder | None) -> Embedder:
    if embedder is None:
        raise ValueError("the flow asked for embeddings but the driver was given no embedder")
    return embedder


def drive(
    flow: Flow[T],
    kg: KnowledgeGraph,
    llm: ChatModel,
    *,
    trace: Trace,
    embedder: Embedder | None = None,
) -> T:
    """Run a flow to completion, one step at a time, recording every step in ``trace``."""
    with closing(flow):
        try:
            batch = next(flow)
            while True:
                results: list[StepResult] = []
                for step in batch:
                    results.append(_timed(step, kg, llm, trace, embedder))
                batch = flow.send(results)
        except StopIteration as done:
            value: T = done.value
            return value


def _timed(
    step: Step, kg: KnowledgeGraph, llm: ChatModel, trace: Trace, embedder: Embedder | None
) -> StepResult:
    start = time.perf_counter()
    try:
        result = run_step(step, kg, llm, embedder)
    except BaseException as exc:
        trace.record(step, None, time.perf_counter() - start, exc)
        raise
    trace.record(step, result, time.perf_counter() - start, None)
    return result


async def arun_step(
    step: Step, kg: AsyncKnowledgeGraph, llm: AsyncChatModel, embedder: Embedder | None = None
) -> StepResult:
    """Run one step on async backends (embeddings run in a worker thread)."""
    match step:
        case ListRelations(entities=entities, directions=directions, limit=limit):
            return {d: await kg.relations(entities, direction=d, limit=limit) for d in directions}
        case ListNeighbors(hops=hops, limit=limit):
            return await kg.neighbors(hops, limit=limit)
        case GetLabels(ids=ids):
            return await kg.labels(ids)
        case SearchEntities(text=text, limit=limit):
            return await cast(SupportsAsyncEntitySearch, kg).search_entities(text, limit=limit)
        case FindMentions(text=text):
            found = cast(SupportsMentions, kg).find_mentions(text)
            if inspect.isawaitable(found):
                return cast(Mentions, await found)
            return found
        case Describe(entities=entities, limit=limit):
            described = cast(Any, kg).describe(entities, limit=limit)
            if inspect.isawaitable(described):
                described = await described
            return cast(StepResult, described)
        case Embed(texts=texts):
            return await asyncio.to_thread(_embedder(embedder).embed, texts)
        case AskLLM(request=request):
            return await llm.complete(request)
        case _:
            assert_never(step)


async def adrive(
    flow: Flow[T],
    kg: AsyncKnowledgeGraph,
    llm: AsyncChatModel,
    *,
    trace: Trace,
    concurrency: int = 8,
    embedder: Embedder | None = None,
) -> T:
    """Run a flow with each batch's steps issued concurrently (at most ``concurrency`` at once).

    Events are recorded in step order, so a trace does not depend on which reply came first.
    """
    limiter = asyncio.Semaphore(concurrency)

    async def one(step: Step) -> tuple[StepResult | None, float, BaseException | None]:
        async with limiter:
            start = time.perf_counter()
            try:
                result = await arun_step(step, kg, llm, embedder)
                return result, time.perf_counter() - start, None
            except Exception as exc:
                return None, time.perf_counter() - start, exc

    with closing(flow):
        try:
            batch = next(flow)
            while True:
                outcomes = await asyncio.gather(*(one(step) for step in batch))
                results: list[StepResult] = []
                for step, (result, seconds, error) in zip(batch, outcomes, strict=True):
                    trace.record(step, result, seconds, error)
                    if error is not None:
                        raise error
                    results.append(cast(StepResult, result))
                batch = flow.send(results)
        except StopIteration as done:
            value: T = done.value
            return value


class AsyncLLMFromSync:
    """Use a synchronous `ChatModel` from async code: each call runs in a worker thread."""

    def __init__(self, llm: ChatModel) -> None:
        self.llm = llm

    async def complete(self, request: ChatRequest) -> Completion:
        """See `ChatModel.complete`."""
        return await asyncio.to_thread(self.llm.complete, request)


def is_async_llm(llm: object) -> bool:
    """Whether ``llm.complete`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(llm, "complete", None))


def is_async_kg(kg: object) -> bool:
    """Whether the adapter's ``relations`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(kg, "relations", None))


__all__ = [
    "AsyncLLMFromSync",
    "adrive",
    "arun_step",
    "drive",
    "is_async_kg",
    "is_async_llm",
    "run_step",
]
