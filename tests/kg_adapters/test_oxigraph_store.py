"""OxigraphSource: loading files, on-disk stores, the RocksDB lock, and SPARQL-JSON parity."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kg_adapters.base import LiteralValue
from kg_adapters.errors import KGLoadError, KGQueryError
from kg_adapters.oxigraph_store import OxigraphSource
from kg_adapters.sparql_http import SPARQLEndpoint

pyoxigraph = pytest.importorskip("pyoxigraph")

NS = "http://rdf.freebase.com/ns/"
XSD = "http://www.w3.org/2001/XMLSchema#"
FILM = f"{NS}m.0inception"
NOLAN = f"{NS}m.0nolan"

NT = f"""<{FILM}> <{NS}type.object.name> "Inception"@en .
<{FILM}> <{NS}film.film.directed_by> <{NOLAN}> .
<{FILM}> <{NS}film.film.initial_release_date> "2010-07-16"^^<{XSD}date> .
<{FILM}> <{NS}film.film.runtime> "148"^^<{XSD}integer> .
<{NOLAN}> <{NS}type.object.name> "Christopher Nolan"@en .
"""
TTL = f"""@prefix ns: <{NS}> .
@prefix xsd: <{XSD}> .
ns:m.0inception ns:type.object.name "Inception"@en ;
    ns:film.film.directed_by ns:m.0nolan ;
    ns:film.film.initial_release_date "2010-07-16"^^xsd:date ;
    ns:film.film.runtime 148 .
ns:m.0nolan ns:type.object.name "Christopher Nolan"@en .
"""
RDF_XML = f"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ns="{NS}">
  <rdf:Description rdf:about="{FILM}">
    <ns:film.film.directed_by rdf:resource="{NOLAN}"/>
  </rdf:Description>
</rdf:RDF>
"""
FACTS = f"SELECT ?p ?o WHERE {{ <{FILM}> ?p ?o }} ORDER BY ?p ?o"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    nt = tmp_path / "kg.nt"
    nt.write_text(NT, encoding="utf-8")
    ttl = tmp_path / "kg.ttl"
    ttl.write_text(TTL, encoding="utf-8")
    gz = tmp_path / "kg.nt.gz"
    gz.write_bytes(gzip.compress(NT.encode()))
    nq = tmp_path / "kg.nq"
    nq.write_text(f"<{FILM}> <{NS}film.film.directed_by> <{NOLAN}> <http://g/1> .\n")
    rdf = tmp_path / "kg.rdf"
    rdf.write_text(RDF_XML, encoding="utf-8")
    return {"nt": nt, "ttl": ttl, "nt.gz": gz, "nq": nq, "rdf": rdf}


@pytest.mark.parametrize("kind", ["nt", "ttl", "nt.gz"])
def test_load_counts_and_typed_literals(files: dict[str, Path], kind: str, tmp_path: Path) -> None:
    with OxigraphSource(tmp_path / "db") as source:
        source.load(files[kind])
        assert source.triple_count() == 5
        rows = source.select(FACTS).rows
    values = {row["p"]: row["o"] for row in rows}
    assert values[f"{NS}film.film.runtime"] == LiteralValue("148", f"{XSD}integer")
    assert values[f"{NS}film.film.initial_release_date"] == LiteralValue("2010-07-16", f"{XSD}date")
    assert values[f"{NS}type.object.name"] == LiteralValue("Inception", None, "en")
    assert values[f"{NS}film.film.directed_by"] == NOLAN


def test_nquads_and_rdfxml_in_memory(files: dict[str, Path]) -> None:
    source = OxigraphSource()
    source.load(files["nq"])
    source.load(files["rdf"])
    assert source.triple_count() == 2  # one triple, in a named graph and in the default graph
    rows = source.select(f"SELECT DISTINCT ?d WHERE {{ <{FILM}> ?p ?d }}").rows
    assert rows == [{"d": NOLAN}]  # the named graph is part of the queried default graph
    source.close()


def test_format_keyword_overrides_the_extension(files: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "kg.data"
    odd.write_text(TTL, encoding="utf-8")
    with OxigraphSource() as source:
        source.load(odd, format="turtle")
        assert source.triple_count() == 5


def test_reopen_read_only(files: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "db"
    with OxigraphSource(folder) as writer:
        writer.load(files["nt"])
    with OxigraphSource(folder, read_only=True) as reader:
        assert reader.triple_count() == 5
        assert len(reader.select(FACTS).rows) == 4
        with pytest.raises(ValueError, match="read-only"):
            reader.load(files["ttl"])
    with OxigraphSource(folder) as again:  # the lock was released by close()
        assert again.triple_count() == 5


def test_second_writer_gets_a_lock_error(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    with OxigraphSource(folder), pytest.raises(KGLoadError, match="is locked") as info:
        OxigraphSource(folder)
    assert "read_only=True" in str(info.value)
    assert info.value.adapter == "oxigraph"
    assert isinstance(info.value.__cause__, OSError)


def test_writer_in_another_process_gets_a_lock_error(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    child = (
        "import sys\n"
        "from kg_adapters.errors import KGLoadError\n"
        "from kg_adapters.oxigraph_store import OxigraphSource\n"
        "try:\n"
        "    OxigraphSource(sys.argv[1])\n"
        "except KGLoadError as exc:\n"
        "    print(exc)\n"
    )
    with OxigraphSource(folder):
        result = subprocess.run(
            [sys.executable, "-c", child, str(folder)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    assert "is locked" in result.stdout


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(KGLoadError, match="no Oxigraph store"):
        OxigraphSource(tmp_path / "missing", read_only=True)
    with pytest.raises(ValueError, match="path"):
        OxigraphSource(read_only=True)


def test_bad_files_are_load_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nt"
    broken.write_text(f"<{FILM}> <{NS}p> <unterminated .\n", encoding="utf-8")
    broken_gz = tmp_path / "broken.ttl.gz"
    broken_gz.write_bytes(gzip.compress(b"@prefix : <x> . :a :b "))
    not_gz = tmp_path / "plain.nt.gz"
    not_gz.write_text(NT, encoding="utf-8")
    unknown = tmp_path / "kg.csv"
    unknown.write_text("a,b,c\n", encoding="utf-8")
    with OxigraphSource() as source:
        with pytest.raises(KGLoadError, match=r"cannot parse .*broken\.nt as N-Triples: "):
            source.load(broken)
        with pytest.raises(KGLoadError, match=r"cannot parse .*broken\.ttl\.gz as Turtle: "):
            source.load(broken_gz)
        with pytest.raises(KGLoadError, match=r"plain\.nt\.gz"):
            source.load(not_gz)
        with pytest.raises(KGLoadError, match="no such file"):
            source.load(tmp_path / "absent.ttl")
        with pytest.raises(KGLoadError, match=r"unknown RDF file extension '\.csv'"):
            source.load(unknown)
        with pytest.raises(KGLoadError, match="unknown RDF format 'jsonl'"):
            source.load(unknown, format="jsonl")
        assert source.triple_count() == 0


def test_select_refuses_updates_and_reports_syntax_errors(files: dict[str, Path]) -> None:
    with OxigraphSource() as source:
        source.load(files["nt"])
        with pytest.raises(ValueError, match="refusing"):
            source.select(f"DELETE WHERE {{ <{FILM}> ?p ?o }}")
        with pytest.raises(ValueError, match="SELECT queries"):
            source.select("ASK { ?s ?p ?o }")
        with pytest.raises(KGQueryError, match="Oxigraph rejected the query") as info:
            source.select("SELECT * WHERE { ?s ?p }")
        assert info.value.query == "SELECT * WHERE { ?s ?p }"
        assert info.value.detail
        assert source.triple_count() == 5
    with pytest.raises(ValueError, match="closed"):
        source.select(FACTS)


def test_same_bindings_as_the_http_path(files: dict[str, Path]) -> None:
    source = OxigraphSource()
    source.load(files["nt"])
    store = pyoxigraph.Store()
    store.bulk_load(path=str(files["nt"]), format=pyoxigraph.RdfFormat.N_TRIPLES)

    def handler(request: httpx.Request) -> httpx.Response:
        query = httpx.QueryParams(request.content.decode())["query"]
        body = store.query(query).serialize(format=pyoxigraph.QueryResultsFormat.JSON)
        return httpx.Response(200, json=json.loads(body))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        remote = SPARQLEndpoint("http://127.0.0.1:7878/query", client=client).select(FACTS)
    assert source.select(FACTS) == remote
    source.close()


@pytest.mark.parametrize("compressed", [False, True])
def test_load_reports_progress_in_file_bytes(tmp_path, compressed: bool) -> None:
    lines = "".join(f"<http://x/s{i}> <http://x/p> <http://x/o{i}> .\n" for i in range(5000))
    path = tmp_path / ("big.nt.gz" if compressed else "big.nt")
    if compressed:
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")
    seen: list[tuple[int, int]] = []
    with OxigraphSource() as store:
        store.load(path, progress=lambda read, total: seen.append((read, total)))
        assert store.triple_count() == 5000
    size = path.stat().st_size
    assert seen, "progress was reported"
    assert all(total == size for _, total in seen)
    assert [read for read, _ in seen] == sorted(read for read, _ in seen)
    assert seen[-1][0] == size
