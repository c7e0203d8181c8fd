"""The SQLite index of a ConceptNet assertions dump: streaming build, schema and metadata.

`build_conceptnet_index` reads the dump (plain or gzip) line by line, keeps the edges whose two
ends are concepts in the wanted languages, and inserts them in batches inside one transaction.
Indexes, the node table and the full-text index are built after the load, so memory stays
bounded by SQLite's page cache whatever the dump's size. Parsing a line is a pure function.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import re
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from kg_adapters._conceptnet_uri import concept_label, expand_languages
from kg_adapters._label_index import normalize
from kg_adapters.errors import KGLoadError

__all__ = [
    "SCHEMA_VERSION",
    "Assertion",
    "IndexStats",
    "build_conceptnet_index",
    "index_is_current",
    "is_sqlite_file",
    "name_key",
    "parse_assertion",
    "read_meta",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
_ADAPTER: Final = "conceptnet"
_BATCH: Final = 10_000
_SNIFF_LINES: Final = 1_000
_CACHE_KIB: Final = 65_536  # SQLite page cache during the build: the bound on its memory
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_PLAIN_TERM: Final = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_GZIP_MAGIC: Final = b"\x1f\x8b"

DROP_REASONS: Final = ("malformed", "not_concept", "language")
"""Why a dump line is not indexed: unreadable; an end that is not a concept (``ExternalURL``
links to web pages); an end outside the language filter."""

_SCHEMA: Final = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE edges(
    rel TEXT NOT NULL, head TEXT NOT NULL, tail TEXT NOT NULL,
    weight REAL NOT NULL, dataset TEXT, surface TEXT
);
"""
# Built after the load: sorting once is far cheaper than keeping B-trees ordered per insert.
_POST_LOAD: Final = (
    "CREATE INDEX edges_out ON edges(head, rel, tail)",
    "CREATE INDEX edges_in ON edges(tail, rel, head)",
    "CREATE TABLE nodes(id TEXT NOT NULL UNIQUE, key TEXT NOT NULL)",
    "INSERT INTO nodes(id, key) SELECT id, cn_name_key(id) FROM "
    "(SELECT head AS id FROM edges UNION SELECT tail FROM edges) ORDER BY id",
    "CREATE INDEX nodes_key ON nodes(key)",
)
_FTS: Final = (
    # Combining marks (M*) are word characters too, or Indic words would be split at vowel signs.
    "CREATE VIRTUAL TABLE nodes_fts USING fts5(key, content='', "
    "tokenize=\"unicode61 remove_diacritics 2 categories 'L* N* Co M*'\")",
    "INSERT INTO nodes_fts(rowid, key) SELECT rowid, key FROM nodes",
)


class Assertion(NamedTuple):
    """One parsed dump line: the relation, both ends and the raw JSON info column."""

    relation: str
    start: str
    end: str
    info: str


def parse_assertion(line: str) -> Assertion | None:
    r"""Parse one line of the dump (5 tab-separated columns), or None if it is malformed.

    The JSON column is not decoded here: only kept edges pay for that.

    >>> parse_assertion("/a/[/r/IsA/,/c/en/dog/,/c/en/pet/]\t/r/IsA\t/c/en/dog\t/c/en/pet\t{}")
    Assertion(relation='/r/IsA', start='/c/en/dog', end='/c/en/pet', info='{}')
    >>> parse_assertion("dog IsA pet") is None
    True
    """
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 5:
        return None
    uri, relation, start, end, info = fields
    if not uri.startswith("/a/[") or not relation.startswith("/r/") or not start or not end:
        return None
    return Assertion(relation, start, end, info)


def parse_info(info: str) -> tuple[float, str | None, str | None]:
    """``(weight, dataset, surfaceText)`` from the JSON column; ValueError if unreadable."""
    data = json.loads(info)
    if not isinstance(data, dict):
        raise ValueError("the info column is not a JSON object")
    weight = data.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ValueError(f"weight is not a number: {weight!r}")
    dataset = data.get("dataset")
    surface = data.get("surfaceText")
    return (
        float(weight),
        dataset if isinstance(dataset, str) else None,
        surface if isinstance(surface, str) and surface else None,
    )


def name_key(uri: str) -> str:
    """The lookup key of a concept: its label, `normalize`-d (as entity search normalises text).

    >>> name_key("/c/en/ice_cream/n"), name_key("/c/en/Christopher_Nolan")
    ('ice cream', 'christopher nolan')
    """
    parts = uri.split("/", 4)
    text = parts[3] if len(parts) > 3 else ""
    if _PLAIN_TERM.fullmatch(text):  # most terms: `normalize` would only turn "_" into " "
        return text.replace("_", " ")
    return normalize(concept_label(uri))


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What an index build read, kept and dropped.

    ``dropped`` counts lines by reason (see ``DROP_REASONS``); ``relations`` counts kept edges per
    relation; ``languages`` counts kept edges per language of their ends (an edge with both ends
    in one language counts once there). ``lines`` counts every line read, blank ones included.
    """

    lines: int
    edges_kept: int
    dropped: Mapping[str, int]
    relations: Mapping[str, int]
    languages: Mapping[str, int]
    seconds: float
    nodes: int = 0
    bytes_read: int = 0
    languages_filter: tuple[str, ...] | None = None
    fuzzy_search: bool = False

    def to_json(self) -> str:
        """The stats as a JSON object (stored in the index's meta table)."""
        return json.dumps(
            {
                "lines": self.lines,
                "edges_kept": self.edges_kept,
                "dropped": dict(self.dropped),
                "relations": dict(self.relations),
                "languages": dict(self.languages),
                "seconds": self.seconds,
                "nodes": self.nodes,
                "bytes_read": self.bytes_read,
                "languages_filter": self.languages_filter,
                "fuzzy_search": self.fuzzy_search,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> IndexStats:
        """Read stats written by `to_json`."""
        data = json.loads(text)
        languages_filter = data.get("languages_filter")
        return cls(
            lines=int(data["lines"]),
            edges_kept=int(data["edges_kept"]),
            dropped={str(k): int(v) for k, v in data["dropped"].items()},
            relations={str(k): int(v) for k, v in data["relations"].items()},
            languages={str(k): int(v) for k, v in data["languages"].items()},
            seconds=float(data["seconds"]),
            nodes=int(data.get("nodes", 0)),
            bytes_read=int(data.get("bytes_read", 0)),
            languages_filter=None if languages_filter is None else tuple(languages_filter),
            fuzzy_search=bool(data.get("fuzzy_search", False)),
        )


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` starts with the SQLite 3 file header."""
    try:
        with path.open("rb") as stream:
            return stream.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def read_meta(connection: sqlite3.Connection) -> dict[str, str]:
    """The ``meta`` table of an index as a dict; KGLoadError if it is not a ConceptNet index."""
    try:
        rows = connection.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.DatabaseError as exc:
        raise KGLoadError(f"not a ConceptNet index: {exc}", adapter=_ADAPTER) from exc
    meta = {str(key): str(value) for key, value in rows}
    if meta.get("format") != "conceptnet-index":
        raise KGLoadError("not a ConceptNet index (no format marker)", adapter=_ADAPTER)
    if meta.get("schema") != str(SCHEMA_VERSION):
        raise KGLoadError(
            f"ConceptNet index schema {meta.get('schema')!r} is not {SCHEMA_VERSION}; rebuild it",
            adapter=_ADAPTER,
        )
    return meta


def _filter_text(languages: frozenset[str] | None) -> str:
    return json.dumps(None if languages is None else sorted(languages))


def _source_stamp(dump: Path) -> dict[str, str]:
    stat = dump.stat()
    return {"source_size": str(stat.st_size), "source_mtime_ns": str(stat.st_mtime_ns)}


def index_is_current(index: Path, dump: Path, languages: frozenset[str] | None) -> bool:
    """Whether ``index`` was built from ``dump`` as it is now, with the same language filter."""
    if not index.is_file() or not is_sqlite_file(index):
        return False
    try:
        with contextlib.closing(_connect_read_only(index)) as connection:
            meta = read_meta(connection)
    except (KGLoadError, sqlite3.Error):
        return False
    wanted = {**_source_stamp(dump), "languages": _filter_text(languages)}
    return all(meta.get(key) == value for key, value in wanted.items())


def _connect_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def build_conceptnet_index(
    dump: str | os.PathLike[str],
    index_path: str | os.PathLike[str],
    *,
    languages: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IndexStats:
    """Index a ConceptNet assertions dump into a SQLite file, streaming, in bounded memory.

    Lines are read one at a time and inserted in batches of 10,000 inside one transaction; the
    indexes, the node table (lookup keys) and an FTS5 index of node names (when this SQLite has
    FTS5) are built after the load. The file is written beside ``index_path`` and moved into
    place at the end, so an interrupted build never leaves a half index. A malformed line is
    counted and skipped.

    Args:
        dump: The assertions file (``conceptnet-assertions-5.7.0.csv`` or ``.csv.gz``; gzip is
            recognised by content).
        index_path: Where to write the index (replaced if it exists).
        languages: Keep only edges whose two ends are in these languages (alias codes included,
            see `kg_adapters._conceptnet_uri.LANGUAGE_ALIASES`); None keeps every language.
        progress: Called as ``progress(bytes_read, file_size)`` after each batch (compressed
            bytes for a ``.gz`` dump).

    Returns:
        What was read, kept and dropped.

    Raises:
        KGLoadError: The dump is missing or unreadable, or is not a ConceptNet dump at all (no
            valid assertion among its first 1,000 lines).
        ValueError: A language code is malformed.
    """
    source = Path(dump)
    target = Path(index_path)
    wanted = expand_languages(languages)
    if not source.is_file():
        raise KGLoadError(f"no such ConceptNet dump: {source}", adapter=_ADAPTER)
    started = time.perf_counter()
    stamp = _source_stamp(source)
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    building.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(building, isolation_level=None)
    except sqlite3.Error as exc:
        raise KGLoadError(f"cannot create the index {building}: {exc}", adapter=_ADAPTER) from exc
    try:
        with contextlib.closing(connection):
            stats = _load(connection, source, wanted, progress, started)
            connection.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)", ("stats", stats.to_json())
            )
            meta = {
                **stamp,
                "format": "conceptnet-index",
                "schema": str(SCHEMA_VERSION),
                "source_name": source.name,
                "languages": _filter_text(wanted),
            }
            connection.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
            connection.execute("COMMIT")
        os.replace(building, target)
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    logger.info(
        "indexed %s: %d lines, %d edges kept in %.1fs",
        source,
        stats.lines,
        stats.edges_kept,
        stats.seconds,
    )
    return stats


def _load(
    connection: sqlite3.Connection,
    source: Path,
    wanted: frozenset[str] | None,
    progress: Callable[[int, int], None] | None,
    started: float,
) -> IndexStats:
    """Create the schema, stream the dump in, build the indexes; the caller commits."""
    for pragma in (
        "journal_mode=OFF",
        "synchronous=OFF",
        f"cache_size=-{_CACHE_KIB}",
        "temp_store=FILE",
        "locking_mode=EXCLUSIVE",
    ):
        connection.execute(f"PRAGMA {pragma}")
    connection.executescript(_SCHEMA)
    connection.create_function("cn_name_key", 1, name_key, deterministic=True)
    connection.execute("BEGIN")
    size = source.stat().st_size
    dropped: Counter[str] = Counter(dict.fromkeys(DROP_REASONS, 0))
    relations: Counter[str] = Counter()
    language_counts: Counter[str] = Counter()
    lines = kept = parsed = 0
    first: bytes | None = None
    batch: list[tuple[str, str, str, float, str | None, str | None]] = []
    insert = (
        "INSERT INTO edges(rel, head, tail, weight, dataset, surface) VALUES (?, ?, ?, ?, ?, ?)"
    )
    try:
        for raw_line, position in _read_lines(source):
            lines += 1
            first = first or raw_line
            if lines == _SNIFF_LINES and not parsed:
                raise _not_a_dump(source, first)
            try:
                assertion = parse_assertion(raw_line.decode("utf-8"))
            except UnicodeDecodeError:
                assertion = None
            if assertion is None:
                dropped["malformed"] += 1
                continue
            parsed += 1
            relation, start, end, info = assertion
            start_language, end_language = _concept_language(start), _concept_language(end)
            if start_language is None or end_language is None:
                dropped["not_concept"] += 1
                continue
            if wanted is not None and (start_language not in wanted or end_language not in wanted):
                dropped["language"] += 1
                continue
            try:
                weight, dataset, surface = parse_info(info)
            except ValueError:
                dropped["malformed"] += 1
                continue
            batch.append((relation, start, end, weight, dataset, surface))
            kept += 1
            relations[relation] += 1
            language_counts[start_language] += 1
            if end_language != start_language:
                language_counts[end_language] += 1
            if len(batch) >= _BATCH:
                connection.executemany(insert, batch)
                batch.clear()
                if progress is not None:
                    progress(position, size)
    except (OSError, EOFError, zlib.error) as exc:
        raise KGLoadError(f"cannot read {source}: {exc}", adapter=_ADAPTER) from exc
    if not parsed:
        raise _not_a_dump(source, first)
    connection.executemany(insert, batch)
    if progress is not None:
        progress(size, size)
    for statement in _POST_LOAD:
        connection.execute(statement)
    fuzzy = _build_fts(connection)
    (nodes,) = connection.execute("SELECT count(*) FROM nodes").fetchone()
    (max_words,) = connection.execute(
        "SELECT coalesce(max(length(key) - length(replace(key, ' ', '')) + 1), 0) FROM nodes"
    ).fetchone()
    connection.execute("INSERT INTO meta(key, value) VALUES ('max_key_words', ?)", (max_words,))
    return IndexStats(
        lines=lines,
        edges_kept=kept,
        dropped=dict(dropped),
        relations=dict(sorted(relations.items())),
        languages=dict(sorted(language_counts.items())),
        seconds=round(time.perf_counter() - started, 3),
        nodes=int(nodes),
        bytes_read=size,
        languages_filter=None if wanted is None else tuple(sorted(wanted)),
        fuzzy_search=fuzzy,
    )


def _concept_language(uri: str) -> str | None:
    """The language of a concept URI, or None when ``uri`` is not a concept."""
    if not uri.startswith("/c/"):
        return None
    parts = uri.split("/", 4)
    return parts[2] if len(parts) > 3 and parts[2] and parts[3] else None


def _build_fts(connection: sqlite3.Connection) -> bool:
    """Build the FTS5 name index; False (exact search only) when SQLite lacks FTS5."""
    try:
        for statement in _FTS:
            connection.execute(statement)
    except sqlite3.OperationalError as exc:
        logger.warning("no FTS5 in this SQLite (%s): ConceptNet search is exact only", exc)
        connection.execute("DROP TABLE IF EXISTS nodes_fts")
        return False
    return True


def _not_a_dump(source: Path, example: bytes | None) -> KGLoadError:
    shown = (example or b"").decode("utf-8", "replace").rstrip()[:120]
    return KGLoadError(
        f"{source} is not a ConceptNet assertions dump: no line has the 5 tab-separated columns "
        f"(/a/[...], /r/..., start, end, JSON); first line: {shown!r}",
        adapter=_ADAPTER,
    )


def _read_lines(source: Path) -> Iterator[tuple[bytes, int]]:
    """The dump's lines (bytes) with the bytes of the file read so far (compressed for gzip)."""
    with source.open("rb") as raw:
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                for line in unzipped:
                    yield line, raw.tell()
            return
        raw.seek(0)
        position = 0
        for line in raw:
            position += len(line)
            yield line, position
