"""load_triples: TSV and N-Triples into FalkorDB over Bolt, in batches, idempotent, with checks."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from kg_adapters import Hop, KGLoadError, LiteralValue, Neo4jGraph
from kg_adapters.neo4j_load import load_triples
from tests.neo4j.tiny import TSV
from tests.services import FalkorDB

pytestmark = pytest.mark.server

XSD = "http://www.w3.org/2001/XMLSchema#"
Pair = tuple[FalkorDB, Any]

NT = """\
<http://ex.org/Inception> <http://ex.org/directed_by> <http://ex.org/Nolan> .
<http://ex.org/Inception> <http://www.w3.org/2000/01/rdf-schema#label> "Inception"@en .
<http://ex.org/Inception> <http://www.w3.org/2000/01/rdf-schema#label> "Origine"@fr .
<http://ex.org/Nolan> <http://www.w3.org/2000/01/rdf-schema#label> "Christopher Nolan" .
<http://ex.org/Inception> <http://ex.org/runtime> "148"^^<XSD:integer> .
<http://ex.org/Inception> <http://ex.org/released> "2010-07-16"^^<XSD:date> .
<http://ex.org/Inception> <http://ex.org/rating> "8.8E0"^^<XSD:double> .
<http://ex.org/Inception> <http://ex.org/tiny> "1e-10"^^<XSD:double> .
<http://ex.org/Inception> <http://ex.org/colour> "true"^^<XSD:boolean> .
<http://ex.org/Inception> <http://ex.org/tagline> "Your mind is the scene of the crime"@en .
<http://ex.org/Inception> <http://ex.org/bad_date> "2010-13-45"^^<XSD:date> .
<http://ex.org/Inception> <http://ex.org/won> _:award1 .
_:award1 <http://ex.org/year> "2011"^^<XSD:gYear> .
""".replace("XSD:", XSD)


def count(server: FalkorDB, query: str) -> int:
    return int(server.redis_query(query)[0][0])


def test_tsv_load_counts_progress_and_reload(empty_server: Pair):
    server, driver = empty_server
    seen: list[tuple[int, int]] = []
    report = load_triples(driver, TSV, batch_size=10, progress=lambda a, b: seen.append((a, b)))
    assert (report.triples, report.nodes, report.relationships) == (27, 24, 27)
    assert report.seconds > 0
    size = TSV.stat().st_size
    assert seen[-1] == (size, size)
    assert [a for a, _ in seen] == sorted(a for a, _ in seen)
    assert count(server, "MATCH (n:Entity) RETURN count(n)") == 24
    assert count(server, "MATCH (n:Entity) WHERE n.name = n.id RETURN count(n)") == 24
    again = load_triples(driver, TSV)  # the index exists, MERGE finds everything
    assert (again.triples, again.nodes, again.relationships) == (27, 0, 0)
    assert count(server, "MATCH ()-[r]->() RETURN count(r)") == 27
    indexes = server.redis_query(
        "CALL db.indexes() YIELD label, properties RETURN label, properties"
    )
    assert indexes == [["Entity", ["id"]]]


def test_pipe_separated_gz_with_custom_mapping(empty_server: Pair, tmp_path: Path):
    server, driver = empty_server
    kb = tmp_path / "kb.txt.gz"
    with gzip.open(kb, "wt", encoding="utf-8") as out:
        out.write("# MetaQA style\nKismet|directed_by|William Dieterle\nKismet|release_year|1944\n")
    report = load_triples(driver, kb, id_property="mid", name_property="title", node_label="Film")
    assert (report.triples, report.nodes, report.relationships) == (2, 3, 2)
    kg = Neo4jGraph(driver=driver, id_property="mid", name_property="title", node_label="Film")
    assert kg.neighbors([Hop("Kismet", "directed_by", "out")]) == {
        Hop("Kismet", "directed_by", "out"): ("William Dieterle",)
    }
    assert kg.labels(["1944"]) == {"1944": "1944"}
    assert count(server, "MATCH (n:Film) WHERE n.title IS NOT NULL RETURN count(n)") == 3


@pytest.mark.parametrize("suffix", [".nt", ".nt.gz"])
def test_ntriples_labels_literals_and_blank_nodes(empty_server: Pair, tmp_path: Path, suffix: str):
    _, driver = empty_server
    path = tmp_path / f"film{suffix}"
    if suffix.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(NT)
    else:
        path.write_text(NT, encoding="utf-8")
    report = load_triples(driver, path, batch_size=3)
    assert report.triples == 13
    assert report.relationships == 2
    kg = Neo4jGraph(driver=driver, node_label="Entity", literal_properties="all")
    film, ex = "http://ex.org/Inception", "http://ex.org/"
    assert kg.labels([film, ex + "Nolan", "_:award1"]) == {
        film: "Inception",  # the @fr label is skipped
        ex + "Nolan": "Christopher Nolan",
    }
    keys = ["bad_date", "colour", "rating", "released", "runtime", "tagline", "tiny"]
    got = kg.neighbors([Hop(film, ex + key, "out") for key in keys])
    assert [nodes[0] for nodes in got.values()] == [
        LiteralValue("2010-13-45"),  # not a date: kept as text
        LiteralValue("true", XSD + "boolean"),
        LiteralValue("8.8", XSD + "double"),
        LiteralValue("2010-07-16", XSD + "date"),
        LiteralValue("148", XSD + "integer"),
        LiteralValue("Your mind is the scene of the crime"),
        LiteralValue("1e-10", XSD + "double"),  # floats travel as text: no "%f" rounding
    ]
    assert kg.neighbors([Hop(film, ex + "won", "out")]) == {
        Hop(film, ex + "won", "out"): ("_:award1",)
    }
    year = Hop("_:award1", ex + "year", "out")
    assert kg.neighbors([year]) == {year: (LiteralValue("2011"),)}
    assert load_triples(driver, path).relationships == 0, "blank nodes keep their labels"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\tdirected by\tb\n", "relationship type 'directed by' cannot be loaded"),
        ("a\tdirected`by\tb\n", "cannot be loaded"),
        ("a\tb\n", "expected 3 non-empty fields"),
        ("a\t\tb\n", ":2: expected 3 non-empty fields"),
    ],
)
def test_bad_tsv_lines_stop_the_load(empty_server: Pair, tmp_path: Path, content: str, message):
    _, driver = empty_server
    kb = tmp_path / "kb.tsv"
    kb.write_text("ok\tfine\tyes\n" + content, encoding="utf-8")
    with pytest.raises(KGLoadError, match=message):
        load_triples(driver, kb, sep="\t")


def test_bad_files(empty_server: Pair, tmp_path: Path):
    _, driver = empty_server
    with pytest.raises(KGLoadError, match="no such file"):
        load_triples(driver, tmp_path / "missing.tsv")
    ttl = tmp_path / "kb.ttl"
    ttl.write_text("<a> <b> <c> .\n")
    with pytest.raises(KGLoadError, match=r"unknown extension '\.ttl'"):
        load_triples(driver, ttl)
    nt = tmp_path / "kb.nt"
    nt.write_text("<http://a> <http://b> oops .\n")
    with pytest.raises(KGLoadError, match="invalid N-Triples line"):
        load_triples(driver, nt)
    with pytest.raises(ValueError, match="batch_size"):
        load_triples(driver, nt, batch_size=0)
    with pytest.raises(ValueError, match="node_label"):
        load_triples(driver, nt, node_label="")


def test_a_row_too_large_for_falkordb_is_refused(empty_server: Pair, tmp_path: Path):
    _, driver = empty_server
    kb = tmp_path / "kb.tsv"
    kb.write_text(f"{'x' * 5000}\trel\ty\n", encoding="utf-8")
    with pytest.raises(KGLoadError, match="cannot be sent to this server"):
        load_triples(driver, kb)
