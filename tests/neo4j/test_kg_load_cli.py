"""``tog kg load ... --into neo4j``, run as users run it (the installed console script), then a
question answered offline over the loaded graph through Neo4jGraph."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import tog
from kg_adapters import Neo4jGraph
from tests.commands import run_tog as run
from tests.neo4j.tiny import TSV
from tests.services import FalkorDB, free_port, need_falkordb

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server() -> Iterator[FalkorDB]:
    need_falkordb()
    with FalkorDB() as falkordb:
        yield falkordb


def test_load_then_answer_offline(server: FalkorDB):
    server.poke()
    done = run("kg", "load", str(TSV), "--into", "neo4j", "--uri", server.bolt_uri)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        rf"27 triples from tiny_kg\.tsv into {re.escape(server.bolt_uri)}: 24 nodes and 27 "
        r"relationships created \(\d+\.\d s\)\n",
        done.stdout,
    )
    assert "loading tiny_kg.tsv" in done.stderr
    server.poke()  # the CLI's driver said GOODBYE: take FalkorDB's stalled next handshake
    with Neo4jGraph(server.bolt_uri, auth=None, connection_acquisition_timeout=1) as kg:
        result = tog.answer("Who directed Inception?", kg=kg)
    assert result.answer == "Christopher Nolan"
    server.poke()
    again = run(
        "kg", "load", str(TSV), "--into", "neo4j", "--uri", server.bolt_uri, "--batch-size", "5"
    )
    assert again.returncode == 0, again.stderr
    assert ": 0 nodes and 0 relationships created" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(TSV), "--into", "neo4j"], "--uri is required with --into neo4j"),
        ([str(TSV), "--into", "memgraph"], "--into must be oxigraph, virtuoso or neo4j"),
        (["/no/such/kb.tsv", "--into", "neo4j", "--uri", "bolt://127.0.0.1:1"], "no such file"),
        ([str(TSV), "--into", "neo4j", "--uri", "http://127.0.0.1:1"], "--uri must look like"),
        ([str(TSV), "--into", "neo4j", "--uri", "UNREACHABLE"], "cannot reach bolt://"),
    ],
)
def test_errors_are_one_line(args: list[str], message: str):
    args = [f"bolt://127.0.0.1:{free_port()}" if a == "UNREACHABLE" else a for a in args]
    done = run("kg", "load", *args)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tog: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_a_bad_file_stops_with_one_error_line(server: FalkorDB, tmp_path: Path):
    kb = tmp_path / "kb.tsv"
    kb.write_text("a\tdirected by\tb\n", encoding="utf-8")
    server.poke()
    done = run("kg", "load", str(kb), "--into", "neo4j", "--uri", server.bolt_uri)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]  # after the progress bar's label
    assert last.startswith("tog: error: ")
    assert "relationship type 'directed by' cannot be loaded" in last
    assert "Traceback" not in done.stderr
    server.poke()
