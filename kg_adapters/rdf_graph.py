"""`RDFLibGraph`: an adapter over an ``rdflib.Graph``, queried with rdflib's native triple patterns.

Ids: an IRI is its full string, a blank node is ``_:<id>``, a literal is a `LiteralValue`. Label and
alias predicates give names and are never edges; ``owl:sameAs`` is hidden. Native pattern calls take
microseconds where SPARQL over rdflib takes milliseconds (environment.md §6), so no SPARQL is used.
"""

from __future__ import annotations

import gzip
import os
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast
from urllib.parse import unquote

import rdflib
from rdflib.term import BNode, Literal, URIRef

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

__all__ = [
    "ALIAS_PREDICATES",
    "LABEL_PREDICATES",
    "OWL_SAME_AS",
    "RDF_FORMATS",
    "RDFContent",
    "RDFLibGraph",
    "extract_content",
    "local_name",
    "read_rdf",
]

LABEL_PREDICATES: tuple[str, ...] = (
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://schema.org/name",
    "https://schema.org/name",
    "http://xmlns.com/foaf/0.1/name",
    "http://rdf.freebase.com/ns/type.object.name",
)
"""Predicates whose literal objects name their subject, most trusted first."""

ALIAS_PREDICATES: tuple[str, ...] = (
    "http://www.w3.org/2004/02/skos/core#altLabel",
    "http://rdf.freebase.com/ns/common.topic.alias",
)
"""Predicates whose literal objects are alternative names (used for entity linking)."""

OWL_SAME_AS = "http://www.w3.org/2002/07/owl#sameAs"

RDF_FORMATS: Mapping[str, str] = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".nt": "nt",
    ".ntriples": "nt",
    ".n3": "n3",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".jsonld": "json-ld",
    ".json-ld": "json-ld",
}
"""File extensions (each also with ``.gz``) and the rdflib parser they select."""

# rdflib logs a warning for URIRefs holding these characters; such ids cannot be in a parsed graph.
_INVALID_IRI_CHARS = frozenset('<>" {}|\\^`')


def local_name(iri: str) -> str | None:
    """The display name an unlabelled IRI gets: its last ``/`` or ``#`` segment, readable.

    Percent-escapes are decoded and ``_`` becomes a space. This is a convenience for RDF files that
    name things by IRI only (``ex:Christopher_Nolan``); it is never applied to blank nodes.

    >>> local_name("http://example.org/film/Christopher_Nolan")
    'Christopher Nolan'
    >>> local_name("http://example.org/film/") is None
    True

    Args:
        iri: A full IRI.

    Returns:
        The readable local name, or ``None`` when the IRI ends with ``/`` or ``#``.
    """
    tail = iri[max(iri.rfind("/"), iri.rfind("#")) + 1 :]
    name = " ".join(unquote(tail).replace("_", " ").split())
    return name or None


def _to_node(term: rdflib.term.Node) -> Node:
    if isinstance(term, Literal):
        datatype = None if term.datatype is None else str(term.datatype)
        return LiteralValue(str(term), datatype, term.language or None)
    if isinstance(term, BNode):
        return f"_:{term}"
    return str(term)


def _entity_id(term: URIRef | BNode) -> EntityId:
    return f"_:{term}" if isinstance(term, BNode) else str(term)


def _to_term(entity: str) -> URIRef | BNode | None:
    """The rdflib term for an id, or ``None`` when no parsed graph can hold it."""
    if entity.startswith("_:"):
        return BNode(entity[2:])
    if not entity or not _INVALID_IRI_CHARS.isdisjoint(entity):
        return None
    return URIRef(entity)


def _language_tier(language_tag: str | None, language: str) -> int:
    if not language_tag:
        return 2
    tag = language_tag.lower()
    if tag == language:
        return 0
    return 1 if tag.startswith(f"{language}-") else 3


def _choose_names(
    labels: Iterable[tuple[int, Literal]], aliases: Iterable[Literal], language: str
) -> tuple[str | None, tuple[str, ...]]:
    """Pick the display label and collect aliases from a node's name literals.

    The label is the value in ``language`` (then a regional variant such as ``en-GB``, then an
    untagged value, then any language), ties broken by predicate rank and text. The other label
    values (other languages, lower-ranked predicates) join the aliases, as they help linking.
    """
    language = language.lower()
    ranked = sorted(
        (_language_tier(value.language, language), rank, str(value)) for rank, value in labels
    )
    label = ranked[0][2] if ranked else None
    alias_values = sorted((_language_tier(v.language, language), str(v)) for v in aliases)
    names = [text for _, text in alias_values] + [text for _, _, text in ranked[1:]]
    return label, tuple(dict.fromkeys(name for name in names if name != label))


@dataclass(frozen=True, slots=True)
class RDFContent:
    """What an RDF graph holds, in adapter terms: visible edges and names.

    Attributes:
        triples: Visible edges (no label, alias or hidden predicates), sorted for determinism.
        labels: Entity display names (label predicates, else the IRI's `local_name`).
        aliases: Entity alternative names.
        relation_labels: Names of the relations used by ``triples``.
    """

    triples: tuple[tuple[EntityId, RelationId, Node], ...]
    labels: Mapping[EntityId, str]
    aliases: Mapping[EntityId, tuple[str, ...]]
    relation_labels: Mapping[RelationId, str]


def read_rdf(path: str | os.PathLike[str], *, format: str | None = None) -> rdflib.Graph:
    """Parse an RDF file (optionally gzip-compressed) into an ``rdflib.Graph``.

    Args:
        path: The file; its extension (before ``.gz``) selects the parser unless ``format`` is set.
        format: An rdflib parser name (``"turtle"``, ``"nt"``, ``"xml"``, ``"json-ld"``, ...).

    Returns:
        The parsed graph.

    Raises:
        KGLoadError: If the file is missing, its format unknown, or its content malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise KGLoadError(f"no such file: {file}", adapter="rdflib")
    compressed = file.suffix.lower() == ".gz"
    inner = file.with_suffix("") if compressed else file
    chosen = format or RDF_FORMATS.get(inner.suffix.lower())
    if chosen is None:
        supported = ", ".join(sorted(RDF_FORMATS))
        raise KGLoadError(
            f"unknown RDF file extension {inner.suffix!r} for {file}; supported: {supported} "
            "(each also with .gz), or pass format=",
            adapter="rdflib",
        )
    graph = rdflib.Graph()
    try:
        with warnings.catch_warnings():
            # rdflib 7's own JSON-LD parser builds a ConjunctiveGraph and warns about it.
            warnings.filterwarnings(
                "ignore", message="ConjunctiveGraph is deprecated", category=DeprecationWarning
            )
            if compressed:
                with gzip.open(file, "rb") as stream:
                    graph.parse(
                        source=cast(IO[bytes], stream),
                        format=chosen,
                        publicID=file.resolve().as_uri(),
                    )
            else:
                graph.parse(source=str(file), format=chosen)
    except Exception as exc:  # rdflib's parsers raise many unrelated types; translate them once
        raise KGLoadError(
            f"cannot parse {file} as {chosen}: {type(exc).__name__}: {exc}", adapter="rdflib"
        ) from exc
    return graph


def extract_content(
    graph: rdflib.Graph,
    *,
    label_predicates: Sequence[str] = LABEL_PREDICATES,
    alias_predicates: Sequence[str] = ALIAS_PREDICATES,
    hidden_relations: Sequence[str] = (OWL_SAME_AS,),
    language: str = "en",
) -> RDFContent:
    """Split an rdflib graph into visible edges and names, for in-memory adapters.

    Entities are the nodes of visible edges. Names of other subjects are kept only for predicates,
    as relation labels.

    Args:
        graph: The parsed graph.
        label_predicates: Predicates naming their subject, most trusted first.
        alias_predicates: Predicates giving alternative names.
        hidden_relations: Predicates dropped entirely (``owl:sameAs``).
        language: Preferred label language.

    Returns:
        The visible triples, entity labels and aliases, and relation labels.
    """
    label_rank: dict[rdflib.term.Node, int] = {
        URIRef(p): rank for rank, p in enumerate(label_predicates)
    }
    alias_set: set[rdflib.term.Node] = {URIRef(p) for p in alias_predicates}
    hidden: set[rdflib.term.Node] = {URIRef(p) for p in hidden_relations}
    names: dict[rdflib.term.Node, list[tuple[int, Literal]]] = {}
    alternatives: dict[rdflib.term.Node, list[Literal]] = {}
    edges: list[tuple[EntityId, RelationId, Node]] = []
    nodes: dict[rdflib.term.Node, None] = {}
    predicates: dict[URIRef, None] = {}
    for subject, predicate, obj in graph:
        if predicate in label_rank:
            if isinstance(obj, Literal):
                names.setdefault(subject, []).append((label_rank[predicate], obj))
        elif predicate in alias_set:
            if isinstance(obj, Literal):
                alternatives.setdefault(subject, []).append(obj)
        elif predicate not in hidden and not isinstance(subject, Literal):
            edges.append((str(_to_node(subject)), str(predicate), _to_node(obj)))
            nodes[subject] = None
            predicates[URIRef(str(predicate))] = None
            if not isinstance(obj, Literal):
                nodes[obj] = None
    labels: dict[EntityId, str] = {}
    aliases: dict[EntityId, tuple[str, ...]] = {}
    for term in nodes:
        label, alias_names = _choose_names(
            names.get(term, ()), alternatives.get(term, ()), language
        )
        if label is None and isinstance(term, URIRef):
            label = local_name(str(term))
        entity = str(_to_node(term))
        if label is not None:
            labels[entity] = label
        if alias_names:
            aliases[entity] = alias_names
    relation_labels: dict[RelationId, str] = {}
    for predicate in predicates:
        label, _ = _choose_names(names.get(predicate, ()), (), language)
        label = label or local_name(str(predicate))
        if label is not None:
            relation_labels[str(predicate)] = label
    edges.sort(key=lambda edge: (edge[0], edge[1], node_key(edge[2])))
    return RDFContent(tuple(edges), labels, aliases, relation_labels)


class RDFLibGraph:
    """The `KnowledgeGraph` adapter over an ``rdflib.Graph`` (small graphs: fixtures, ontologies).

    Relations are sorted by id; neighbours are sorted with `node_key` (rdflib's own iteration order
    depends on string hashing). Labels follow `extract_content`: the preferred-language value of the
    label predicates, else the IRI's `local_name`; blank nodes without a label are unnamed. Ids that
    contain characters invalid in an IRI are unknown. Also offers `search_entities`,
    `find_mentions` and `triples`.
    """

    def __init__(
        self,
        graph: rdflib.Graph,
        *,
        label_predicates: Sequence[str] = LABEL_PREDICATES,
        alias_predicates: Sequence[str] = ALIAS_PREDICATES,
        language: str = "en",
        hidden_relations: Sequence[str] = (OWL_SAME_AS,),
    ) -> None:
        """Wrap a graph; nothing is copied or precomputed.

        Args:
            graph: The rdflib graph (not modified).
            label_predicates: Predicates naming their subject, most trusted first; never edges.
            alias_predicates: Predicates giving alternative names; never edges.
            language: Preferred label language (fallback: regional variant, untagged, any).
            hidden_relations: Further predicates never shown as relations.
        """
        self._graph = graph
        self._label_predicates = tuple(URIRef(p) for p in label_predicates)
        self._alias_predicates = tuple(URIRef(p) for p in alias_predicates)
        self._hidden = frozenset(
            URIRef(p) for p in (*hidden_relations, *label_predicates, *alias_predicates)
        )
        self._language = language
        self._index: LabelIndex | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        label_predicates: Sequence[str] = LABEL_PREDICATES,
        alias_predicates: Sequence[str] = ALIAS_PREDICATES,
        language: str = "en",
        hidden_relations: Sequence[str] = (OWL_SAME_AS,),
    ) -> RDFLibGraph:
        """Parse an RDF file (see `read_rdf`) and wrap it.

        Args:
            path: An RDF file, optionally ``.gz``.
            format: rdflib parser name; guessed from the extension when ``None``.
            label_predicates: See the constructor.
            alias_predicates: See the constructor.
            language: See the constructor.
            hidden_relations: See the constructor.

        Returns:
            The adapter.

        Raises:
            KGLoadError: If the file is missing, of unknown format or malformed.
        """
        return cls(
            read_rdf(path, format=format),
            label_predicates=label_predicates,
            alias_predicates=alias_predicates,
            language=language,
            hidden_relations=hidden_relations,
        )

    @property
    def graph(self) -> rdflib.Graph:
        """The wrapped rdflib graph."""
        return self._graph

    def __repr__(self) -> str:
        return f"RDFLibGraph(rdflib_triples={len(self._graph)}, language={self._language!r})"

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct visible predicates at each entity, sorted by id.

        Args:
            entities: Entity ids.
            direction: ``"out"`` (entity is the subject) or ``"in"`` (entity is the object).
            limit: At most this many relations per entity.

        Returns:
            A tuple per requested id; ``()`` for unknown ids.
        """
        _check(direction, limit)
        result: dict[EntityId, tuple[RelationId, ...]] = {}
        for entity in entities:
            term = _to_term(entity)
            if term is None:
                result[entity] = ()
                continue
            found = (
                self._graph.predicates(term, None)
                if direction == "out"
                else self._graph.predicates(None, term)
            )
            visible = {str(p) for p in found if p not in self._hidden}
            result[entity] = tuple(sorted(visible))[:limit]
        return result

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct nodes at the other end of each hop, sorted with `node_key`.

        Args:
            hops: ``(entity, relation, direction)`` steps.
            limit: At most this many nodes per hop.

        Returns:
            A tuple per requested hop; ``()`` for hops leading nowhere or along hidden predicates.
        """
        _check(None, limit)
        result: dict[Hop, tuple[Node, ...]] = {}
        for hop in hops:
            _check(hop.direction, None)
            term = _to_term(hop.entity)
            relation = _to_term(hop.relation)
            if term is None or not isinstance(relation, URIRef) or relation in self._hidden:
                result[hop] = ()
                continue
            found = (
                self._graph.objects(term, relation)
                if hop.direction == "out"
                else self._graph.subjects(relation, term)
            )
            result[hop] = tuple(sorted({_to_node(node) for node in found}, key=node_key))[:limit]
        return result

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Display names of entity or relation ids.

        The preferred-language label-predicate value; else, for an IRI present in the graph (as
        subject, predicate or object), its `local_name`. Blank nodes without a label and unknown ids
        are absent.

        Args:
            ids: Entity or relation ids.

        Returns:
            ``{id: label}`` for the ids that have one.
        """
        result: dict[str, str] = {}
        for entity in ids:
            term = _to_term(entity)
            if term is None:
                continue
            label, _ = self._names(term)
            if label is None and isinstance(term, URIRef) and self._present(term):
                label = local_name(entity)
            if label is not None:
                result[entity] = label
        return result

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities by label or alias: exact normalised matches first, then BM25 matches.

        The index over the nodes of visible edges is built on the first call.

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
        """Visible triples, sorted by subject, relation and object.

        Args:
            limit: At most this many triples.

        Yields:
            Triples in KG direction.
        """
        _check(None, limit)
        edges = sorted(
            (
                (str(_to_node(s)), str(p), _to_node(o))
                for s, p, o in self._graph
                if p not in self._hidden and not isinstance(s, Literal)
            ),
            key=lambda edge: (edge[0], edge[1], node_key(edge[2])),
        )
        for subject, relation, obj in edges[:limit]:
            yield Triple(subject, relation, obj)

    def _names(self, term: URIRef | BNode) -> tuple[str | None, tuple[str, ...]]:
        labels = [
            (rank, value)
            for rank, predicate in enumerate(self._label_predicates)
            for value in self._graph.objects(term, predicate)
            if isinstance(value, Literal)
        ]
        aliases = [
            value
            for predicate in self._alias_predicates
            for value in self._graph.objects(term, predicate)
            if isinstance(value, Literal)
        ]
        return _choose_names(labels, aliases, self._language)

    def _present(self, term: URIRef) -> bool:
        """Whether ``term`` is a predicate or the node of a visible edge (not just of sameAs)."""
        graph = self._graph
        if (None, term, None) in graph:
            return True
        around = (*graph.predicates(term, None), *graph.predicates(None, term))
        return any(predicate not in self._hidden for predicate in around)

    def _label_index(self) -> LabelIndex:
        with self._lock:
            if self._index is None:
                entities: set[URIRef | BNode] = set()
                for subject, predicate, obj in self._graph:
                    if predicate in self._hidden or isinstance(subject, Literal):
                        continue
                    if isinstance(subject, URIRef | BNode):
                        entities.add(subject)
                    if isinstance(obj, URIRef | BNode):
                        entities.add(obj)
                records = []
                for term in sorted(entities, key=lambda t: _entity_id(t)):
                    label, aliases = self._names(term)
                    if label is None and isinstance(term, URIRef):
                        label = local_name(str(term))
                    records.append((_entity_id(term), label, aliases))
                self._index = LabelIndex(records)
            return self._index


def _check(direction: str | None, limit: int | None) -> None:
    """Reject developer mistakes: an unknown direction or a negative limit."""
    if direction is not None and direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', got {direction!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
