"""`ThinkOnGraph`, `answer` / `aanswer` and `answer_many` / `aanswer_many`: asking a graph.

Many questions at once: `answer_many` runs their searches together. With a batch backend
(`SupportsBatchComplete`: in-process vLLM, the offline scorer) the questions advance in lockstep
rounds and each round's requests go in one batch call (`tog.drivers.drive_many`); with any other
backend the questions run concurrently and at most ``concurrency`` LLM requests are in flight
(`tog.drivers.adrive_many`), which a vLLM server batches itself.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar, cast

import anyio
import anyio.from_thread

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    EntityId,
    KnowledgeGraph,
    SupportsAsyncEntitySearch,
    SupportsDescribe,
    SupportsEntitySearch,
    SupportsMentions,
)
from tog._flow import PruneMode
from tog.config import SearchConfig
from tog.drivers import (
    AsyncLLMFromSync,
    OnErrors,
    adrive,
    adrive_many,
    drive,
    drive_many,
    is_async_kg,
    is_async_llm,
)
from tog.embeddings import Embedder
from tog.linking import Linking
from tog.llm.base import AsyncChatModel, ChatModel, SupportsBatchComplete, backend_name
from tog.llm.offline import OfflineScorer
from tog.paths import DepthRecord, SearchOutcome
from tog.result import ReasoningPath, Result, Usage
from tog.scoring import TextScorer
from tog.search import answer_flow, answer_ids
from tog.steps import Flow
from tog.templates import PromptSet, load_prompts
from tog.trace import Trace

TopicEntities = Sequence[EntityId] | Mapping[EntityId, str]
QuestionInput: TypeAlias = "str | tuple[str, TopicEntities | None]"
"""A question for `answer_many`: its text, or ``(text, topic_entities)``."""
OnResult: TypeAlias = Callable[[int, Result], None]
"""Progress callback of `answer_many`: the question's index in the input and its result."""

_T = TypeVar("_T")


class ThinkOnGraph:
    """A reusable agent: one graph, one LLM (or none), one config.

    Args:
        kg: The knowledge graph; a sync `KnowledgeGraph` (an async one works with `arun`).
        llm: A chat backend (`tog.llm.OpenAICompatible` for a vLLM server), or None to run
            offline with `OfflineScorer` (lexical pruning and path ranking, no model).
        config: Search settings; `SearchConfig()` by default.
        prompts: Prompt templates; the shipped ones by default.
        scorer: The lexical scorer used for BM25 pruning and hub pre-ranking.
        embedder: Sentence embeddings for ``prune_tool="embedding"``; by default all-MiniLM-L6-v2
            from the ``embeddings`` extra, loaded once per agent.
    """

    def __init__(
        self,
        kg: KnowledgeGraph | AsyncKnowledgeGraph,
        llm: ChatModel | AsyncChatModel | None = None,
        *,
        config: SearchConfig | None = None,
        prompts: PromptSet | None = None,
        scorer: TextScorer | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.kg = kg
        self.config = config or SearchConfig()
        self.scorer = scorer or TextScorer()
        self.offline = llm is None
        self.llm: ChatModel | AsyncChatModel = llm or OfflineScorer(self.scorer)
        self.prompts = prompts or load_prompts()
        self.prune: PruneMode = self.config.resolved_prune_tool(has_llm=not self.offline)
        self.embedder = embedder
        if self.prune == "embedding" and embedder is None:
            from tog.embeddings import SentenceTransformerEmbedder

            self.embedder = SentenceTransformerEmbedder()

    def _flow(
        self,
        question: str,
        topic_entities: TopicEntities | None,
        on_depth: Callable[[DepthRecord], None] | None = None,
    ) -> tuple[Flow[SearchOutcome], str]:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        topics = None if topic_entities is None else _topic_ids(topic_entities)
        linking = Linking(
            use_llm=not self.offline,
            search=isinstance(self.kg, SupportsEntitySearch | SupportsAsyncEntitySearch),
            mentions=isinstance(self.kg, SupportsMentions),
        )
        if topics is None and not (linking.search or linking.mentions):
            raise ValueError(
                f"{type(self.kg).__name__} cannot search entities; pass topic_entities=..."
            )
        flow = answer_flow(
            question.strip(),
            topics,
            config=self.config,
            prompts=self.prompts,
            prune=self.prune,
            linking=linking,
            scorer=self.scorer,
            describe=isinstance(self.kg, SupportsDescribe),
            on_depth=on_depth,
        )
        return flow, "oracle" if topics is not None else "extracted"

    def run(
        self,
        question: str,
        *,
        topic_entities: TopicEntities | None = None,
        question_id: str | None = None,
    ) -> Result:
        """Answer one question synchronously.

        Args:
            question: The question text.
            topic_entities: KG ids to start from (oracle linking); found in the question when None.
            question_id: Carried into the result.

        Raises:
            ValueError: an empty question, or no way to find topic entities.
            tog.errors.LLMError: the LLM endpoint failed after its retries.
            kg_adapters.errors.KGError: the KG failed.
        """
        if is_async_kg(self.kg) or is_async_llm(self.llm):
            raise TypeError("this agent has an async KG or LLM; use `await agent.arun(...)`")
        flow, mode = self._flow(question, topic_entities)
        trace = Trace()
        start = time.perf_counter()
        outcome = drive(
            flow,
            cast(KnowledgeGraph, self.kg),
            cast(ChatModel, self.llm),
            trace=trace,
            embedder=self.embedder,
            time_budget_s=self.config.time_budget_s,
        )
        return self._result(question, question_id, outcome, trace, mode, start)

    async def arun(
        self,
        question: str,
        *,
        topic_entities: TopicEntities | None = None,
        question_id: str | None = None,
        concurrency: int = 8,
    ) -> Result:
        """Answer one question with each batch of KG and LLM calls issued concurrently."""
        from kg_adapters import to_async

        flow, mode = self._flow(question, topic_entities)
        kg = (
            cast(AsyncKnowledgeGraph, self.kg)
            if is_async_kg(self.kg)
            else to_async(cast(KnowledgeGraph, self.kg))
        )
        llm = (
            cast(AsyncChatModel, self.llm)
            if is_async_llm(self.llm)
            else AsyncLLMFromSync(cast(ChatModel, self.llm))
        )
        trace = Trace()
        start = time.perf_counter()
        outcome = await adrive(
            flow,
            kg,
            llm,
            trace=trace,
            concurrency=concurrency,
            embedder=self.embedder,
            time_budget_s=self.config.time_budget_s,
        )
        return self._result(question, question_id, outcome, trace, mode, start)

    def run_many(
        self,
        questions: Iterable[QuestionInput],
        *,
        concurrency: int = 8,
        errors: OnErrors = "return",
        on_result: OnResult | None = None,
        question_ids: Sequence[str | None] | None = None,
    ) -> list[Result]:
        """Answer many questions together; results come back in input order.

        With a batch backend (`SupportsBatchComplete`: `tog.llm.VLLMEngine`, the offline scorer)
        the questions advance in lockstep rounds: ``concurrency`` questions at a time, each
        round's requests from all of them in one ``complete_batch`` call, KG steps in this
        thread. With any other backend the questions run concurrently in an event loop of their
        own (a worker thread's, when this thread already runs one, as in Jupyter), at most
        ``concurrency`` LLM requests in flight; sync backends run in at most ``concurrency``
        worker threads and must tolerate that.

        Args:
            questions: Question texts, or ``(text, topic_entities)`` pairs (None: link them).
            concurrency: Most LLM requests in flight (batch backend: questions per round).
            errors: ``"return"`` (default): a failing question gets a result with
                ``stop_reason="error"``, no answers, its partial trace and the ``exception``;
                the others carry on. ``"raise"``: the first failure stops the run and propagates.
            on_result: Called with ``(index, result)`` as each question finishes.
            question_ids: Carried into the results, one per question.

        Raises:
            TypeError: the agent has an async KG or LLM (use `arun_many`), or a malformed item.
            ValueError: an empty question, no way to find topic entities, or bad ``concurrency``.
        """
        if is_async_kg(self.kg) or is_async_llm(self.llm):
            raise TypeError("this agent has an async KG or LLM; use `await agent.arun_many(...)`")
        batch = self._prepare(questions, question_ids, concurrency)
        if self._is_lockstep():
            return self._lockstep(batch, concurrency, errors, on_result)
        return _run_in_new_loop(
            functools.partial(self._concurrent, batch, concurrency, errors, on_result)
        )

    async def arun_many(
        self,
        questions: Iterable[QuestionInput],
        *,
        concurrency: int = 8,
        errors: OnErrors = "return",
        on_result: OnResult | None = None,
        question_ids: Sequence[str | None] | None = None,
    ) -> list[Result]:
        """The async twin of `run_many` (same arguments); async backends are awaited directly.

        A batch backend with a sync KG runs the lockstep rounds in a worker thread;
        ``on_result`` is still called in the event loop's thread.
        """
        batch = self._prepare(questions, question_ids, concurrency)
        if self._is_lockstep():
            report = None
            if on_result is not None:
                callback = on_result

                def report(index: int, result: Result) -> None:
                    anyio.from_thread.run_sync(callback, index, result)

            run = functools.partial(self._lockstep, batch, concurrency, errors, report)
            return await anyio.to_thread.run_sync(run)
        return await self._concurrent(batch, concurrency, errors, on_result)

    def _is_lockstep(self) -> bool:
        return (
            isinstance(self.llm, SupportsBatchComplete)
            and not is_async_llm(self.llm)
            and not is_async_kg(self.kg)
        )

    def _prepare(
        self,
        questions: Iterable[QuestionInput],
        question_ids: Sequence[str | None] | None,
        concurrency: int,
    ) -> _Many:
        """Check every question before any runs, and build its flow (flows start lazily)."""
        if isinstance(questions, str):
            raise TypeError("questions must be a list of questions, not one string")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1; got {concurrency!r}")
        items = list(questions)
        ids: list[str | None] = [None] * len(items)
        if question_ids is not None:
            ids = list(question_ids)
        if len(ids) != len(items):
            raise ValueError(f"{len(items)} questions but {len(ids)} question_ids")
        many = _Many(ids=ids)
        for k, item in enumerate(items):
            if isinstance(item, str):
                question, topics = item, None
            elif isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
                question, topics = item[0], item[1]
            else:
                raise TypeError(
                    f"questions[{k}] must be a question or a (question, topic_entities) pair; "
                    f"got {item!r}"
                )
            flow, mode = self._flow(question, topics)
            many.questions.append(question)
            many.modes.append(mode)
            many.topics.append(() if topics is None else tuple(_topic_ids(topics)))
            many.starts.append(0.0)
            many.flows.append(_started(flow, many.starts, k))
            many.traces.append(Trace())
        return many

    def _finish(self, many: _Many, index: int, value: SearchOutcome | Exception) -> Result:
        question, trace, start = many.questions[index], many.traces[index], many.starts[index]
        if isinstance(value, Exception):
            return self._error_result(many, index, value)
        return self._result(question, many.ids[index], value, trace, many.modes[index], start)

    def _lockstep(
        self, many: _Many, concurrency: int, errors: OnErrors, on_result: OnResult | None
    ) -> list[Result]:
        results: list[Result | None] = [None] * len(many.flows)

        def done(index: int, value: SearchOutcome | Exception) -> None:
            result = results[index] = self._finish(many, index, value)
            if on_result is not None:
                on_result(index, result)

        drive_many(
            many.flows,
            cast(KnowledgeGraph, self.kg),
            cast(SupportsBatchComplete, self.llm),
            traces=many.traces,
            window=concurrency,
            errors=errors,
            embedder=self.embedder,
            time_budget_s=self.config.time_budget_s,
            on_done=done,
        )
        return cast(list[Result], results)

    async def _concurrent(
        self, many: _Many, concurrency: int, errors: OnErrors, on_result: OnResult | None
    ) -> list[Result]:
        from kg_adapters import to_async

        threads = anyio.CapacityLimiter(concurrency)
        kg = (
            cast(AsyncKnowledgeGraph, self.kg)
            if is_async_kg(self.kg)
            else to_async(cast(KnowledgeGraph, self.kg), limiter=threads)
        )
        if is_async_llm(self.llm):
            llm = cast(AsyncChatModel, self.llm)
        else:
            # A batch backend met here (beside an async KG) is an in-process engine: one call at
            # a time, since vllm.LLM is not thread-safe.
            batch = isinstance(self.llm, SupportsBatchComplete)
            limiter = anyio.CapacityLimiter(1) if batch else threads
            llm = AsyncLLMFromSync(cast(ChatModel, self.llm), limiter=limiter)
        results: list[Result | None] = [None] * len(many.flows)

        def done(index: int, value: SearchOutcome | Exception) -> None:
            result = results[index] = self._finish(many, index, value)
            if on_result is not None:
                on_result(index, result)

        await adrive_many(
            many.flows,
            kg,
            llm,
            traces=many.traces,
            concurrency=concurrency,
            errors=errors,
            embedder=self.embedder,
            time_budget_s=self.config.time_budget_s,
            on_done=done,
        )
        return cast(list[Result], results)

    def _error_result(self, many: _Many, index: int, error: Exception) -> Result:
        trace = many.traces[index]
        return Result(
            question=many.questions[index],
            question_id=many.ids[index],
            answers=(),
            answer_ids=(),
            paths=(),
            stop_reason="error",
            answer_source="llm_knowledge",
            linking_mode="oracle" if many.modes[index] == "oracle" else "extracted",
            topic_entities={t: t for t in many.topics[index]},
            usage=Usage.from_trace(trace, wall_seconds=time.perf_counter() - many.starts[index]),
            trace=trace,
            prune_tool=self.prune,
            variant=self.config.variant,
            llm_backend="offline" if self.offline else backend_name(self.llm),
            config=self.config.model_dump(mode="json"),
            exception=error,
        )

    def _result(
        self,
        question: str,
        question_id: str | None,
        outcome: SearchOutcome,
        trace: Trace,
        mode: Literal["oracle", "extracted"] | str,
        start: float,
    ) -> Result:
        labels = outcome.labels
        trace.attach_parses(outcome.parses)
        return Result(
            question=question,
            question_id=question_id,
            answers=outcome.answers,
            answer_ids=answer_ids(outcome),
            rationale=outcome.rationale,
            paths=tuple(ReasoningPath.from_path(p, labels) for p in outcome.paths),
            stop_reason=outcome.stop_reason,
            answer_source=outcome.answer_source,
            linking_mode="oracle" if mode == "oracle" else "extracted",
            topic_entities={t: labels.get(t, t) for t in outcome.topics},
            usage=Usage.from_trace(trace, wall_seconds=time.perf_counter() - start),
            trace=trace,
            depths=outcome.depths,
            links=outcome.links,
            notes=outcome.notes,
            prune_tool=self.prune,
            variant=self.config.variant,
            llm_backend="offline" if self.offline else backend_name(self.llm),
            config=self.config.model_dump(mode="json"),
            labels=dict(labels),
        )


@dataclass(slots=True)
class _Many:
    """The questions of one `run_many` call, side by side (flows start lazily)."""

    ids: list[str | None]
    questions: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    topics: list[tuple[EntityId, ...]] = field(default_factory=list)
    flows: list[Flow[SearchOutcome]] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)


def _started(flow: Flow[SearchOutcome], starts: list[float], index: int) -> Flow[SearchOutcome]:
    """``flow``, noting when a driver first advances it (a question's wall time starts there)."""
    starts[index] = time.perf_counter()
    return (yield from flow)


def _run_in_new_loop(main: Callable[[], Awaitable[_T]]) -> _T:
    """``asyncio.run(main())``; in a worker thread when this thread already runs a loop."""

    async def run() -> _T:
        return await main()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    with ThreadPoolExecutor(1, thread_name_prefix="tog-answer-many") as pool:
        return pool.submit(asyncio.run, run()).result()


def _topic_ids(topic_entities: TopicEntities) -> list[EntityId]:
    if isinstance(topic_entities, str):
        raise TypeError("topic_entities must be a list of ids or an {id: label} mapping, not str")
    ids = list(topic_entities.keys() if isinstance(topic_entities, Mapping) else topic_entities)
    for entity in ids:
        if not isinstance(entity, str) or not entity:
            raise ValueError(f"topic entity ids must be non-empty strings, got {entity!r}")
    return ids


def answer(
    question: str,
    *,
    kg: KnowledgeGraph,
    llm: ChatModel | None = None,
    topic_entities: TopicEntities | None = None,
    config: SearchConfig | None = None,
    prompts: PromptSet | None = None,
    question_id: str | None = None,
) -> Result:
    """Answer ``question`` over ``kg``; with ``llm=None`` the search runs offline (no model).

    >>> from kg_adapters import NetworkXGraph
    >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
    >>> answer("Who directed Inception?", kg=kg).answer
    'Christopher Nolan'
    """
    agent = ThinkOnGraph(kg, llm, config=config, prompts=prompts)
    return agent.run(question, topic_entities=topic_entities, question_id=question_id)


async def aanswer(
    question: str,
    *,
    kg: KnowledgeGraph | AsyncKnowledgeGraph,
    llm: ChatModel | AsyncChatModel | None = None,
    topic_entities: TopicEntities | None = None,
    config: SearchConfig | None = None,
    prompts: PromptSet | None = None,
    question_id: str | None = None,
) -> Result:
    """The async twin of `answer`: a sync KG runs in worker threads, an async one is awaited."""
    agent = ThinkOnGraph(kg, llm, config=config, prompts=prompts)
    return await agent.arun(question, topic_entities=topic_entities, question_id=question_id)


def answer_many(
    questions: Iterable[QuestionInput],
    *,
    kg: KnowledgeGraph | AsyncKnowledgeGraph,
    llm: ChatModel | AsyncChatModel | None = None,
    config: SearchConfig | None = None,
    prompts: PromptSet | None = None,
    concurrency: int = 8,
    errors: OnErrors = "return",
    on_result: OnResult | None = None,
    question_ids: Sequence[str | None] | None = None,
) -> list[Result]:
    """Answer many questions together, ``concurrency`` LLM requests in flight; input order kept.

    Each item is a question or a ``(question, topic_entities)`` pair. A batch backend
    (`tog.llm.VLLMEngine`, or ``llm=None``) answers each round of all questions' requests in
    one call; any other backend gets at most ``concurrency`` concurrent requests, which a vLLM
    server batches itself. A failing question does not stop the others: by default its result
    has ``stop_reason="error"`` and the ``exception`` (``errors="raise"`` re-raises the first).
    See `ThinkOnGraph.run_many` for every argument.

    An async backend (`tog.llm.AsyncOpenAICompatible`, an async KG) runs in a private event loop
    here and is closed (``aclose``) with it, because its connections cannot outlive that loop;
    to keep using it, ``await tog.aanswer_many(...)`` instead.

    >>> from kg_adapters import NetworkXGraph
    >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
    >>> [r.answer for r in answer_many(["Who directed Inception?"], kg=kg)]
    ['Christopher Nolan']
    """
    agent = ThinkOnGraph(kg, llm, config=config, prompts=prompts)
    if not (is_async_kg(kg) or is_async_llm(agent.llm)):
        return agent.run_many(
            questions,
            concurrency=concurrency,
            errors=errors,
            on_result=on_result,
            question_ids=question_ids,
        )

    async def main() -> list[Result]:
        try:
            return await agent.arun_many(
                questions,
                concurrency=concurrency,
                errors=errors,
                on_result=on_result,
                question_ids=question_ids,
            )
        finally:
            for backend in (agent.llm, kg):
                close = getattr(backend, "aclose", None)
                if callable(close) and (is_async_llm(backend) or is_async_kg(backend)):
                    await close()

    return _run_in_new_loop(main)


async def aanswer_many(
    questions: Iterable[QuestionInput],
    *,
    kg: KnowledgeGraph | AsyncKnowledgeGraph,
    llm: ChatModel | AsyncChatModel | None = None,
    config: SearchConfig | None = None,
    prompts: PromptSet | None = None,
    concurrency: int = 8,
    errors: OnErrors = "return",
    on_result: OnResult | None = None,
    question_ids: Sequence[str | None] | None = None,
) -> list[Result]:
    """The async twin of `answer_many`: async backends are awaited and left open."""
    agent = ThinkOnGraph(kg, llm, config=config, prompts=prompts)
    return await agent.arun_many(
        questions,
        concurrency=concurrency,
        errors=errors,
        on_result=on_result,
        question_ids=question_ids,
    )
