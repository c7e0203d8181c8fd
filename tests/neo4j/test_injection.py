"""Cypher injection: hostile ids, relation types, property names and search texts, over Bolt.

Every call must return an ordinary (empty) answer or raise ValueError / KGQueryError; the graph's
checksum (nodes, relationships, properties, a digest of all of them, read over Redis) must be
unchanged; the server must still be running (FalkorDB crashes on an oversized request). Reads are
read-only by construction: every session the adapter opens is a READ session, the recorded
sessions have no write method, and no query text it sends holds a writing clause.

FalkorDB pastes parameters into the query text unescaped (see `kg_adapters.neo4j_graph`); the
last tests show that this is exploitable when the adapter is told the server is Neo4j, and that
the detected dialect closes the hole.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import neo4j
import pytest

from kg_adapters import Hop, KGQueryError, Neo4jGraph
from tests.neo4j.tiny import RecordingDriver
from tests.services import FalkorDB

pytestmark = pytest.mark.server

HOSTILE = [
    "x' OR 1=1",
    "x' OR '1'='1",
    '"}) DETACH DELETE n //',
    "'}) DETACH DELETE n //",
    "x'] MATCH (m) DETACH DELETE m //",
    "x'] MATCH (m) DETACH DELETE m RETURN 0 AS hop_key, ['pwned'] AS targets //",
    "Inception' OR n.id <> '",
    "Inception\\' OR 1=1 //",
    "`",
    "a`b",
    "`) DETACH DELETE n //",
    "$param",
    "$ids",
    "{ids}",
    "line\nbreak",
    "x'\nMATCH (m) DETACH DELETE m //",
    "carriage\rreturn\ttab",
    "back\\slash",
    "\\",
    "\\'",
    "\\u0027] MATCH (m) DETACH DELETE m //",
    "\u0000",
    "nul\u0000byte') DETACH DELETE n //",
    "Ωμέγα 🚀 名前 \u202ertl",
    "CREATE (x:Pwned)",
    "DETACH DELETE n",
    ":Entity",
    "*",
    "",
    " ",
    "x" * 5000,
    "'" * 3000,
    "a" * 100_000,
]
HOSTILE_RELATIONS = [
    "directed_by`]->() DETACH DELETE n//",
    "directed_by]->(m) DETACH DELETE m //",
    "directed_by|written_by",
    ":Entity",
    "`",
    "id",
    "name",
    "",
    *HOSTILE[:12],
]
WRITES = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|LOAD|FOREACH)\b", re.I)


@pytest.fixture(scope="module")
def target(props_server: tuple[FalkorDB, Any]) -> Iterator[tuple[FalkorDB, RecordingDriver]]:
    server, driver = props_server
    before = server.checksum()
    assert before[:2] == (20, 23)
    yield server, RecordingDriver(driver)
    assert server.proc is not None
    assert server.proc.poll() is None, "the server crashed"
    assert server.checksum() == before, "the graph changed"


@pytest.fixture
def kg(target: tuple[FalkorDB, RecordingDriver]) -> Iterator[Neo4jGraph]:
    server, recorder = target
    graph = Neo4jGraph(driver=recorder, node_label="Entity", literal_properties="all")  # type: ignore[arg-type]
    graph.schema()
    assert graph.dialect == "falkordb"
    recorder.queries.clear()
    yield graph
    assert server.proc is not None
    assert server.proc.poll() is None, "the server crashed"
    assert set(recorder.modes) == {neo4j.READ_ACCESS}
    for query in recorder.queries:
        assert not WRITES.search(query.text), query.text


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_entity_ids_are_unknown(kg: Neo4jGraph, value: str):
    assert kg.relations([value, "Inception"], direction="out")[value] == ()
    assert kg.relations([value], direction="in") == {value: ()}
    assert kg.labels([value, "Titanic"]) == {"Titanic": "Titanic"}
    hops = [Hop(value, "directed_by", "out"), Hop(value, "release_date", "out")]
    hops.append(Hop(value, "starred_actors", "in"))
    assert kg.neighbors(hops) == {hop: () for hop in hops}


@pytest.mark.parametrize("relation", HOSTILE_RELATIONS, ids=lambda v: repr(v)[:40])
def test_hostile_relations_never_reach_a_query(
    kg: Neo4jGraph, target: tuple[FalkorDB, RecordingDriver], relation: str
):
    _, recorder = target
    hops = [Hop("Inception", relation, "out"), Hop("Christopher Nolan", relation, "in")]
    assert kg.neighbors(hops) == {hop: () for hop in hops}
    assert recorder.queries == [], "a relation the schema does not know was sent"


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_search_text_stays_in_memory(
    kg: Neo4jGraph, target: tuple[FalkorDB, RecordingDriver], value: str
):
    _, recorder = target
    kg.search_entities("warm up the label index")
    recorder.queries.clear()
    assert all(m.id != value for m in kg.search_entities(value))
    kg.find_mentions(value)
    assert recorder.queries == [], "search text never goes to the server"


@pytest.mark.parametrize("name", ["Ent`ity", "Entity`) DETACH DELETE n //", "a\\u0060b", "x\ny"])
def test_hostile_names_in_query_text_are_refused(
    target: tuple[FalkorDB, RecordingDriver], name: str
):
    _, recorder = target
    for option in ("node_label", "id_property", "name_property"):
        with pytest.raises(ValueError, match=option):
            Neo4jGraph(driver=recorder, **{option: name})  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["x` DETACH DELETE n //", "$x", "release_date`]", "id", "name"])
def test_hostile_literal_property_names_are_parameters(
    target: tuple[FalkorDB, RecordingDriver], key: str
):
    _, recorder = target
    kg = Neo4jGraph(driver=recorder, node_label="Entity", literal_properties=[key])  # type: ignore[arg-type]
    hop = Hop("Inception", key, "out")
    assert kg.neighbors([hop]) == {hop: ()}
    assert kg.relations(["Inception"], direction="out")["Inception"] == (
        "directed_by",
        "has_genre",
        "starred_actors",
        "written_by",
    )
    if key not in ("id", "name"):  # those two are the id and name properties, hidden
        assert all(key not in query.text for query in recorder.queries)


def test_falkordb_does_not_enforce_read_sessions(empty_server: tuple[FalkorDB, Any]):
    # Why read-only must come from the builders: the adapter's own path (a managed read
    # transaction in a READ session) accepts a write on FalkorDB.
    server, driver = empty_server
    with driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
        session.execute_read(lambda tx: tx.run("CREATE (:Pwned)").consume())
    assert server.redis_query("MATCH (n:Pwned) RETURN count(n)") == [[1]]


def test_splicing_is_exploitable_unless_the_adapter_escapes(empty_server: tuple[FalkorDB, Any]):
    server, driver = empty_server
    server.redis_query("CREATE (:Entity {id: 'a'}), (:Entity {id: 'b'}), (:Entity {id: 'c'})")
    payload = "x'] MATCH (m) DETACH DELETE m //"
    assert Neo4jGraph(driver=driver).labels([payload]) == {}
    assert server.checksum()[0] == 3, "the detected dialect escapes the payload"
    wrong = Neo4jGraph(driver=driver, dialect="neo4j")
    with contextlib.suppress(KGQueryError):
        wrong.labels([payload])
    assert server.checksum()[0] == 0, "FalkorDB ran the payload: revisit the dialect notes"
