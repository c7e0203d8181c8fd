"""`load_triples`: stream a triple file into Neo4j (or FalkorDB) over Bolt, in batches.

Input is a delimited file of plain names (``head<SEP>relation<SEP>tail``; tab, ``|`` as in
MetaQA's ``kb.txt``, or comma; sniffed by `kg_adapters.loading.sniff_separator`) or N-Triples
(``.nt``), each optionally ``.gz``. The file is read once, never held in memory.

Steps. The index on ``(node_label, id_property)`` is created first: ``CREATE INDEX``, and an
index that already exists is fine. Then each batch of ``batch_size`` triples is written in
managed write transactions. ``UNWIND $rows`` ``MERGE``s the nodes, then ``MERGE``s the
relationships (one query per relationship type), then sets the properties (one query per key).
``MERGE`` makes a second load of the same file a no-op.

Mapping. In a delimited file every field is a plain name: id = name = the text, and every triple
is a relationship. In N-Triples, IRIs and blank nodes (``_:label``) are entities, with the IRI as
id. An ``rdfs:label`` in English or without a language becomes the name. Any other literal object
becomes a node property whose key is the predicate IRI: integers, floats, booleans and
``xsd:date`` values keep their types, everything else becomes its text. (Floats are exact to 15
significant digits: they travel as decimal mantissa and exponent, see `_cypher._CONVERT`.)
A later value of the same property replaces an earlier one.

Safety. Relationship types and property keys from the file go into query text. Each must match
`kg_adapters._cypher.SAFE_NAME` (no whitespace, backtick, backslash or control character), or the
load stops with a `KGLoadError` naming it. They are then back-quoted. Every value is a parameter,
escaped and split to fit when the server is FalkorDB (see `kg_adapters.neo4j_graph`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from kg_adapters._cypher import (
    DIALECTS,
    SAFE_NAME,
    Cypher,
    Dialect,
    NodeSpec,
    Param,
    PropertyKind,
    check_name,
    chunked,
    create_index_query,
    dialect_from_probe,
    falkordb_indexes_query,
    merge_nodes_query,
    merge_relationships_query,
    probe_query,
    set_property_query,
)
from kg_adapters.errors import KGError, KGLoadError
from kg_adapters.loading import DELIMITED_EXTENSIONS, sniff_separator
from kg_adapters.neo4j_graph import DialectName, translate_error

try:
    import neo4j
    import neo4j.exceptions as neo4j_errors
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "load_triples needs the neo4j driver: pip install 'think-on-graph[neo4j]'"
    ) from exc

__all__ = ["LoadReport", "load_triples"]

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGER_TYPES = frozenset(
    _XSD + name
    for name in (
        "integer",
        "int",
        "long",
        "short",
        "byte",
        "nonNegativeInteger",
        "nonPositiveInteger",
        "positiveInteger",
        "negativeInteger",
        "unsignedInt",
        "unsignedLong",
        "unsignedShort",
        "unsignedByte",
    )
)
_FLOAT_TYPES = frozenset(_XSD + name for name in ("double", "float", "decimal"))
_INT64 = 2**63

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_read, file_size)`` after each batch."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did.

    Attributes:
        triples: Triples (lines) read from the file.
        nodes: Nodes created (existing ones are merged, not counted).
        relationships: Relationships created.
        properties: Properties set, including ids and names.
        seconds: Wall-clock time of the whole load.
    """

    triples: int
    nodes: int
    relationships: int
    properties: int
    seconds: float


def load_triples(
    target: neo4j.Driver | str,
    path: str | os.PathLike[str],
    *,
    auth: tuple[str, str] | None = None,
    database: str | None = None,
    batch_size: int = 10_000,
    id_property: str = "id",
    name_property: str | None = "name",
    node_label: str = "Entity",
    sep: str | None = None,
    dialect: DialectName = "auto",
    progress: Progress | None = None,
) -> LoadReport:
    """Stream a triple file into a Bolt server.

    Args:
        target: A ``neo4j.Driver`` (left open) or a ``bolt://`` URI (a driver is created and
            closed).
        path: ``.tsv`` / ``.txt`` / ``.csv`` of plain names, or ``.nt``; each optionally ``.gz``.
        auth: ``(user, password)`` for a URI; None for no authentication (FalkorDB).
        database: Database to write to (None: the default; FalkorDB ignores it).
        batch_size: Triples per batch of write transactions.
        id_property: Node property holding the entity id.
        name_property: Node property holding the name (None: names are not stored).
        node_label: Label of every entity node (the index is on this label).
        sep: Field separator of a delimited file (sniffed when None).
        dialect: Parameter transport, as for `kg_adapters.Neo4jGraph`.
        progress: Called as ``progress(bytes_read, file_size)`` after each batch.

    Returns:
        Counts and time.

    Raises:
        KGLoadError: The file is missing, of an unknown kind, malformed, or names a relationship
            type or property key that is not a `SAFE_NAME`.
        KGError: The server failed (`KGConnectionError` when unreachable).
        ValueError: A bad ``batch_size``, ``dialect`` or property name.
    """
    start = time.perf_counter()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if dialect != "auto" and dialect not in DIALECTS:
        raise ValueError(f"dialect must be 'auto', 'neo4j' or 'falkordb', not {dialect!r}")
    spec = NodeSpec(
        check_name(id_property, "id_property"),
        None if name_property is None else check_name(name_property, "name_property"),
        check_name(node_label, "node_label"),
    )
    file = Path(path)
    reader = _reader_for(file, sep)
    owns = isinstance(target, str)
    driver = neo4j.GraphDatabase.driver(target, auth=auth) if isinstance(target, str) else target
    read = 0
    try:
        with driver.session(database=database) as session:
            writer = _Writer(session, None if dialect == "auto" else DIALECTS[dialect])
            writer.create_index(spec)
            batch = _Batch()
            total = file.stat().st_size
            with _open(file) as (raw, text):
                for fact in reader(text, file):
                    batch.add(fact)
                    read += fact.counts
                    if batch.size >= batch_size:
                        writer.flush(batch, spec)
                        batch = _Batch()
                        if progress is not None:
                            progress(min(raw.tell(), total), total)
                writer.flush(batch, spec)
            if progress is not None:
                progress(total, total)
    finally:
        if owns:
            driver.close()
    return LoadReport(
        read, writer.nodes, writer.relationships, writer.properties, time.perf_counter() - start
    )


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fact:
    """One parsed statement: an edge, a property, or a named node."""

    kind: Literal["edge", "property", "node"]
    subject: str
    key: str = ""
    value: Param = None
    value_kind: PropertyKind = "string"
    counts: int = 1


_Reader = Callable[[IO[str], Path], Iterator[_Fact]]


def _reader_for(file: Path, sep: str | None) -> _Reader:
    if not file.is_file():
        raise KGLoadError(f"no such file: {file}", adapter="neo4j")
    inner = file.with_suffix("") if file.suffix.lower() == ".gz" else file
    extension = inner.suffix.lower()
    if extension in DELIMITED_EXTENSIONS:
        separator = sep if sep is not None else sniff_separator(file)
        if not separator:
            raise ValueError("sep must not be empty")
        return lambda stream, name: _delimited(stream, name, separator)
    if extension == ".nt":
        return _ntriples
    supported = ", ".join(sorted({*DELIMITED_EXTENSIONS, ".nt"}))
    raise KGLoadError(
        f"cannot load {file} into Neo4j: unknown extension {extension!r}; supported: "
        f"{supported} (each also with .gz)",
        adapter="neo4j",
    )


def _delimited(stream: IO[str], file: Path, sep: str) -> Iterator[_Fact]:
    try:
        for number, line in enumerate(stream, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = [f.strip() for f in line.split(sep)]
            if len(fields) != 3 or not all(fields):
                raise KGLoadError(
                    f"{file}:{number}: expected 3 non-empty fields separated by {sep!r}, "
                    f"got {len(fields)}: {stripped[:120]!r}",
                    adapter="neo4j",
                )
            head, relation, tail = fields
            _check_safe(relation, "relationship type", f"{file}:{number}")
            yield _Fact("node", head, value=head, counts=0)
            yield _Fact("node", tail, value=tail, counts=0)
            yield _Fact("edge", head, relation, tail)
    except UnicodeDecodeError as exc:
        raise KGLoadError(f"cannot read {file}: {exc}", adapter="neo4j") from exc


class _KeepBlankIds(dict[str, object]):
    """rdflib's bnode context: keep each blank node's own label, so a reload merges."""

    def get(self, key: str, default: object = None) -> object:
        return key


def _ntriples(stream: IO[str], file: Path) -> Iterator[_Fact]:
    from rdflib import BNode, Literal
    from rdflib.exceptions import ParserError
    from rdflib.plugins.parsers.ntriples import W3CNTriplesParser

    facts: list[_Fact] = []
    where = [str(file)]

    class Sink:
        def triple(self, s: object, p: object, o: object) -> None:
            subject, predicate = _term_id(s), str(p)
            if isinstance(o, Literal):
                if predicate == RDFS_LABEL:
                    language = (o.language or "").lower()
                    english = language in ("", "en") or language.startswith("en-")
                    # A label in another language is read (and counted) but not stored.
                    facts.append(_Fact("node", subject, value=str(o) if english else None))
                    return
                _check_safe(predicate, "property key", where[0])
                kind, value = _property(o)
                facts.append(_Fact("property", subject, predicate, value, kind))
                return
            _check_safe(predicate, "relationship type", where[0])
            facts.append(_Fact("node", subject, counts=0))
            facts.append(_Fact("node", _term_id(o), counts=0))
            facts.append(_Fact("edge", subject, predicate, _term_id(o)))

    def _term_id(term: object) -> str:
        return f"_:{term}" if isinstance(term, BNode) else str(term)

    # `W3CNTriplesParser.parse` reads the whole file before it returns. This is its loop, run
    # here one line at a time, so that facts stream out to the writer as they are parsed.
    parser = W3CNTriplesParser(sink=Sink())  # type: ignore[arg-type]  # duck-typed sink
    parser.file = stream  # type: ignore[assignment]
    parser.buffer = ""
    bnodes = _KeepBlankIds()
    number = 0
    while True:
        try:
            parser.line = parser.readline()
            if parser.line is None:
                break
            number += 1
            where[0] = f"{file}:{number}"
            parser.parseline(bnode_context=bnodes)  # type: ignore[arg-type]
        except ParserError as exc:
            raise KGLoadError(
                f"{where[0]}: invalid N-Triples line: {exc}", adapter="neo4j"
            ) from exc
        except UnicodeDecodeError as exc:
            raise KGLoadError(f"cannot read {file}: {exc}", adapter="neo4j") from exc
        yield from facts
        facts.clear()


def _property(literal: object) -> tuple[PropertyKind, Param]:
    """A literal's property kind and value (floats as ``[mantissa, exponent]``)."""
    lexical = str(literal)
    datatype = str(getattr(literal, "datatype", None) or "")
    try:
        if datatype in _INTEGER_TYPES:
            number = int(lexical)
            if -_INT64 <= number < _INT64:
                return "integer", number
        elif datatype in _FLOAT_TYPES:
            value = float(lexical)
            if math.isfinite(value):
                return "float", _decimal_parts(value)
        elif datatype == _XSD + "boolean" and lexical in ("true", "false", "1", "0"):
            return "boolean", lexical in ("true", "1")
        elif datatype == _XSD + "date":
            return "date", dt.date.fromisoformat(lexical).isoformat()
    except ValueError:
        pass
    return "string", lexical


def _decimal_parts(value: float) -> list[Param]:
    """``[m, e]`` with ``value == m * 10**e`` for the shortest decimal form of ``value``."""
    sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    assert isinstance(exponent, int)  # finite values only
    return [-mantissa if sign else mantissa, exponent]


def _check_safe(name: str, what: str, where: str) -> None:
    if not SAFE_NAME.fullmatch(name):
        raise KGLoadError(
            f"{where}: {what} {name[:120]!r} cannot be loaded: it must be 1-512 characters "
            "with no whitespace, backtick, backslash or control character",
            adapter="neo4j",
        )


@contextmanager
def _open(file: Path) -> Iterator[tuple[IO[bytes], IO[str]]]:
    """The raw file (for progress) and a text stream over it (gunzipped for ``.gz``)."""
    with file.open("rb") as raw:
        text: IO[str]
        if file.suffix.lower() == ".gz":
            text = gzip.open(raw, "rt", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
        else:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            yield raw, text
        except (OSError, EOFError) as exc:
            raise KGLoadError(f"cannot read {file}: {exc}", adapter="neo4j") from exc
        finally:
            text.close()  # the gzip layer never closes `raw`; `with` closes it


# -- writing ---------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """Facts gathered for one round of writes."""

    nodes: dict[str, str | None] = field(default_factory=dict)
    edges: dict[str, list[dict[str, Param]]] = field(default_factory=dict)
    properties: dict[tuple[str, PropertyKind], list[dict[str, Param]]] = field(default_factory=dict)
    size: int = 0

    def add(self, fact: _Fact) -> None:
        if fact.kind == "node":
            name = fact.value if isinstance(fact.value, str) else None
            if name is not None or fact.subject not in self.nodes:
                self.nodes[fact.subject] = name
        elif fact.kind == "edge":
            self.nodes.setdefault(fact.subject, None)
            self.edges.setdefault(fact.key, []).append({"head": fact.subject, "tail": fact.value})
        else:
            self.nodes.setdefault(fact.subject, None)
            self.properties.setdefault((fact.key, fact.value_kind), []).append(
                {"id": fact.subject, "value": fact.value}
            )
        self.size += fact.counts


class _Writer:
    """Runs each request in a managed transaction of one session and adds up the counters."""

    def __init__(self, session: neo4j.Session, dialect: Dialect | None):
        self._session = session
        self._dialect = dialect
        self.nodes = self.relationships = self.properties = 0

    def dialect(self) -> Dialect:
        if self._dialect is None:
            rows = self._read(probe_query())
            self._dialect = dialect_from_probe(rows[0].get("probe") if rows else None)
        return self._dialect

    def create_index(self, spec: NodeSpec) -> None:
        assert spec.label is not None
        query = create_index_query(spec.label, spec.id_property)
        try:
            self._write(query)
        except KGError as error:
            cause = error.__cause__
            if isinstance(cause, neo4j_errors.Neo4jError) and "AlreadyExists" in (cause.code or ""):
                return  # Neo4j: an equivalent index exists
            if not self._falkordb_index_exists(spec):
                raise

    def _falkordb_index_exists(self, spec: NodeSpec) -> bool:
        """FalkorDB reports an existing index only as an unknown error: look for it."""
        try:
            rows = self._read(falkordb_indexes_query())
        except KGError:
            return False
        return any(
            row.get("label") == spec.label and spec.id_property in _list(row.get("properties"))
            for row in rows
        )

    def flush(self, batch: _Batch, spec: NodeSpec) -> None:
        if batch.nodes:
            rows: list[Mapping[str, Param]] = [
                {"id": node, "name": name} for node, name in batch.nodes.items()
            ]
            self._write_rows(merge_nodes_query(spec, rows))
        for rel_type, edges in batch.edges.items():
            self._write_rows(merge_relationships_query(spec, rel_type, edges))
        for (key, kind), values in batch.properties.items():
            self._write_rows(set_property_query(spec, key, kind, values))

    def _write_rows(self, query: Cypher) -> None:
        requests, dropped = chunked(query, "rows", self.dialect())
        if dropped:
            raise KGLoadError(
                f"{len(dropped)} rows cannot be sent to this server (too long, or holding a "
                f"NUL character), e.g. {str(dropped[0])[:120]}",
                adapter="neo4j",
                query=query.text,
            )
        for request in requests:
            self._write(request)

    def _write(self, query: Cypher) -> None:
        try:
            counters = self._session.execute_write(_write, query)
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise translate_error(exc, query=query.text) from exc
        self.nodes += counters.nodes_created
        self.relationships += counters.relationships_created
        self.properties += counters.properties_set

    def _read(self, query: Cypher) -> list[dict[str, object]]:
        try:
            return self._session.execute_read(_read, query)
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError) as exc:
            raise translate_error(exc, query=query.text) from exc


def _write(tx: neo4j.ManagedTransaction, query: Cypher) -> neo4j.SummaryCounters:
    return tx.run(query.text, dict(query.params)).consume().counters


def _read(tx: neo4j.ManagedTransaction, query: Cypher) -> list[dict[str, object]]:
    return [record.data() for record in tx.run(query.text, dict(query.params))]


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []
