"""Drivers: the only place where the engine's steps meet a KG adapter and an LLM backend.

`drive` runs each batch's steps in order (scripts, notebooks); `adrive` runs each batch
concurrently under a limit (servers, evaluation). Both record every step in a `Trace` and close
the flow even when a step raises; errors propagate unchanged.

Many questions: `drive_many` advances many flows in lockstep rounds and sends each round's LLM
requests in one ``complete_batch`` call (in-process vLLM, the offline scorer); `adrive_many` runs
many flows concurrently with at most ``concurrency`` LLM requests in flight (a vLLM server batches
concurrent requests itself). There a failing question becomes an exception value; the others
carry on.

Wall-time budgets are the drivers' business, not the engine's (it has no clock): when a
question's ``time_budget_s`` runs out, its driver throws `StopSearch` into the flow once, and the
engine answers from the best paths found so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any, Literal, TypeAlias, TypeVar, assert_never, cast

import anyio

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    KnowledgeGraph,
    SupportsAsyncEntitySearch,
    SupportsDescribe,
    SupportsEntitySearch,
    SupportsMentions,
)
from tog.embeddings import Embedder
from tog.errors import LLMResponseError
from tog.llm.base import (
    AsyncChatModel,
    ChatModel,
    ChatRequest,
    Completion,
    SupportsBatchComplete,
)
from tog.steps import (
    AskLLM,
    Batch,
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
    StopSearch,
)
from tog.trace import Trace

T = TypeVar("T")
Clock: TypeAlias = Callable[[], float]
OnErrors: TypeAlias = Literal["return", "raise"]
WINDOW_PER_SLOT = 4
"""`adrive_many` runs at most this many questions per LLM slot at once."""


class _Deadline:
    """A question's wall-time budget; `due` is true once, when it has run out."""

    __slots__ = ("_at", "_clock", "seconds")

    def __init__(self, seconds: float | None, clock: Clock) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = None if seconds is None else clock() + seconds

    def due(self) -> bool:
        if self._at is None or self._clock() < self._at:
            return False
        self._at = None
        return True

    def signal(self) -> StopSearch:
        return StopSearch("budget_time", f"wall-time budget of {self.seconds:g} s spent")


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
    time_budget_s: float | None = None,
    clock: Clock = time.monotonic,
) -> T:
    """Run a flow to completion, one step at a time, recording every step in ``trace``.

    Args:
        flow: The search (or any flow of steps).
        kg: Runs the KG steps.
        llm: Runs the `AskLLM` steps.
        trace: Receives one event per step.
        embedder: Runs `Embed` steps (the ``embedding`` pruning tool).
        time_budget_s: Wall seconds for the flow; when they run out, `StopSearch` is thrown into
            the flow once (before its next batch runs).
        clock: Seconds, monotonic; tests inject a fake.
    """
    deadline = _Deadline(time_budget_s, clock)
    with closing(flow):
        try:
            batch = next(flow)
            while True:
                if deadline.due():
                    batch = flow.throw(deadline.signal())
                    continue
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
    time_budget_s: float | None = None,
    clock: Clock = time.monotonic,
) -> T:
    """Run a flow with each batch's steps issued concurrently (at most ``concurrency`` at once).

    Events are recorded in step order, so a trace does not depend on which reply came first.
    ``time_budget_s`` and ``clock`` work as in `drive`.
    """
    return await _adrive(
        flow,
        kg,
        llm,
        trace=trace,
        concurrency=concurrency,
        embedder=embedder,
        deadline=_Deadline(time_budget_s, clock),
        llm_slots=None,
    )


async def _adrive(
    flow: Flow[T],
    kg: AsyncKnowledgeGraph,
    llm: AsyncChatModel,
    *,
    trace: Trace,
    concurrency: int,
    embedder: Embedder | None,
    deadline: _Deadline,
    llm_slots: asyncio.Semaphore | None,
) -> T:
    """`adrive`; ``llm_slots``, shared between flows, bounds LLM requests in flight across them."""
    limiter = asyncio.Semaphore(concurrency)

    async def one(step: Step) -> tuple[StepResult | None, float, BaseException | None]:
        shared = llm_slots if llm_slots is not None and isinstance(step, AskLLM) else None
        async with limiter, shared or contextlib.nullcontext():
            start = time.perf_counter()  # after the wait for a slot: the trace times the call
            try:
                result = await arun_step(step, kg, llm, embedder)
                return result, time.perf_counter() - start, None
            except Exception as exc:
                return None, time.perf_counter() - start, exc

    with closing(flow):
        try:
            batch = next(flow)
            while True:
                if deadline.due():
                    batch = flow.throw(deadline.signal())
                    continue
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
    """Use a synchronous `ChatModel` from async code: each call runs in a worker thread.

    Args:
        llm: The synchronous backend; it must tolerate calls from several threads.
        limiter: Caps concurrent calls (worker threads); anyio's default limiter when None.
    """

    def __init__(self, llm: ChatModel, *, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.llm = llm
        self.limiter = limiter

    async def complete(self, request: ChatRequest) -> Completion:
        """See `ChatModel.complete`."""
        return await anyio.to_thread.run_sync(self.llm.complete, request, limiter=self.limiter)


# --- many questions ------------------------------------------------------------------------------


def drive_many(
    flows: Sequence[Flow[T]],
    kg: KnowledgeGraph,
    llm: SupportsBatchComplete,
    *,
    traces: Sequence[Trace],
    window: int = 8,
    errors: OnErrors = "return",
    embedder: Embedder | None = None,
    time_budget_s: float | None = None,
    clock: Clock = time.monotonic,
    on_done: Callable[[int, T | Exception], None] | None = None,
) -> list[T | Exception]:
    """Run many flows in lockstep rounds: each round's LLM requests go in one batch call.

    A round: every active flow runs its KG steps (in order, in this thread) until it waits on the
    LLM or finishes; then the requests of all waiting flows go to ``llm.complete_batch`` in one
    call, and each flow gets its own replies. At most ``window`` flows are active; a finished
    flow makes room for the next one, which joins the next round. Each `AskLLM` event records the
    seconds of the whole batch call it was part of.

    Args:
        flows: One flow per question; ``traces[i]`` receives the events of ``flows[i]``.
        kg: Runs the KG steps.
        llm: Answers a list of requests in one call (`tog.llm.VLLMEngine`, `OfflineScorer`).
        traces: One trace per flow.
        window: Most flows advanced together, hence the batch size in flows.
        errors: ``"return"``: a flow whose step or engine raised ends with that exception as its
            value (if the batch call raises, every flow waiting on it does); ``"raise"``: the
            first failure closes every flow and propagates unchanged.
        embedder: Runs `Embed` steps.
        time_budget_s: Wall seconds per flow, counted from its first step (see `drive`).
        clock: Seconds, monotonic; tests inject a fake.
        on_done: Called with a flow's index and value (or exception) as soon as it finishes.

    Returns:
        Each flow's value, or the exception it failed with, in input order.
    """
    if len(traces) != len(flows):
        raise ValueError(f"{len(flows)} flows but {len(traces)} traces")
    if window < 1:
        raise ValueError(f"window must be >= 1; got {window!r}")
    runner = cast(ChatModel, llm)  # run_step needs a ChatModel; it only runs the KG steps here
    done: dict[int, T | Exception] = {}
    deadlines: dict[int, _Deadline] = {}

    def finish(i: int, value: T | Exception) -> None:
        if isinstance(value, Exception):
            flows[i].close()
            if errors == "raise":
                raise value
        done[i] = value
        if on_done is not None:
            on_done(i, value)

    def settle(i: int, advance: Callable[[], Batch]) -> Batch | None:
        """Advance flow ``i`` until it waits on the LLM; None once it has finished."""
        flow = flows[i]
        try:
            batch = advance()
            while True:
                if deadlines[i].due():
                    batch = flow.throw(deadlines[i].signal())
                elif any(isinstance(step, AskLLM) for step in batch):
                    return batch
                else:
                    batch = flow.send([_timed(s, kg, runner, traces[i], embedder) for s in batch])
        except StopIteration as stop:
            value: T = stop.value
            finish(i, value)
        except Exception as exc:
            finish(i, exc)
        return None

    queue = iter(range(len(flows)))
    waiting: dict[int, Batch] = {}
    try:
        while True:
            while len(waiting) < window and (i := next(queue, None)) is not None:
                deadlines[i] = _Deadline(time_budget_s, clock)
                batch = settle(i, flows[i].__next__)
                if batch is not None:
                    waiting[i] = batch
            if not waiting:
                break
            asks = [
                (i, k, step.request)
                for i, batch in waiting.items()
                for k, step in enumerate(batch)
                if isinstance(step, AskLLM)
            ]
            replies, seconds, failure = _complete_batch(llm, [request for _, _, request in asks])
            reply_of = {(i, k): reply for (i, k, _), reply in zip(asks, replies, strict=False)}
            current, waiting = waiting, {}
            for i, batch in current.items():
                results: list[StepResult] = []
                try:
                    for k, step in enumerate(batch):
                        if not isinstance(step, AskLLM):
                            results.append(_timed(step, kg, runner, traces[i], embedder))
                            continue
                        traces[i].record(step, reply_of.get((i, k)), seconds, failure)
                        if failure is not None:
                            raise failure
                        results.append(reply_of[(i, k)])
                except Exception as exc:
                    finish(i, exc)
                    continue
                following = settle(i, functools.partial(flows[i].send, results))
                if following is not None:
                    waiting[i] = following
    finally:
        for flow in flows:
            flow.close()
    return [done[i] for i in range(len(flows))]


def _complete_batch(
    llm: SupportsBatchComplete, requests: list[ChatRequest]
) -> tuple[list[Completion], float, Exception | None]:
    """One batch call: the completions, its seconds, and the exception if it failed."""
    if not requests:
        return [], 0.0, None
    start = time.perf_counter()
    try:
        replies = llm.complete_batch(requests)
    except Exception as exc:
        return [], time.perf_counter() - start, exc
    seconds = time.perf_counter() - start
    if len(replies) != len(requests):
        error = LLMResponseError(
            f"complete_batch returned {len(replies)} completions for {len(requests)} requests",
            backend=type(llm).__name__,
        )
        return [], seconds, error
    return list(replies), seconds, None


async def adrive_many(
    flows: Sequence[Flow[T]],
    kg: AsyncKnowledgeGraph,
    llm: AsyncChatModel,
    *,
    traces: Sequence[Trace],
    concurrency: int = 8,
    errors: OnErrors = "return",
    embedder: Embedder | None = None,
    time_budget_s: float | None = None,
    clock: Clock = time.monotonic,
    on_done: Callable[[int, T | Exception], None] | None = None,
) -> list[T | Exception]:
    """Run many flows concurrently, at most ``concurrency`` LLM requests in flight across them.

    Each flow runs as under `adrive`. A semaphore shared by all flows guards the LLM calls, so
    the endpoint never sees more than ``concurrency`` requests at once (a vLLM server batches the
    requests in flight). At most ``WINDOW_PER_SLOT * concurrency`` flows run at a time, so a
    question's time budget is not spent queueing behind thousands of others.

    Args:
        flows: One flow per question; ``traces[i]`` receives the events of ``flows[i]``.
        kg: The async KG (wrap a sync one with `kg_adapters.to_async`).
        llm: The async LLM (wrap a sync one with `AsyncLLMFromSync`).
        traces: One trace per flow.
        concurrency: Most LLM requests in flight; also each flow's own step concurrency.
        errors: ``"return"``: a failing flow ends with its exception as its value;
            ``"raise"``: the first failure cancels the other flows and propagates unchanged.
        embedder: Runs `Embed` steps.
        time_budget_s: Wall seconds per flow, counted from its first step (see `drive`).
        clock: Seconds, monotonic; tests inject a fake.
        on_done: Called with a flow's index and value (or exception) as soon as it finishes.

    Returns:
        Each flow's value, or the exception it failed with, in input order.
    """
    if len(traces) != len(flows):
        raise ValueError(f"{len(flows)} flows but {len(traces)} traces")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1; got {concurrency!r}")
    llm_slots = asyncio.Semaphore(concurrency)
    window = asyncio.Semaphore(WINDOW_PER_SLOT * concurrency)
    done: dict[int, T | Exception] = {}

    async def one(i: int) -> None:
        async with window:
            value: T | Exception
            try:
                value = await _adrive(
                    flows[i],
                    kg,
                    llm,
                    trace=traces[i],
                    concurrency=concurrency,
                    embedder=embedder,
                    deadline=_Deadline(time_budget_s, clock),
                    llm_slots=llm_slots,
                )
            except Exception as exc:
                if errors == "raise":
                    raise
                value = exc
            done[i] = value
            if on_done is not None:
                on_done(i, value)

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(flows))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for flow in flows:
            flow.close()
    return [done[i] for i in range(len(flows))]


def is_async_llm(llm: object) -> bool:
    """Whether ``llm.complete`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(llm, "complete", None))


def is_async_kg(kg: object) -> bool:
    """Whether the adapter's ``relations`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(kg, "relations", None))


__all__ = [
    "WINDOW_PER_SLOT",
    "AsyncLLMFromSync",
    "adrive",
    "adrive_many",
    "arun_step",
    "drive",
    "drive_many",
    "is_async_kg",
    "is_async_llm",
    "run_step",
]
