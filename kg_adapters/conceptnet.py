"""`ConceptNetGraph`: ConceptNet 5 as a knowledge graph, from the assertions dump or the web API.

``ConceptNetGraph.from_dump`` indexes the official assertions dump once into SQLite (streaming,
bounded memory; see `build_conceptnet_index`) and answers every call from that file.
``ConceptNetGraph.from_api`` returns a `kg_adapters.conceptnet_api.ConceptNetAPIGraph` over the
REST API (or a self-hosted mirror): the public service is often down, so prefer the dump.

Both sources follow the same conventions:

- **Nodes** are concept URIs as ConceptNet writes them, sense tags included: ``/c/en/test`` and
  ``/c/en/test/n/wikt/en_1`` are two nodes. Both are labelled by their term's text (``test``),
  so entity search returns every sense of a term, the bare term first. Ends that are not
  concepts (``ExternalURL`` web links) are dropped.
- **Labels** are the term's text with ``_`` as spaces, case kept (``/c/en/ice_cream/n`` gives
  ``ice cream``). Relations are ``/r/<Name>``, labelled by splitting camel case (``/r/CapableOf``
  gives ``capable of``, ``/r/dbpedia/genre`` gives ``genre``).
- **Order:** relations sorted by id; the neighbours of a hop sorted by id (`node_key` order), so
  ``limit`` keeps a deterministic prefix. Ids that are not concept URIs are unknown: empty.
- **Weights and surface texts** are kept: `ConceptNetGraph.edges` returns them per hop as
  `EdgeRecord` values, for pruners that want ConceptNet's confidence.
- **Languages:** ``languages=("en",)`` keeps only edges whose two ends are in those languages
  (alias codes included: ``ms`` also keeps ``id``); None keeps all.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from kg_adapters._conceptnet_index import (
    IndexStats,
    build_conceptnet_index,
    index_is_current,
    is_sqlite_file,
    read_meta,
)
from kg_adapters._conceptnet_uri import (
    assertion_uri,
    concept_label,
    expand_languages,
    language_of,
    relation_label,
)
from kg_adapters._label_index import longest_mentions, mention_spans, normalize
from kg_adapters.base import (
    Direction,
    EntityId,
    EntityMatch,
    Hop,
    Node,
    RelationId,
    Triple,
)
from kg_adapters.errors import KGLoadError

if TYPE_CHECKING:
    import httpx

    from kg_adapters.conceptnet_api import ConceptNetAPIGraph

__all__ = [
    "DEFAULT_API_URL",
    "ConceptNetGraph",
    "EdgeRecord",
    "IndexStats",
    "build_conceptnet_index",
]

DEFAULT_API_URL: Final = "https://api.conceptnet.io"
_ADAPTER: Final = "conceptnet"
_PARAMS_PER_QUERY: Final = 500  # well under SQLite's bound on host parameters
_TRIPLE_PAGE: Final = 1_000
_ALMOST_ONE: Final = 0.999_999


@dataclass(frozen=True, slots=True)
class EdgeRecord:
    """One ConceptNet edge seen from a hop: the node reached and what ConceptNet says about it.

    ``weight`` is ConceptNet's confidence (usually 1.0; higher when sources agree);
    ``surface_text`` the crowd-sourced sentence with ``[[ ]]`` around both ends, if any;
    ``uri`` the assertion URI (``/a/[/r/IsA/,/c/en/dog/,/c/en/pet/]``).
    """

    node: EntityId
    weight: float
    surface_text: str | None
    uri: str
    dataset: str | None = None


class ConceptNetGraph:
    """ConceptNet from a local SQLite index of the assertions dump (see the module docstring).

    Build it with `from_dump` (indexes a dump once, then reuses the index) or open an existing
    index with the constructor. One SQLite connection, opened read-only, is shared by all threads
    behind a lock. Optional capabilities: `search_entities` (exact, then FTS5 ranking),
    `find_mentions` (n-gram lookups in the index), `triples`, plus `edges` for weights.

    >>> kg = ConceptNetGraph.from_dump("assertions.csv.gz", languages=["en"])  # doctest: +SKIP
    >>> kg.neighbors([Hop("/c/en/dog", "/r/CapableOf", "out")], limit=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        index: str | os.PathLike[str],
        *,
        languages: Sequence[str] | None = None,
        prefer_languages: Sequence[str] = ("en",),
    ) -> None:
        """Open an index built by `build_conceptnet_index`, read-only.

        Args:
            index: The SQLite index file.
            languages: If given, must be the filter the index was built with.
            prefer_languages: Exact search matches in these languages come first (then bare
                terms before senses, then by id), so an English question links ``/c/en/test``
                rather than ``/c/ca/test`` in a multilingual index.

        Raises:
            KGLoadError: The file is missing or not a ConceptNet index of this version.
            ValueError: ``languages`` differs from the index's filter.
        """
        path = Path(index)
        if not path.is_file() or not is_sqlite_file(path):
            raise KGLoadError(f"not a ConceptNet index file: {path}", adapter=_ADAPTER)
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        try:
            meta = read_meta(connection)
            built_for = json.loads(meta["languages"])
            wanted = expand_languages(languages)
            if wanted is not None and (built_for is None or set(built_for) != wanted):
                raise ValueError(
                    f"{path} was built for languages {built_for}, not {sorted(wanted)}: "
                    "build another index with from_dump(..., languages=...)"
                )
        except BaseException:
            connection.close()
            raise
        self._path = path
        self._connection: sqlite3.Connection | None = connection
        self._lock = threading.Lock()
        self._stats = IndexStats.from_json(meta["stats"])
        self._languages = None if built_for is None else tuple(built_for)
        self._relations = frozenset(self._stats.relations)
        self._max_key_words = int(meta.get("max_key_words", "0"))
        self._preferred = {code: rank for rank, code in enumerate(prefer_languages)}

    @classmethod
    def from_dump(
        cls,
        path_or_index: str | os.PathLike[str],
        *,
        languages: Sequence[str] | None = None,
        index_path: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        prefer_languages: Sequence[str] = ("en",),
    ) -> ConceptNetGraph:
        """Open a ConceptNet dump through its SQLite index, building the index if needed.

        Given the assertions file (plain or ``.gz``), the index is built once with
        `build_conceptnet_index` and reused while it is up to date (the dump's size and
        modification time and the language filter are recorded in it). Given an index file, it
        is opened read-only.

        Args:
            path_or_index: The assertions dump, or an index file.
            languages: Keep edges whose two ends are in these languages; None keeps all.
            index_path: Where the index lives; default: beside the dump, named
                ``<dump>.<languages or "all">.sqlite``.
            progress: Called as ``progress(bytes_read, file_size)`` while a build reads the dump.
            prefer_languages: Exact search matches in these languages come first.

        Returns:
            The graph.

        Raises:
            KGLoadError: The file is missing, unreadable or not a ConceptNet dump or index, or
                the index cannot be written.
            ValueError: A language code is malformed.
        """
        source = Path(path_or_index)
        if not source.is_file():
            raise KGLoadError(f"no such ConceptNet dump or index: {source}", adapter=_ADAPTER)
        if is_sqlite_file(source):
            return cls(source, languages=languages, prefer_languages=prefer_languages)
        wanted = expand_languages(languages)
        if index_path is None:
            tag = "all" if wanted is None else "-".join(sorted(wanted))
            target = source.with_name(f"{source.name}.{tag}.sqlite")
            if not os.access(source.parent, os.W_OK):
                raise KGLoadError(
                    f"cannot write an index beside {source} (read-only folder); pass index_path=",
                    adapter=_ADAPTER,
                )
        else:
            target = Path(index_path)
        if not index_is_current(target, source, wanted):
            build_conceptnet_index(
                source,
                target,
                languages=None if wanted is None else sorted(wanted),
                progress=progress,
            )
        return cls(target, languages=languages, prefer_languages=prefer_languages)

    @classmethod
    def from_api(
        cls,
        base_url: str = DEFAULT_API_URL,
        *,
        languages: Sequence[str] | None = None,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        page_size: int = 1000,
        max_edges: int = 10_000,
        cache_size: int = 1024,
        sleep: Callable[[float], None] | None = None,
    ) -> ConceptNetAPIGraph:
        """ConceptNet over its REST API (``GET /c/...`` and ``GET /query``), with retries.

        Returns a `kg_adapters.conceptnet_api.ConceptNetAPIGraph`, which shares this class's
        conventions but has no `triples` (an API offers no dump) and exact-only entity search.

        Args:
            base_url: The API root, such as ``https://api.conceptnet.io`` or a local mirror.
            languages: Keep edges whose two ends are in these languages; None keeps all. Entity
                search looks terms up in these languages (English when None).
            client: An httpx client to use; it is not closed by ``close``.
            timeout: Seconds per HTTP attempt.
            retries: Retries after a failed attempt (connection errors, 429, 5xx).
            backoff: Seconds before the first retry, doubled for each further one.
            page_size: Edges asked for per page (the API allows up to 1000).
            max_edges: Most edges read for one node or hop (the API itself stops at 10,000).
            cache_size: Responses kept in memory (least recently used dropped first).
            sleep: Called with the seconds to wait between retries (tests inject a fake).

        Returns:
            The API-backed graph.

        Raises:
            ValueError: ``base_url`` is not an http(s) URL, or an argument is out of range.
        """
        from kg_adapters.conceptnet_api import ConceptNetAPIGraph

        return ConceptNetAPIGraph(
            base_url,
            languages=languages,
            client=client,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            page_size=page_size,
            max_edges=max_edges,
            cache_size=cache_size,
            sleep=sleep,
        )

    # -- properties --------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """The SQLite index file."""
        return self._path

    @property
    def stats(self) -> IndexStats:
        """What the build of this index read, kept and dropped."""
        return self._stats

    @property
    def languages(self) -> tuple[str, ...] | None:
        """The language codes the index keeps (aliases included), or None for all."""
        return self._languages

    def __len__(self) -> int:
        """Number of indexed edges."""
        return self._stats.edges_kept

    def __repr__(self) -> str:
        return (
            f"ConceptNetGraph({str(self._path)!r}, edges={self._stats.edges_kept}, "
            f"nodes={self._stats.nodes}, languages={self._languages})"
        )

    # -- the KnowledgeGraph protocol ---------------------------------------------------------

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relations at each concept, sorted by id.

        Args:
            entities: Concept URIs.
            direction: ``"out"`` (the concept starts the edge) or ``"in"`` (it ends it).
            limit: At most this many relations per concept.

        Returns:
            A tuple per requested id; ``()`` for unknown ids.
        """
        _check(direction, limit)
        column = "head" if direction == "out" else "tail"
        sql = f"SELECT DISTINCT rel FROM edges WHERE {column} = ? ORDER BY rel LIMIT ?"
        result: dict[EntityId, tuple[RelationId, ...]] = {}
        with self._locked() as connection:
            for entity in entities:
                if entity in result:
                    continue
                if not _maybe_concept(entity):
                    result[entity] = ()
                    continue
                rows = connection.execute(sql, (entity, _sql_limit(limit))).fetchall()
                result[entity] = tuple(row[0] for row in rows)
        return result

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct concepts at the other end of each hop, sorted by id.

        Args:
            hops: ``(concept, relation, direction)`` steps.
            limit: At most this many concepts per hop (a prefix of the sorted list).

        Returns:
            A tuple per requested hop; ``()`` for hops leading nowhere.
        """
        _check(None, limit)
        for hop in hops:
            _check(hop.direction, None)
        result: dict[Hop, tuple[Node, ...]] = {}
        with self._locked() as connection:
            for hop in hops:
                if hop in result:
                    continue
                if not _maybe_concept(hop.entity):
                    result[hop] = ()
                    continue
                here, there = ("head", "tail") if hop.direction == "out" else ("tail", "head")
                sql = (
                    f"SELECT DISTINCT {there} FROM edges WHERE {here} = ? AND rel = ? "
                    f"ORDER BY {there} LIMIT ?"
                )
                rows = connection.execute(
                    sql, (hop.entity, hop.relation, _sql_limit(limit))
                ).fetchall()
                result[hop] = tuple(row[0] for row in rows)
        return result

    def edges(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[EdgeRecord, ...]]:
        """The edges behind `neighbors`, with ConceptNet's weight and surface text.

        Records are in neighbour order (node id), then heaviest first; ``limit`` keeps the
        records of the first ``limit`` distinct nodes, as `neighbors` does.

        Args:
            hops: ``(concept, relation, direction)`` steps.
            limit: At most this many distinct nodes per hop.

        Returns:
            A tuple of `EdgeRecord` per requested hop; ``()`` for hops leading nowhere.
        """
        _check(None, limit)
        for hop in hops:
            _check(hop.direction, None)
        result: dict[Hop, tuple[EdgeRecord, ...]] = {}
        with self._locked() as connection:
            for hop in hops:
                if hop in result:
                    continue
                if not _maybe_concept(hop.entity):
                    result[hop] = ()
                    continue
                here, there = ("head", "tail") if hop.direction == "out" else ("tail", "head")
                rows = connection.execute(
                    f"SELECT {there}, weight, surface, dataset FROM edges "
                    f"WHERE {here} = ? AND rel = ? ORDER BY {there}, weight DESC, rowid",
                    (hop.entity, hop.relation),
                ).fetchall()
                result[hop] = _edge_records(hop, rows, limit)
        return result

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Display names of indexed concepts and relations; other ids are absent.

        Args:
            ids: Concept or relation URIs.

        Returns:
            ``{id: label}`` for the ids in the index.
        """
        concepts = sorted({i for i in ids if _maybe_concept(i)})
        known: set[str] = set()
        with self._locked() as connection:
            for chunk in _chunks(concepts):
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(f"SELECT id FROM nodes WHERE id IN ({marks})", chunk)
                known.update(row[0] for row in rows)
        result: dict[str, str] = {}
        for item in ids:
            if item in known:
                label = concept_label(item)
            elif item in self._relations:
                label = relation_label(item)
            else:
                continue
            if label:
                result[item] = label
        return result

    # -- optional capabilities ---------------------------------------------------------------

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Concepts named ``text``: exact matches first, then FTS5 (BM25) matches.

        Text is compared after `normalize` (case folded, ``_`` and punctuation as spaces).
        Exact matches (score 1.0) come first: in ``prefer_languages`` first, bare terms before
        their senses, then by id. Fuzzy scores are ``s / (1 + s)`` for the FTS5 BM25 score
        ``s``, below 1.0, ties by id.

        Args:
            text: A mention such as ``"ice cream"``.
            limit: At most this many matches.

        Returns:
            Matches, best first; ``[]`` for blank text.

        Raises:
            ValueError: ``limit`` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        key = normalize(text)
        if not key or limit == 0:
            return []
        with self._locked() as connection:
            rows = connection.execute("SELECT id FROM nodes WHERE key = ?", (key,)).fetchall()
            matches = self._exact([row[0] for row in rows])[:limit]
            if len(matches) < limit and self._stats.fuzzy_search:
                seen = {match.id for match in matches}
                matches += _fuzzy(connection, key, limit - len(matches), seen)
        return matches

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Spans of ``text`` that exactly name a concept: the longest non-overlapping ones.

        Every word n-gram of the normalised text (up to ``max_tokens`` words and the longest
        name in the index) is looked up in one indexed query; a one-word span never links when
        it is a stopword or a single character (see `kg_adapters._label_index.mention_spans`).

        Args:
            text: A question.
            max_tokens: The longest span considered, in words.

        Returns:
            ``(normalised mention, exact matches)`` pairs, left to right.
        """
        words = normalize(text).split()
        spans = mention_spans(words, min(max_tokens, self._max_key_words))
        keys = sorted({key for _, _, key in spans})
        found: dict[str, list[str]] = {}
        with self._locked() as connection:
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT key, id FROM nodes WHERE key IN ({marks}) ORDER BY key, id", chunk
                )
                for key, node in rows:
                    found.setdefault(key, []).append(node)
        chosen = longest_mentions(span for span in spans if span[2] in found)
        return [(key, self._exact(found[key])) for key in chosen]

    def triples(self, *, limit: int | None = None) -> Iterator[Triple]:
        """Indexed edges as ``(start, relation, end)`` triples, in dump order.

        Args:
            limit: At most this many triples.

        Yields:
            Triples in ConceptNet's direction.
        """
        _check(None, limit)
        remaining = -1 if limit is None else limit
        last = 0
        while remaining != 0:
            page = _TRIPLE_PAGE if remaining < 0 else min(remaining, _TRIPLE_PAGE)
            with self._locked() as connection:
                rows = connection.execute(
                    "SELECT rowid, head, rel, tail FROM edges WHERE rowid > ? "
                    "ORDER BY rowid LIMIT ?",
                    (last, page),
                ).fetchall()
            if not rows:
                return
            for rowid, head, rel, tail in rows:
                last = rowid
                yield Triple(head, rel, tail)
            if remaining > 0:
                remaining -= len(rows)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the SQLite connection; later calls raise ValueError."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _exact(self, nodes: Sequence[str]) -> list[EntityMatch]:
        """Exact matches in search order: preferred languages, bare terms, then by id."""
        preferred = self._preferred
        ordered = sorted(
            nodes,
            key=lambda node: (
                preferred.get(language_of(node), len(preferred)),
                node.count("/"),
                node,
            ),
        )
        return [EntityMatch(node, concept_label(node), 1.0, exact=True) for node in ordered]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._connection is None:
                raise ValueError(f"{self!r} is closed")
            yield self._connection


# --- helpers shared with the API adapter ------------------------------------------------------


def _check(direction: str | None, limit: int | None) -> None:
    """Reject developer mistakes: an unknown direction or a negative limit."""
    if direction is not None and direction not in ("out", "in"):
        raise ValueError(f"direction must be 'out' or 'in', got {direction!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def _maybe_concept(entity: object) -> bool:
    return isinstance(entity, str) and entity.startswith("/c/")


def _edge_records(
    hop: Hop, rows: Sequence[tuple[str, float, str | None, str | None]], limit: int | None
) -> tuple[EdgeRecord, ...]:
    """Records for a hop from ``(node, weight, surface, dataset)`` rows in neighbour order."""
    records: list[EdgeRecord] = []
    nodes: set[str] = set()
    for node, weight, surface, dataset in rows:
        if node not in nodes:
            if limit is not None and len(nodes) == limit:
                break
            nodes.add(node)
        start, end = (hop.entity, node) if hop.direction == "out" else (node, hop.entity)
        uri = assertion_uri(hop.relation, start, end)
        records.append(EdgeRecord(node, float(weight), surface, uri, dataset))
    return tuple(records)


def _sql_limit(limit: int | None) -> int:
    return -1 if limit is None else limit


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _PARAMS_PER_QUERY):
        yield items[start : start + _PARAMS_PER_QUERY]


def _fuzzy(
    connection: sqlite3.Connection, key: str, limit: int, skip: set[str]
) -> list[EntityMatch]:
    """BM25-ranked FTS5 matches of any word of ``key``, best first, ties by id."""
    tokens = key.replace("-", " ").split()
    query = " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)
    # Node rowids follow id order (nodes are inserted sorted), so (bm25, rowid) is (score, id).
    rows = connection.execute(
        "SELECT n.id, hit.score FROM "
        "(SELECT rowid, -bm25(nodes_fts) AS score FROM nodes_fts WHERE nodes_fts MATCH ? "
        " ORDER BY bm25(nodes_fts), rowid LIMIT ?) AS hit "
        "JOIN nodes AS n ON n.rowid = hit.rowid ORDER BY hit.score DESC, n.id",
        (query, limit + len(skip)),
    ).fetchall()
    matches: list[EntityMatch] = []
    for node, score in rows:
        if node in skip:
            continue
        scaled = min(max(float(score), 0.0) / (1.0 + max(float(score), 0.0)), _ALMOST_ONE)
        matches.append(EntityMatch(node, concept_label(node), scaled, exact=False))
        if len(matches) == limit:
            break
    return matches
