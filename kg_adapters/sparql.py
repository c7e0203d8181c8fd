"""SPARQL-backed graphs: one adapter over any SPARQL source, with Freebase and Wikidata profiles.

`SPARQLGraph` turns the adapter protocol into batched queries (one ``VALUES`` query per kind of
request, chunked), applied to a *source*: a remote endpoint (`SPARQLEndpoint`) or an embedded
store (`OxigraphSource`). A `Profile` says how short ids map to IRIs (``m.02mjmr`` ↔
``http://rdf.freebase.com/ns/m.02mjmr``, ``Q42`` ↔ ``http://www.wikidata.org/entity/Q42``), which
predicates hold names, and which relations the search should never see. Ids that do not match
the profile are treated as unknown (empty results) and are never sent to the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from kg_adapters._label_index import LabelIndex, normalize
from kg_adapters._sparql import (
    MAX_ROWS,
    Bindings,
    Term,
    _from,
    batched,
    describe_query,
    exact_label_query,
    exact_labels_query,
    labels_query,
    neighbor_counts_query,
    neighbors_both_query,
    neighbors_query,
    pick_label,
    relations_both_query,
    values,
)
from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, LiteralValue, Node, RelationId
from kg_adapters.errors import KGResultTruncated

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_PREF = "http://www.w3.org/2004/02/skos/core#prefLabel"
SKOS_ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
SCHEMA_NAME = "http://schema.org/name"
FOAF_NAME = "http://xmlns.com/foaf/0.1/name"
OWL_SAME_AS = "http://www.w3.org/2002/07/owl#sameAs"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
FREEBASE_NS = "http://rdf.freebase.com/ns/"
WD_ENTITY = "http://www.wikidata.org/entity/"
WD_DIRECT = "http://www.wikidata.org/prop/direct/"
WIKIBASE_TYPE = "http://wikiba.se/ontology#propertyType"


class Source(Protocol):
    """Anything that answers a SPARQL SELECT with parsed bindings."""

    def select(self, query: str) -> Bindings:
        """Run one read query."""
        ...


@dataclass(frozen=True)
class Profile:
    """How a KG names things: id ↔ IRI mapping, name predicates, and the relation policy.

    Attributes:
        name: ``freebase``, ``wikidata`` or ``rdf``.
        entity_ns: Namespace of short entity ids (None: ids are full IRIs).
        relation_ns: Namespace of short relation ids (None: full IRIs).
        entity_id: Pattern a short entity id must match.
        relation_id: Pattern a short relation id must match.
        label_predicates: Predicates whose values are display names.
        alias_predicates: Predicates whose values are other names (linking only).
        languages: Preferred label languages, in order (None: untagged).
        hidden_prefixes: Short relation ids starting with these are never offered.
        hidden_relations: Full relation IRIs never offered.
        relation_label_ns: Where a relation's own label lives (Wikidata: ``wd:P57``).
        only_relation_ns: Offer only relations inside ``relation_ns``.
        typed_properties: Drop relations by their Wikibase property type and meta labels.
        relation_labels: Whether relations have names in the KG (Freebase dumps: no, so
            labels of relation ids are not even asked for).
    """

    name: str
    entity_ns: str | None = None
    relation_ns: str | None = None
    entity_id: re.Pattern[str] | None = None
    relation_id: re.Pattern[str] | None = None
    label_predicates: tuple[str, ...] = (RDFS_LABEL, SKOS_PREF, SCHEMA_NAME, FOAF_NAME)
    alias_predicates: tuple[str, ...] = (SKOS_ALT,)
    languages: tuple[str | None, ...] = ("en", None)
    hidden_prefixes: tuple[str, ...] = ()
    hidden_relations: frozenset[str] = frozenset()
    relation_label_ns: str | None = None
    only_relation_ns: bool = False
    typed_properties: bool = False
    relation_labels: bool = True

    def entity_iri(self, entity: str) -> str | None:
        """The IRI of a valid entity id, else None (never queried)."""
        return _to_iri(entity, self.entity_ns, self.entity_id)

    def relation_iri(self, relation: str) -> str | None:
        """The IRI of a valid relation id, else None."""
        return _to_iri(relation, self.relation_ns, self.relation_id)

    def entity_of(self, value: str) -> str:
        """The short id of an entity IRI (unchanged outside the namespace)."""
        return _shorten(value, self.entity_ns)

    def relation_of(self, value: str) -> str | None:
        """The short id of a relation IRI, or None when the policy hides it."""
        if (
            value in self.hidden_relations
            or value in self.label_predicates
            or value in self.alias_predicates
        ):
            return None
        if self.relation_ns and not value.startswith(self.relation_ns):
            return None if self.only_relation_ns else value
        short = _shorten(value, self.relation_ns)
        if any(short.startswith(p) for p in self.hidden_prefixes) or "sameAs" in short:
            return None
        return short

    def label_iri(self, ident: str) -> str | None:
        """Where the label of an entity or relation id is stored (None: it has none)."""
        if self.relation_label_ns and self.relation_id and self.relation_id.fullmatch(ident):
            return self.relation_label_ns + ident
        entity = self.entity_iri(ident)
        if entity is not None or not self.relation_labels:
            return entity
        return self.relation_iri(ident)


def _to_iri(value: str, namespace: str | None, pattern: re.Pattern[str] | None) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if namespace and value.startswith(namespace):
        value = value[len(namespace) :]
    elif namespace is None or pattern is None:
        return value if _looks_like_iri(value) else None
    if pattern is not None and not pattern.fullmatch(value):
        return None
    return (namespace or "") + value


def _looks_like_iri(value: str) -> bool:
    from kg_adapters._sparql import check_iri

    try:
        check_iri(value)
    except ValueError:
        return False
    return True


def _shorten(value: str, namespace: str | None) -> str:
    return value[len(namespace) :] if namespace and value.startswith(namespace) else value


FREEBASE = Profile(
    name="freebase",
    entity_ns=FREEBASE_NS,
    relation_ns=FREEBASE_NS,
    entity_id=re.compile(r"[mg]\.[0-9a-z_]+"),
    relation_id=re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+"),
    label_predicates=(FREEBASE_NS + "type.object.name",),
    alias_predicates=(FREEBASE_NS + "common.topic.alias",),
    hidden_prefixes=("type.object.", "common.", "freebase."),
    hidden_relations=frozenset({OWL_SAME_AS}),
    only_relation_ns=True,
    relation_labels=False,
)
"""Freebase: ``m.``/``g.`` MIDs, English ``type.object.name`` labels, ToG's relation policy."""

WIKIDATA = Profile(
    name="wikidata",
    entity_ns=WD_ENTITY,
    relation_ns=WD_DIRECT,
    entity_id=re.compile(r"[QL]\d{1,12}"),
    relation_id=re.compile(r"P\d{1,9}"),
    label_predicates=(RDFS_LABEL,),
    alias_predicates=(SKOS_ALT,),
    relation_label_ns=WD_ENTITY,
    only_relation_ns=True,
    typed_properties=True,
)
"""Wikidata: ``Q`` ids, truthy ``wdt:`` statements, ``rdfs:label`` labels in a chosen language."""

RDF = Profile(name="rdf", hidden_relations=frozenset({OWL_SAME_AS}))
"""Any RDF: full IRIs, the usual label predicates."""

PROFILES: Mapping[str, Profile] = {"freebase": FREEBASE, "wikidata": WIKIDATA, "rdf": RDF}


@dataclass
class _Counts:
    """The true number of neighbours per hop, seen in the last `neighbors` call."""

    last: dict[Hop, int] = field(default_factory=dict)


class SPARQLGraph:
    """A `KnowledgeGraph` over a SPARQL source.

    Args:
        source: Where queries run (`SPARQLEndpoint`, `OxigraphSource`, or any ``select``).
        profile: Id mapping, name predicates and relation policy (`FREEBASE`, `WIKIDATA`, `RDF`).
        graph: A named graph to query (``FROM <graph>``); None for the default graph.
        batch_size: Ids per ``VALUES`` block.
        neighbor_limit: Neighbours fetched per hop when the caller gives no limit.
        language: Preferred label language (overrides the profile's first choice).
        index_labels: Read every name once into an in-memory index for linking (exact up to
            case and language, then fuzzy); right for slices, not for a whole Freebase.
    """

    def __init__(
        self,
        source: Source,
        profile: Profile = RDF,
        *,
        graph: str | None = None,
        batch_size: int = 100,
        neighbor_limit: int = 200,
        language: str | None = None,
        index_labels: bool = False,
    ) -> None:
        if batch_size < 1 or neighbor_limit < 1:
            raise ValueError("batch_size and neighbor_limit must be >= 1")
        self.source = source
        self.profile = profile
        self.graph = graph
        self.batch_size = batch_size
        self.neighbor_limit = neighbor_limit
        self.languages: tuple[str | None, ...] = (
            (language, *[lang for lang in profile.languages if lang != language])
            if language
            else profile.languages
        )
        self.neighbor_counts = _Counts()
        self.index_labels = index_labels
        self._index: LabelIndex | None = None
        self._pending_relations: dict[
            tuple[tuple[EntityId, ...], Direction],
            dict[Direction, dict[EntityId, tuple[RelationId, ...]]],
        ] = {}
        self._relation_verdicts: dict[RelationId, bool] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, profile={self.profile.name!r})"

    def close(self) -> None:
        """Close the source (an HTTP client this graph created, or a store's folder lock)."""
        close = getattr(self.source, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the protocol -----------------------------------------------------------------------

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relations per entity after the profile's policy; invalid ids map to ``()``.

        One query answers both directions; the other direction is kept for the next call with
        the same entities (the search asks for both in a row), so a depth costs one round trip.
        """
        _check_direction(direction)
        _check_limit(limit)
        key = tuple(dict.fromkeys(entities))
        both = self._pending_relations.pop((key, direction), None)
        if both is None:
            both = self._relations_both(key)
            other: Direction = "in" if direction == "out" else "out"
            self._pending_relations = {(key, other): both}
        found = both[direction]
        return {e: found.get(e, ())[:limit] for e in entities}

    def _relations_both(
        self, entities: tuple[EntityId, ...]
    ) -> dict[Direction, dict[EntityId, tuple[RelationId, ...]]]:
        found: dict[Direction, dict[EntityId, set[RelationId]]] = {"out": {}, "in": {}}
        by_iri = self._entity_iris(entities)
        for row in self._rows_per_chunk(
            list(by_iri),
            lambda chunk: relations_both_query(chunk, limit=MAX_ROWS, graph=self.graph),
        ):
            side, entity, relation = row.get("d"), row.get("e"), row.get("r")
            if not isinstance(entity, str) or not isinstance(relation, str):
                continue
            direction: Direction = "in" if str(side) == "in" else "out"
            short = self.profile.relation_of(relation)
            if short is not None:
                for original in by_iri.get(entity, ()):
                    found[direction].setdefault(original, set()).add(short)
        kept = self._keep_relations(
            {r for d in found.values() for rels in d.values() for r in rels}
        )
        return {
            d: {e: tuple(sorted(r for r in rels if r in kept)) for e, rels in per.items()}
            for d, per in found.items()
        }

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct nodes per hop, ordered, at most ``limit`` (true counts in `neighbor_counts`).

        One query fetches every hop, both directions. Only when that answer fills its row cap
        (a hub) does a COUNT query find each hop's fan-out; then hops under the limit are fetched
        together and larger ones one by one with ``LIMIT``, so a hub cannot crowd out the others.
        """
        _check_limit(limit)
        for hop in hops:
            _check_direction(hop.direction)
        cap = self.neighbor_limit if limit is None else limit
        result: dict[Hop, tuple[Node, ...]] = {hop: () for hop in hops}
        self.neighbor_counts.last = {}
        if self._neighbors_at_once(hops, cap, result):
            return result
        for direction in ("out", "in"):
            pairs: dict[tuple[str, str], list[Hop]] = {}
            for hop in hops:
                if hop.direction != direction:
                    continue
                e, r = self.profile.entity_iri(hop.entity), self.profile.relation_iri(hop.relation)
                if e is not None and r is not None:
                    pairs.setdefault((e, r), []).append(hop)
            if not pairs:
                continue
            counts = self._counts(list(pairs), direction)
            small = [p for p in pairs if 0 < counts.get(p, 0) <= cap]
            large = [p for p in pairs if counts.get(p, 0) > cap]
            fetched: dict[tuple[str, str], list[Node]] = {}
            for chunk in _chunks_by_total(small, counts, self.batch_size, MAX_ROWS // 2):
                self._fetch(chunk, direction, sum(counts[p] for p in chunk), fetched)
            for pair in large:
                self._fetch([pair], direction, cap, fetched)
            for pair, hop_list in pairs.items():
                nodes = tuple(fetched.get(pair, ())[:cap])
                for hop in hop_list:
                    result[hop] = nodes
                    self.neighbor_counts.last[hop] = counts.get(pair, 0)
        return result

    def _neighbors_at_once(
        self, hops: Sequence[Hop], cap: int, result: dict[Hop, tuple[Node, ...]]
    ) -> bool:
        """The common case: all hops in one query. False when the answer hit its row cap."""
        pairs: dict[tuple[Direction, str, str], list[Hop]] = {}
        for hop in hops:
            e, r = self.profile.entity_iri(hop.entity), self.profile.relation_iri(hop.relation)
            if e is not None and r is not None:
                pairs.setdefault((hop.direction, e, r), []).append(hop)
        if not pairs:
            return True
        limit = MAX_ROWS // 2
        query = neighbors_both_query(
            [(e, r) for d, e, r in pairs if d == "out"],
            [(e, r) for d, e, r in pairs if d == "in"],
            limit=limit,
            graph=self.graph,
        )
        rows = self.source.select(query).rows
        if len(rows) >= limit:
            return False
        fetched: dict[tuple[Direction, str, str], list[Node]] = {}
        for row in rows:
            subject, predicate, value = row.get("e"), row.get("r"), row.get("n")
            if isinstance(subject, str) and isinstance(predicate, str) and value is not None:
                side: Direction = "in" if str(row.get("d")) == "in" else "out"
                node: Node = self.profile.entity_of(value) if isinstance(value, str) else value
                fetched.setdefault((side, subject, predicate), []).append(node)
        for pair, hop_list in pairs.items():
            nodes = fetched.get(pair, [])
            for hop in hop_list:
                result[hop] = tuple(nodes[:cap])
                self.neighbor_counts.last[hop] = len(nodes)
        return True

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Names in the preferred language; ids without a name are absent."""
        return self.text_values(ids, self.profile.label_predicates)

    def text_values(self, ids: Sequence[str], predicates: Sequence[str]) -> Mapping[str, str]:
        """One text per id from ``predicates`` (names, descriptions), in the preferred language.

        One ``VALUES`` query per batch; the language falls back as for labels (preferred, the
        profile's order, then any). Invalid ids are never sent; ids without a value are absent.
        """
        by_iri: dict[str, list[str]] = {}
        for ident in dict.fromkeys(ids):
            target = self.profile.label_iri(ident)
            if target is not None:
                by_iri.setdefault(target, []).append(ident)
        values: dict[str, list[LiteralValue]] = {}
        for row in self._rows_per_chunk(
            list(by_iri),
            lambda chunk: labels_query(chunk, predicates, limit=MAX_ROWS, graph=self.graph),
        ):
            entity, label = row.get("e"), row.get("label")
            if isinstance(entity, str) and isinstance(label, LiteralValue):
                values.setdefault(entity, []).append(label)
        out: dict[str, str] = {}
        for target, literals in values.items():
            chosen = pick_label(literals, self.languages)
            if chosen:
                for ident in by_iri[target]:
                    out[ident] = chosen
        return out

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities whose name or alias equals ``text`` up to case.

        With ``index_labels`` every name is indexed in memory once (exact, case- and language-
        insensitive, then fuzzy BM25 matches); otherwise the store is asked for the text as
        written and in its lower, upper and title case, in the preferred languages.
        """
        text = _printable(text).strip()
        if not text:
            return []
        if self.index_labels:
            return self._label_index().search(text, limit=limit)
        found: dict[str, EntityMatch] = {}
        for variant in _case_variants(text):
            for entity, label in self._exact(variant, limit=limit * 4):
                found.setdefault(entity, EntityMatch(entity, label, 1.0, exact=True))
        return sorted(found.values(), key=lambda m: m.id)[:limit]

    def find_mentions(
        self, text: str, *, max_tokens: int = 6
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Names mentioned in a question: every word n-gram is looked up in one query.

        The longest non-overlapping matches win, left to right.
        """
        if self.index_labels:
            return self._label_index().find_mentions(text, max_tokens=max(max_tokens, 10))
        # "the Dark Knight's writer": a possessive is not part of the name ("O'Brien" stays).
        words = [_POSSESSIVE.sub("", w) for w in re.findall(r"[\w'’.-]+", _printable(text))]
        grams: dict[str, tuple[int, int]] = {}
        for size in range(min(max_tokens, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                gram = " ".join(words[start : start + size]).strip(".")
                if len(gram) >= 2 and gram.lower() not in _STOP:
                    grams.setdefault(gram, (start, start + size))
        if not grams:
            return []
        matches: dict[str, list[EntityMatch]] = {}
        variants = {v: gram for gram in grams for v in _case_variants(gram)}
        for chunk in batched(list(variants), 200):
            query = exact_labels_query(
                chunk,
                self.profile.label_predicates + self.profile.alias_predicates,
                self.languages,
                graph=self.graph,
            )
            for row in self.source.select(query).rows:
                entity, label = row.get("e"), row.get("label")
                if isinstance(entity, str) and isinstance(label, LiteralValue):
                    short = self.profile.entity_of(entity)
                    gram = variants.get(label.lexical, label.lexical)
                    bucket = matches.setdefault(gram, [])
                    if all(m.id != short for m in bucket):
                        bucket.append(EntityMatch(short, label.lexical, 1.0, exact=True))
        taken: set[int] = set()
        chosen: list[tuple[int, str, list[EntityMatch]]] = []
        for gram, (start, end) in sorted(grams.items(), key=lambda g: (g[1][0] - g[1][1], g[1][0])):
            if gram in matches and not taken.intersection(range(start, end)):
                taken.update(range(start, end))
                chosen.append((start, gram, sorted(matches[gram], key=lambda m: m.id)))
        return [(normalize(gram), found) for _, gram, found in sorted(chosen)]

    def describe(
        self, entities: Sequence[EntityId], *, limit: int = 5
    ) -> Mapping[EntityId, tuple[tuple[RelationId, Node], ...]]:
        """Outgoing ``(relation, value)`` pairs of each entity (for compound/CVT nodes)."""
        found: dict[EntityId, list[tuple[RelationId, Node]]] = {e: [] for e in entities}
        by_iri = self._entity_iris(entities)
        for row in self._rows_per_chunk(
            list(by_iri),
            lambda chunk: describe_query(chunk, limit=MAX_ROWS, graph=self.graph),
        ):
            entity, relation, value = row.get("e"), row.get("r"), row.get("x")
            if not isinstance(entity, str) or not isinstance(relation, str) or value is None:
                continue
            short = self.profile.relation_of(relation)
            if short is None:
                continue
            node: Node = self.profile.entity_of(value) if isinstance(value, str) else value
            for original in by_iri.get(entity, ()):
                found[original].append((short, node))
        return {
            e: tuple(sorted(pairs, key=lambda p: (p[0], str(p[1]))))[:limit]
            for e, pairs in found.items()
        }

    # --- helpers ------------------------------------------------------------------------------

    def _label_index(self) -> LabelIndex:
        if self._index is None:
            labels: dict[str, list[LiteralValue]] = {}
            aliases: dict[str, list[str]] = {}
            predicates = (*self.profile.label_predicates, *self.profile.alias_predicates)
            query = (
                f"SELECT DISTINCT ?e ?p ?label {_from(self.graph)}WHERE {{ "
                f"{values('p', predicates)} ?e ?p ?label . FILTER(isLiteral(?label)) }}"
            )
            for row in self.source.select(query).rows:
                entity, predicate, label = row.get("e"), row.get("p"), row.get("label")
                if isinstance(entity, str) and isinstance(label, LiteralValue):
                    short = self.profile.entity_of(entity)
                    aliases.setdefault(short, []).append(label.lexical)
                    if predicate in self.profile.label_predicates:
                        labels.setdefault(short, []).append(label)
            self._index = LabelIndex(
                (e, pick_label(labels.get(e, []), self.languages), names)
                for e, names in aliases.items()
            )
        return self._index

    def forget_labels(self) -> None:
        """Drop the in-memory label index (after the store changed)."""
        self._index = None

    def _rows_per_chunk(
        self, iris: list[str], build: Callable[[Sequence[str]], str]
    ) -> Iterator[dict[str, Term]]:
        """Rows of ``build(chunk)`` over chunks of ids.

        A chunk whose answer fills `MAX_ROWS`, or hits the server's own row cap (Virtuoso's
        ``ResultSetMaxRows``, reported by the endpoint), is split in halves and asked again, so
        no answer is silently cut short; a single id that still overflows raises.
        """
        pending = list(batched(iris, self.batch_size))
        while pending:
            chunk = pending.pop(0)
            try:
                rows = self.source.select(build(chunk)).rows
            except KGResultTruncated:
                if len(chunk) == 1:
                    raise
                rows = [{}] * MAX_ROWS  # the server's own row cap: split like our own
            if len(rows) >= MAX_ROWS:
                if len(chunk) == 1:
                    raise KGResultTruncated(
                        f"more than {MAX_ROWS} rows for one id: {chunk[0]}",
                        adapter=self.profile.name,
                        query=build(chunk),
                    )
                middle = len(chunk) // 2
                pending[:0] = [chunk[:middle], chunk[middle:]]
                continue
            yield from rows

    def _entity_iris(self, entities: Sequence[str]) -> dict[str, list[str]]:
        by_iri: dict[str, list[str]] = {}
        for entity in dict.fromkeys(entities):
            target = self.profile.entity_iri(entity)
            if target is not None:
                by_iri.setdefault(target, []).append(entity)
        return by_iri

    def _keep_relations(self, relations: set[RelationId]) -> set[RelationId]:
        """Wikidata's policy (tog_spec.md §6.2): drop ids, URLs, media and meta properties.

        "country", "country of citizenship", "inception", "instance of" and the like are kept.
        Decisions are cached per property.
        """
        if not self.profile.typed_properties or not relations:
            return relations
        unknown = [r for r in relations if r not in self._relation_verdicts]
        if unknown:
            types: dict[str, str] = {}
            for row in self._rows_per_chunk(
                [WD_ENTITY + r for r in unknown],
                lambda chunk: labels_query(
                    chunk, (WIKIBASE_TYPE,), limit=MAX_ROWS, graph=self.graph
                ),
            ):
                prop, kind = row.get("e"), row.get("label")
                if isinstance(prop, str) and isinstance(kind, str):
                    types[prop[len(WD_ENTITY) :]] = kind.rsplit("#", 1)[-1]
            names = self.labels(unknown)
            for relation in unknown:
                label = names.get(relation, "").casefold()
                self._relation_verdicts[relation] = types.get(relation) not in _DROPPED_TYPES and (
                    not any(marker in label for marker in _META_LABELS)
                )
        return {r for r in relations if self._relation_verdicts[r]}

    def _counts(
        self, pairs: list[tuple[str, str]], direction: Direction
    ) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for chunk in _chunks(pairs, self.batch_size):
            query = neighbor_counts_query(chunk, direction, graph=self.graph)
            for row in self.source.select(query).rows:
                e, r, c = row.get("e"), row.get("r"), row.get("c")
                if isinstance(e, str) and isinstance(r, str) and isinstance(c, LiteralValue):
                    counts[(e, r)] = int(float(c.lexical))
        return counts

    def _fetch(
        self,
        pairs: list[tuple[str, str]],
        direction: Direction,
        limit: int,
        into: dict[tuple[str, str], list[Node]],
    ) -> None:
        if not pairs or limit <= 0:
            return
        query = neighbors_query(pairs, direction, limit=limit, graph=self.graph)
        for row in self.source.select(query).rows:
            e, r, n = row.get("e"), row.get("r"), row.get("n")
            if isinstance(e, str) and isinstance(r, str) and n is not None:
                node: Node = self.profile.entity_of(n) if isinstance(n, str) else n
                into.setdefault((e, r), []).append(node)

    def _exact(self, text: str, *, limit: int) -> Iterator[tuple[str, str]]:
        query = exact_label_query(
            text,
            self.profile.label_predicates + self.profile.alias_predicates,
            self.languages,
            limit=limit,
            graph=self.graph,
        )
        for row in self.source.select(query).rows:
            entity, label = row.get("e"), row.get("label")
            if isinstance(entity, str) and isinstance(label, LiteralValue):
                yield self.profile.entity_of(entity), label.lexical


def _chunks(items: list[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _chunks_by_total(
    pairs: list[tuple[str, str]], counts: Mapping[tuple[str, str], int], size: int, total: int
) -> Iterator[list[tuple[str, str]]]:
    """Consecutive groups of at most ``size`` pairs whose neighbour counts sum to ``total``."""
    group: list[tuple[str, str]] = []
    running = 0
    for pair in pairs:
        if group and (len(group) >= size or running + counts[pair] > total):
            yield group
            group, running = [], 0
        group.append(pair)
        running += counts[pair]
    if group:
        yield group


_POSSESSIVE = re.compile(r"['’]s$|['’]$", re.IGNORECASE)


def _check_direction(direction: str) -> None:
    if direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', not {direction!r}")


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")


def _printable(text: str) -> str:
    """Drop control characters: no name contains them, and some stores choke on them."""
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n")


def _case_variants(text: str) -> list[str]:
    return list(dict.fromkeys([text, text.lower(), text.upper(), text.title()]))


_DROPPED_TYPES = frozenset({"ExternalId", "Url", "CommonsMedia", "GeoShape", "TabularData"})
_META_LABELS = (
    "wikidata",
    "wikimedia",
    "category's main topic",
    "topic's main category",
    "stack exchange site",
    "commons category",
    "commons gallery",
    "image",
)

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "who",
        "what",
        "which",
        "when",
        "where",
        "how",
        "did",
        "does",
        "do",
        "it",
        "its",
        "this",
        "that",
        "as",
        "from",
    ]
)
