"""Many questions at once: `tog.answer_many` / `tog.aanswer_many` and the drivers behind them.

Results must come back in input order and equal one-at-a-time runs (answers, stop reasons, call
counts, whole traces); LLM requests in flight stay within ``concurrency``; a failing question
becomes an error result (or, with ``errors="raise"``, the error); a batch backend gets one
``complete_batch`` call per lockstep round covering every unfinished question.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping, Sequence

import anyio
import pytest

import tog
from eval.datasets import read_pathquestion
from kg_adapters import (
    Direction,
    EntityId,
    KGConnectionError,
    NetworkXGraph,
    Node,
    RelationId,
    load_graph,
)
from tog.llm import AsyncOpenAICompatible, AsyncScriptedLLM, OpenAICompatible, ScriptedLLM
from tog.llm.base import (
    ChatRequest,
    Completion,
    GenerateAnswer,
    JudgeSufficiency,
    Message,
    PruneRelations,
    ScoreEntities,
)
from tog.llm.offline import reply_to_messages
from tog.llm.standin import StandInServer
from tog.trace import Trace

from .shared_data import DATA, require


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


FILMS = {
    "Inception": ("Christopher Nolan", "London", "Leonardo DiCaprio", "Los Angeles"),
    "Titanic": ("James Cameron", "Kapuskasing", "Kate Winslet", "Reading"),
    "Alien": ("Ridley Scott", "South Shields", "Sigourney Weaver", "Manhattan"),
}
CONFIG = tog.SearchConfig(width=2, depth=3, seed=1)


def films_kg() -> NetworkXGraph:
    """Three films with the same shape, so their searches take the same steps."""
    triples: list[tuple[str, str, Node]] = []
    for film, (director, born, star, star_born) in FILMS.items():
        triples += [
            (film, "directed_by", director),
            (film, "starring", star),
            (director, "born_in", born),
            (star, "born_in", star_born),
        ]
    return NetworkXGraph.from_triples(triples)


def question(film: str) -> str:
    return f"Where was the director of {film} born?"


def film_reply(request: ChatRequest) -> str:
    """A deterministic 'model': follows directed_by then born_in, for any film."""
    match request.task:
        case PruneRelations(options=options):
            picks = [
                {
                    "candidate": o.index,
                    "score": 0.9 if o.relation in {"directed_by", "born_in"} else 0.1,
                }
                for o in options
                if o.direction == "out"
            ]
            return json.dumps({"choices": picks})
        case ScoreEntities(options=options):
            return json.dumps(
                {"scores": [{"candidate": i, "score": 0.5} for i in range(1, len(options) + 1)]}
            )
        case JudgeSufficiency(paths=paths) | GenerateAnswer(paths=paths):
            for path in paths:
                if [t.relation for t in path.triples] == ["directed_by", "born_in"]:
                    answers = [path.triples[-1].object]
                    return json.dumps({"sufficient": True, "answers": answers, "rationale": "r"})
            return json.dumps({"sufficient": False, "answers": [], "rationale": "r"})
        case _:
            return json.dumps({"entities": []})


def events(trace: Trace) -> list[tuple[object, ...]]:
    """A trace without its timings."""
    return [(e.kind, e.request, e.response, e.error, e.task) for e in trace]


class BatchScripted:
    """A batch backend (`SupportsBatchComplete`) that records each batch call."""

    def __init__(self) -> None:
        self.inner = ScriptedLLM(film_reply)
        self.batches: list[list[ChatRequest]] = []

    def complete(self, request: ChatRequest) -> Completion:
        return self.inner.complete(request)

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self.batches.append(list(requests))
        return [self.inner.complete(r) for r in requests]


class GaugedAsyncLLM:
    """An async model that measures how many of its calls overlap."""

    def __init__(self, delay: float = 0.01) -> None:
        self.inner = AsyncScriptedLLM(film_reply)
        self.delay = delay
        self.now = 0
        self.peak = 0

    async def complete(self, request: ChatRequest) -> Completion:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await anyio.sleep(self.delay)
            return await self.inner.complete(request)
        finally:
            self.now -= 1


class FailingKG:
    """`films_kg`, except that asking for ``bad``'s relations fails like a dead endpoint."""

    def __init__(self, bad: str) -> None:
        self.kg = films_kg()
        self.bad = bad

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        if self.bad in entities:
            raise KGConnectionError("store unreachable", adapter="failing", query=self.bad)
        return self.kg.relations(entities, direction=direction, limit=limit)

    def neighbors(self, hops, *, limit=None):
        return self.kg.neighbors(hops, limit=limit)

    def labels(self, ids):
        return self.kg.labels(ids)


def sequential(films: Sequence[str], config: tog.SearchConfig = CONFIG) -> list[tog.Result]:
    kg = films_kg()
    return [
        tog.answer(
            question(f), kg=kg, llm=ScriptedLLM(film_reply), topic_entities=[f], config=config
        )
        for f in films
    ]


ITEMS = [(question(f), [f]) for f in FILMS]


# --- results equal one-at-a-time runs, in input order -------------------------------------------


def test_answer_many_with_a_sync_llm_equals_sequential_runs_in_input_order() -> None:
    seen: list[int] = []
    results = tog.answer_many(
        ITEMS,
        kg=films_kg(),
        llm=ScriptedLLM(film_reply),
        config=CONFIG,
        concurrency=3,
        on_result=lambda index, result: seen.append(index),
        question_ids=["a", "b", "c"],
    )
    expected = sequential(list(FILMS))
    assert [r.answers for r in results] == [("London",), ("Kapuskasing",), ("South Shields",)]
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert [r.stop_reason for r in results] == [r.stop_reason for r in expected]
    assert [r.usage.llm_calls for r in results] == [r.usage.llm_calls for r in expected]
    assert [events(r.trace) for r in results] == [events(r.trace) for r in expected]
    assert [r.question_id for r in results] == ["a", "b", "c"]
    assert sorted(seen) == [0, 1, 2]


def test_answer_many_accepts_plain_questions_and_links_them() -> None:
    kg = films_kg()
    results = tog.answer_many([question("Alien"), question("Titanic")], kg=kg, concurrency=2)
    expected = [tog.answer(question(f), kg=kg) for f in ("Alien", "Titanic")]
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert all(r.linking_mode == "extracted" for r in results)


@pytest.mark.anyio
async def test_aanswer_many_bounds_llm_requests_in_flight() -> None:
    llm = GaugedAsyncLLM()
    films = list(FILMS) * 4  # 12 questions
    results = await tog.aanswer_many(
        [(question(f), [f]) for f in films], kg=films_kg(), llm=llm, config=CONFIG, concurrency=3
    )
    assert 1 < llm.peak <= 3
    expected = {r.question: r for r in sequential(list(FILMS))}
    for result in results:
        assert result.answers == expected[result.question].answers
        assert events(result.trace) == events(expected[result.question].trace)


@pytest.mark.anyio
async def test_aanswer_many_with_a_sync_llm_runs_it_in_bounded_threads() -> None:
    lock = threading.Lock()
    gauge = {"now": 0, "peak": 0}
    inner = ScriptedLLM(film_reply)

    class SlowSync:
        def complete(self, request: ChatRequest) -> Completion:
            with lock:
                gauge["now"] += 1
                gauge["peak"] = max(gauge["peak"], gauge["now"])
            time.sleep(0.01)
            try:
                with lock:
                    return inner.complete(request)
            finally:
                with lock:
                    gauge["now"] -= 1

    films = list(FILMS) * 3
    results = await tog.aanswer_many(
        [(question(f), [f]) for f in films],
        kg=films_kg(),
        llm=SlowSync(),
        config=CONFIG,
        concurrency=2,
    )
    assert 1 < gauge["peak"] <= 2
    assert [r.answer for r in results] == [r.answer for r in sequential(films)]


def test_answer_many_inside_a_running_event_loop_uses_a_worker_thread() -> None:
    async def main() -> list[tog.Result]:
        return tog.answer_many(ITEMS, kg=films_kg(), llm=ScriptedLLM(film_reply), config=CONFIG)

    results = asyncio.run(main())
    assert [r.answer for r in results] == ["London", "Kapuskasing", "South Shields"]


def test_run_many_refuses_an_async_backend() -> None:
    agent = tog.ThinkOnGraph(films_kg(), AsyncScriptedLLM(film_reply), config=CONFIG)
    with pytest.raises(TypeError, match="arun_many"):
        agent.run_many(ITEMS)


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ("one string", TypeError),
        ([("q",)], TypeError),
        ([("", ["Alien"])], ValueError),
        ([42], TypeError),
    ],
)
def test_bad_inputs_are_rejected_before_anything_runs(
    items: object, error: type[Exception]
) -> None:
    llm = ScriptedLLM(film_reply)
    with pytest.raises(error):
        tog.answer_many(items, kg=films_kg(), llm=llm)  # type: ignore[arg-type]
    assert llm.requests == []


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        tog.answer_many(ITEMS, kg=films_kg(), concurrency=0)


# --- one failing question -----------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True], ids=["concurrent", "lockstep"])
def test_a_failing_question_becomes_an_error_result_and_the_others_carry_on(batch: bool) -> None:
    llm = BatchScripted() if batch else ScriptedLLM(film_reply)
    results = tog.answer_many(ITEMS, kg=FailingKG("Titanic"), llm=llm, config=CONFIG)
    assert [r.stop_reason for r in results] == ["sufficient", "error", "sufficient"]
    failed = results[1]
    assert isinstance(failed.exception, KGConnectionError)
    assert failed.error is not None
    assert failed.error.startswith("KGConnectionError")
    assert failed.answers == ()
    assert failed.answer == ""
    assert failed.trace.events[-1].error is not None  # the failing step is in its trace
    assert failed.to_json()["error"] == failed.error
    json.dumps(failed.to_json())
    assert [r.answer for r in results[::2]] == ["London", "South Shields"]


@pytest.mark.parametrize("batch", [False, True], ids=["concurrent", "lockstep"])
def test_errors_raise_propagates_the_first_failure_unchanged(batch: bool) -> None:
    llm = BatchScripted() if batch else ScriptedLLM(film_reply)
    with pytest.raises(KGConnectionError, match="unreachable"):
        tog.answer_many(ITEMS, kg=FailingKG("Titanic"), llm=llm, config=CONFIG, errors="raise")


def test_a_failing_batch_call_fails_the_questions_waiting_on_it() -> None:
    class Broken(BatchScripted):
        def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
            raise tog.errors.LLMConnectionError("engine died")

    results = tog.answer_many(ITEMS, kg=films_kg(), llm=Broken(), config=CONFIG)
    assert {r.stop_reason for r in results} == {"error"}
    assert all(isinstance(r.exception, tog.errors.LLMConnectionError) for r in results)


# --- lockstep rounds with a batch backend --------------------------------------------------------


def test_a_batch_backend_gets_one_call_per_round_covering_every_question() -> None:
    llm = BatchScripted()
    results = tog.answer_many(ITEMS, kg=films_kg(), llm=llm, config=CONFIG, concurrency=8)
    single = BatchScripted()
    tog.answer_many(ITEMS[:1], kg=films_kg(), llm=single, config=CONFIG)
    # As many batch calls as one question alone needs, each carrying all three questions.
    assert len(llm.batches) == len(single.batches) >= 3
    for batch, alone in zip(llm.batches, single.batches, strict=True):
        assert {r.task.question for r in batch} == {question(f) for f in FILMS}
        assert len(batch) == 3 * len(alone)
    expected = sequential(list(FILMS))
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert [events(r.trace) for r in results] == [events(r.trace) for r in expected]


def test_the_lockstep_window_admits_new_questions_as_others_finish() -> None:
    llm = BatchScripted()
    films = list(FILMS) * 2
    results = tog.answer_many(
        [(question(f), [f]) for f in films], kg=films_kg(), llm=llm, config=CONFIG, concurrency=2
    )
    assert max(len({r.task.question for r in b}) for b in llm.batches) <= 2
    assert [r.answer for r in results] == [r.answer for r in sequential(films)]


@pytest.mark.anyio
async def test_aanswer_many_with_a_batch_backend_reports_progress_in_the_loop_thread() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    llm = BatchScripted()
    results = await tog.aanswer_many(
        ITEMS,
        kg=films_kg(),
        llm=llm,
        config=CONFIG,
        on_result=lambda index, result: threads.add(threading.get_ident()),
    )
    assert threads == {loop_thread}
    assert [r.answer for r in results] == ["London", "Kapuskasing", "South Shields"]
    assert llm.batches


def test_answer_many_offline_uses_the_offline_scorer_in_batches() -> None:
    kg = films_kg()
    results = tog.answer_many(ITEMS, kg=kg)
    expected = [tog.answer(q, kg=kg, topic_entities=t) for q, t in ITEMS]
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert [events(r.trace) for r in results] == [events(r.trace) for r in expected]


# --- against the local stand-in server ----------------------------------------------------------


class Gauge:
    """A stand-in policy that answers like the offline scorer and measures overlapping calls."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, messages: list[Message]) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.delay)
            return reply_to_messages(messages)
        finally:
            with self.lock:
                self.now -= 1


def pathquestions(n: int) -> tuple[NetworkXGraph, list[tuple[str, list[str]]]]:
    folder = require(DATA / "pathquestion" / "PathQuestion")
    questions = list(read_pathquestion(folder / "PQ-2H.txt"))
    step = len(questions) / n
    picked = [questions[int(k * step)] for k in range(n)]
    kg = load_graph(folder / "2H-kb.txt")
    return kg, [(q.text, list(q.topic_entities)) for q in picked]


@pytest.mark.server
def test_answer_many_over_http_bounds_in_flight_requests_and_matches_sequential() -> None:
    kg, items = pathquestions(40)
    gauge = Gauge()
    with StandInServer(gauge) as server:
        with OpenAICompatible(server.base_url) as llm:
            expected = [tog.answer(q, kg=kg, llm=llm, topic_entities=t) for q, t in items]
        gauge.delay, gauge.peak = 0.05, 0
        llm_async = AsyncOpenAICompatible(server.base_url)
        results = tog.answer_many(items, kg=kg, llm=llm_async, concurrency=16)
    assert 1 < gauge.peak <= 16
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert [r.usage.llm_calls for r in results] == [r.usage.llm_calls for r in expected]
    assert sum(r.answer != "" for r in results) > 20


@pytest.mark.server
@pytest.mark.anyio
async def test_aanswer_many_over_http_with_a_sync_client() -> None:
    kg, items = pathquestions(12)
    gauge = Gauge()
    with StandInServer(gauge) as server, OpenAICompatible(server.base_url) as llm:
        expected = [tog.answer(q, kg=kg, llm=llm, topic_entities=t) for q, t in items]
        gauge.delay, gauge.peak = 0.02, 0
        results = await tog.aanswer_many(items, kg=kg, llm=llm, concurrency=4)
    assert 1 < gauge.peak <= 4
    assert [r.answers for r in results] == [r.answers for r in expected]
