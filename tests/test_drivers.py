"""One scenario through `drive` and `adrive`: identical answers and identical traces.

Also: `tog.aanswer` over sync backends, a failing step propagates the same error from both drivers
and is recorded in the trace, and the flow is always closed.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import anyio
import pytest

import tog
from kg_adapters import (
    Direction,
    EntityId,
    Hop,
    KGConnectionError,
    LiteralValue,
    NetworkXGraph,
    Node,
    RelationId,
    to_async,
)
from tog.config import SearchConfig
from tog.drivers import adrive, drive
from tog.linking import Linking
from tog.llm import AsyncScriptedLLM, ScriptedLLM
from tog.llm.base import (
    ChatRequest,
    Completion,
    JudgeSufficiency,
    PruneRelations,
    ScoreEntities,
    task_name,
)
from tog.paths import SearchOutcome
from tog.search import answer_flow
from tog.steps import Flow
from tog.templates import load_prompts
from tog.trace import Trace, TraceEvent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


PROMPTS = load_prompts()
QUESTION = "Where was the director of Inception born?"
FILM_TRIPLES: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Inception", "starring", "Elliot Page"),
    ("Inception", "release_year", LiteralValue("2010")),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("Christopher Nolan", "born_in", "London"),
    ("Leonardo DiCaprio", "born_in", "Los Angeles"),
    ("Elliot Page", "born_in", "Halifax"),
    ("London", "capital_of", "United Kingdom"),
]
CONFIG = SearchConfig(width=2, depth=3, seed=3)
WANTED = ("directed_by", "born_in")


def film_kg() -> NetworkXGraph:
    return NetworkXGraph.from_triples(FILM_TRIPLES)


def film_reply(request: ChatRequest) -> str:
    """A deterministic 'model' for the film scenario."""
    task = request.task
    match task_name(task):
        case "extract_entities":
            return json.dumps({"entities": ["Inception"]})
        case "relation_prune":
            assert isinstance(task, PruneRelations)
            picks = [
                {"candidate": o.index, "score": 0.9 if o.relation in WANTED else 0.1}
                for o in task.options
                if o.direction == "out"
            ]
            return json.dumps({"choices": picks})
        case "entity_score":
            assert isinstance(task, ScoreEntities)
            good = {"Christopher Nolan", "London"}
            return json.dumps(
                {
                    "scores": [
                        {"candidate": i, "score": 0.8 if label in good else 0.2}
                        for i, label in enumerate(task.options, 1)
                    ]
                }
            )
        case "sufficiency":
            assert isinstance(task, JudgeSufficiency)
            born = any(t.relation == "born_in" for p in task.paths for t in p.triples)
            answers = ["London"] if born else []
            return json.dumps({"sufficient": born, "answers": answers, "rationale": "r"})
        case _:
            return json.dumps({"answers": ["London"], "rationale": "r"})


class SlowFirstLLM:
    """An async model whose earlier requests in a batch answer later (replies arrive reversed)."""

    def __init__(self) -> None:
        self.inner = AsyncScriptedLLM(film_reply)
        self.pending = 0
        self.started: list[int] = []
        self.finished: list[int] = []

    async def complete(self, request: ChatRequest) -> Completion:
        number = len(self.started)
        self.started.append(number)
        self.pending += 1
        await anyio.sleep(0.005 * max(0, 4 - self.pending))
        try:
            return await self.inner.complete(request)
        finally:
            self.pending -= 1
            self.finished.append(number)


def flow_for(topics: Sequence[str] | None) -> Flow[SearchOutcome]:
    return answer_flow(
        QUESTION,
        topics,
        config=CONFIG,
        prompts=PROMPTS,
        prune="llm",
        linking=Linking(use_llm=True, search=True, mentions=True),
    )


def events(trace: Trace) -> list[tuple[object, ...]]:
    """What a trace must show identically under both drivers (everything but timings)."""
    return [(e.kind, e.request, e.response, e.error, e.task) for e in trace]


def kinds_and_requests(trace: Trace) -> list[tuple[str, object]]:
    return [(e.kind, e.request) for e in trace]


# --- the same scenario through both drivers ------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("topics", [["Inception"], None], ids=["oracle", "extracted"])
async def test_drive_and_adrive_give_identical_answers_and_traces(
    topics: list[str] | None,
) -> None:
    kg = film_kg()
    sync_trace, async_trace = Trace(), Trace()
    sync_llm = ScriptedLLM(film_reply)
    async_llm = AsyncScriptedLLM(film_reply)

    sync_outcome = drive(flow_for(topics), kg, sync_llm, trace=sync_trace)
    async_outcome = await adrive(flow_for(topics), to_async(kg), async_llm, trace=async_trace)

    assert sync_outcome.answers == ("London",)
    assert sync_outcome.stop_reason == "sufficient"
    assert async_outcome == sync_outcome
    assert kinds_and_requests(async_trace) == kinds_and_requests(sync_trace)
    assert events(async_trace) == events(sync_trace)
    assert [r.messages for r in async_llm.requests] == [r.messages for r in sync_llm.requests]
    # The scenario really exercises batches of several steps (relations out + in, several calls).
    kinds = [e.kind for e in sync_trace]
    assert {"relations", "neighbors", "labels", "llm"} <= set(kinds)
    if topics is None:
        assert "search_entities" in kinds
        assert sync_outcome.links
    best = sync_outcome.paths[0]
    assert best.triples() == [
        ("Inception", "directed_by", "Christopher Nolan"),
        ("Christopher Nolan", "born_in", "London"),
    ]


@pytest.mark.anyio
async def test_adrive_records_steps_in_step_order_whatever_order_replies_arrive() -> None:
    kg = film_kg()
    topics = ["Inception", "Interstellar"]  # two relation-prune calls in one batch
    sync_trace, async_trace = Trace(), Trace()
    slow = SlowFirstLLM()
    sync_outcome = drive(flow_for(topics), kg, ScriptedLLM(film_reply), trace=sync_trace)
    async_outcome = await adrive(
        flow_for(topics), to_async(kg), slow, trace=async_trace, concurrency=4
    )
    assert slow.finished != slow.started, "replies should have arrived out of order"
    assert async_outcome == sync_outcome
    assert async_outcome.answers == ("London",)
    assert events(async_trace) == events(sync_trace)


@pytest.mark.anyio
async def test_agent_run_and_arun_agree() -> None:
    kg = film_kg()
    sync_result = tog.ThinkOnGraph(kg, ScriptedLLM(film_reply), config=CONFIG).run(
        QUESTION, topic_entities=["Inception"]
    )
    async_result = await tog.ThinkOnGraph(
        to_async(kg), AsyncScriptedLLM(film_reply), config=CONFIG
    ).arun(QUESTION, topic_entities=["Inception"])
    assert async_result.answers == sync_result.answers == ("London",)
    assert kinds_and_requests(async_result.trace) == kinds_and_requests(sync_result.trace)
    assert async_result.usage.llm_calls == sync_result.usage.llm_calls
    assert async_result.usage.kg_calls == sync_result.usage.kg_calls


@pytest.mark.anyio
async def test_aanswer_works_with_a_sync_kg_and_a_sync_llm() -> None:
    kg = film_kg()
    llm = ScriptedLLM(film_reply)
    result = await tog.aanswer(
        QUESTION, kg=kg, llm=llm, topic_entities=["Inception"], config=CONFIG
    )
    expected = tog.answer(
        QUESTION, kg=kg, llm=ScriptedLLM(film_reply), topic_entities=["Inception"], config=CONFIG
    )
    assert result.answer == "London"
    assert result.answers == expected.answers
    assert result.stop_reason == expected.stop_reason == "sufficient"
    assert kinds_and_requests(result.trace) == kinds_and_requests(expected.trace)
    assert len(llm.requests) == result.usage.llm_calls


@pytest.mark.anyio
async def test_aanswer_offline_matches_answer() -> None:
    kg = film_kg()
    result = await tog.aanswer(QUESTION, kg=kg, topic_entities=["Inception"])
    expected = tog.answer(QUESTION, kg=kg, topic_entities=["Inception"])
    assert result.answers == expected.answers
    assert kinds_and_requests(result.trace) == kinds_and_requests(expected.trace)


# --- a step that raises --------------------------------------------------------------------------


class FailingKG:
    """A KnowledgeGraph whose neighbour queries fail as an unreachable store would."""

    def __init__(self) -> None:
        self.inner = film_kg()

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        return self.inner.relations(entities, direction=direction, limit=limit)

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        raise KGConnectionError("store unreachable: connection refused", adapter="failing")

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        return self.inner.labels(ids)


def watched(flow: Flow[SearchOutcome], log: list[str]) -> Generator[Any, Any, SearchOutcome]:
    """Wrap a flow to observe whether the driver closes it."""
    try:
        value: SearchOutcome = yield from flow
        log.append("returned")
        return value
    finally:
        log.append("finally")


def check_failure_trace(trace: Trace) -> TraceEvent:
    last = trace.events[-1]
    assert last.kind == "neighbors"
    assert last.error == "KGConnectionError: store unreachable: connection refused"
    assert last.response == {"counts": None, "nodes": None}
    assert all(e.error is None for e in trace.events[:-1])
    json.dumps(trace.to_json())
    return last


@pytest.mark.anyio
async def test_a_failing_step_propagates_the_same_error_from_both_drivers() -> None:
    sync_trace, async_trace = Trace(), Trace()
    sync_log: list[str] = []
    async_log: list[str] = []
    sync_inner = flow_for(["Inception"])
    async_inner = flow_for(["Inception"])

    with pytest.raises(KGConnectionError) as sync_error:
        drive(watched(sync_inner, sync_log), FailingKG(), ScriptedLLM(film_reply), trace=sync_trace)
    with pytest.raises(KGConnectionError) as async_error:
        await adrive(
            watched(async_inner, async_log),
            to_async(FailingKG()),
            AsyncScriptedLLM(film_reply),
            trace=async_trace,
        )

    assert type(sync_error.value) is type(async_error.value) is KGConnectionError
    assert str(sync_error.value) == str(async_error.value)
    assert sync_error.value.adapter == async_error.value.adapter == "failing"
    assert check_failure_trace(sync_trace).request == check_failure_trace(async_trace).request
    assert kinds_and_requests(async_trace) == kinds_and_requests(sync_trace)
    # Both flows were closed: the wrapper's `finally` ran, and the engine's generator is closed.
    assert sync_log == ["finally"]
    assert async_log == ["finally"]
    assert inspect.getgeneratorstate(sync_inner) == inspect.GEN_CLOSED
    assert inspect.getgeneratorstate(async_inner) == inspect.GEN_CLOSED


def test_the_agent_propagates_kg_errors_unchanged() -> None:
    agent = tog.ThinkOnGraph(FailingKG(), ScriptedLLM(film_reply), config=CONFIG)
    with pytest.raises(KGConnectionError, match="connection refused"):
        agent.run(QUESTION, topic_entities=["Inception"])


@pytest.mark.anyio
async def test_an_llm_error_closes_the_flow_under_both_drivers() -> None:
    kg = film_kg()
    sync_log: list[str] = []
    async_log: list[str] = []
    with pytest.raises(LookupError, match="ran out of replies"):
        drive(watched(flow_for(["Inception"]), sync_log), kg, ScriptedLLM([]), trace=Trace())
    with pytest.raises(LookupError, match="ran out of replies"):
        await adrive(
            watched(flow_for(["Inception"]), async_log),
            to_async(kg),
            AsyncScriptedLLM([]),
            trace=Trace(),
        )
    assert sync_log == async_log == ["finally"]


@pytest.mark.anyio
async def test_a_finished_flow_is_closed_too() -> None:
    kg = film_kg()
    sync_log: list[str] = []
    async_log: list[str] = []
    drive(watched(flow_for(["Inception"]), sync_log), kg, ScriptedLLM(film_reply), trace=Trace())
    await adrive(
        watched(flow_for(["Inception"]), async_log),
        to_async(kg),
        AsyncScriptedLLM(film_reply),
        trace=Trace(),
    )
    assert sync_log == async_log == ["returned", "finally"]
