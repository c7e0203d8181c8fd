"""The I/O-free part of the Neo4j adapters: the mapping, the caches and one flow per call.

A flow is a generator that yields `Cypher` requests and receives their rows; `Neo4jGraph` runs
flows with the sync driver, `AsyncNeo4jGraph` with the async one, so both answer alike.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

from kg_adapters._cypher import (
    DIALECTS,
    Cypher,
    Dialect,
    LiteralKeys,
    NodeSpec,
    Param,
    Row,
    Schema,
    check_name,
    chunked,
    dialect_from_probe,
    is_portable_name,
    labels_query,
    literal_from,
    literal_triples_query,
    literals_query,
    names_query,
    neighbors_query,
    prepare,
    probe_query,
    relations_query,
    request_size,
    schema_queries,
    triples_query,
)
from kg_adapters._label_index import LabelIndex
from kg_adapters.base import Direction, EntityId, Hop, Node, RelationId, Triple, node_key

logger = logging.getLogger("kg_adapters.neo4j_graph")  # the public module users configure

T = TypeVar("T")
Flow: TypeAlias = Generator[Cypher, list[Row], T]
"""A call's plan: yields each request, receives its rows, returns the answer."""

DialectName = Literal["auto", "neo4j", "falkordb"]
LiteralProperties: TypeAlias = Sequence[str] | Literal["all"] | None


@dataclass(frozen=True, slots=True)
class View:
    """What may be asked, given the schema: computed once per schema load."""

    dialect: Dialect
    spec: NodeSpec
    has_entities: bool
    relationship_types: frozenset[str]
    literals: LiteralKeys | None
    literal_keys: frozenset[str]


class Core:
    """Mapping, caches and the flows of every call; no I/O."""

    def __init__(
        self,
        *,
        id_property: str,
        name_property: str | None,
        node_label: str | None,
        literal_properties: LiteralProperties,
        names_from_ids: bool,
        dialect: DialectName,
    ) -> None:
        self.id_property = check_name(id_property, "id_property")
        self.name_property = (
            None if name_property is None else check_name(name_property, "name_property")
        )
        self.node_label = None if node_label is None else check_name(node_label, "node_label")
        if literal_properties == "all" or literal_properties is None:
            self.literal_properties: tuple[str, ...] | Literal["all"] | None = literal_properties
        elif isinstance(literal_properties, str):
            raise ValueError(
                "literal_properties must be None, 'all' or a list of keys, "
                f"not {literal_properties!r}"
            )
        else:
            self.literal_properties = tuple(dict.fromkeys(literal_properties))
            bad = [k for k in self.literal_properties if not isinstance(k, str) or not k]
            if bad:
                raise ValueError(f"literal_properties must be non-empty strings, got {bad!r}")
        if dialect != "auto" and dialect not in DIALECTS:
            raise ValueError(f"dialect must be 'auto', 'neo4j' or 'falkordb', not {dialect!r}")
        self.names_from_ids = names_from_ids
        self.dialect: Dialect | None = None if dialect == "auto" else DIALECTS[dialect]
        self.schema: Schema | None = None
        self.view: View | None = None
        self.index: LabelIndex | None = None

    def forget(self) -> None:
        """Drop the cached schema and label index (the dialect stays)."""
        self.schema = None
        self.view = None
        self.index = None

    # -- setup --------------------------------------------------------------------------------

    def setup(self) -> Flow[View]:
        """Detect the dialect and read the schema, once."""
        if self.dialect is None:
            rows = yield probe_query()
            self.dialect = dialect_from_probe(rows[0].get("probe") if rows else None)
            logger.debug("Bolt parameter transport: %s", self.dialect.name)
        if self.view is None:
            names: list[frozenset[str]] = []
            for query in schema_queries():
                rows = yield query
                names.append(frozenset(str(r["name"]) for r in rows if r.get("name") is not None))
            self.schema = Schema(*names)
            self.view = self._view(self.schema, self.dialect)
        return self.view

    def _view(self, schema: Schema, dialect: Dialect) -> View:
        label_ok = self.node_label is None or self.node_label in schema.labels
        has_entities = label_ok and self.id_property in schema.property_keys
        if not has_entities:
            logger.warning(
                "no entities: node label %r or id property %r is not in the database",
                self.node_label,
                self.id_property,
            )
        name = self.name_property if self.name_property in schema.property_keys else None
        spec = NodeSpec(self.id_property, name, self.node_label)
        literals: LiteralKeys | None = None
        literal_keys: frozenset[str] = frozenset()
        if self.literal_properties is not None:
            hidden = {self.id_property, *([self.name_property] if self.name_property else [])}
            hidden |= schema.property_keys & schema.relationship_types
            if self.literal_properties == "all":
                literals = LiteralKeys(None, tuple(sorted(hidden)))
                literal_keys = frozenset(schema.property_keys - hidden)
            else:
                shadowed = sorted(set(self.literal_properties) & schema.relationship_types)
                if shadowed:
                    logger.warning(
                        "literal properties %s are also relationship types; "
                        "the relationship types win",
                        shadowed,
                    )
                literals = LiteralKeys(self.literal_properties, tuple(sorted(hidden)))
                literal_keys = frozenset(schema.property_keys & set(self.literal_properties))
                literal_keys -= hidden
        return View(dialect, spec, has_entities, schema.relationship_types, literals, literal_keys)

    def requests(self, view: View, query: Cypher, batch: str) -> list[Cypher]:
        """``query`` prepared and split for the dialect; items that cannot be sent are dropped."""
        requests, dropped = chunked(query, batch, view.dialect)
        if dropped:
            logger.warning(
                "%d %s cannot be sent to this server and count as unknown", len(dropped), batch
            )
        return requests

    # -- flows ---------------------------------------------------------------------------------

    def relations(
        self, entities: Sequence[EntityId], direction: Direction, limit: int | None
    ) -> Flow[dict[EntityId, tuple[RelationId, ...]]]:
        """See `Neo4jGraph.relations`."""
        found: dict[EntityId, set[RelationId]] = {}
        wanted = [e for e in dict.fromkeys(entities) if isinstance(e, str)]
        if wanted and limit != 0:
            view = yield from self.setup()
            if view.has_entities:
                literals = view.literals if direction == "out" else None
                query = relations_query(view.spec, direction, wanted, literals=literals)
                for request in self.requests(view, query, "ids"):
                    for row in (yield request):
                        entity = row.get("eid")
                        if isinstance(entity, str):
                            names = found.setdefault(entity, set())
                            names.update(_strings(row.get("rel_types")))
                            names.update(_strings(row.get("prop_keys")))
        return {e: tuple(sorted(found.get(e, ())))[:limit] for e in entities}

    def neighbors(
        self, hops: Sequence[Hop], limit: int | None
    ) -> Flow[dict[Hop, tuple[Node, ...]]]:
        """See `Neo4jGraph.neighbors`."""
        result: dict[Hop, tuple[Node, ...]] = {hop: () for hop in hops}
        unique = [h for h in dict.fromkeys(hops) if isinstance(h.entity, str)]
        if not unique or limit == 0:
            return result
        view = yield from self.setup()
        if not view.has_entities:
            return result
        keyed = dict(enumerate(unique))
        for direction in ("out", "in"):
            rows: list[Mapping[str, Param]] = [
                {"i": i, "entity": hop.entity, "relation": hop.relation}
                for i, hop in keyed.items()
                if hop.direction == direction and hop.relation in view.relationship_types
            ]
            if rows:
                query = self._typed_neighbors(view, direction, rows, limit)
                for request in self.requests(view, query, "hops"):
                    for row in (yield request):
                        hop = keyed.get(_int(row.get("hop_key")))
                        if hop is not None:
                            nodes = sorted(_strings(row.get("targets")), key=node_key)
                            result[hop] = tuple(nodes[:limit])
        rows = [
            {"i": i, "entity": hop.entity, "relation": hop.relation}
            for i, hop in keyed.items()
            if hop.direction == "out" and hop.relation in view.literal_keys
        ]
        if rows:
            for request in self.requests(view, literals_query(view.spec, rows), "hops"):
                for row in (yield request):
                    hop = keyed.get(_int(row.get("hop_key")))
                    literal = literal_from(row.get("value"), row.get("text"))
                    if hop is not None and literal is not None:
                        result[hop] = (literal,)
        return {hop: result[hop] for hop in hops}

    @staticmethod
    def _typed_neighbors(
        view: View, direction: Direction, rows: list[Mapping[str, Param]], limit: int | None
    ) -> Cypher:
        """Name the hops' types in the pattern when they are portable and short enough."""
        types = sorted({str(row["relation"]) for row in rows})
        query = neighbors_query(view.spec, direction, rows, types=types, limit=limit)
        budget = view.dialect.max_request_bytes
        empty = neighbors_query(view.spec, direction, [], types=types, limit=limit)
        too_long = budget is not None and request_size(prepare(empty, view.dialect)) > budget // 2
        if too_long or not all(is_portable_name(t) for t in types):
            # Still exact: every hop is filtered by `type(r) = hop.relation`.
            query = neighbors_query(view.spec, direction, rows, types=None, limit=limit)
        return query

    def labels(self, ids: Sequence[str]) -> Flow[dict[str, str]]:
        """See `Neo4jGraph.labels`."""
        wanted = [i for i in dict.fromkeys(ids) if isinstance(i, str)]
        if not wanted:
            return {}
        view = yield from self.setup()
        found: dict[str, str] = {}
        if view.has_entities:
            for request in self.requests(view, labels_query(view.spec, wanted), "ids"):
                for row in (yield request):
                    entity, name = row.get("eid"), row.get("name")
                    if not isinstance(entity, str):
                        continue
                    if isinstance(name, str):
                        found[entity] = name
                    elif self.names_from_ids:
                        found[entity] = entity
        return {i: found[i] for i in wanted if i in found}

    def label_index(self) -> Flow[LabelIndex]:
        """The in-memory label index, read from the store on first use."""
        view = yield from self.setup()
        if self.index is None:
            rows: list[Row] = []
            if view.has_entities:
                query = names_query(view.spec, named_only=not self.names_from_ids)
                rows = yield prepare(query, view.dialect)
            self.index = LabelIndex(_name_records(rows, names_from_ids=self.names_from_ids))
        return self.index

    def triples_page(self, skip: int, size: int, *, literal: bool) -> Flow[list[Triple]]:
        """One page of entity edges (``literal=False``) or property literals (``True``)."""
        view = yield from self.setup()
        if not view.has_entities or (literal and view.literals is None):
            return []
        if literal and view.literals is not None:
            query = literal_triples_query(view.spec, view.literals, skip=skip, limit=size)
        else:
            query = triples_query(view.spec, skip=skip, limit=size)
        page: list[Triple] = []
        for row in (yield prepare(query, view.dialect)):
            subject, relation = row.get("subject"), row.get("relation")
            if not isinstance(subject, str) or not isinstance(relation, str):
                continue
            tail: Node | None
            if literal:
                tail = literal_from(row.get("value"), row.get("text"))
            else:
                target = row.get("object")
                tail = target if isinstance(target, str) else None
            if tail is not None:
                page.append(Triple(subject, relation, tail))
        return page


def _strings(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _name_records(
    rows: list[Row], *, names_from_ids: bool
) -> Iterator[tuple[EntityId, str | None, Sequence[str]]]:
    for row in rows:
        entity, name = row.get("eid"), row.get("name")
        if isinstance(entity, str):
            if isinstance(name, str):
                yield entity, name, ()
            elif names_from_ids:
                yield entity, entity, ()


def check_call(direction: str | None, limit: int | None) -> None:
    """Reject developer mistakes: an unknown direction or a negative limit."""
    if direction is not None and direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', got {direction!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")
