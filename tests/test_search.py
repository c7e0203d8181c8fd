"""Hand-driven engine tests: `think_on_graph` with no adapters, batch by batch.

Each test builds the flow, takes batches with ``next`` / ``send`` and answers them from plain
dicts (`Graph`) and reply functions, then checks the exact steps asked for and the returned
`SearchOutcome` against tog_spec.md §2-§5.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from kg_adapters import Hop, LiteralValue, Node
from tog._flow import PruneMode
from tog.config import SearchConfig
from tog.llm.base import (
    ChatRequest,
    Completion,
    GenerateAnswer,
    JudgeSufficiency,
    PathView,
    PruneRelations,
    RelationOption,
    Sampling,
    ScoreEntities,
    TripleView,
    task_name,
)
from tog.paths import Note, Path, SearchOutcome
from tog.search import think_on_graph
from tog.steps import AskLLM, Batch, Flow, GetLabels, ListNeighbors, ListRelations, StepResult
from tog.templates import load_prompts

PROMPTS = load_prompts()

Reply = Callable[[ChatRequest], str]


# --- reply builders ------------------------------------------------------------------------------


def choices(*picks: tuple[int, float]) -> str:
    return json.dumps({"choices": [{"candidate": i, "score": s} for i, s in picks]})


def scores(*picks: tuple[int, float]) -> str:
    return json.dumps({"scores": [{"candidate": i, "score": s} for i, s in picks]})


def verdict(sufficient: bool, *answers: str) -> str:
    return json.dumps({"sufficient": sufficient, "answers": list(answers), "rationale": "r"})


def final(*answers: str) -> str:
    return json.dumps({"answers": list(answers), "rationale": "r"})


def completion(text: str) -> Completion:
    return Completion(text=text, finish_reason="stop", model="hand")


# --- a world of plain dicts (no adapter) --------------------------------------------------------


@dataclass
class Graph:
    """Answers KG steps from a triple list; records every batch the flow yields."""

    triples: Sequence[tuple[str, str, Node]]
    labels: Mapping[str, str] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out: dict[str, dict[str, list[Node]]] = {}
        self.inc: dict[str, dict[str, list[Node]]] = {}
        for s, r, o in self.triples:
            tails = self.out.setdefault(s, {}).setdefault(r, [])
            if o not in tails:
                tails.append(o)
            if isinstance(o, str):
                heads = self.inc.setdefault(o, {}).setdefault(r, [])
                if s not in heads:
                    heads.append(s)

    def has(self, entity: str, relation: str, direction: str) -> bool:
        index = self.out if direction == "out" else self.inc
        return relation in index.get(entity, {})

    def result(self, step: object, llm: Reply) -> StepResult:
        match step:
            case GetLabels(ids=ids):
                return {i: self.labels[i] for i in ids if i in self.labels}
            case ListRelations(entities=entities, directions=directions):
                return {
                    d: {
                        e: tuple(sorted((self.out if d == "out" else self.inc).get(e, {})))
                        for e in entities
                    }
                    for d in directions
                }
            case ListNeighbors(hops=hops, limit=limit):
                found: dict[Hop, tuple[Node, ...]] = {}
                for hop in hops:
                    index = self.out if hop.direction == "out" else self.inc
                    found[hop] = tuple(index.get(hop.entity, {}).get(hop.relation, ()))[:limit]
                return found
            case AskLLM(request=request):
                return completion(llm(request))
        raise AssertionError(f"unexpected step {step!r}")

    def run(self, flow: Flow[SearchOutcome], llm: Reply) -> SearchOutcome:
        """Drive ``flow`` by hand to its return value."""
        try:
            batch = next(flow)
            while True:
                self.batches.append(batch)
                batch = flow.send([self.result(step, llm) for step in batch])
        except StopIteration as done:
            outcome: SearchOutcome = done.value
            return outcome

    def asks(self, name: str | None = None) -> list[ChatRequest]:
        found = [s.request for b in self.batches for s in b if isinstance(s, AskLLM)]
        return [r for r in found if name is None or task_name(r.task) == name]

    def hops(self) -> list[Hop]:
        return [h for b in self.batches for s in b if isinstance(s, ListNeighbors) for h in s.hops]


def flow_for(
    question: str,
    topics: Sequence[str],
    prune: PruneMode = "llm",
    **config: object,
) -> Flow[SearchOutcome]:
    return think_on_graph(
        question, topics, config=SearchConfig(**config), prompts=PROMPTS, prune=prune
    )


def send_last(flow: Flow[SearchOutcome], results: list[StepResult]) -> SearchOutcome:
    """Send the final results; the flow must return (no further batch)."""
    with pytest.raises(StopIteration) as done:
        flow.send(results)
    outcome: SearchOutcome = done.value.value
    return outcome


def ask(batch: Batch) -> list[ChatRequest]:
    assert batch, "empty batch"
    assert all(isinstance(step, AskLLM) for step in batch), batch
    return [step.request for step in batch if isinstance(step, AskLLM)]


def by_task(name: str, reply: str, otherwise: Reply | None = None) -> Reply:
    def answer(request: ChatRequest) -> str:
        if task_name(request.task) == name:
            return reply
        assert otherwise is not None, f"unexpected {task_name(request.task)} call"
        return otherwise(request)

    return answer


def never_sufficient(request: ChatRequest) -> str:
    """Follow outgoing candidates, score entities evenly, never stop early, answer 'x'."""
    match task_name(request.task):
        case "relation_prune":
            task = request.task
            assert isinstance(task, PruneRelations)
            forward = [o.index for o in task.options if o.direction == "out"] or [1]
            return choices(*((i, 1.0 / rank) for rank, i in enumerate(forward, 1)))
        case "entity_score":
            task = request.task
            assert isinstance(task, ScoreEntities)
            return scores(*((i, 1.0) for i in range(1, len(task.options) + 1)))
        case "sufficiency":
            return verdict(False)
        case _:
            return final("x")


def options_of(request: ChatRequest) -> tuple[RelationOption, ...]:
    """The numbered candidates of a relation-prune request."""
    task = request.task
    assert isinstance(task, PruneRelations), task
    return task.options


def option_index(request: ChatRequest, relation: str, entity: str | None = None) -> int:
    options = options_of(request)
    for option in options:
        if option.relation == relation and (entity is None or option.entity == entity):
            return option.index
    raise AssertionError(f"{relation!r} not offered: {options}")


# --- a full depth, every batch spelled out -------------------------------------------------------

NOLAN_LABELS = {
    "m.nolan": "Christopher Nolan",
    "m.inception": "Inception",
    "m.interstellar": "Interstellar",
    "m.london": "London",
    "film.directed_by": "directed by",
    "people.born_in": "born in",
}
FILMS = "Which films did Christopher Nolan direct?"


def test_one_depth_exact_batches_incoming_edge_and_sufficient_stop() -> None:
    config = SearchConfig(width=2, depth=3, seed=11)
    flow = think_on_graph(FILMS, ["m.nolan"], config=config, prompts=PROMPTS, prune="llm")

    # Topic labels first, then relations both ways in one batch.
    assert next(flow) == (GetLabels(("m.nolan",)),)
    batch = flow.send([{"m.nolan": "Christopher Nolan"}])
    assert batch == (ListRelations(("m.nolan",), ("out", "in")),)
    batch = flow.send(
        [{"out": {"m.nolan": ("people.born_in",)}, "in": {"m.nolan": ("film.directed_by",)}}]
    )
    assert batch == (GetLabels(("film.directed_by", "people.born_in")),)
    batch = flow.send([{"film.directed_by": "directed by", "people.born_in": "born in"}])

    # One relation-prune call: candidates keep their direction, labels shown, stable order.
    [prune] = ask(batch)
    assert prune.task == PruneRelations(
        FILMS,
        (
            RelationOption(1, "Christopher Nolan", "directed by", "in"),
            RelationOption(2, "Christopher Nolan", "born in", "out"),
        ),
        2,
    )
    assert prune.messages[-1].content.endswith(
        "Candidates:\n1. ? | directed by | Christopher Nolan\n2. Christopher Nolan | born in | ?"
    )
    assert prune.sampling.temperature == config.temperature_exploration
    assert prune.sampling.seed == 11

    # Kept edges, best first, each queried in its own direction.
    batch = flow.send([completion(choices((1, 0.9), (2, 0.1)))])
    incoming = Hop("m.nolan", "film.directed_by", "in")
    born = Hop("m.nolan", "people.born_in", "out")
    assert batch == (ListNeighbors((incoming, born), limit=config.neighbor_limit),)
    batch = flow.send([{incoming: ("m.inception", "m.interstellar"), born: ("m.london",)}])
    assert batch == (GetLabels(("m.inception", "m.interstellar", "m.london")),)
    batch = flow.send([{k: v for k, v in NOLAN_LABELS.items() if k.startswith("m.")}])

    # Entity scoring only for the edge with two candidates; London (1 candidate) scores 1.
    [score] = ask(batch)
    assert score.task == ScoreEntities(
        FILMS, "? | directed by | Christopher Nolan", ("Inception", "Interstellar")
    )
    batch = flow.send([completion(scores((1, 0.7), (2, 0.3)))])

    # Reasoning sees the incoming edge in KG order, not reversed.
    [judge] = ask(batch)
    assert judge.task == JudgeSufficiency(
        FILMS,
        (
            PathView(
                triples=(TripleView("Inception", "directed by", "Christopher Nolan"),),
                ends=("Inception",),
            ),
            PathView(
                triples=(TripleView("Interstellar", "directed by", "Christopher Nolan"),),
                ends=("Interstellar",),
            ),
        ),
    )
    assert "Inception | directed by | Christopher Nolan" in judge.messages[-1].content
    assert judge.sampling.temperature == config.temperature_reasoning

    # "Sufficient" ends the search at once: no answer call.
    outcome = send_last(flow, [completion(verdict(True, "Inception", "Interstellar"))])
    assert outcome.stop_reason == "sufficient"
    assert outcome.answer_source == "kg_paths"
    assert outcome.answers == ("Inception", "Interstellar")
    assert [p.triples() for p in outcome.paths] == [
        [("m.inception", "film.directed_by", "m.nolan")],
        [("m.interstellar", "film.directed_by", "m.nolan")],
    ]
    assert [h.direction for p in outcome.paths for h in p.hops] == ["in", "in"]
    [record] = outcome.depths
    assert record.sufficient is True
    assert [(d.relation, d.direction, d.kept) for d in record.relations] == [
        ("film.directed_by", "in", True),
        ("people.born_in", "out", True),
    ]
    kept = {d.node: (round(d.score, 6), d.kept) for d in record.entities}
    assert kept == {
        "m.inception": (0.63, True),
        "m.interstellar": (0.27, True),
        "m.london": (0.1, False),
    }


# --- invariant 1: relation edges ranked globally across the beam --------------------------------


def test_relation_edges_are_ranked_globally_across_the_beam() -> None:
    # Three topics, each with five relations; every prune call keeps three of them.
    topics = ["A", "B", "C"]
    triples = [(t, f"{t.lower()}{k}", f"{t}{k}") for t in topics for k in range(5)]
    graph = Graph(triples)
    per_topic = {
        "A": ((1, 0.5), (2, 0.3), (3, 0.2)),
        "B": ((1, 0.6), (2, 0.4), (3, 0.0)),
        "C": ((1, 0.34), (2, 0.33), (3, 0.33)),
    }

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            [entity] = {o.entity for o in task.options}
            return choices(*per_topic[entity])
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", topics, width=3, depth=1), llm)

    assert len(graph.asks("relation_prune")) == 3
    [expand] = [s for b in graph.batches for s in b if isinstance(s, ListNeighbors)]
    # Global top 3 by score: B's first (0.6), A's first (0.5), B's second (0.4); not 3 per topic.
    assert expand.hops == (Hop("B", "b0", "out"), Hop("A", "a0", "out"), Hop("B", "b1", "out"))
    [record] = outcome.depths
    assert sum(d.kept for d in record.relations) == 3
    assert {(d.entity, d.relation) for d in record.relations if d.kept} == {
        ("B", "b0"),
        ("A", "a0"),
        ("B", "b1"),
    }


def test_at_most_width_edges_per_depth_when_each_frontier_entity_offers_many() -> None:
    # A two-level tree: every entity has six relations, and the model keeps three every time.
    triples: list[tuple[str, str, Node]] = []
    for k in range(6):
        triples.append(("root", f"r{k}", f"n{k}"))
        triples.extend((f"n{k}", f"s{j}", f"n{k}.{j}") for j in range(6))
    graph = Graph(triples)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            forward = [o.index for o in task.options if o.direction == "out"] or [1]
            return choices(*zip(forward, (0.5, 0.3, 0.2), strict=False))
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", ["root"], width=3, depth=3), llm)
    expansions = [s for b in graph.batches for s in b if isinstance(s, ListNeighbors)]
    assert len(expansions) == 3
    assert all(len(step.hops) <= 3 for step in expansions)
    # Depth 2: three frontier entities were each offered at least 6 candidates and each call kept
    # 3 of them, yet only 3 edges (not 9) are followed.
    depth_two = graph.asks("relation_prune")[1:4]
    assert [sorted({o.entity for o in options_of(r)}) for r in depth_two] == [
        ["n0"],
        ["n1"],
        ["n2"],
    ]
    assert all(len(options_of(r)) >= 6 for r in depth_two)
    assert expansions[1].hops == (
        Hop("n0", "s0", "out"),
        Hop("n1", "s0", "out"),
        Hop("n2", "s0", "out"),
    )
    for record in outcome.depths:
        assert sum(d.kept for d in record.relations) <= 3
        assert len(record.beam) <= 3


# --- invariant 2: at most N relation-prune calls per depth (grouping) ---------------------------


def test_relation_prune_groups_topics_into_at_most_width_calls() -> None:
    topics = [f"t{k}" for k in range(5)]
    triples = [(t, rel, f"{t}-{rel}") for t in topics for rel in ("p", "q")]
    graph = Graph(triples)
    flow = flow_for("q", topics, width=2, depth=1)

    batch = next(flow)
    assert batch == (GetLabels(tuple(topics)),)
    batch = flow.send([graph.result(batch[0], never_sufficient)])
    batch = flow.send([graph.result(step, never_sufficient) for step in batch])
    assert batch == (GetLabels(("p", "q")),)
    batch = flow.send([{}])

    prunes = ask(batch)
    assert len(prunes) == 2  # five topic entities, width 2: two grouped prompts
    entities = []
    offered = []
    for request in prunes:
        task = request.task
        assert isinstance(task, PruneRelations)
        assert [o.index for o in task.options] == list(range(1, len(task.options) + 1))
        entities.append(sorted({o.entity for o in task.options}))
        offered += [(o.entity, o.relation) for o in task.options]
    assert entities == [["t0", "t2", "t4"], ["t1", "t3"]]
    assert sorted(offered) == sorted((t, rel) for t in topics for rel in ("p", "q"))

    # An index in a grouped prompt maps back to the right entity.
    first, second = prunes
    picks = [
        choices((option_index(first, "q", "t4"), 1.0)),
        choices((option_index(second, "p", "t1"), 1.0)),
    ]
    batch = flow.send([completion(text) for text in picks])
    # Equal scores: ties are broken by beam order (t1 before t4).
    assert batch == (ListNeighbors((Hop("t1", "p", "out"), Hop("t4", "q", "out")), limit=200),)


def test_more_topics_than_width_never_exceed_width_prune_calls_at_any_depth() -> None:
    topics = [f"t{k}" for k in range(7)]
    triples: list[tuple[str, str, Node]] = []
    for t in topics:
        triples += [(t, "p", f"{t}a"), (t, "q", f"{t}b"), (f"{t}a", "s", f"{t}c")]
    graph = Graph(triples)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            return choices(*((o.index, 1.0) for o in task.options[:3]))
        return never_sufficient(request)

    graph.run(flow_for("q", topics, width=3, depth=3), llm)
    for batch in graph.batches:
        prunes = [
            s
            for s in batch
            if isinstance(s, AskLLM) and task_name(s.request.task) == "relation_prune"
        ]
        assert len(prunes) <= 3
    assert len(graph.asks()) <= SearchConfig(width=3, depth=3).call_bound(prune_tool="llm")


# --- invariant 3: entity scoring only for kept edges with >= 2 candidates -----------------------


def test_entity_scoring_only_for_kept_edges_with_two_or_more_candidates() -> None:
    triples: list[tuple[str, str, Node]] = [
        ("A", "loop", "A"),  # leads only back to the topic: 0 candidates after the cycle guard
        ("A", "one", "B"),
        ("A", "many", "C1"),
        ("A", "many", "C2"),
        ("A", "many", "C3"),
        ("A", "unkept", "D1"),
        ("A", "unkept", "D2"),
    ]
    graph = Graph(triples)

    def llm(request: ChatRequest) -> str:
        if isinstance(request.task, PruneRelations):
            return choices(
                (option_index(request, "loop"), 0.5),
                (option_index(request, "one"), 0.3),
                (option_index(request, "many"), 0.2),
            )
        if isinstance(request.task, ScoreEntities):
            return scores((1, 0.5), (2, 0.5))
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", ["A"], width=3, depth=1), llm)

    [score] = graph.asks("entity_score")
    assert score.task == ScoreEntities("q", "A | many | ?", ("C1", "C2", "C3"))
    assert Hop("A", "unkept", "out") not in graph.hops()
    [record] = outcome.depths
    by_node = {d.node: round(d.score, 6) for d in record.entities}
    assert by_node == {"B": 0.3, "C1": 0.1, "C2": 0.1, "C3": 0.0}
    assert [p.tail for p in record.beam] == ["B", "C1", "C2"]


def test_an_edge_with_one_candidate_needs_no_scoring_call() -> None:
    graph = Graph([("A", "r", "B"), ("A", "s", "C")])
    outcome = graph.run(
        flow_for("q", ["A"], width=2, depth=1),
        by_task("relation_prune", choices((1, 0.5), (2, 0.5)), never_sufficient),
    )
    assert graph.asks("entity_score") == []
    assert [p.tail for p in outcome.depths[0].beam] == ["B", "C"]


# --- invariant 4: exactly one terminal answer ---------------------------------------------------


def test_one_answer_call_on_depth_exhaustion_over_the_best_paths() -> None:
    graph = Graph([("A", "r", "B"), ("B", "s", "C"), ("C", "t", "D")])
    outcome = graph.run(flow_for("q", ["A"], width=1, depth=2), never_sufficient)

    tasks = [task_name(r.task) for r in graph.asks()]
    assert tasks == ["relation_prune", "sufficiency", "relation_prune", "sufficiency", "answer"]
    [last] = graph.batches[-1]
    assert isinstance(last, AskLLM)
    assert isinstance(last.request.task, GenerateAnswer)
    assert last.request.task.paths  # answer_from_paths: the explored paths are kept
    assert "A | r | B" in last.request.messages[-1].content
    assert outcome.stop_reason == "depth_exhausted"
    assert outcome.answer_source == "kg_paths"
    assert outcome.answers == ("x",)
    assert outcome.paths[0].triples() == [("A", "r", "B"), ("B", "s", "C")]


def test_one_answer_call_when_the_search_stalls_after_a_depth() -> None:
    # Depth 2: the only edge forward from B leads back to A (on the path): nothing survives.
    graph = Graph([("A", "r", "B"), ("B", "s", "A")])
    outcome = graph.run(flow_for("q", ["A"], width=2, depth=3), never_sufficient)
    tasks = [task_name(r.task) for r in graph.asks()]
    assert tasks == ["relation_prune", "sufficiency", "relation_prune", "answer"]
    assert outcome.stop_reason == "stalled"
    assert outcome.answer_source == "kg_paths"
    assert [p.triples() for p in outcome.paths] == [[("A", "r", "B")]]


def test_stall_at_depth_one_answers_from_model_knowledge_once() -> None:
    graph = Graph([("Z", "r", "Y")])  # the topic has no relations
    outcome = graph.run(flow_for("q", ["A"], width=2, depth=3), never_sufficient)
    assert [task_name(r.task) for r in graph.asks()] == ["direct_answer"]
    assert outcome.stop_reason == "stalled"
    assert outcome.answer_source == "llm_knowledge"
    assert outcome.paths == ()


def test_stall_when_every_tail_is_a_literal() -> None:
    graph = Graph([("A", "year", LiteralValue("1999")), ("A", "code", LiteralValue("x1"))])
    outcome = graph.run(
        flow_for("q", ["A"], width=2, depth=4),
        by_task("relation_prune", choices((1, 0.5), (2, 0.5)), never_sufficient),
    )
    tasks = [task_name(r.task) for r in graph.asks()]
    assert tasks == ["relation_prune", "sufficiency", "answer"]
    assert outcome.stop_reason == "stalled"
    assert outcome.answer_source == "kg_paths"
    assert len(outcome.depths) == 1
    # Literals are never asked for relations.
    relation_steps = [s for b in graph.batches for s in b if isinstance(s, ListRelations)]
    assert all(e == "A" for s in relation_steps for e in s.entities)


def test_no_call_after_sufficient_at_a_later_depth() -> None:
    graph = Graph([("A", "r", "B"), ("B", "s", "C"), ("C", "t", "D")])
    verdicts = iter([verdict(False), verdict(True, "C")])

    def llm(request: ChatRequest) -> str:
        if task_name(request.task) == "sufficiency":
            return next(verdicts)
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", ["A"], width=1, depth=3), llm)
    tasks = [task_name(r.task) for r in graph.asks()]
    assert tasks == ["relation_prune", "sufficiency", "relation_prune", "sufficiency"]
    assert outcome.stop_reason == "sufficient"
    assert outcome.answers == ("C",)
    assert len(outcome.depths) == 2


def test_sufficient_without_answers_counts_as_insufficient() -> None:
    graph = Graph([("A", "r", "B")])
    outcome = graph.run(
        flow_for("q", ["A"], width=1, depth=1),
        by_task("sufficiency", verdict(True), never_sufficient),
    )
    assert outcome.stop_reason == "depth_exhausted"
    assert [task_name(r.task) for r in graph.asks()].count("answer") == 1


# --- direction: incoming edges keep KG order ----------------------------------------------------


def test_incoming_edges_keep_kg_direction_over_two_hops() -> None:
    # From London, both hops are incoming: London <-born_in- Nolan <-directed_by- Inception.
    triples: list[tuple[str, str, Node]] = [
        ("m.inception", "film.directed_by", "m.nolan"),
        ("m.nolan", "people.born_in", "m.london"),
    ]
    graph = Graph(triples, labels=NOLAN_LABELS)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            wanted = "born in" if task.options[0].entity == "London" else "directed by"
            return choices((option_index(request, wanted), 1.0))
        return never_sufficient(request)

    outcome = graph.run(
        flow_for("Which film did someone from London direct?", ["m.london"], width=1, depth=2), llm
    )
    assert graph.hops() == [
        Hop("m.london", "people.born_in", "in"),
        Hop("m.nolan", "film.directed_by", "in"),
    ]
    [path] = outcome.depths[-1].beam
    assert [h.direction for h in path.hops] == ["in", "in"]
    assert path.triples() == [
        ("m.nolan", "people.born_in", "m.london"),
        ("m.inception", "film.directed_by", "m.nolan"),
    ]
    [judge] = graph.asks("sufficiency")[-1:]
    shown = judge.messages[-1].content
    assert (
        "Christopher Nolan | born in | London\n  Inception | directed by | Christopher Nolan"
        in shown
    )
    assert "London | born in | Christopher Nolan" not in shown
    assert outcome.stop_reason == "depth_exhausted"
    assert outcome.paths[0].triples() == path.triples()


# --- §4 / §5.4: names the model invents never reach the KG --------------------------------------


FILM_TRIPLES: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Christopher Nolan", "born_in", "London"),
    ("Leonardo DiCaprio", "born_in", "Los Angeles"),
]


def test_invented_relation_name_is_rejected_logged_and_never_queried() -> None:
    graph = Graph(FILM_TRIPLES)

    def llm(request: ChatRequest) -> str:
        if isinstance(request.task, PruneRelations):
            return json.dumps(
                {
                    "choices": [
                        {"relation": "birthplace_of_director", "score": 0.9},
                        {"candidate": 1, "score": 0.1},
                    ]
                }
            )
        return never_sufficient(request)

    outcome = graph.run(
        flow_for("Where was the director of Inception born?", ["Inception"], width=2, depth=2), llm
    )
    rejected = [n for n in outcome.notes if n.kind == "rejected_name"]
    assert len(rejected) == 2  # once per depth
    assert all("birthplace_of_director" in n.detail for n in rejected)
    assert graph.hops(), "the valid choice is still followed"
    assert all(h.relation != "birthplace_of_director" for h in graph.hops())
    assert all(graph.has(h.entity, h.relation, h.direction) for h in graph.hops())
    assert [n.kind for n in outcome.depths[0].notes] == ["rejected_name"]


@pytest.mark.parametrize(
    "reply",
    [
        '{"choices": [{"relation": "birthplace_of_director", "score": 1.0}]}',
        "{birthplace_of_director (Score: 0.9)}",
        '{"choices": [{"candidate": "birthplace_of_director", "score": 1}]}',
    ],
)
def test_a_reply_naming_only_invented_relations_is_logged_as_rejected(reply: str) -> None:
    graph = Graph(FILM_TRIPLES)
    outcome = graph.run(
        flow_for("Where was the director of Inception born?", ["Inception"], width=2, depth=2),
        by_task("relation_prune", reply, never_sufficient),
    )
    # Nothing invented is ever queried (the engine falls back to lexical ranking)...
    assert all(h.relation != "birthplace_of_director" for h in graph.hops())
    assert all(graph.has(h.entity, h.relation, h.direction) for h in graph.hops())
    # ...and the invented name itself is logged as rejected (tog_spec.md §5.4).
    rejected = [n for n in outcome.notes if n.kind == "rejected_name"]
    assert rejected, f"notes: {outcome.notes}"
    assert all("birthplace_of_director" in n.detail for n in rejected)


def test_relation_named_exactly_like_a_unique_candidate_is_accepted() -> None:
    graph = Graph(FILM_TRIPLES)
    graph.run(
        flow_for("Who directed Inception?", ["Inception"], width=1, depth=1),
        by_task(
            "relation_prune",
            json.dumps({"choices": [{"relation": "directed_by", "score": 1}]}),
            never_sufficient,
        ),
    )
    assert graph.hops() == [Hop("Inception", "directed_by", "out")]


def test_out_of_range_indices_are_never_followed() -> None:
    graph = Graph(FILM_TRIPLES)
    outcome = graph.run(
        flow_for("q", ["Inception"], width=2, depth=1),
        by_task(
            "relation_prune", choices((0, 0.5), (7, 0.4), (-1, 0.3), (2, 0.1)), never_sufficient
        ),
    )
    [prune] = graph.asks("relation_prune")
    assert isinstance(prune.task, PruneRelations)
    assert len(prune.task.options) == 2
    assert graph.hops() == [Hop("Inception", "starring", "out")]
    assert outcome.depths[0].beam[0].tail == "Leonardo DiCaprio"


# --- literals ------------------------------------------------------------------------------------


def test_literals_are_candidates_and_can_be_the_answer() -> None:
    opened = LiteralValue("2010-07-16", datatype="http://www.w3.org/2001/XMLSchema#date")
    premiere = LiteralValue("2010-07-08", datatype="http://www.w3.org/2001/XMLSchema#date")
    triples: list[tuple[str, str, Node]] = [
        ("m.inception", "film.release_date", opened),
        ("m.inception", "film.release_date", premiere),
        ("m.inception", "film.directed_by", "m.nolan"),
    ]
    graph = Graph(triples, labels={"m.inception": "Inception", "m.nolan": "Christopher Nolan"})
    flow = flow_for("When was Inception released?", ["m.inception"], width=3, depth=2)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            return choices(
                (option_index(request, "film.release_date"), 0.8),
                (option_index(request, "film.directed_by"), 0.2),
            )
        if isinstance(task, ScoreEntities):
            assert task.options == ("2010-07-16", "2010-07-08")
            return scores((1, 0.9), (2, 0.1))
        if isinstance(task, JudgeSufficiency):
            assert "Inception | film.release_date | 2010-07-16" in request.messages[-1].content
            return verdict(True, "2010-07-16")
        raise AssertionError(task)

    outcome = graph.run(flow, llm)
    # Labels are never asked for literals.
    label_ids = [i for b in graph.batches for s in b if isinstance(s, GetLabels) for i in s.ids]
    assert "m.nolan" in label_ids
    assert all(isinstance(i, str) for i in label_ids)
    assert outcome.stop_reason == "sufficient"
    assert outcome.answers == ("2010-07-16",)
    best = outcome.paths[0]
    assert best.tail == opened
    assert best.triples() == [("m.inception", "film.release_date", opened)]
    tails = [p.tail for p in outcome.depths[0].beam]
    assert tails == [opened, "m.nolan", premiere]


def test_literal_tails_are_not_expanded_at_the_next_depth() -> None:
    triples: list[tuple[str, str, Node]] = [
        ("A", "year", LiteralValue("1999")),
        ("A", "r", "B"),
        ("B", "s", "C"),
    ]
    graph = Graph(triples)
    outcome = graph.run(flow_for("q", ["A"], width=2, depth=2), never_sufficient)
    assert {p.tail for p in outcome.depths[0].beam} == {LiteralValue("1999"), "B"}
    relation_steps = [s for b in graph.batches for s in b if isinstance(s, ListRelations)]
    assert [s.entities for s in relation_steps] == [("A",), ("B",)]


# --- cycle guard ---------------------------------------------------------------------------------


def test_a_node_already_on_the_path_is_never_a_candidate_again() -> None:
    triples: list[tuple[str, str, Node]] = [
        ("A", "r", "B"),
        ("B", "s", "A"),
        ("B", "s", "C"),
        ("B", "t", "A"),
        ("C", "u", "A"),
        ("C", "u", "B"),
    ]
    graph = Graph(triples)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            at = task.options[0].entity
            if at == "B":
                return choices((option_index(request, "s"), 0.6), (option_index(request, "t"), 0.4))
            if at == "C":
                return choices((option_index(request, "u"), 1.0))
            return choices((option_index(request, "r"), 1.0))  # at A
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", ["A"], width=2, depth=3), llm)
    assert graph.hops() == [
        Hop("A", "r", "out"),
        Hop("B", "s", "out"),
        Hop("B", "t", "out"),
        Hop("C", "u", "out"),
    ]
    # B -s-> {A, C}: A is on the path, so C is the only candidate (no scoring call); B -t-> {A}
    # dies; C -u-> {A, B} are both on the path, so the search stalls at depth 3.
    assert graph.asks("entity_score") == []
    assert [p.tail for p in outcome.depths[1].beam] == ["C"]
    assert [d.node for d in outcome.depths[1].entities] == ["C"]
    assert outcome.depths[2].entities == ()
    assert outcome.stop_reason == "stalled"
    for record in outcome.depths:
        for path in record.beam:
            nodes = [path.topic, *(h.node for h in path.hops)]
            assert len(nodes) == len(set(nodes)), path


# --- seeded sampling of big neighbour sets -------------------------------------------------------


HUB = [("hub", "member", f"n{k:02d}") for k in range(60)]


def sampled_options(seed: int) -> tuple[tuple[str, ...], tuple[Note, ...]]:
    graph = Graph(HUB)
    outcome = graph.run(
        flow_for(
            "q",
            ["hub"],
            width=2,
            depth=1,
            seed=seed,
            entity_sample_threshold=20,
            entity_sample_size=5,
        ),
        never_sufficient,
    )
    [score] = graph.asks("entity_score")
    assert isinstance(score.task, ScoreEntities)
    return score.task.options, outcome.notes


def test_seeded_sampling_is_deterministic_and_depends_on_the_seed() -> None:
    first, notes = sampled_options(7)
    again, _ = sampled_options(7)
    other, _ = sampled_options(8)
    assert len(first) == 5
    assert len(set(first)) == 5
    assert set(first) <= {f"n{k:02d}" for k in range(60)}
    assert first == again
    assert other != first
    assert any(n.kind == "sampled" and "dropped 55" in n.detail for n in notes)


def test_below_the_threshold_nothing_is_sampled() -> None:
    graph = Graph(HUB[:19])
    outcome = graph.run(
        flow_for("q", ["hub"], width=2, depth=1, entity_sample_threshold=20, entity_sample_size=5),
        never_sufficient,
    )
    [score] = graph.asks("entity_score")
    assert isinstance(score.task, ScoreEntities)
    assert len(score.task.options) == 19
    assert not any(n.kind == "sampled" for n in outcome.notes)


# --- fallbacks -----------------------------------------------------------------------------------


def test_llm_only_on_depth_exhaustion_answers_without_paths() -> None:
    graph = Graph([("A", "r", "B"), ("B", "s", "C")])
    outcome = graph.run(
        flow_for("q", ["A"], width=1, depth=2, on_depth_exhausted="llm_only"), never_sufficient
    )
    requests = graph.asks()
    assert [task_name(r.task) for r in requests][-1] == "direct_answer"
    assert [task_name(r.task) for r in requests].count("direct_answer") == 1
    assert "answer" not in [task_name(r.task) for r in requests]
    last = requests[-1]
    assert last.task == GenerateAnswer("q", ())
    assert last.messages == PROMPTS["direct_answer"].render(question="q")
    assert last.sampling == Sampling(temperature=0.0, max_tokens=256, seed=0)
    assert outcome.stop_reason == "depth_exhausted"
    assert outcome.answer_source == "llm_knowledge"
    assert outcome.paths == ()
    assert outcome.answers == ("x",)


def test_no_topic_entity_answers_from_model_knowledge() -> None:
    flow = flow_for("Who wrote Hamlet?", [])
    [request] = ask(next(flow))
    assert request.task == GenerateAnswer("Who wrote Hamlet?", ())
    assert task_name(request.task) == "direct_answer"
    outcome = send_last(flow, [completion(final("William Shakespeare"))])
    assert outcome.stop_reason == "no_topic_entity"
    assert outcome.answer_source == "llm_knowledge"
    assert outcome.answers == ("William Shakespeare",)
    assert outcome.paths == ()
    assert outcome.depths == ()


def test_unparseable_final_answer_gives_no_answer_and_a_note() -> None:
    flow = flow_for("Who wrote Hamlet?", [])
    next(flow)
    outcome = send_last(flow, [completion("")])
    assert outcome.answers == ()
    assert any(n.kind == "parse_fallback" for n in outcome.notes)


# --- ToG-R ---------------------------------------------------------------------------------------


TOG_R_TRIPLES: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Inception", "written_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Inception", "starring", "Elliot Page"),
    ("Inception", "starring", "Tom Hardy"),
    ("Leonardo DiCaprio", "born_in", "Los Angeles"),
    ("Elliot Page", "born_in", "Halifax"),
    ("Tom Hardy", "born_in", "London"),
    ("Christopher Nolan", "born_in", "London"),
    ("Leonardo DiCaprio", "award", "Oscar"),
    ("London", "country", "United Kingdom"),
]


def tog_r_llm(request: ChatRequest) -> str:
    task = request.task
    if isinstance(task, PruneRelations):
        return choices(*((o.index, 1.0 / o.index) for o in task.options))
    if isinstance(task, ScoreEntities):
        raise AssertionError("ToG-R never scores entities")
    if isinstance(task, JudgeSufficiency):
        return verdict(False)
    return final("London")


@pytest.mark.parametrize("width", [1, 2, 3])
def test_tog_r_makes_no_entity_scoring_calls_and_its_paths_are_real_walks(width: int) -> None:
    graph = Graph(TOG_R_TRIPLES)
    outcome = graph.run(
        flow_for(
            "Where were the actors of Inception born?",
            ["Inception"],
            width=width,
            depth=3,
            variant="tog-r",
        ),
        tog_r_llm,
    )
    names = [task_name(r.task) for r in graph.asks()]
    assert "entity_score" not in names
    assert names.count("answer") + names.count("direct_answer") == 1
    assert len(names) <= SearchConfig(width=width, depth=3, variant="tog-r").call_bound(
        prune_tool="llm"
    )
    edges = {(s, r, o) for s, r, o in TOG_R_TRIPLES}

    def walks(path: Path) -> None:
        triples = path.triples()
        assert all(t in edges for t in triples), triples

    all_paths = [p for r in outcome.depths for p in r.beam] + list(outcome.paths)
    assert all_paths
    for path in all_paths:
        walks(path)
        assert path.members, "a ToG-R path carries its concrete members"
        for member in path.members:
            walks(member)
            assert member.topic == path.topic
            assert [h.relation for h in member.hops] == [h.relation for h in path.hops]
    # The reasoning prompt shows relation chains and their end entities.
    first_judge = graph.asks("sufficiency")[0]
    assert isinstance(first_judge.task, JudgeSufficiency)
    assert all(view.chain for view in first_judge.task.paths)


# T -r-> a1, T -r-> a2, and only a2 has q.
TOG_R_TWO: list[tuple[str, str, Node]] = [("T", "r", "a1"), ("T", "r", "a2"), ("a2", "q", "b")]


def tog_r_two_members() -> tuple[Graph, SearchOutcome]:
    """ToG-R over `TOG_R_TWO`: the model follows r, then q."""
    graph = Graph(TOG_R_TWO)

    def llm(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            wanted = "q" if any(o.relation == "q" for o in task.options) else "r"
            return choices((option_index(request, wanted), 1.0))
        return never_sufficient(request)

    outcome = graph.run(flow_for("q", ["T"], width=2, depth=2, variant="tog-r"), llm)
    return graph, outcome


def test_tog_r_follows_a_relation_only_from_members_that_have_it() -> None:
    # Following q from the chain {a1, a2} must not query (a1, q, out): a1 has no such relation.
    graph, outcome = tog_r_two_members()
    assert Hop("a2", "q", "out") in graph.hops()
    for hop in graph.hops():
        assert graph.has(hop.entity, hop.relation, hop.direction), hop
    assert [p.triples() for p in outcome.depths[1].beam] == [[("T", "r", "a2"), ("a2", "q", "b")]]


def test_tog_r_relation_decisions_name_an_entity_that_has_the_relation() -> None:
    # The decision log must not claim that a1 has q (only a2 does).
    _, outcome = tog_r_two_members()
    kept = [d for d in outcome.depths[1].relations if d.kept]
    assert [(d.relation, d.direction) for d in kept] == [("q", "out")]
    for record in outcome.depths:
        for decision in record.relations:
            assert (decision.entity, decision.relation) != ("a1", "q"), decision
            assert Graph(TOG_R_TWO).has(decision.entity, decision.relation, decision.direction)


# --- §2.2 A: per-path backtracking guard --------------------------------------------------------


def test_relation_guard_does_not_offer_the_last_relation_walked_back() -> None:
    # A -r-> B. With the relation guard, the path A-r->B is not offered (B, r, in) at depth 2.
    graph = Graph([("A", "r", "B"), ("B", "s", "C")])
    graph.run(flow_for("q", ["A"], width=1, depth=2, backtrack_guard="relation"), never_sufficient)
    second = graph.asks("relation_prune")[1]
    assert isinstance(second.task, PruneRelations)
    offered = [(o.relation, o.direction) for o in second.task.options]
    assert offered == [("s", "out")]


def test_the_guard_is_per_path_not_pooled_over_the_beam() -> None:
    # Two paths end at different entities; each path's guard removes only its own last relation.
    triples: list[tuple[str, str, Node]] = [
        ("A", "r", "B"),
        ("A", "s", "C"),
        ("X", "s", "B"),
        ("X", "r", "C"),
    ]
    graph = Graph(triples)
    graph.run(
        flow_for("q", ["A"], width=2, depth=2, backtrack_guard="relation"),
        by_task("relation_prune", choices((1, 0.5), (2, 0.5)), never_sufficient),
    )
    second = graph.asks("relation_prune")[1:]
    offered = sorted(
        (o.entity, o.relation, o.direction) for request in second for o in options_of(request)
    )
    # B was reached by r, so only (B, r, in) goes; C by s, so only (C, s, in) goes. A guard pooled
    # over the beam (reference defect §5.7) would drop all four.
    assert offered == [("B", "s", "in"), ("C", "r", "in")]


def test_edge_guard_walks_a_relation_back_only_to_siblings() -> None:
    # Default guard: walking directed_by back from Nolan reaches the *other* film, never Inception.
    triples: list[tuple[str, str, Node]] = [
        ("Inception", "directed_by", "Christopher Nolan"),
        ("Interstellar", "directed_by", "Christopher Nolan"),
    ]
    graph = Graph(triples)

    def llm(request: ChatRequest) -> str:
        if isinstance(request.task, PruneRelations):
            return choices((option_index(request, "directed_by"), 1.0))
        return never_sufficient(request)

    outcome = graph.run(
        flow_for("Which other film did he direct?", ["Inception"], width=2, depth=2), llm
    )
    assert SearchConfig().backtrack_guard == "edge"
    [path] = outcome.depths[1].beam
    assert path.triples() == [
        ("Inception", "directed_by", "Christopher Nolan"),
        ("Interstellar", "directed_by", "Christopher Nolan"),
    ]
    assert [d.node for d in outcome.depths[1].entities] == ["Interstellar"]
