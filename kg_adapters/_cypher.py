"""Pure Cypher: name quoting, read and load query builders, parameter transport, value parsing.

Nothing here does I/O. Every value travels as a query parameter. The only names written into
query text are node labels, relationship types and property keys, and each one is checked
first: by the reader against the database's own schema, by the loader against `SAFE_NAME`.
Then `quote_name` back-quotes it. The read builders emit only ``UNWIND``, ``MATCH``,
``OPTIONAL MATCH``, ``WITH``, ``WHERE``, ``RETURN``, ``ORDER BY``, ``SKIP``, ``LIMIT`` and
``CALL db.*()`` schema procedures. They never emit a clause that writes.

The Cypher is the portable subset that Neo4j 5 and FalkorDB (over Bolt) both run. FalkorDB's
Bolt layer does not send parameters as values. It pastes them into the query text in a 4 KB
buffer (see `Dialect`), so `prepare` escapes string parameters for it and `chunked` splits
batches to fit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

from kg_adapters.base import Direction, LiteralValue

XSD = "http://www.w3.org/2001/XMLSchema#"

SAFE_NAME = re.compile(r"[^\x00-\x20`\\\x7f]{1,512}")
"""What a loaded relationship type or property key may look like: 1 to 512 characters, with no
whitespace, control character, backtick or backslash. This admits ``directed_by``,
``film.film.directed_by`` and IRIs."""

_UNQUOTABLE = re.compile(r"[\x00-\x1f`\\\x7f]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Param: TypeAlias = "str | int | float | bool | Sequence[Param] | Mapping[str, Param] | None"
"""A Cypher parameter value as this package sends it."""

Row: TypeAlias = Mapping[str, object]
"""One result record, as ``Record.data()`` returns it."""


@dataclass(frozen=True, slots=True)
class Cypher:
    """One query: its text and its parameters (every value a parameter)."""

    text: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Schema:
    """What the database says exists; only these names may be written into query text."""

    labels: frozenset[str] = frozenset()
    relationship_types: frozenset[str] = frozenset()
    property_keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Dialect:
    """How a server carries parameters.

    Neo4j sends parameters as typed Bolt values. FalkorDB's Bolt front end (4.x) rewrites each
    request as ``CYPHER k=v ... <query>`` in a 4096-byte stack buffer. It wraps strings in single
    quotes without escaping them, so a quote in an id changes the query. A request over the
    buffer size crashes the server. So does a temporal value in a parameter or in a result.

    Attributes:
        name: ``"neo4j"`` or ``"falkordb"``.
        splices_parameters: Parameters are pasted into the query text (escape them).
        max_request_bytes: Query text plus spliced parameters must stay below this.
    """

    name: str
    splices_parameters: bool = False
    max_request_bytes: int | None = None


NEO4J = Dialect("neo4j")
FALKORDB = Dialect("falkordb", splices_parameters=True, max_request_bytes=3800)
"""FalkorDB over Bolt. The server's buffer holds 4096 bytes. The margin leaves room for the
Bolt message around the query, which has to fit in one of the server's 4 KB read chunks."""

DIALECTS: Mapping[str, Dialect] = {"neo4j": NEO4J, "falkordb": FALKORDB}

PROBE_VALUE = "\\'"
"""A backslash and a quote. A server that splices parameters returns ``'``, not this value."""


def probe_query() -> Cypher:
    """``RETURN $probe``. It tells a verbatim parameter transport from a splicing one."""
    return Cypher("RETURN $probe AS probe", {"probe": PROBE_VALUE})


def dialect_from_probe(echo: object) -> Dialect:
    """The dialect implied by the value `probe_query` returned."""
    return NEO4J if echo == PROBE_VALUE else FALKORDB


# -- names ----------------------------------------------------------------------------------------


def quote_name(name: str) -> str:
    """Back-quote a label, relationship type or property key, doubling inner backticks.

    >>> quote_name("film.film.directed_by")
    '`film.film.directed_by`'

    Raises:
        ValueError: If ``name`` is empty or holds a control character or a backslash. Some
            servers expand escapes before parsing, so these cannot be quoted safely.
    """
    if not isinstance(name, str) or not name or re.search(r"[\x00-\x1f\\\x7f]", name):
        raise ValueError(f"cannot write {name!r} as a Cypher name")
    return "`" + name.replace("`", "``") + "`"


def is_portable_name(name: str) -> bool:
    """True if ``name`` can be written into query text on every server.

    FalkorDB rejects doubled backticks, so a name that needs them is not portable.
    """
    return isinstance(name, str) and bool(name) and not _UNQUOTABLE.search(name)


def check_name(name: str, what: str) -> str:
    """``name`` if `is_portable_name` allows it, else a ValueError naming ``what``."""
    if not is_portable_name(name):
        raise ValueError(
            f"{what} {name!r} cannot be used: it must be non-empty, with no backtick, "
            "backslash or control character"
        )
    return name


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """How entities are stored: an optional node label and the id and name properties.

    The names must already be checked (`check_name`) and present in the schema.
    """

    id_property: str
    name_property: str | None = None
    label: str | None = None

    def node(self, var: str, key: str) -> str:
        """``(var:`Label` {`id`: key})``: an entity by id."""
        return f"({var}{self._label()} {{{quote_name(self.id_property)}: {key}}})"

    def other(self, var: str) -> str:
        """``(var:`Label`)``: any entity."""
        return f"({var}{self._label()})"

    def id_of(self, var: str) -> str:
        """``var.`id```: an entity's id."""
        return f"{var}.{quote_name(self.id_property)}"

    def name_of(self, var: str) -> str:
        """``var.`name``` (``null`` when the store has no name property)."""
        return f"{var}.{quote_name(self.name_property)}" if self.name_property else "null"

    def _label(self) -> str:
        return f":{quote_name(self.label)}" if self.label else ""


# -- read builders ---------------------------------------------------------------------------------


def schema_queries() -> tuple[Cypher, Cypher, Cypher]:
    """The labels, relationship types and property keys of the database (built-in procedures)."""
    return (
        Cypher("CALL db.labels() YIELD label RETURN label AS name"),
        Cypher(
            "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType AS name"
        ),
        Cypher("CALL db.propertyKeys() YIELD propertyKey RETURN propertyKey AS name"),
    )


# A value the driver can carry and the reader can type: string, number or boolean. A temporal
# value is never returned as itself (FalkorDB's Bolt layer crashes on one). It comes back as
# text and `literal_from` reads it. Lists and maps give null on both sides and are not offered.
_PRIMITIVE = (
    "(v = toStringOrNull(v) OR v = toBooleanOrNull(v) OR v = toIntegerOrNull(v) "
    "OR v = toFloatOrNull(v))"
)
_VALUE_COLUMNS = (
    f"CASE WHEN {_PRIMITIVE} THEN v END AS value, "
    f"CASE WHEN {_PRIMITIVE} THEN null ELSE toStringOrNull(v) END AS text"
)
_LITERAL_KEY = (
    "($literal_keys IS NULL OR k IN $literal_keys) AND NOT (k IN $hidden_keys) "
    "AND toStringOrNull(n[k]) IS NOT NULL"
)


@dataclass(frozen=True, slots=True)
class LiteralKeys:
    """Which node properties are offered as literal relations.

    Attributes:
        only: Offer only these keys (None: every key).
        hidden: Never offer these keys: the id and name properties, and any key that is also a
            relationship type (relationship types win).
    """

    only: tuple[str, ...] | None
    hidden: tuple[str, ...]

    def params(self) -> dict[str, Param]:
        """The ``$literal_keys`` / ``$hidden_keys`` parameters."""
        return {
            "literal_keys": list(self.only) if self.only is not None else None,
            "hidden_keys": list(self.hidden),
        }


def relations_query(
    spec: NodeSpec, direction: Direction, ids: Sequence[str], *, literals: LiteralKeys | None
) -> Cypher:
    """Distinct relationship types at each entity (rows ``eid, rel_types[, prop_keys]``).

    The far node is matched by label only: testing its id property (``m.id IS NOT NULL``) costs
    FalkorDB 60x on a hub (0.9 s against 15 ms for 5,000 edges), so a type whose edges all end at
    id-less nodes is listed and then leads nowhere (`neighbors_query` drops null ids in
    ``collect``).

    With ``literals`` (direction ``out`` only), the node's offered property keys come too.
    """
    arrow = "-[r]->" if direction == "out" else "<-[r]-"
    if literals is None or direction == "in":
        text = (
            f"UNWIND $ids AS eid MATCH {spec.node('n', 'eid')}{arrow}{spec.other('m')} "
            "RETURN eid, collect(DISTINCT type(r)) AS rel_types"
        )
        return Cypher(text, {"ids": list(ids)})
    text = (
        f"UNWIND $ids AS eid MATCH {spec.node('n', 'eid')} "
        f"OPTIONAL MATCH (n){arrow}{spec.other('m')} "
        "WITH eid, n, collect(DISTINCT type(r)) AS rel_types "
        f"RETURN eid, rel_types, [k IN keys(n) WHERE {_LITERAL_KEY}] AS prop_keys"
    )
    return Cypher(text, {"ids": list(ids), **literals.params()})


def neighbors_query(
    spec: NodeSpec,
    direction: Direction,
    hops: Sequence[Mapping[str, Param]],
    *,
    types: Sequence[str] | None,
    limit: int | None,
) -> Cypher:
    """Distinct neighbour ids per hop, sorted by id, at most ``limit`` (rows ``hop_key, targets``).

    Args:
        spec: The entity mapping.
        direction: Direction of every hop in ``hops``.
        hops: ``{"i": key, "entity": id, "relation": type}`` maps.
        types: Relationship types written into the pattern, each already in the schema (None:
            match any type; each hop is filtered by ``type(r) = hop.relation`` either way).
        limit: Neighbours kept per hop (None: all).
    """
    typed = ":" + "|".join(quote_name(t) for t in types) if types else ""
    arrow = f"-[r{typed}]->" if direction == "out" else f"<-[r{typed}]-"
    cut = "targets[0..$limit]" if limit is not None else "targets"
    text = (
        f"UNWIND $hops AS hop MATCH {spec.node('n', 'hop.entity')}{arrow}{spec.other('m')} "
        "WHERE type(r) = hop.relation "
        f"WITH hop.i AS hop_key, {spec.id_of('m')} AS target ORDER BY target "
        "WITH hop_key, collect(DISTINCT target) AS targets "
        f"RETURN hop_key, {cut} AS targets"
    )
    params: dict[str, Param] = {"hops": [dict(hop) for hop in hops]}
    if limit is not None:
        params["limit"] = limit
    return Cypher(text, params)


def literals_query(spec: NodeSpec, hops: Sequence[Mapping[str, Param]]) -> Cypher:
    """The value of one property per hop (rows ``hop_key, value, text``).

    The property key is a parameter (``n[hop.relation]``), never query text.
    """
    text = (
        f"UNWIND $hops AS hop MATCH {spec.node('n', 'hop.entity')} "
        "WITH hop.i AS hop_key, n[hop.relation] AS v WHERE v IS NOT NULL "
        f"RETURN hop_key, {_VALUE_COLUMNS}"
    )
    return Cypher(text, {"hops": [dict(hop) for hop in hops]})


def labels_query(spec: NodeSpec, ids: Sequence[str]) -> Cypher:
    """The name of each entity (rows ``eid, name``); a node without a name gives ``null``."""
    text = (
        f"UNWIND $ids AS eid MATCH {spec.node('n', 'eid')} RETURN eid, {spec.name_of('n')} AS name"
    )
    return Cypher(text, {"ids": list(ids)})


def names_query(spec: NodeSpec, *, named_only: bool) -> Cypher:
    """Every entity id with its name (rows ``eid, name``), for the in-memory label index."""
    where = f"{spec.id_of('n')} IS NOT NULL"
    if named_only and spec.name_property:
        where += f" AND {spec.name_of('n')} IS NOT NULL"
    return Cypher(
        f"MATCH {spec.other('n')} WHERE {where} RETURN {spec.id_of('n')} AS eid, "
        f"{spec.name_of('n')} AS name"
    )


def triples_query(spec: NodeSpec, *, skip: int, limit: int) -> Cypher:
    """One page of entity-to-entity edges (rows ``subject, relation, object``), ordered."""
    text = (
        f"MATCH {spec.other('n')}-[r]->{spec.other('m')} "
        f"WHERE {spec.id_of('n')} IS NOT NULL AND {spec.id_of('m')} IS NOT NULL "
        f"RETURN DISTINCT {spec.id_of('n')} AS subject, type(r) AS relation, "
        f"{spec.id_of('m')} AS object ORDER BY subject, relation, object SKIP $skip LIMIT $limit"
    )
    return Cypher(text, {"skip": skip, "limit": limit})


def literal_triples_query(
    spec: NodeSpec, literals: LiteralKeys, *, skip: int, limit: int
) -> Cypher:
    """One page of property literals (rows ``subject, relation, value, text``), ordered."""
    text = (
        f"MATCH {spec.other('n')} WHERE {spec.id_of('n')} IS NOT NULL "
        f"UNWIND [k IN keys(n) WHERE {_LITERAL_KEY}] AS prop_key "
        f"WITH {spec.id_of('n')} AS subject, prop_key, n[prop_key] AS v "
        f"RETURN subject, prop_key AS relation, {_VALUE_COLUMNS} "
        "ORDER BY subject, relation SKIP $skip LIMIT $limit"
    )
    return Cypher(text, {"skip": skip, "limit": limit, **literals.params()})


# -- load builders ---------------------------------------------------------------------------------

PropertyKind = Literal["string", "integer", "float", "boolean", "date"]

_CONVERT: Mapping[PropertyKind, str] = {
    "string": "row.value",
    "integer": "row.value",
    "boolean": "row.value",
    # A float travels as [mantissa, exponent] integers: FalkorDB's Bolt layer prints a float
    # parameter with "%f" (6 decimals) and its toFloat() parses text as a 32-bit float.
    "float": (
        "CASE WHEN row.value[1] >= 0 THEN toFloat(row.value[0]) * 10.0 ^ row.value[1] "
        "ELSE toFloat(row.value[0]) / 10.0 ^ (-row.value[1]) END"
    ),
    "date": "date(row.value)",
}


def create_index_query(label: str, id_property: str) -> Cypher:
    """``CREATE INDEX FOR (n:`Label`) ON (n.`id`)``: the same text works on Neo4j 5 and FalkorDB."""
    return Cypher(f"CREATE INDEX FOR (n:{quote_name(label)}) ON (n.{quote_name(id_property)})")


def falkordb_indexes_query() -> Cypher:
    """FalkorDB's index listing; Neo4j 5 has ``SHOW INDEXES`` instead."""
    return Cypher("CALL db.indexes() YIELD label, properties RETURN label, properties")


def merge_nodes_query(spec: NodeSpec, rows: Sequence[Mapping[str, Param]]) -> Cypher:
    """``MERGE`` entities by id (rows ``{"id": ..., "name": ...}``; the name is optional)."""
    text = f"UNWIND $rows AS row MERGE {spec.node('n', 'row.id')}"
    if spec.name_property:
        name = spec.name_of("n")
        text += f" SET {name} = coalesce(row.name, {name})"
    return Cypher(text, {"rows": [dict(row) for row in rows]})


def merge_relationships_query(
    spec: NodeSpec, rel_type: str, rows: Sequence[Mapping[str, Param]]
) -> Cypher:
    """``MERGE`` edges of one type between existing entities (rows ``{"head", "tail"}``)."""
    text = (
        f"UNWIND $rows AS row MATCH {spec.node('h', 'row.head')} "
        f"MATCH {spec.node('t', 'row.tail')} MERGE (h)-[:{quote_name(rel_type)}]->(t)"
    )
    return Cypher(text, {"rows": [dict(row) for row in rows]})


def set_property_query(
    spec: NodeSpec, key: str, kind: PropertyKind, rows: Sequence[Mapping[str, Param]]
) -> Cypher:
    """Set one property on existing entities (rows ``{"id", "value"}``), converted by ``kind``."""
    text = (
        f"UNWIND $rows AS row MATCH {spec.node('n', 'row.id')} "
        f"SET n.{quote_name(key)} = {_CONVERT[kind]}"
    )
    return Cypher(text, {"rows": [dict(row) for row in rows]})


# -- parameter transport ---------------------------------------------------------------------------


def prepare(query: Cypher, dialect: Dialect) -> Cypher:
    """The query as it must be sent to a server of ``dialect``.

    For a splicing server every string is escaped (backslash, then quote) so that the server's
    own string-literal parser gives back the original. Map keys must be plain identifiers.

    Raises:
        ValueError: If a value cannot be carried: a NUL character or a non-finite float
            (splicing only), or a type that is not a `Param`.
    """
    if not dialect.splices_parameters:
        return query
    return replace(query, params={k: _escape(v) for k, v in query.params.items()})


def _escape(value: Param) -> Param:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a NUL character cannot be sent to this server")
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be sent to this server")
        return value
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or not _IDENTIFIER.fullmatch(key):
                raise ValueError(f"map key {key!r} cannot be sent to this server")
        return {key: _escape(item) for key, item in value.items()}
    if isinstance(value, Sequence):
        return [_escape(item) for item in value]
    raise ValueError(f"unsupported parameter value {value!r}")


def spliced_size(value: Param) -> int:
    """Bytes the value takes once a splicing server has printed it (after `prepare`)."""
    if value is None:
        return 4
    if isinstance(value, bool):
        return 5 if not value else 4
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, float):
        return len(f"{value:f}")
    if isinstance(value, str):
        return len(value.encode("utf-8")) + 2
    if isinstance(value, Mapping):
        items = [len(k) + 2 + spliced_size(v) for k, v in value.items()]
        return 2 + sum(items) + 2 * max(len(items) - 1, 0)
    items = [spliced_size(v) for v in value]
    return 2 + sum(items) + 2 * max(len(items) - 1, 0)


def request_size(query: Cypher) -> int:
    """Bytes of ``CYPHER k=v ... <text>`` for a prepared query."""
    params = sum(len(k) + 2 + spliced_size(v) for k, v in query.params.items())
    return len("CYPHER ") + params + len(query.text.encode("utf-8"))


def chunked(query: Cypher, batch_param: str, dialect: Dialect) -> tuple[list[Cypher], list[Param]]:
    """Prepare ``query`` for ``dialect``, splitting the list ``params[batch_param]`` to fit.

    Without a size limit, one request carries the whole list. With a limit, the list is cut
    greedily into requests of at most ``dialect.max_request_bytes``. An empty list gives no
    request.

    Returns:
        The prepared requests, and the original items that cannot be sent: too large to fit in
        any request, or not carried by the server at all (a NUL character for FalkorDB).
    """
    items = query.params.get(batch_param)
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ValueError(f"parameter {batch_param!r} must be a list")
    base = prepare(replace(query, params={**query.params, batch_param: []}), dialect)
    room = None if dialect.max_request_bytes is None else dialect.max_request_bytes
    if room is not None:
        room -= request_size(base)
    requests: list[Cypher] = []
    dropped: list[Param] = []
    chunk: list[Param] = []
    used = 0
    for item in items:
        try:
            sent = _escape(item) if dialect.splices_parameters else item
        except ValueError:
            dropped.append(item)
            continue
        if room is not None:
            cost = spliced_size(sent) + 2  # the ", " separator
            if cost > room:
                dropped.append(item)
                continue
            if chunk and used + cost > room:
                requests.append(replace(base, params={**base.params, batch_param: chunk}))
                chunk, used = [], 0
            used += cost
        chunk.append(sent)
    if chunk:
        requests.append(replace(base, params={**base.params, batch_param: chunk}))
    return requests, dropped


# -- values ----------------------------------------------------------------------------------------

_DATE = re.compile(r"-?\d{4,}-\d{2}-\d{2}")
_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_ZONE = r"(?:Z|[+-]\d{2}:\d{2})"
_DATETIME = re.compile(rf"-?\d{{4,}}-\d{{2}}-\d{{2}}T{_TIME}{_ZONE}?")
_TIME_ONLY = re.compile(rf"{_TIME}{_ZONE}?")
_DURATION = re.compile(r"-?P(?=\d|T)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T[\d.HMS]+)?")
_NOT_A_NUMBER = frozenset({"NaN", "nan", "-nan"})


def literal_from(value: object, text: object) -> LiteralValue | None:
    """The `LiteralValue` for a property value read by the builders above.

    ``value`` is the property itself when it is a string, number or boolean. Otherwise ``text``
    is the server's string form (``toStringOrNull``), typed by its shape. Strings carry no
    datatype.

    >>> literal_from(148, None)
    LiteralValue(lexical='148', datatype='http://www.w3.org/2001/XMLSchema#integer', language=None)
    >>> literal_from(None, "2010-07-16").datatype
    'http://www.w3.org/2001/XMLSchema#date'
    >>> literal_from("2010-07-16", None).datatype is None
    True
    """
    if isinstance(value, bool):
        return LiteralValue("true" if value else "false", XSD + "boolean")
    if isinstance(value, int):
        return LiteralValue(str(value), XSD + "integer")
    if isinstance(value, float):
        return LiteralValue(_double(value), XSD + "double")
    if isinstance(value, str):
        return LiteralValue(value)
    if not isinstance(text, str):
        return None
    if _DATE.fullmatch(text):
        return LiteralValue(text, XSD + "date")
    if _DATETIME.fullmatch(text):
        return LiteralValue(text, XSD + "dateTime")
    if _TIME_ONLY.fullmatch(text):
        return LiteralValue(text, XSD + "time")
    if _DURATION.fullmatch(text):
        return LiteralValue(text, XSD + "duration")
    if text in _NOT_A_NUMBER:
        return LiteralValue("NaN", XSD + "double")
    return LiteralValue(text)


def _double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)
