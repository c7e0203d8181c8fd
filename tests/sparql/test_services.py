"""The SPARQL server fixtures really serve what they loaded."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import rdflib

from tests.services import (
    FREEBASE_GRAPH,
    OxigraphServer,
    ServiceError,
    Virtuoso,
    free_port,
    need_oxigraph,
    need_virtuoso,
    sparql_json,
)
from tests.sparql.conftest import FREEBASE_TINY, WIKIDATA_TINY

pytestmark = pytest.mark.server

FB = "http://rdf.freebase.com/ns/"
GPH = FB + "government.government_position_held."
WD = "http://www.wikidata.org/entity/"
WDT = "http://www.wikidata.org/prop/direct/"
XSD = "http://www.w3.org/2001/XMLSchema#"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _distinct_triples(*paths: Path) -> int:
    graph = rdflib.Graph()
    for path in paths:
        graph.parse(path)
    return len(graph)


def _count(bindings: list[dict[str, dict[str, str]]]) -> int:
    return int(bindings[0]["n"]["value"])


def _is_typed(term: dict[str, str], datatype: str) -> bool:
    """Virtuoso says ``typed-literal``, Oxigraph ``literal``; both carry ``datatype``."""
    return term["type"] in ("typed-literal", "literal") and term.get("datatype") == datatype


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- Virtuoso ---------------------------------------------------------------------------------


def test_virtuoso_counts_every_distinct_triple(
    virtuoso_freebase: Virtuoso, freebase_slice: Path
) -> None:
    result, headers = virtuoso_freebase.query(COUNT)
    assert _count(result["results"]["bindings"]) == _distinct_triples(freebase_slice, FREEBASE_TINY)
    assert headers["x-sparql-default-graph"] == FREEBASE_GRAPH
    assert virtuoso_freebase.sparql_url == f"http://127.0.0.1:{virtuoso_freebase.http_port}/sparql"


def test_virtuoso_name_of_known_mid_with_full_iris(virtuoso_freebase: Virtuoso) -> None:
    query = f"SELECT ?name WHERE {{ <{FB}m.02mjmr> <{FB}type.object.name> ?name }}"
    result, _ = virtuoso_freebase.query(query)
    names = {(b["name"]["value"], b["name"].get("xml:lang")) for b in result["results"]["bindings"]}
    assert names == {("Barack Obama", "en")}


def test_virtuoso_cvt_dates_are_typed_literals(virtuoso_freebase: Virtuoso) -> None:
    query = (
        f"SELECT ?office ?from WHERE {{ ?cvt <{GPH}office_holder> <{FB}m.02mjmr> ;"
        f" <{GPH}office_position_or_title> ?office ; <{GPH}from> ?from }}"
    )
    result, _ = virtuoso_freebase.query(query)
    (row,) = result["results"]["bindings"]
    assert row["office"] == {"type": "uri", "value": f"{FB}m.060d2"}
    assert row["from"]["type"] == "typed-literal"
    assert row["from"]["datatype"] == f"{XSD}date"
    assert row["from"]["value"] == "2009-01-20"


def test_virtuoso_default_graph_hides_system_triples(virtuoso_freebase: Virtuoso) -> None:
    everything, _ = sparql_json(virtuoso_freebase.sparql_url, COUNT)  # union of all graphs
    ours, _ = virtuoso_freebase.query(COUNT)
    assert _count(everything["results"]["bindings"]) > _count(ours["results"]["bindings"])


def test_virtuoso_load_refuses_a_broken_file(virtuoso_freebase: Virtuoso, tmp_path: Path) -> None:
    bad = tmp_path / "broken.nt"
    bad.write_text("<http://x/a> <http://x/b> .\n", encoding="utf-8")  # no object
    with pytest.raises(ServiceError, match="load"):
        virtuoso_freebase.load(bad, "http://example.org/broken/")


@pytest.fixture
def virtuoso_max10() -> Iterator[Virtuoso]:
    """A second, small Virtuoso whose ResultSetMaxRows is 10."""
    need_virtuoso()
    with Virtuoso(result_set_max_rows=10) as server:
        server.load(FREEBASE_TINY, FREEBASE_GRAPH)
        yield server


def test_virtuoso_truncation_is_announced_by_header(virtuoso_max10: Virtuoso) -> None:
    result, headers = virtuoso_max10.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 20")
    assert len(result["results"]["bindings"]) == 10
    assert headers.get("x-sparql-maxrows") == "10"
    small, small_headers = virtuoso_max10.query("SELECT ?s WHERE { ?s ?p ?o } LIMIT 5")
    assert len(small["results"]["bindings"]) == 5
    assert "x-sparql-maxrows" not in small_headers


# -- Oxigraph ---------------------------------------------------------------------------------


def test_oxigraph_counts_wikidata_fixture(oxigraph_wikidata: OxigraphServer) -> None:
    result, _ = oxigraph_wikidata.query(COUNT)
    assert _count(result["results"]["bindings"]) == _distinct_triples(WIKIDATA_TINY)
    assert oxigraph_wikidata.query_url == f"http://127.0.0.1:{oxigraph_wikidata.port}/query"


def test_oxigraph_wikidata_labels_and_typed_literals(oxigraph_wikidata: OxigraphServer) -> None:
    rdfs_label = "http://www.w3.org/2000/01/rdf-schema#label"
    query = (
        f"SELECT ?label ?born WHERE {{ <{WD}Q42> <{rdfs_label}> ?label ; <{WDT}P569> ?born ."
        f" FILTER(LANG(?label) = 'en') }}"
    )
    result, _ = oxigraph_wikidata.query(query)
    (row,) = result["results"]["bindings"]
    assert row["label"] == {"type": "literal", "value": "Douglas Adams", "xml:lang": "en"}
    assert row["born"]["type"] == "literal"
    assert row["born"]["datatype"] == f"{XSD}dateTime"
    assert row["born"]["value"] == "1952-03-11T00:00:00Z"


def test_oxigraph_wikidata_property_types(oxigraph_wikidata: OxigraphServer) -> None:
    query = "SELECT ?p ?type WHERE { ?p <http://wikiba.se/ontology#propertyType> ?type }"
    result, _ = oxigraph_wikidata.query(query)
    types = {
        b["p"]["value"].rsplit("/", 1)[1]: b["type"]["value"].rsplit("#", 1)[1]
        for b in result["results"]["bindings"]
    }
    assert types["P57"] == "WikibaseItem"
    assert types["P577"] == "Time"
    assert types["P345"] == "ExternalId"
    assert {"Url", "CommonsMedia"} <= set(types.values())


def test_oxigraph_freebase_slice(oxigraph_freebase: OxigraphServer, freebase_slice: Path) -> None:
    result, _ = oxigraph_freebase.query(COUNT)
    assert _count(result["results"]["bindings"]) == _distinct_triples(freebase_slice)
    query = f"SELECT ?name WHERE {{ <{FB}m.02mjmr> <{FB}type.object.name> ?name }}"
    result, _ = oxigraph_freebase.query(query)
    assert [b["name"]["value"] for b in result["results"]["bindings"]] == ["Barack Obama"]


def test_oxigraph_loads_gzip_and_serves_read_write(tmp_path: Path) -> None:
    need_oxigraph()
    packed = tmp_path / "freebase_tiny.nt.gz"
    with FREEBASE_TINY.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    with OxigraphServer([packed], read_only=False) as server:
        query = f"SELECT ?d WHERE {{ <{FB}m.0test01> <{GPH}from> ?d }}"
        result, _ = server.query(query)
        (row,) = result["results"]["bindings"]
        assert _is_typed(row["d"], f"{XSD}date")
        assert row["d"]["type"] == "literal"
        pid = server.pid
    assert pid is not None
    assert server.proc is None
