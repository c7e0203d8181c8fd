"""Value types and protocols every knowledge-graph adapter speaks.

An adapter answers three batched questions (which relations, which neighbours, which labels) and may
offer optional capabilities (entity search, triple export) detected with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypeAlias, runtime_checkable

EntityId: TypeAlias = str
"""An entity's id in its KG: ``"m.0abc"``, ``"Q42"``, an IRI, or a node name."""

RelationId: TypeAlias = str
"""A relation's id in its KG: ``"film.film.directed_by"``, ``"P57"``, ``"directed_by"``."""

Direction: TypeAlias = Literal["out", "in"]
"""``out``: the entity is the subject of the edge; ``in``: the entity is its object."""

DIRECTIONS: tuple[Direction, Direction] = ("out", "in")


@dataclass(frozen=True, slots=True)
class LiteralValue:
    """A literal node: a value with an optional datatype IRI or language tag.

    Literals are first-class answers (dates, numbers, strings); they never have outgoing edges.
    """

    lexical: str
    datatype: str | None = None
    language: str | None = None

    def __str__(self) -> str:
        return self.lexical


Node: TypeAlias = EntityId | LiteralValue
"""What sits at the far end of an edge: an entity id or a literal."""


@dataclass(frozen=True, slots=True)
class Hop:
    """One step to take from an entity: along ``relation`` in ``direction``."""

    entity: EntityId
    relation: RelationId
    direction: Direction


class Triple(NamedTuple):
    """A KG edge in the KG's own direction; equal to the plain tuple ``(s, r, o)``."""

    subject: EntityId
    relation: RelationId
    object: Node


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """A candidate for an entity mention: its id, label and a score in [0, 1].

    ``exact`` is true when the mention equals the label or an alias after case folding.
    """

    id: EntityId
    label: str
    score: float
    exact: bool = False


class KnowledgeGraph(Protocol):
    """The synchronous adapter protocol. Every call is batched; absence is data, not an error."""

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relations at each entity, after the adapter's relation policy.

        Every requested id is a key; an unknown id maps to ``()``. Order is deterministic.
        """
        ...

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct nodes reached by each hop, in deterministic order, at most ``limit`` each.

        Every requested hop is a key; a hop that leads nowhere maps to ``()``.
        """
        ...

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Display names of entity or relation ids. Unnamed or unknown ids are absent."""
        ...


class AsyncKnowledgeGraph(Protocol):
    """The asynchronous twin of `KnowledgeGraph`: the same names, as coroutines."""

    async def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`."""
        ...

    async def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`."""
        ...

    async def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`."""
        ...


@runtime_checkable
class SupportsEntitySearch(Protocol):
    """Optional capability: find entities by label for topic-entity linking."""

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities whose label or alias matches ``text``: exact matches first, best first."""
        ...


@runtime_checkable
class SupportsAsyncEntitySearch(Protocol):
    """Optional capability of async adapters: `SupportsEntitySearch` as a coroutine."""

    async def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """See `SupportsEntitySearch.search_entities`."""
        ...


@runtime_checkable
class SupportsMentions(Protocol):
    """Optional capability: gazetteer linking, every label mentioned in a whole question."""

    def find_mentions(self, text: str) -> list[tuple[str, list[EntityMatch]]]:
        """Longest non-overlapping label mentions in ``text``, each with its exact matches."""
        ...


@runtime_checkable
class SupportsDescribe(Protocol):
    """Optional capability: describe unnamed (compound) nodes by their own outgoing facts."""

    def describe(
        self, entities: Sequence[EntityId], *, limit: int = 5
    ) -> Mapping[EntityId, tuple[tuple[RelationId, Node], ...]]:
        """Up to ``limit`` ``(relation, value)`` pairs per entity, after the relation policy."""
        ...


@runtime_checkable
class SupportsTriples(Protocol):
    """Optional capability: iterate over the stored triples (notebooks, corpus builders)."""

    def triples(self, *, limit: int | None = None) -> Iterator[Triple]:
        """Stored triples in KG direction, at most ``limit``."""
        ...


def node_key(node: Node) -> str:
    """A stable sort key for a node: entities before literals, then by text.

    >>> sorted(["b", LiteralValue("1"), "a"], key=node_key)
    ['a', 'b', LiteralValue(lexical='1', datatype=None, language=None)]
    """
    if isinstance(node, LiteralValue):
        return f"1\x00{node.lexical}\x00{node.datatype or ''}\x00{node.language or ''}"
    return f"0\x00{node}"
