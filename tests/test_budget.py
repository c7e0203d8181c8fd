"""The call-budget property test of tog_spec.md §3 ("Our invariants", item 6).

Random small graphs, random search settings and a scripted model that answers with a hostile mix of
valid JSON, garbage, out-of-range indices, invented names and bare yes/no texts. Whatever the model
says, the search must stay within its LLM-call bound, count its calls consistently, answer exactly
once, never send the KG a relation the KG did not offer, and return JSON-serialisable results.
Every variant (ToG, ToG-R) and pruning tool (llm, bm25, embedding with a hash-based stand-in
embedder) is covered; a last test runs with no model at all (the offline scorer).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tog
from kg_adapters import Direction, LiteralValue, NetworkXGraph, Node
from tog.llm import ScriptedLLM
from tog.llm.base import ChatRequest, PruneRelations, ScoreEntities

QUESTION = "Which e1 has r0 of the r1 of e2?"
LITERALS = ["1999", "red", "42", "2010-07-16", ""]

Prune = Literal["llm", "bm25", "embedding"]


class HashEmbedder:
    """A deterministic stand-in for sentence embeddings: 8 numbers from a hash of the text."""

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            vectors.append(tuple(b / 255.0 - 0.5 for b in digest[:8]))
        return vectors


@dataclass(frozen=True)
class Case:
    """One generated search: a graph, its topic entities, the settings and the model's seed."""

    entities: tuple[str, ...]
    triples: tuple[tuple[str, str, Node], ...]
    topics: tuple[str, ...]
    width: int
    depth: int
    variant: Literal["tog", "tog-r"]
    prune: Prune
    seed: int

    def config(self) -> tog.SearchConfig:
        return tog.SearchConfig(
            width=self.width,
            depth=self.depth,
            variant=self.variant,
            prune_tool=self.prune,
            seed=self.seed,
            # Small sampling settings so that sampling code runs on these tiny graphs too.
            entity_sample_threshold=4,
            entity_sample_size=3,
        )


@st.composite
def graphs(draw: st.DrawFn) -> tuple[tuple[str, ...], tuple[tuple[str, str, Node], ...]]:
    entities = tuple(f"e{k}" for k in range(draw(st.integers(3, 25))))
    relations = [f"r{k}" for k in range(draw(st.integers(1, 6)))]
    # About one tail in four is a literal.
    entity = st.sampled_from(entities)
    tails = st.one_of(entity, entity, entity, st.builds(LiteralValue, st.sampled_from(LITERALS)))
    triples = draw(
        st.lists(
            st.tuples(st.sampled_from(entities), st.sampled_from(relations), tails),
            min_size=1,
            max_size=80,
        )
    )
    return entities, tuple(triples)


@st.composite
def cases(draw: st.DrawFn, *, prune: list[Prune]) -> Case:
    entities, triples = draw(graphs())
    # Mostly entities that head an edge; sometimes any entity (possibly not in the graph).
    heads = sorted({head for head, _, _ in triples})
    topic = st.one_of(st.sampled_from(heads), st.sampled_from(heads), st.sampled_from(entities))
    topics = draw(st.lists(topic, min_size=1, max_size=5, unique=True))
    return Case(
        entities=entities,
        triples=triples,
        topics=tuple(topics),
        width=draw(st.integers(1, 4)),
        depth=draw(st.integers(1, 4)),
        variant=draw(st.sampled_from(["tog", "tog-r"])),
        prune=draw(st.sampled_from(prune)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def hostile_model(seed: int) -> ScriptedLLM:
    """A scripted model whose replies are drawn from valid, malformed and hostile texts."""
    rng = random.Random(seed)

    def reply(request: ChatRequest) -> str:
        task = request.task
        n = len(task.options) if isinstance(task, PruneRelations | ScoreEntities) else 3
        pick = [
            {"candidate": rng.randint(1, max(1, n)), "score": rng.random()}
            for _ in range(rng.randint(1, 6))
        ]
        wild = [
            {"candidate": rng.choice([0, -1, n + 1, 10**9, "x", None, 1.5, True]), "score": 2}
            for _ in range(rng.randint(0, 3))
        ]
        texts = [
            # valid-looking structured replies
            json.dumps({"choices": pick}),
            json.dumps({"scores": pick}),
            json.dumps({"choices": pick + wild}),
            json.dumps({"sufficient": True, "answers": [f"e{rng.randint(0, 30)}"]}),
            json.dumps({"sufficient": True, "answers": []}),
            json.dumps({"sufficient": False, "answers": ["e1"]}),
            json.dumps({"answers": ["e2", "red"], "rationale": "because"}),
            json.dumps({"answers": []}),
            # out of range, invented, wrong types
            json.dumps({"choices": wild}),
            json.dumps({"choices": [{"relation": f"invented_{rng.randint(0, 9)}", "score": 1}]}),
            json.dumps({"choices": [{"relation": f"r{rng.randint(0, 9)}", "score": 0.7}]}),
            json.dumps({"scores": [{"entity": "nobody", "score": 1}]}),
            json.dumps({"choices": "all of them"}),
            json.dumps([rng.random() for _ in range(n)]),
            "{invented_relation (Score: 0.9)}",
            f"1. r{rng.randint(0, 9)} (Score: 0.5)\n2. e{rng.randint(0, 30)} (score:1)",
            "0, 1, 0",
            "score: 1e309 candidate 99999999999",
            "NaN",
            "-1",
            # garbage and bare texts
            "",
            "   ",
            "garbage {{{ ]]",
            "null",
            "[]",
            "{}",
            "Yes",
            "No",
            "Yes. {e1}",
            "{Yes}",
            "The answer is e3.",
            "<|im_end|>",
            "\u0000\ufffd" * 3,
        ]
        return rng.choice(texts)

    return ScriptedLLM(reply)


def run(case: Case, llm: ScriptedLLM | None) -> tuple[NetworkXGraph, tog.Result]:
    kg = NetworkXGraph.from_triples(case.triples)
    embedder = HashEmbedder() if case.prune == "embedding" else None
    agent = tog.ThinkOnGraph(kg, llm, config=case.config(), embedder=embedder)
    return kg, agent.run(QUESTION, topic_entities=list(case.topics))


def check_trace(kg: NetworkXGraph, result: tog.Result) -> None:
    """Every hop sent to the KG is a relation the KG listed for that entity and direction."""
    for event in result.trace:
        if event.kind != "neighbors":
            continue
        assert isinstance(event.request, dict)
        hops = event.request["hops"]
        assert isinstance(hops, list)
        for hop in hops:
            assert isinstance(hop, dict)
            entity, relation = hop["entity"], hop["relation"]
            assert isinstance(entity, str)
            assert hop["direction"] in ("out", "in")
            direction: Direction = "out" if hop["direction"] == "out" else "in"
            offered = kg.relations([entity], direction=direction)[entity]
            assert relation in offered, f"{hop} is not a relation of {entity} ({offered})"


# --- the call bound and the trace's accounting ---------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(prune=["llm", "bm25", "embedding"]))
def test_call_bound_holds_and_trace_counts_match(case: Case) -> None:
    config = case.config()
    llm = hostile_model(case.seed)
    _, result = run(case, llm)
    usage = result.usage

    assert result.prune_tool == case.prune
    bound = config.call_bound(prune_tool=case.prune)
    expected = {
        ("tog", "llm"): 2 * case.width * case.depth + case.depth + 1,
        ("tog-r", "llm"): case.width * case.depth + case.depth + 1,
    }.get((case.variant, case.prune), case.depth + 1)
    assert bound == expected
    assert usage.llm_calls <= bound, dict(usage.calls_by_task)

    llm_events = [e for e in result.trace if e.kind == "llm"]
    assert len(llm_events) == usage.llm_calls + usage.setup_calls
    assert len(llm.requests) == len(llm_events)  # the model saw exactly what the trace shows
    assert usage.setup_calls == 0  # topic entities are given (oracle mode)
    assert usage["llm_calls"] == usage.llm_calls
    assert sum(usage.calls_by_task.values()) == len(llm_events)

    tasks = [e.task for e in llm_events]
    if case.prune != "llm":
        assert set(tasks) <= {"sufficiency", "answer", "direct_answer"}
    if case.variant == "tog-r":
        assert "entity_score" not in tasks
    terminal = [t for t in tasks if t in ("answer", "direct_answer")]
    assert len(terminal) == (0 if result.stop_reason == "sufficient" else 1)
    if terminal:
        assert llm_events[-1].task in ("answer", "direct_answer")
    assert tasks.count("sufficiency") <= case.depth
    assert result.stop_reason in ("sufficient", "stalled", "depth_exhausted")

    json.dumps(result.to_json())
    json.dumps(result.to_json(include_trace=False))


# --- nothing invented reaches the KG -------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(prune=["llm", "bm25", "embedding"]))
@example(
    # ToG-R: the chain {a1, a2} follows q, which only a2 has; (a1, q, out) must not be queried.
    case=Case(
        entities=("T", "a1", "a2", "b"),
        triples=(("T", "r", "a1"), ("T", "r", "a2"), ("a2", "q", "b")),
        topics=("T",),
        width=2,
        depth=2,
        variant="tog-r",
        prune="bm25",
        seed=0,
    )
)
def test_only_relations_the_kg_offered_are_followed(case: Case) -> None:
    kg, result = run(case, hostile_model(case.seed))
    check_trace(kg, result)


# --- offline (no model) ------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(prune=["bm25"]))
def test_offline_search_stays_within_depth_plus_one(case: Case) -> None:
    _, result = run(case, None)
    assert result.prune_tool == "bm25"
    assert result.llm_backend == "offline"
    assert result.usage.llm_calls <= case.depth + 1
    llm_events = [e for e in result.trace if e.kind == "llm"]
    assert len(llm_events) == result.usage.llm_calls
    terminal = [e for e in llm_events if e.task in ("answer", "direct_answer")]
    assert len(terminal) == (0 if result.stop_reason == "sufficient" else 1)
    json.dumps(result.to_json())
