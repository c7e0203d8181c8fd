"""`OxigraphSource`: an embedded pyoxigraph store answering SPARQL like an HTTP endpoint would.

`select` serializes the store's answer to SPARQL-JSON and parses it with the same
`kg_adapters._sparql.parse_results` the HTTP clients use, so rows, literal datatypes and
languages are identical whichever way a query ran. Needs the ``think-on-graph[sparql]`` extra.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Self, cast

from kg_adapters._sparql import Bindings, parse_results
from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGError,
    KGLoadError,
    KGQueryError,
)
from kg_adapters.sparql_http import check_read_query

if TYPE_CHECKING:
    import pyoxigraph

__all__ = ["RDF_EXTENSIONS", "OxigraphSource"]

_ADAPTER: Final = "oxigraph"

RDF_EXTENSIONS: Final[Mapping[str, str]] = {
    ".nt": "N-Triples",
    ".ttl": "Turtle",
    ".nq": "N-Quads",
    ".rdf": "RDF/XML",
    ".owl": "RDF/XML",
    ".xml": "RDF/XML",
}
"""File extensions `OxigraphSource.load` reads (each also with ``.gz``), and their format."""

# ``format=`` names accepted by `OxigraphSource.load`, besides the extensions above.
_FORMAT_ALIASES: Final[Mapping[str, str]] = {
    "nt": "N-Triples",
    "ntriples": "N-Triples",
    "n-triples": "N-Triples",
    "ttl": "Turtle",
    "turtle": "Turtle",
    "nq": "N-Quads",
    "nquads": "N-Quads",
    "n-quads": "N-Quads",
    "rdf": "RDF/XML",
    "xml": "RDF/XML",
    "rdfxml": "RDF/XML",
    "rdf/xml": "RDF/XML",
}


def _pyoxigraph() -> ModuleType:
    try:
        import pyoxigraph
    except ImportError as exc:
        raise ImportError(
            "OxigraphSource needs pyoxigraph: pip install 'think-on-graph[sparql]'"
        ) from exc
    return pyoxigraph


def _rdf_format(name: str) -> pyoxigraph.RdfFormat:
    ox = _pyoxigraph()
    formats: dict[str, pyoxigraph.RdfFormat] = {
        "N-Triples": ox.RdfFormat.N_TRIPLES,
        "Turtle": ox.RdfFormat.TURTLE,
        "N-Quads": ox.RdfFormat.N_QUADS,
        "RDF/XML": ox.RdfFormat.RDF_XML,
    }
    return formats[name]


def _is_lock_error(exc: OSError) -> bool:
    # RocksDB: "While lock file: <dir>/LOCK: Resource temporarily unavailable" (another process)
    # or "lock hold by current process" (this one).
    return "lock" in str(exc).lower()


class OxigraphSource:
    """A pyoxigraph ``Store``, in memory or in a RocksDB folder, queried with read-only SPARQL.

    Queries see the union of the default graph and every named graph (as Virtuoso does without
    ``default-graph-uri``), so N-Quads files are visible too.

    Example:
        >>> with OxigraphSource() as source:  # doctest: +SKIP
        ...     source.load("tiny_kg.ttl")
        ...     source.select("SELECT ?s WHERE { ?s ?p ?o } LIMIT 1").rows
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        union_default_graph: bool = True,
    ) -> None:
        """Open (or create) the store.

        Args:
            path: A store folder; None keeps the store in memory.
            read_only: Open an existing folder read-only (``Store.read_only``); works alongside
                one writer in another process.
            union_default_graph: Query the union of all graphs as the default graph.

        Raises:
            ImportError: pyoxigraph is missing (the ``think-on-graph[sparql]`` extra).
            ValueError: ``read_only`` without a ``path``.
            KGLoadError: The folder is locked by another writer, missing (read-only) or unreadable.
        """
        ox = _pyoxigraph()
        if read_only and path is None:
            raise ValueError("read_only=True needs the path of an existing store folder")
        self._path = None if path is None else Path(path)
        self._read_only = read_only
        self._union = union_default_graph
        try:
            if self._path is None:
                store = ox.Store()
            elif read_only:
                store = ox.Store.read_only(str(self._path))
            else:
                store = ox.Store(self._path)
        except OSError as exc:
            raise self._open_error(exc) from exc
        except RuntimeError as exc:  # RocksDB "Corruption"
            raise KGLoadError(
                f"cannot open the Oxigraph store at {self._path}: {exc}", adapter=_ADAPTER
            ) from exc
        self._store: pyoxigraph.Store | None = store

    def _open_error(self, exc: OSError) -> KGLoadError:
        where = self._path
        if isinstance(exc, FileNotFoundError) and self._read_only:
            return KGLoadError(
                f"no Oxigraph store at {where} to open read-only: {exc}", adapter=_ADAPTER
            )
        if _is_lock_error(exc):
            return KGLoadError(
                f"the Oxigraph store at {where} is locked: another read-write OxigraphSource (or "
                "oxigraph process) has it open. Close that one, or open this one with "
                f"read_only=True. ({exc})",
                adapter=_ADAPTER,
            )
        return KGLoadError(f"cannot open the Oxigraph store at {where}: {exc}", adapter=_ADAPTER)

    def __repr__(self) -> str:
        where = "memory" if self._path is None else str(self._path)
        mode = ", read_only=True" if self._read_only else ""
        return f"{type(self).__name__}({where!r}{mode})"

    @property
    def path(self) -> Path | None:
        """The store folder, or None for an in-memory store."""
        return self._path

    def select(self, query: str) -> Bindings:
        """Run one read SELECT query; rows as `SPARQLEndpoint.select` would give them.

        Raises:
            ValueError: The query is not a read query, or not a SELECT (an ASK or CONSTRUCT has
                no rows), or the source is closed.
            KGQueryError: Oxigraph rejected the query (``.detail`` holds its parser message).
            KGError: Another subclass saying what failed.
        """
        check_read_query(query)
        store = self._open_store()
        ox = _pyoxigraph()
        try:
            result = store.query(query, use_default_graph_as_union=self._union)
            if not isinstance(result, ox.QuerySolutions):
                kind = "ASK" if isinstance(result, ox.QueryBoolean) else "CONSTRUCT/DESCRIBE"
                raise ValueError(f"select() runs SELECT queries; got an {kind} query: {query!r}")
            data = result.serialize(format=ox.QueryResultsFormat.JSON)
        except SyntaxError as exc:
            detail = str(exc)
            raise KGQueryError(
                f"Oxigraph rejected the query: {' '.join(detail.split())[:300]}",
                adapter=_ADAPTER,
                query=query,
                detail=detail[:500],
            ) from exc
        except OSError as exc:
            raise KGConnectionError(
                f"cannot read the Oxigraph store at {self._path}: {exc}",
                adapter=_ADAPTER,
                query=query,
            ) from exc
        except RuntimeError as exc:
            raise KGDataError(
                f"Oxigraph failed evaluating the query: {exc}", adapter=_ADAPTER, query=query
            ) from exc
        try:
            return parse_results(_json(data))
        except KGError as exc:
            raise KGDataError(
                f"unreadable SPARQL-JSON from Oxigraph: {exc}", adapter=_ADAPTER, query=query
            ) from exc

    def load(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Bulk-load an RDF file: N-Triples, Turtle, N-Quads or RDF/XML, plain or ``.gz``.

        Args:
            path: The file; its format comes from the extension (see `RDF_EXTENSIONS`).
            format: Overrides the extension: ``"nt"``, ``"turtle"``, ``"nq"``, ``"rdfxml"``...
            progress: Called as ``progress(bytes_read, file_size)`` while the file is read (bytes
                of the file on disk, so a ``.gz`` dump reports compressed bytes).

        Raises:
            ValueError: The source is read-only or closed.
            KGLoadError: The file is missing, its extension or format unknown, or it is malformed.
        """
        store = self._open_store()
        if self._read_only:
            raise ValueError(f"cannot load into {self!r}: it was opened read-only")
        file = Path(path)
        if not file.is_file():
            raise KGLoadError(f"no such file: {file}", adapter=_ADAPTER)
        name = _format_name(file, format)
        rdf_format = _rdf_format(name)
        try:
            with file.open("rb") as raw:
                counted = _CountingReader(raw, file.stat().st_size, progress)
                if file.suffix.lower() == ".gz":
                    with gzip.GzipFile(fileobj=counted, mode="rb") as stream:
                        store.bulk_load(cast(IO[bytes], stream), rdf_format)
                else:
                    store.bulk_load(cast(IO[bytes], counted), rdf_format)
        except (SyntaxError, ValueError, EOFError, gzip.BadGzipFile) as exc:
            message = " ".join(str(exc).split())
            raise KGLoadError(
                f"cannot parse {file} as {name}: {message}", adapter=_ADAPTER
            ) from exc
        except OSError as exc:
            raise KGLoadError(f"cannot load {file}: {exc}", adapter=_ADAPTER) from exc

    def triple_count(self) -> int:
        """How many triples (quads, over all graphs) the store holds."""
        return len(self._open_store())

    def close(self) -> None:
        """Flush and release the store (and its folder lock); later calls raise ValueError."""
        store, self._store = self._store, None
        if store is not None and self._path is not None and not self._read_only:
            store.flush()
        # pyoxigraph has no close(): dropping the last reference releases RocksDB and its lock.
        del store

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open_store(self) -> pyoxigraph.Store:
        if self._store is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._store


def _format_name(file: Path, format: str | None) -> str:
    if format is not None:
        name = _FORMAT_ALIASES.get(format.lower().lstrip("."))
        if name is None:
            known = ", ".join(sorted(_FORMAT_ALIASES))
            raise KGLoadError(
                f"unknown RDF format {format!r} for {file}; known: {known}", adapter=_ADAPTER
            )
        return name
    inner = file.with_suffix("") if file.suffix.lower() == ".gz" else file
    name = RDF_EXTENSIONS.get(inner.suffix.lower())
    if name is None:
        supported = ", ".join(sorted(RDF_EXTENSIONS))
        raise KGLoadError(
            f"unknown RDF file extension {inner.suffix.lower()!r} for {file}; supported: "
            f"{supported} (each also with .gz), or pass format=",
            adapter=_ADAPTER,
        )
    return name


def _json(data: bytes | None) -> object:
    if data is None:
        raise KGDataError("Oxigraph serialized no results", adapter=_ADAPTER)
    parsed: object = json.loads(data)
    return parsed


class _CountingReader(io.RawIOBase):
    """A read-only stream that reports how many bytes of the underlying file were read."""

    def __init__(
        self, raw: IO[bytes], size: int, progress: Callable[[int, int], None] | None
    ) -> None:
        self._raw = raw
        self._size = size
        self._progress = progress
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._read += len(data)
        if self._progress is not None:
            self._progress(self._read, self._size)
        return len(data)
