"""Neo4jGraph beyond the contract suite: mapping options, value types, batching, dialects, errors.

Everything runs against FalkorDB's Bolt port (a real Neo4j cannot run here).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import neo4j
import pytest

from kg_adapters import Hop, KGConnectionError, KGQueryError, LiteralValue, Neo4jGraph
from kg_adapters import neo4j_graph as neo4j_graph_module
from kg_adapters.neo4j_load import load_triples
from tests.neo4j.tiny import RecordingDriver
from tests.services import FalkorDB, free_port

pytestmark = pytest.mark.server

XSD = "http://www.w3.org/2001/XMLSchema#"
Pair = tuple[FalkorDB, Any]


def test_uri_and_auth_none_as_the_public_contract_says(props_server: Pair):
    server, _ = props_server
    server.poke()
    with Neo4jGraph(
        server.bolt_uri,
        auth=None,
        id_property="id",
        name_property="name",
        connection_acquisition_timeout=1,
        max_transaction_retry_time=10,
    ) as kg:
        assert kg.relations(["Christopher Nolan"], direction="in") == {
            "Christopher Nolan": ("directed_by", "written_by")
        }
        assert kg.dialect == "falkordb"
        assert "Entity" in kg.schema().labels
    server.poke()  # our driver said GOODBYE: take FalkorDB's stalled next handshake


def test_a_given_driver_is_shared_not_closed(props_server: Pair):
    _, driver = props_server
    with Neo4jGraph(driver=RecordingDriver(driver), node_label="Entity") as kg:  # type: ignore[arg-type]
        assert kg.labels(["Inception"]) == {"Inception": "Inception"}
    # RecordingDriver.close raises: leaving the block did not close it.
    assert Neo4jGraph(driver=driver).labels(["Titanic"]) == {"Titanic": "Titanic"}


def test_constructor_rejects_mistakes(props_server: Pair):
    _, driver = props_server
    with pytest.raises(ValueError, match="either a uri or a driver"):
        Neo4jGraph("bolt://127.0.0.1:1", driver=driver)
    with pytest.raises(ValueError, match="node_label"):
        Neo4jGraph(driver=driver, node_label="Ent`ity")
    with pytest.raises(ValueError, match="literal_properties"):
        Neo4jGraph(driver=driver, literal_properties="release_date")
    with pytest.raises(ValueError, match="dialect"):
        Neo4jGraph(driver=driver, dialect="memgraph")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Bolt URI"):
        Neo4jGraph("http://127.0.0.1:1")


def test_literal_properties_none_list_and_all(props_server: Pair):
    _, driver = props_server
    date = Hop("Inception", "release_date", "out")
    runtime = Hop("Inception", "runtime_minutes", "out")
    rels = ("directed_by", "has_genre", "starred_actors", "written_by")
    none = Neo4jGraph(driver=driver, node_label="Entity")
    assert none.relations(["Inception"], direction="out") == {"Inception": rels}
    assert none.neighbors([date, runtime]) == {date: (), runtime: ()}
    some = Neo4jGraph(driver=driver, node_label="Entity", literal_properties=["runtime_minutes"])
    assert some.relations(["Inception"], direction="out")["Inception"] == tuple(
        sorted([*rels, "runtime_minutes"])
    )
    assert some.neighbors([date, runtime]) == {
        date: (),
        runtime: (LiteralValue("148", XSD + "integer"),),
    }
    every = Neo4jGraph(driver=driver, node_label="Entity", literal_properties="all")
    assert every.neighbors([date])[date] == (LiteralValue("2010-07-16", XSD + "date"),)
    # A property is reached only outwards: a literal has no edges.
    assert every.neighbors([Hop("Inception", "release_date", "in")]) == {
        Hop("Inception", "release_date", "in"): ()
    }


def test_relationship_types_win_over_property_keys(
    empty_server: Pair, caplog: pytest.LogCaptureFixture
):
    server, driver = empty_server
    server.redis_query(
        "CREATE (:Entity {id: 'a', name: 'A', directed_by: 'not a relation', year: 1999})"
        "-[:directed_by]->(:Entity {id: 'b', name: 'B'})"
    )
    hop = Hop("a", "directed_by", "out")
    every = Neo4jGraph(driver=driver, literal_properties="all")
    assert every.relations(["a"], direction="out") == {"a": ("directed_by", "year")}
    assert every.neighbors([hop]) == {hop: ("b",)}
    with caplog.at_level(logging.WARNING, logger="kg_adapters.neo4j_graph"):
        listed = Neo4jGraph(driver=driver, literal_properties=["directed_by"])
        assert listed.neighbors([hop]) == {hop: ("b",)}
    assert "relationship types win" in caplog.text


def test_every_property_type_comes_back_typed_and_the_server_survives(empty_server: Pair):
    server, driver = empty_server
    server.redis_query(
        "CREATE (:Entity {id: 'x', name: 'X', s: 'text', i: -7, f: 0.1, b: true, "
        "d: date('2010-07-16'), dt: localdatetime('2010-07-16T10:00:00'), du: duration('P1D'), "
        "t: localtime('10:00:00'), arr: [1, 2]})"
    )
    kg = Neo4jGraph(driver=driver, literal_properties="all")
    keys = ("b", "d", "dt", "du", "f", "i", "s", "t")  # the list is not offered
    assert kg.relations(["x"], direction="out") == {"x": keys}
    got = kg.neighbors([Hop("x", key, "out") for key in (*keys, "arr")])
    assert {hop.relation: nodes for hop, nodes in got.items()} == {
        "s": (LiteralValue("text"),),
        "i": (LiteralValue("-7", XSD + "integer"),),
        "f": (LiteralValue("0.1", XSD + "double"),),
        "b": (LiteralValue("true", XSD + "boolean"),),
        "d": (LiteralValue("2010-07-16", XSD + "date"),),
        "dt": (LiteralValue("2010-07-16T10:00:00", XSD + "dateTime"),),
        "du": (LiteralValue("P1D", XSD + "duration"),),
        "t": (LiteralValue("10:00:00", XSD + "time"),),
        "arr": (),
    }
    triples = list(kg.triples())
    assert len(triples) == len(keys)
    assert server.proc is not None
    assert server.proc.poll() is None, "a temporal value reached the Bolt layer"


def test_unknown_label_or_id_property_is_an_empty_graph(props_server: Pair):
    _, driver = props_server
    for kg in (
        Neo4jGraph(driver=driver, node_label="Film"),
        Neo4jGraph(driver=driver, id_property="mid"),
    ):
        assert kg.relations(["Inception"], direction="out") == {"Inception": ()}
        assert kg.neighbors([Hop("Inception", "directed_by", "out")]) == {
            Hop("Inception", "directed_by", "out"): ()
        }
        assert kg.labels(["Inception"]) == {}
        assert kg.search_entities("Inception") == []
        assert list(kg.triples()) == []


def test_names_from_ids_and_missing_names(props_server: Pair):
    _, driver = props_server
    assert Neo4jGraph(driver=driver, name_property="title").labels(["Inception"]) == {}
    named = Neo4jGraph(driver=driver, name_property=None, names_from_ids=True)
    assert named.labels(["Inception", "x"]) == {"Inception": "Inception"}
    assert named.search_entities("inception")[0].id == "Inception"


def test_refresh_schema_sees_new_relationship_types(empty_server: Pair):
    server, driver = empty_server
    server.redis_query("CREATE (:Entity {id: 'a'})-[:knows]->(:Entity {id: 'b'})")
    kg = Neo4jGraph(driver=driver)
    hop = Hop("a", "likes", "out")
    assert kg.neighbors([hop]) == {hop: ()}
    server.redis_query("MATCH (a {id: 'a'}), (b {id: 'b'}) CREATE (a)-[:likes]->(b)")
    assert kg.neighbors([hop]) == {hop: ()}, "the schema is cached"
    assert "likes" in kg.refresh_schema().relationship_types
    assert kg.neighbors([hop]) == {hop: ("b",)}


def test_one_query_per_kind_per_call(props_server: Pair):
    _, driver = props_server
    recorder = RecordingDriver(driver)
    kg = Neo4jGraph(driver=recorder, node_label="Entity", literal_properties="all")  # type: ignore[arg-type]
    kg.schema()
    assert len(recorder.queries) == 4  # the dialect probe and three schema procedures
    recorder.queries.clear()
    hops = [
        Hop(film, relation, "out")
        for film in ("Inception", "Interstellar", "Titanic", "Amélie")
        for relation in ("directed_by", "starred_actors", "release_date", "no_such_relation")
    ] + [Hop("Christopher Nolan", "written_by", "in")]
    kg.neighbors(hops)
    assert len(recorder.queries) == 3  # out, in, property literals
    recorder.queries.clear()
    kg.relations(["Inception", "Titanic", "x"], direction="out")
    kg.labels(["Inception", "Titanic", "x"])
    assert len(recorder.queries) == 2
    assert set(recorder.modes) == {neo4j.READ_ACCESS}


def test_quotes_and_backslashes_in_ids_round_trip(empty_server: Pair, tmp_path):
    _, driver = empty_server
    names = ["Schindler's List", "O'Brien", "back\\slash", 'say "hi"', "\\'", "Ωμέγα"]
    kb = tmp_path / "kb.tsv"
    kb.write_text("".join(f"{n}\trelated_to\tTarget {i}\n" for i, n in enumerate(names)), "utf-8")
    load_triples(driver, kb)
    kg = Neo4jGraph(driver=driver)
    assert kg.labels(names) == {n: n for n in names}
    got = kg.neighbors([Hop(n, "related_to", "out") for n in names])
    assert [nodes for nodes in got.values()] == [(f"Target {i}",) for i in range(len(names))]
    back = kg.neighbors([Hop("Target 0", "related_to", "in")])
    assert back == {Hop("Target 0", "related_to", "in"): ("Schindler's List",)}


def test_large_batches_are_split_for_falkordb(empty_server: Pair, tmp_path):
    _, driver = empty_server
    kb = tmp_path / "kb.tsv"
    kb.write_text("".join(f"film {i:04d}\tdirected_by\tdirector {i % 7}\n" for i in range(800)))
    report = load_triples(driver, kb, batch_size=300)
    assert (report.nodes, report.relationships) == (807, 800)
    recorder = RecordingDriver(driver)
    kg = Neo4jGraph(driver=recorder)  # type: ignore[arg-type]
    films = [f"film {i:04d}" for i in range(800)]
    too_long = "y" * 5000  # cannot be sent to FalkorDB at all: unknown, not an error
    labels = kg.labels([*films, too_long])
    assert labels == {f: f for f in films}
    assert len(recorder.queries) > 4 + 1  # several requests, each under FalkorDB's buffer
    hops = [Hop(f, "directed_by", "out") for f in films]
    assert kg.neighbors(hops)[hops[13]] == ("director 6",)
    director = Hop("director 0", "directed_by", "in")
    assert kg.neighbors([director], limit=3) == {director: ("film 0000", "film 0007", "film 0014")}
    assert kg.relations([too_long], direction="out") == {too_long: ()}


def test_triples_page_through_the_graph(props_server: Pair, monkeypatch: pytest.MonkeyPatch):
    _, driver = props_server
    kg = Neo4jGraph(driver=driver, literal_properties="all")
    everything = list(kg.triples())
    monkeypatch.setattr(neo4j_graph_module, "PAGE_SIZE", 4)
    assert list(kg.triples()) == everything
    assert list(kg.triples(limit=9)) == everything[:9]
    assert len(everything) == 27
    assert everything[-1].object == LiteralValue("1998", XSD + "integer")  # ceremony_year


def test_falkordb_splices_parameters_which_the_adapter_escapes(props_server: Pair):
    _, driver = props_server
    records, _, _ = driver.execute_query("RETURN $x AS x", {"x": "\\'"}, routing_="r")
    assert records[0]["x"] == "'", "FalkorDB now sends parameters verbatim: revisit the dialect"
    forced = Neo4jGraph(driver=driver, dialect="neo4j")
    with pytest.raises(KGQueryError) as raised:
        forced.labels(["x' OR 1=1"])
    assert raised.value.query is not None
    assert "UNWIND $ids" in raised.value.query
    assert raised.value.adapter == "neo4j"
    assert Neo4jGraph(driver=driver, dialect="falkordb").labels(["x' OR 1=1"]) == {}


def test_unreachable_server_is_a_connection_error():
    start = time.monotonic()
    with (
        Neo4jGraph(
            f"bolt://127.0.0.1:{free_port()}", connection_timeout=1, max_transaction_retry_time=0
        ) as kg,
        pytest.raises(KGConnectionError) as raised,
    ):
        kg.relations(["x"], direction="out")
    assert time.monotonic() - start < 10
    assert raised.value.query == "RETURN $probe AS probe"
