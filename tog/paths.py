"""Reasoning paths and what the search decided at each depth: frozen values, JSON-friendly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kg_adapters.base import Direction, EntityId, LiteralValue, Node, RelationId, Triple
from tog.llm.base import PathView, TripleView

StopReason = Literal[
    "sufficient",
    "stalled",
    "depth_exhausted",
    "no_topic_entity",
    "budget_llm_calls",
    "budget_tokens",
    "budget_time",
    "error",
]
BudgetReason = Literal["budget_llm_calls", "budget_tokens", "budget_time"]
AnswerSource = Literal["kg_paths", "llm_knowledge"]


@dataclass(frozen=True, slots=True)
class PathHop:
    """One step of a path: the relation, its direction from the previous node, the node reached."""

    relation: RelationId
    direction: Direction
    node: Node


@dataclass(frozen=True, slots=True)
class Path:
    """A topic entity followed by hops, with its score; for ToG-R, the chain's concrete members.

    In ToG a path is one chain of nodes. In ToG-R a path stands for a relation chain: ``members``
    holds one concrete path per end node the chain reaches, and ``hops`` are those of the first
    member, so `triples` is always a real walk in the graph.
    """

    topic: EntityId
    hops: tuple[PathHop, ...] = ()
    score: float = 1.0
    members: tuple[Path, ...] = ()

    @property
    def ends(self) -> tuple[Node, ...]:
        """ToG-R: the end nodes of the chain's members; ToG: empty."""
        return tuple(member.tail for member in self.members)

    @property
    def tail(self) -> Node:
        """The node the path ends at (the topic for an empty path)."""
        return self.hops[-1].node if self.hops else self.topic

    @property
    def depth(self) -> int:
        """Number of hops."""
        return len(self.hops)

    def nodes(self) -> set[Node]:
        """Every node on the path, topic included (the cycle guard)."""
        return {self.topic, *(hop.node for hop in self.hops)}

    def extend(self, relation: RelationId, direction: Direction, node: Node, score: float) -> Path:
        """A new path one hop longer."""
        return Path(self.topic, (*self.hops, PathHop(relation, direction, node)), score)

    def triples(self) -> list[Triple]:
        """The path's edges in the KG's own direction (incoming hops are *not* flipped)."""
        out: list[Triple] = []
        previous: Node = self.topic
        for hop in self.hops:
            if hop.direction == "out":
                assert not isinstance(previous, LiteralValue), "literals have no outgoing edges"
                out.append(Triple(previous, hop.relation, hop.node))
            else:
                assert not isinstance(hop.node, LiteralValue), "literals are never subjects"
                out.append(Triple(hop.node, hop.relation, previous))
            previous = hop.node
        return out


def display(node: Node, labels: Mapping[str, str]) -> str:
    """How a node is shown: its label, a literal's lexical form, else its id."""
    if isinstance(node, LiteralValue):
        return node.lexical
    return labels.get(node, node)


def path_view(path: Path, labels: Mapping[str, str], *, max_ends: int = 10) -> PathView:
    """Render a ToG path as triples, or a ToG-R chain as ``topic -> r1 -> r2`` plus its ends."""
    if path.members:
        chain = " -> ".join(
            [display(path.topic, labels)]
            + [
                labels.get(hop.relation, hop.relation)
                + (" (reverse)" if hop.direction == "in" else "")
                for hop in path.hops
            ]
        )
        ends = tuple(display(node, labels) for node in path.ends[:max_ends])
        return PathView(chain=chain, ends=ends)
    triples = tuple(
        TripleView(
            display(t.subject, labels),
            labels.get(t.relation, t.relation),
            display(t.object, labels),
        )
        for t in path.triples()
    )
    return PathView(triples=triples, ends=(display(path.tail, labels),))


def render_paths(views: tuple[PathView, ...]) -> str:
    """The ``$paths`` block of the sufficiency and answer prompts."""
    if not views:
        return "(no paths)"
    lines: list[str] = []
    for i, view in enumerate(views, start=1):
        if view.chain:
            lines.append(f"Path {i} (ends at: {'; '.join(view.ends)})")
            lines.append(f"  {view.chain}")
        else:
            lines.append(f"Path {i} (ends at: {view.ends[0] if view.ends else '?'})")
            lines.extend(f"  {t.render()}" for t in view.triples)
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class RelationDecision:
    """A relation candidate at one depth: where it starts, its score, and whether it was kept."""

    entity: EntityId
    relation: RelationId
    direction: Direction
    score: float
    kept: bool


@dataclass(frozen=True, slots=True)
class EntityDecision:
    """An entity candidate reached through a kept relation: its score and whether it was kept."""

    via: EntityId
    relation: RelationId
    direction: Direction
    node: Node
    score: float
    kept: bool


@dataclass(frozen=True, slots=True)
class Note:
    """Something the search wants a reader to know: a fallback, a rejected name, a truncation."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class ParseRecord:
    """How one LLM reply was read: by its prompt's parser (``ok``), or not, and what was done.

    ``rejected`` lists names in the reply that matched no candidate (never used).
    """

    task: str
    ok: bool
    detail: str = ""
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DepthRecord:
    """Everything decided at one depth, for traces, notebooks and tests."""

    depth: int
    frontier: tuple[EntityId, ...]
    relations: tuple[RelationDecision, ...]
    entities: tuple[EntityDecision, ...]
    beam: tuple[Path, ...]
    sufficient: bool | None = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkDecision:
    """How one mention was linked: the candidates seen and the one chosen (if any)."""

    mention: str
    candidates: tuple[tuple[EntityId, str, float], ...]
    chosen: EntityId | None


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What the engine returns: answers, the evidence paths, and why it stopped."""

    answers: tuple[str, ...]
    rationale: str
    stop_reason: StopReason
    answer_source: AnswerSource
    paths: tuple[Path, ...]
    topics: tuple[EntityId, ...]
    depths: tuple[DepthRecord, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    links: tuple[LinkDecision, ...] = ()
    notes: tuple[Note, ...] = ()
    parses: tuple[ParseRecord, ...] = ()
