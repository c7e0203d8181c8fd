"""``tog kg check / stats / load`` and `check_graph` against real stores, healthy and broken."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg_adapters.freebase import FreebaseGraph
from kg_adapters.health import check_graph
from kg_adapters.sparql import FREEBASE, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint
from tests.services import (
    FREEBASE_GRAPH,
    OxigraphServer,
    Virtuoso,
    need_oxigraph,
    need_virtuoso,
    sparql_json,
)

pytestmark = pytest.mark.server

TOG = Path(sys.executable).parent / "tog"
NAME = "<http://rdf.freebase.com/ns/type.object.name>"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _tog(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOG), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _triples(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("<"))


def _count(endpoint: str, default_graph: str | None = None) -> int:
    result, _ = sparql_json(endpoint, COUNT, default_graph=default_graph)
    return int(result["results"]["bindings"][0]["n"]["value"])


@pytest.fixture(scope="module")
def nameless_dump(freebase_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """slice.nt minus every type.object.name triple: a broken dump."""
    target = tmp_path_factory.mktemp("broken") / "nameless.nt"
    lines = freebase_slice.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if NAME not in line]
    assert len(kept) < len(lines)
    target.write_text("".join(kept), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def oxigraph_nameless(nameless_dump: Path) -> Iterator[OxigraphServer]:
    need_oxigraph()
    with OxigraphServer([nameless_dump]) as server:
        yield server


# -- tog kg check ----------------------------------------------------------------------------------


def _lines(text: str) -> dict[str, str]:
    """``{check name: status}`` from the check table (``ok`` or ``FAIL``)."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(ok|FAIL)\s+(.+?)\s{2,}", line)
        if match:
            found[match.group(2).strip()] = match.group(1)
    return found


@pytest.mark.parametrize("graph", [None, FREEBASE_GRAPH])
def test_check_passes_on_the_virtuoso_slice(virtuoso_freebase: Virtuoso, graph: str | None) -> None:
    args = ["kg", "check", virtuoso_freebase.sparql_url, "--profile", "freebase"]
    done = _tog(*args, *(["--graph", graph] if graph else []))
    assert done.returncode == 0, done.stdout + done.stderr
    status = _lines(done.stdout)
    assert status == {
        "reachable": "ok",
        "triples": "ok",
        "relation type.object.name": "ok",
        "names": "ok",
        "latency": "ok",
    }, done.stdout
    assert "FAIL" not in done.stdout
    assert "error" not in done.stderr.lower()


def test_check_fails_on_a_dump_without_names(oxigraph_nameless: OxigraphServer) -> None:
    done = _tog("kg", "check", oxigraph_nameless.query_url, "--profile", "freebase")
    assert done.returncode != 0
    status = _lines(done.stdout)
    assert status["relation type.object.name"] == "FAIL"
    assert status["names"] == "FAIL"
    assert status["reachable"] == status["triples"] == "ok"
    assert "unhealthy KG" in done.stderr
    assert "relation type.object.name" in done.stderr
    assert "names:" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_reports_an_unreachable_endpoint() -> None:
    from tests.services import free_port

    done = _tog("kg", "check", f"http://127.0.0.1:{free_port()}/sparql", "--profile", "freebase")
    assert done.returncode != 0
    assert "reachable" in done.stderr
    assert "Traceback" not in done.stderr


# -- check_graph directly --------------------------------------------------------------------------


def test_check_graph_on_healthy_and_broken_stores(
    virtuoso_freebase: Virtuoso, oxigraph_nameless: OxigraphServer, freebase_slice: Path
) -> None:
    with FreebaseGraph(virtuoso_freebase.sparql_url, graph=FREEBASE_GRAPH) as healthy:
        report = check_graph(healthy, sample=30)
    assert report.ok, report.failures()
    assert report.triples == _count(virtuoso_freebase.sparql_url, FREEBASE_GRAPH)
    assert report.name_coverage is not None
    assert report.name_coverage >= 0.5
    assert report.latency_ms is not None
    assert report.latency_ms > 0

    with SPARQLEndpoint(oxigraph_nameless.query_url) as endpoint:
        broken = check_graph(SPARQLGraph(endpoint, FREEBASE), sample=30)
    assert not broken.ok
    assert {c.name for c in broken.failures()} == {"relation type.object.name", "names"}
    assert broken.name_coverage == 0.0
    names = _triples(freebase_slice) - _triples(Path(str(oxigraph_nameless.files[0])))
    assert broken.triples == _triples(freebase_slice) - names


def test_check_graph_on_an_empty_store() -> None:
    need_oxigraph()
    with (
        OxigraphServer([], read_only=False) as server,
        SPARQLEndpoint(server.query_url) as endpoint,
    ):
        report = check_graph(SPARQLGraph(endpoint, FREEBASE))
    assert not report.ok
    failed = {c.name for c in report.failures()}
    assert {"triples", "relation type.object.name", "names"} <= failed


# -- tog kg stats ----------------------------------------------------------------------------------


def test_stats_prints_the_triple_count(virtuoso_freebase: Virtuoso) -> None:
    args = ["kg", "stats", virtuoso_freebase.sparql_url, "--graph", FREEBASE_GRAPH]
    done = _tog(*args)
    assert done.returncode == 0, done.stderr
    expected = _count(virtuoso_freebase.sparql_url, FREEBASE_GRAPH)
    match = re.search(r"^triples\s+([\d,]+)$", done.stdout, re.M)
    assert match, done.stdout
    assert int(match.group(1).replace(",", "")) == expected
    assert "type.object.name" in done.stdout


# -- tog kg load -----------------------------------------------------------------------------------


def test_load_into_oxigraph_then_ask(freebase_slice: Path, tmp_path: Path) -> None:
    location = tmp_path / "store"
    done = _tog(
        "kg", "load", str(freebase_slice), "--into", "oxigraph", "--location", str(location)
    )
    assert done.returncode == 0, done.stderr
    assert re.search(rf"^{_triples(freebase_slice):,} triples in ", done.stdout, re.M), done.stdout
    check = _tog("kg", "check", str(location), "--profile", "freebase")
    assert check.returncode == 0, check.stdout + check.stderr
    # Santo Domingo (m.0fthl) is a CWQ topic entity in the slice.
    asked = _tog(
        "ask",
        "Santo Domingo is the capital of the country with what currency?",
        "--kg",
        f"oxigraph+freebase:{location}",
        "--topic",
        "m.0fthl",
        "--json",
    )
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout)
    assert result["topic_entities"] == {"m.0fthl": "Santo Domingo"}
    assert result["answer"]
    assert result["usage"]["kg_calls"] > 0


@pytest.fixture
def fresh_virtuoso() -> Iterator[Virtuoso]:
    need_virtuoso()
    with Virtuoso() as server:
        yield server


def test_load_into_virtuoso_with_isql(fresh_virtuoso: Virtuoso, freebase_slice: Path) -> None:
    staging = fresh_virtuoso.data_dir / "staging"
    staging.mkdir(parents=True)
    assert _count(fresh_virtuoso.sparql_url, FREEBASE_GRAPH) == 0
    done = _tog(
        "kg",
        "load",
        str(freebase_slice),
        "--into",
        "virtuoso",
        "--isql",
        f"127.0.0.1:{fresh_virtuoso.sql_port}",
        "--staging",
        str(staging),
        "--graph",
        FREEBASE_GRAPH,
    )
    loaded = _count(fresh_virtuoso.sparql_url, FREEBASE_GRAPH)
    assert loaded == _triples(freebase_slice)  # every triple arrived ...
    assert done.returncode == 0, done.stdout + done.stderr  # ... and the command says so
    assert f"into {FREEBASE_GRAPH}" in done.stdout
    check = _tog("kg", "check", fresh_virtuoso.sparql_url, "--graph", FREEBASE_GRAPH)
    assert check.returncode == 0, check.stdout + check.stderr
