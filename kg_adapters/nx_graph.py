"""`NetworkXGraph`: the reference in-memory adapter, over a ``networkx.MultiDiGraph``.

Nodes are entity ids (``str``) or `LiteralValue` objects; the edge key is the relation id. The
constructor builds adjacency indexes once, so every query is a dict lookup. Loaders read plain
``head<SEP>relation<SEP>tail`` files (MetaQA, PathQuestion) and RDF files.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import networkx as nx

from kg_adapters._label_index import LabelIndex
from kg_adapters.base import (
    Direction,
    EntityId,
    EntityMatch,
    Hop,
    LiteralValue,
    Node,
    RelationId,
    Triple,
    node_key,
)
from kg_adapters.errors import KGLoadError

__all__ = ["NetworkXGraph"]

_Adjacency = dict[EntityId, dict[RelationId, tuple[Node, ...]]]


class NetworkXGraph:
    """The `KnowledgeGraph` reference adapter: a ``networkx.MultiDiGraph`` indexed for lookups.

    Order: relations are sorted by id; the neighbours of a hop are in the canonical `node_key`
    order (entities by id, then literals), as in every other adapter, so the same graph gives the
    same answers whichever store holds it. Literals never have relations. Labels: a node's
    ``label`` attribute; else, when ``names_from_ids`` is set (plain-name graphs such as MetaQA),
    the entity id itself; relation ids only through ``relation_labels``. Optional capabilities:
    `search_entities`, `find_mentions`, `triples`.

    The wrapped graph must not be modified afterwards: the indexes are built once.

    >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
    >>> kg.neighbors([Hop("Christopher Nolan", "directed_by", "in")])
    {Hop(entity='Christopher Nolan', relation='directed_by', direction='in'): ('Inception',)}
    """

    def __init__(
        self,
        graph: nx.MultiDiGraph,
        *,
        hidden_relations: Collection[str] = (),
        relation_labels: Mapping[RelationId, str] | None = None,
        names_from_ids: bool = False,
    ) -> None:
        """Wrap a graph and index it.

        Args:
            graph: Nodes are ``str`` entity ids or `LiteralValue`; each edge's key is its
                relation id. Optional node attributes: ``label`` (str), ``aliases`` (str tuple).
            hidden_relations: Relation ids never shown (nor followed).
            relation_labels: Display names of relation ids.
            names_from_ids: Use an entity's id as its label when it has no ``label`` attribute.

        Raises:
            TypeError: If a node is neither ``str`` nor `LiteralValue`, or graph is not a
                ``MultiDiGraph``.
            ValueError: If a literal has an outgoing edge.
        """
        if not isinstance(graph, nx.MultiDiGraph):
            raise TypeError(f"graph must be a networkx.MultiDiGraph, got {type(graph).__name__}")
        self._graph = graph
        self._hidden = frozenset(hidden_relations)
        self._relation_labels = dict(relation_labels or {})
        self._names_from_ids = names_from_ids
        self._out: _Adjacency = {}
        self._in: _Adjacency = {}
        self._out_relations: dict[EntityId, tuple[RelationId, ...]] = {}
        self._in_relations: dict[EntityId, tuple[RelationId, ...]] = {}
        self._num_triples = 0
        self._num_entities = 0
        self._index: LabelIndex | None = None
        self._lock = threading.Lock()
        self._build_indexes()

    def _build_indexes(self) -> None:
        hidden = self._hidden
        out_lists: dict[EntityId, dict[RelationId, list[Node]]] = {}
        in_lists: dict[EntityId, dict[RelationId, list[Node]]] = {}
        for node in self._graph:
            if isinstance(node, str):
                self._num_entities += 1
            elif not isinstance(node, LiteralValue):
                raise TypeError(f"graph nodes must be str or LiteralValue, got {node!r}")
        # One pass over the raw adjacency dicts (public `adjacency()`): views cost 2x on 100k edges.
        for source, targets in self._graph.adjacency():
            by_relation: dict[RelationId, list[Node]] | None = None
            for target, keys in targets.items():
                for relation in keys:
                    if relation in hidden:
                        continue
                    if by_relation is None:
                        if isinstance(source, LiteralValue):
                            raise ValueError(f"a literal cannot have outgoing edges: {source!r}")
                        by_relation = out_lists[source] = {}
                    by_relation.setdefault(relation, []).append(target)
                    if not isinstance(target, LiteralValue):
                        in_lists.setdefault(target, {}).setdefault(relation, []).append(source)
                    self._num_triples += 1
        relations: set[RelationId] = set()
        for lists, adjacency, names in (
            (out_lists, self._out, self._out_relations),
            (in_lists, self._in, self._in_relations),
        ):
            for node, by_relation_lists in lists.items():
                adjacency[node] = {
                    r: tuple(sorted(nodes, key=node_key)) for r, nodes in by_relation_lists.items()
                }
                names[node] = tuple(sorted(by_relation_lists))
                relations.update(by_relation_lists)
        self._num_relations = len(relations)

    @classmethod
    def from_triples(
        cls,
        triples: Iterable[tuple[EntityId, RelationId, Node]],
        *,
        labels: Mapping[EntityId, str] | None = None,
        aliases: Mapping[EntityId, Sequence[str]] | None = None,
        relation_labels: Mapping[RelationId, str] | None = None,
        hidden_relations: Collection[str] = (),
        names_from_ids: bool = True,
    ) -> NetworkXGraph:
        """Build a graph from ``(head, relation, tail)`` triples; repeated triples count once.

        Args:
            triples: Heads are entity ids; tails are entity ids or `LiteralValue`.
            labels: Display names of entities (ids not in a triple are ignored).
            aliases: Alternative names of entities, for linking (ids not in a triple are ignored).
            relation_labels: Display names of relations.
            hidden_relations: Relation ids never shown.
            names_from_ids: An entity without a label is named by its id (plain-name KGs).

        Returns:
            The adapter.

        Raises:
            TypeError: If a head is not a ``str`` or a tail neither ``str`` nor `LiteralValue`.
        """
        graph = nx.MultiDiGraph()
        add_edge = graph.add_edge
        for head, relation, tail in triples:
            if not isinstance(head, str) or not isinstance(tail, str | LiteralValue):
                raise TypeError(
                    f"triple ({head!r}, {relation!r}, {tail!r}): the head must be a str, "
                    "the tail a str or LiteralValue"
                )
            add_edge(head, tail, key=relation)
        nodes = graph.nodes
        for entity, label in (labels or {}).items():
            if entity in nodes:
                nodes[entity]["label"] = label
        for entity, names in (aliases or {}).items():
            if entity in nodes:
                nodes[entity]["aliases"] = tuple(names)
        return cls(
            graph,
            hidden_relations=hidden_relations,
            relation_labels=relation_labels,
            names_from_ids=names_from_ids,
        )

    @classmethod
    def from_tsv(
        cls,
        path: str | os.PathLike[str],
        *,
        sep: str = "\t",
        comment: str | None = "#",
        encoding: str = "utf-8",
    ) -> NetworkXGraph:
        """Load a ``head<sep>relation<sep>tail`` file of plain names (``.gz`` allowed).

        Fields are stripped; blank lines and lines starting with ``comment`` are skipped. Every
        node is an entity named by its id (``names_from_ids``). MetaQA's ``kb.txt`` uses
        ``sep="|"``; PathQuestion's KBs use tabs.

        Args:
            path: The file.
            sep: Field separator.
            comment: Prefix of comment lines, or ``None``.
            encoding: Text encoding.

        Returns:
            The adapter.

        Raises:
            KGLoadError: If the file is missing or unreadable, or a line does not hold exactly three
                non-empty fields (the message names the file and line number).
        """
        file = Path(path)
        if not file.is_file():
            raise KGLoadError(f"no such file: {file}", adapter="networkx")
        if not sep:
            raise ValueError("sep must not be empty")
        triples: list[tuple[EntityId, RelationId, Node]] = []
        try:
            with _open_text(file, encoding) as stream:
                for number, line in enumerate(stream, start=1):
                    stripped = line.strip()
                    if not stripped or (comment and stripped.startswith(comment)):
                        continue
                    fields = line.split(sep)
                    if len(fields) == 3:
                        head, relation, tail = (field.strip() for field in fields)
                        if head and relation and tail:
                            triples.append((head, relation, tail))
                            continue
                    raise KGLoadError(
                        f"{file}:{number}: expected 3 non-empty fields separated by {sep!r}, "
                        f"got {len(fields)}: {stripped[:120]!r}",
                        adapter="networkx",
                    )
        except (OSError, UnicodeDecodeError) as exc:
            raise KGLoadError(f"cannot read {file}: {exc}", adapter="networkx") from exc
        return cls.from_triples(triples)

    @classmethod
    def from_rdf(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        label_predicates: Sequence[str] | None = None,
        alias_predicates: Sequence[str] | None = None,
        hidden_relations: Sequence[str] | None = None,
        language: str = "en",
    ) -> NetworkXGraph:
        """Load an RDF file with rdflib into memory.

        IRIs become entity ids (the full IRI), blank nodes ``_:<id>``, literals `LiteralValue`.
        Label predicates give node labels in ``language`` (fallback: regional variant, untagged,
        any) and alias predicates give aliases; neither becomes an edge, and ``owl:sameAs`` edges
        are dropped. As a convenience for RDF files, an IRI with no label is named by its local name
        (``.../Christopher_Nolan`` gives ``Christopher Nolan``); relation ids are named likewise.

        Args:
            path: N-Triples, Turtle, N3, RDF/XML or JSON-LD file, optionally ``.gz``.
            format: rdflib parser name; guessed from the extension when ``None``.
            label_predicates: Predicates naming their subject, most trusted first (default:
                `kg_adapters.rdf_graph.LABEL_PREDICATES`).
            alias_predicates: Predicates giving alternative names (default:
                `kg_adapters.rdf_graph.ALIAS_PREDICATES`).
            hidden_relations: Predicates dropped entirely (default: ``owl:sameAs``).
            language: Preferred label language.

        Returns:
            The adapter.

        Raises:
            KGLoadError: If the file is missing, its format unknown, or its content malformed.
        """
        from kg_adapters import rdf_graph

        content = rdf_graph.extract_content(
            rdf_graph.read_rdf(path, format=format),
            label_predicates=rdf_graph.LABEL_PREDICATES
            if label_predicates is None
            else label_predicates,
            alias_predicates=rdf_graph.ALIAS_PREDICATES
            if alias_predicates is None
            else alias_predicates,
            hidden_relations=(rdf_graph.OWL_SAME_AS,)
            if hidden_relations is None
            else hidden_relations,
            language=language,
        )
        return cls.from_triples(
            content.triples,
            labels=content.labels,
            aliases=content.aliases,
            relation_labels=content.relation_labels,
            names_from_ids=False,
        )

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The wrapped graph (read it; do not modify it)."""
        return self._graph

    @property
    def num_entities(self) -> int:
        """Number of entity (non-literal) nodes."""
        return self._num_entities

    def __len__(self) -> int:
        """Number of visible triples."""
        return self._num_triples

    def __repr__(self) -> str:
        return (
            f"NetworkXGraph(triples={self._num_triples}, entities={self._num_entities}, "
            f"literals={self._graph.number_of_nodes() - self._num_entities}, "
            f"relations={self._num_relations})"
        )

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relations at each entity, sorted by id.

        Args:
            entities: Entity ids.
            direction: ``"out"`` (entity is the head) or ``"in"`` (entity is the tail).
            limit: At most this many relations per entity.

        Returns:
            A tuple per requested id; ``()`` for unknown ids and literals.
        """
        _check(direction, limit)
        index = self._out_relations if direction == "out" else self._in_relations
        return {entity: index.get(entity, ())[:limit] for entity in entities}

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct nodes at the other end of each hop, in `node_key` order.

        Args:
            hops: ``(entity, relation, direction)`` steps.
            limit: At most this many nodes per hop (the first ones in order).

        Returns:
            A tuple per requested hop; ``()`` for hops leading nowhere.
        """
        _check(None, limit)
        result: dict[Hop, tuple[Node, ...]] = {}
        for hop in hops:
            _check(hop.direction, None)
            index = self._out if hop.direction == "out" else self._in
            result[hop] = index.get(hop.entity, {}).get(hop.relation, ())[:limit]
        return result

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Display names of entity or relation ids; unnamed and unknown ids are absent.

        Args:
            ids: Entity or relation ids.

        Returns:
            ``{id: label}`` for the ids that have one.
        """
        nodes = self._graph.nodes
        result: dict[str, str] = {}
        for entity in ids:
            if entity in nodes:
                label = nodes[entity].get("label")
                if isinstance(label, str):
                    result[entity] = label
                    continue
                if self._names_from_ids and isinstance(entity, str):
                    result[entity] = entity
                    continue
            if entity in self._relation_labels:
                result[entity] = self._relation_labels[entity]
        return result

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities by label or alias: exact normalised matches first, then BM25 matches.

        The index is built on the first call (or the first `find_mentions`).

        Args:
            text: A mention.
            limit: At most this many matches.

        Returns:
            Matches, best first (see `LabelIndex.search`).
        """
        return self._label_index().search(text, limit=limit)

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Spans of ``text`` that exactly name an entity (see `LabelIndex.find_mentions`).

        Args:
            text: A question.
            max_tokens: The longest span considered, in words.

        Returns:
            ``(normalised mention, matches)`` pairs, left to right.
        """
        return self._label_index().find_mentions(text, max_tokens=max_tokens)

    def triples(self, *, limit: int | None = None) -> Iterator[Triple]:
        """Visible triples, in adjacency order.

        Args:
            limit: At most this many triples.

        Yields:
            Triples in KG direction.
        """
        _check(None, limit)
        if limit == 0:
            return
        count = 0
        for head, by_relation in self._out.items():
            for relation, tails in by_relation.items():
                for tail in tails:
                    yield Triple(head, relation, tail)
                    count += 1
                    if count == limit:
                        return

    def _label_index(self) -> LabelIndex:
        with self._lock:
            if self._index is None:
                self._index = LabelIndex(self._name_records())
            return self._index

    def _name_records(self) -> Iterator[tuple[EntityId, str | None, Sequence[str]]]:
        for entity, attributes in self._graph.nodes(data=True):
            if not isinstance(entity, str):
                continue
            label = attributes.get("label")
            if not isinstance(label, str):
                label = entity if self._names_from_ids else None
            aliases = attributes.get("aliases", ())
            if label is not None or aliases:
                yield entity, label, tuple(aliases)


def _open_text(file: Path, encoding: str) -> TextIO:
    if file.suffix.lower() == ".gz":
        return gzip.open(file, "rt", encoding=encoding)
    return file.open(encoding=encoding)


def _check(direction: str | None, limit: int | None) -> None:
    """Reject developer mistakes: an unknown direction or a negative limit."""
    if direction is not None and direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', got {direction!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
