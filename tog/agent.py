"""`ThinkOnGraph` and `answer` / `aanswer`: the public way to ask a question of a graph."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Literal, cast

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
from tog.drivers import AsyncLLMFromSync, adrive, drive, is_async_kg, is_async_llm
from tog.embeddings import Embedder
from tog.linking import Linking
from tog.llm.base import AsyncChatModel, ChatModel
from tog.llm.offline import OfflineScorer
from tog.paths import SearchOutcome
from tog.result import ReasoningPath, Result, Usage
from tog.scoring import TextScorer
from tog.search import answer_flow, answer_ids
from tog.steps import Flow
from tog.templates import PromptSet, load_prompts
from tog.trace import Trace

TopicEntities = Sequence[EntityId] | Mapping[EntityId, str]


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
        self, question: str, topic_entities: TopicEntities | None
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
            flow, kg, llm, trace=trace, concurrency=concurrency, embedder=self.embedder
        )
        return self._result(question, question_id, outcome, trace, mode, start)

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
            llm_backend="offline" if self.offline else type(self.llm).__name__,
            config=self.config.model_dump(mode="json"),
            labels=dict(labels),
        )


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
