"""Per-question budgets (tog_spec.md §2.3, part 6): LLM calls, tokens and wall time.

When a budget runs out the search stops exploring and answers from the best paths found so far,
with ``stop_reason`` ``budget_llm_calls`` / ``budget_tokens`` / ``budget_time`` and a ``budget``
note. The call and token budgets are checked by the engine itself (pure); the wall-time budget
by the drivers, which throw `StopSearch` into the flow (the engine has no clock), so these tests
drive flows with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tog
from kg_adapters import NetworkXGraph, to_async
from tog.drivers import adrive, drive, drive_many
from tog.llm import AsyncScriptedLLM, ScriptedLLM
from tog.llm.base import ChatRequest, Completion, JudgeSufficiency
from tog.paths import SearchOutcome
from tog.steps import StopSearch
from tog.trace import Trace

from .test_budget import QUESTION as QUESTION_E
from .test_budget import Case, cases, hostile_model
from .test_budget import run as run_case
from .test_drivers import CONFIG, QUESTION, film_kg, film_reply, flow_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ask(config: tog.SearchConfig, topics: list[str] | None = None) -> tog.Result:
    agent = tog.ThinkOnGraph(film_kg(), ScriptedLLM(film_reply), config=config)
    return agent.run(QUESTION, topic_entities=["Inception"] if topics is None else topics)


def tasks(result: tog.Result) -> list[str | None]:
    return [e.task for e in result.trace.llm_events()]


def budget_notes(result: tog.Result) -> list[str]:
    return [n.detail for n in result.notes if n.kind == "budget"]


UNBOUNDED = ask(CONFIG)


def test_the_scenario_needs_several_calls_without_a_budget() -> None:
    assert UNBOUNDED.stop_reason == "sufficient"
    assert UNBOUNDED.answer == "London"
    assert UNBOUNDED.usage.llm_calls == 4  # prune and judge, at depths 1 and 2
    assert budget_notes(UNBOUNDED) == []


# --- LLM calls ------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", range(1, 7))
def test_max_llm_calls_is_never_exceeded_and_the_answer_comes_from_the_best_paths(
    limit: int,
) -> None:
    result = ask(CONFIG.model_copy(update={"max_llm_calls": limit}))
    assert result.usage.llm_calls <= limit
    if limit > UNBOUNDED.usage.llm_calls:
        # (at exactly as many, the last judgement could have needed an answer call after it)
        assert result.stop_reason == "sufficient"
        assert tasks(result) == tasks(UNBOUNDED)
        return
    assert result.stop_reason == "budget_llm_calls"
    assert tasks(result)[-1] in ("answer", "direct_answer")  # exactly one answer call, last
    assert [t for t in tasks(result) if t in ("answer", "direct_answer")] == [tasks(result)[-1]]
    assert budget_notes(result)
    assert "LLM calls used" in budget_notes(result)[0]
    if result.depths and result.depths[0].beam:
        # a depth completed: its paths are the evidence of the answer
        assert result.answer_source == "kg_paths"
        assert result.paths
    else:
        assert result.answer_source == "llm_knowledge"
    assert result.to_json()["stop_reason"] == "budget_llm_calls"


def test_call_bound_takes_the_budget_into_account() -> None:
    config = tog.SearchConfig(width=3, depth=3)
    assert config.call_bound(prune_tool="llm") == 22
    assert config.model_copy(update={"max_llm_calls": 5}).call_bound(prune_tool="llm") == 5
    assert config.model_copy(update={"max_llm_calls": 50}).call_bound(prune_tool="llm") == 22


@pytest.mark.parametrize("field", ["max_llm_calls", "max_tokens_total", "time_budget_s"])
def test_budgets_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        tog.SearchConfig(**{field: 0})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(prune=["llm", "bm25"]), limit=st.integers(1, 8))
def test_max_llm_calls_holds_whatever_the_model_says(case: Case, limit: int) -> None:
    config = case.config().model_copy(update={"max_llm_calls": limit})
    _, unbounded = run_case(case, hostile_model(case.seed))
    llm = hostile_model(case.seed)
    result = tog.ThinkOnGraph(NetworkXGraph.from_triples(case.triples), llm, config=config).run(
        QUESTION_E, topic_entities=list(case.topics)
    )
    assert result.usage.llm_calls <= config.call_bound(prune_tool=case.prune) <= limit
    assert len(llm.requests) == result.usage.llm_calls
    if result.stop_reason == "budget_llm_calls":
        assert result.usage.llm_calls < unbounded.usage.llm_calls or limit == 1
    else:
        assert result.usage.llm_calls == unbounded.usage.llm_calls


# --- tokens --------------------------------------------------------------------------------------


def test_max_tokens_total_stops_exploring_once_spent_but_still_answers() -> None:
    result = ask(CONFIG.model_copy(update={"max_tokens_total": 1}))
    assert result.stop_reason == "budget_tokens"
    # The first prune spends the tokens; depth 1's paths (no more calls needed) are the evidence.
    assert tasks(result) == ["relation_prune", "answer"]
    assert result.answer_source == "kg_paths"
    assert result.answer == "London"
    assert "tokens used" in budget_notes(result)[0]


def test_a_token_budget_large_enough_changes_nothing() -> None:
    total = UNBOUNDED.usage.prompt_tokens + UNBOUNDED.usage.completion_tokens
    result = ask(CONFIG.model_copy(update={"max_tokens_total": total + 1}))
    assert result.stop_reason == "sufficient"
    assert tasks(result) == tasks(UNBOUNDED)


def test_the_token_budget_stops_between_depths_with_the_paths_so_far() -> None:
    # Enough tokens for depth 1 (prune + judge) but not for depth 2: answer from depth 1's beam.
    depth1 = UNBOUNDED.trace.llm_events()[:2]
    spent = sum(e.prompt_tokens + e.completion_tokens for e in depth1)
    result = ask(CONFIG.model_copy(update={"max_tokens_total": spent}))
    assert result.stop_reason == "budget_tokens"
    assert tasks(result) == ["relation_prune", "sufficiency", "answer"]
    assert result.answer_source == "kg_paths"
    assert result.paths


# --- wall time (the drivers enforce it) ---------------------------------------------------------


class FakeClock:
    """Seconds that pass only when the fake model says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ticking(clock: FakeClock, seconds: float) -> Callable[[ChatRequest], str]:
    """`film_reply`, each call taking ``seconds`` of fake time."""

    def reply(request: ChatRequest) -> str:
        clock.now += seconds
        return film_reply(request)

    return reply


def test_drive_throws_stop_search_when_the_time_is_up() -> None:
    clock = FakeClock()
    trace = Trace()
    outcome = drive(
        flow_for(["Inception"]),
        film_kg(),
        ScriptedLLM(ticking(clock, 1.0)),
        trace=trace,
        time_budget_s=1.5,
        clock=clock,
    )
    assert outcome.stop_reason == "budget_time"
    # relation prune (t=1), judge (t=2): time is up before the depth-2 batch; then the answer.
    llm_tasks = [e.task for e in trace.llm_events()]
    assert llm_tasks == ["relation_prune", "sufficiency", "answer"]
    assert outcome.answer_source == "kg_paths"
    assert any("wall-time budget of 1.5 s" in n.detail for n in outcome.notes)


@pytest.mark.anyio
async def test_adrive_enforces_the_time_budget_the_same_way() -> None:
    clock = FakeClock()
    sync_trace, async_trace = Trace(), Trace()
    sync = drive(
        flow_for(["Inception"]),
        film_kg(),
        ScriptedLLM(ticking(clock, 1.0)),
        trace=sync_trace,
        time_budget_s=1.5,
        clock=clock,
    )
    clock.now = 0.0
    result = await adrive(
        flow_for(["Inception"]),
        to_async(film_kg()),
        AsyncScriptedLLM(ticking(clock, 1.0)),
        trace=async_trace,
        time_budget_s=1.5,
        clock=clock,
    )
    assert result == sync
    assert [e.task for e in async_trace.llm_events()] == [e.task for e in sync_trace.llm_events()]


def test_drive_many_gives_each_flow_its_own_deadline() -> None:
    clock = FakeClock()

    class Batch:
        inner = ScriptedLLM(film_reply)

        def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
            clock.now += 1.0
            return [self.inner.complete(r) for r in requests]

    traces = [Trace(), Trace()]
    values = drive_many(
        [flow_for(["Inception"]), flow_for(["Inception"])],
        film_kg(),
        Batch(),
        traces=traces,
        time_budget_s=1.5,
        clock=clock,
    )
    outcomes = [v for v in values if isinstance(v, SearchOutcome)]
    assert [o.stop_reason for o in outcomes] == ["budget_time", "budget_time"]
    assert [[e.task for e in t.llm_events()] for t in traces] == [
        ["relation_prune", "sufficiency", "answer"]
    ] * 2


def test_a_time_budget_spent_before_the_first_step_answers_without_the_graph() -> None:
    result = ask(CONFIG.model_copy(update={"time_budget_s": 1e-9}))
    assert result.stop_reason == "budget_time"
    assert tasks(result) == ["direct_answer"]
    assert result.usage.kg_calls == 0
    assert result.answer_source == "llm_knowledge"
    assert budget_notes(result)


def test_a_time_budget_spent_while_linking_answers_from_the_model_alone() -> None:
    agent = tog.ThinkOnGraph(
        film_kg(), ScriptedLLM(film_reply), config=CONFIG.model_copy(update={"time_budget_s": 1e-9})
    )
    result = agent.run(QUESTION)
    assert result.stop_reason == "budget_time"
    assert tasks(result) == ["direct_answer"]
    assert any("while linking" in n for n in budget_notes(result))


def test_a_stop_arriving_with_the_answer_call_pending_changes_nothing() -> None:
    clock = FakeClock()

    def reply(request: ChatRequest) -> str:
        if isinstance(request.task, JudgeSufficiency):
            clock.now += 10.0  # time runs out while the last judgement is made
        return film_reply(request)

    trace = Trace()
    config = CONFIG.model_copy(update={"depth": 1})
    outcome = drive(
        flow_for_config(config),
        film_kg(),
        ScriptedLLM(reply),
        trace=trace,
        time_budget_s=5.0,
        clock=clock,
    )
    assert outcome.stop_reason == "depth_exhausted"
    assert [e.task for e in trace.llm_events()] == ["relation_prune", "sufficiency", "answer"]
    assert outcome.answers == ("London",)


def flow_for_config(config: tog.SearchConfig):  # type: ignore[no-untyped-def]
    from tog.linking import Linking
    from tog.search import answer_flow
    from tog.templates import load_prompts

    return answer_flow(
        QUESTION,
        ["Inception"],
        config=config,
        prompts=load_prompts(),
        prune="llm",
        linking=Linking(use_llm=True, search=True, mentions=True),
    )


def test_a_flow_that_does_not_handle_stop_search_lets_it_propagate() -> None:
    def flow() -> Generator[tuple[()], object, str]:
        yield ()
        return "never"

    with pytest.raises(StopSearch):
        drive(flow(), film_kg(), ScriptedLLM(film_reply), trace=Trace(), time_budget_s=1e-9)


def test_answer_many_applies_the_time_budget_per_question() -> None:
    config = CONFIG.model_copy(update={"time_budget_s": 1e-9})
    items = [(QUESTION, ["Inception"])] * 3
    for llm in (ScriptedLLM(film_reply), None):
        results = tog.answer_many(items, kg=film_kg(), llm=llm, config=config)
        assert [r.stop_reason for r in results] == ["budget_time"] * 3
