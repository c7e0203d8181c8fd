"""The requests the search engine yields: each step is one adapter or backend call.

The engine (`tog.search`) never performs I/O. It yields a batch of steps and receives one result per
step, in order; drivers (`tog.drivers`) decide how to run them (in sequence, concurrently, or merged
across questions).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, Node, RelationId
from tog.llm.base import ChatRequest, Completion
from tog.paths import BudgetReason


@dataclass(frozen=True, slots=True)
class ListRelations:
    """Relations of ``entities`` in each of ``directions``.

    One step, so a store that answers both directions in one query pays one round trip.
    """

    entities: tuple[EntityId, ...]
    directions: tuple[Direction, ...] = ("out", "in")
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class ListNeighbors:
    """Nodes reached by each hop."""

    hops: tuple[Hop, ...]
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class GetLabels:
    """Display names of entity or relation ids."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchEntities:
    """Link one mention to KG entities (needs `SupportsEntitySearch`)."""

    text: str
    limit: int = 5


@dataclass(frozen=True, slots=True)
class FindMentions:
    """Gazetteer linking over a whole question (needs ``find_mentions`` on the adapter)."""

    text: str


@dataclass(frozen=True, slots=True)
class Describe:
    """Outgoing facts of unnamed (compound) nodes, to show them (needs ``describe``)."""

    entities: tuple[EntityId, ...]
    limit: int = 4


@dataclass(frozen=True, slots=True)
class Embed:
    """Sentence vectors of ``texts`` (the ``embedding`` pruning tool)."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AskLLM:
    """One logical LLM call."""

    request: ChatRequest


Step: TypeAlias = (
    ListRelations
    | ListNeighbors
    | GetLabels
    | SearchEntities
    | FindMentions
    | Describe
    | Embed
    | AskLLM
)
Batch: TypeAlias = tuple[Step, ...]

Mentions: TypeAlias = list[tuple[str, list[EntityMatch]]]
RelationsByDirection: TypeAlias = Mapping[Direction, Mapping[EntityId, tuple[RelationId, ...]]]

StepResult: TypeAlias = (
    RelationsByDirection
    | Mapping[Hop, tuple[Node, ...]]
    | Mapping[str, str]
    | list[EntityMatch]
    | Mentions
    | Mapping[EntityId, tuple[tuple[RelationId, Node], ...]]
    | list[tuple[float, ...]]
    | Completion
)


class StopSearch(Exception):
    """Stop exploring: a budget is spent. The search then answers from its best paths so far.

    A driver throws it into a flow (``flow.throw``) when the question's wall-time budget runs out;
    the engine raises it inside itself when the next calls would break the call or token budget.
    ``reason`` becomes the result's ``stop_reason``; ``detail`` goes into its notes.
    """

    def __init__(self, reason: BudgetReason, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason: BudgetReason = reason
        self.detail = detail


T = TypeVar("T")
Flow: TypeAlias = Generator[Batch, list[StepResult], T]
"""A search: yields batches of steps, receives their results in order, returns its value."""
