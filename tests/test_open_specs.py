"""`open_graph` and `tog ask --kg` reach Neo4j and ConceptNet through one string."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg_adapters import ConceptNetAPIGraph, ConceptNetGraph, Hop, Neo4jGraph
from kg_adapters.opening import is_graph_spec, open_graph
from tests.neo4j.tiny import tiny_server
from tests.services import FalkorDB

COMMONSENSE = Path(__file__).resolve().parent / "fixtures" / "conceptnet_commonsense.csv"
TOG = Path(sys.executable).with_name("tog")


@pytest.fixture(scope="module")
def tiny_bolt() -> Iterator[tuple[FalkorDB, Any]]:
    with tiny_server("tsv") as pair:
        yield pair


@pytest.mark.parametrize(
    "spec",
    [
        "bolt://h:1",
        "bolt+s://h",
        "neo4j://h",
        "neo4j+ssc://h",
        "conceptnet:x.csv",
        "conceptnet+en:x",
    ],
)
def test_store_specs_are_recognised(spec: str) -> None:
    assert is_graph_spec(spec)


def test_bolt_spec_without_host_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no host"):
        open_graph("bolt://")


@pytest.mark.server
def test_bolt_spec_opens_a_neo4j_graph_with_options(tiny_bolt: tuple[FalkorDB, Any]) -> None:
    server, _ = tiny_bolt
    kg = open_graph(f"{server.bolt_uri}?node_label=Entity&id_property=id")
    assert isinstance(kg, Neo4jGraph)
    try:
        hop = Hop("Inception", "directed_by", "out")
        assert kg.neighbors([hop]) == {hop: ("Christopher Nolan",)}
    finally:
        kg.close()


@pytest.mark.server
def test_tog_ask_over_bolt(tiny_bolt: tuple[FalkorDB, Any]) -> None:
    server, _ = tiny_bolt
    done = subprocess.run(
        [
            str(TOG),
            "ask",
            "Who directed Inception?",
            "--kg",
            f"{server.bolt_uri}?node_label=Entity",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Answer: Christopher Nolan"


def test_conceptnet_spec_builds_the_index_and_keeps_languages(tmp_path: Path) -> None:
    dump = tmp_path / "assertions.csv"
    shutil.copyfile(COMMONSENSE, dump)
    kg = open_graph(f"conceptnet+en:{dump}")
    assert isinstance(kg, ConceptNetGraph)
    try:
        hop = Hop("/c/en/dog", "/r/CapableOf", "out")
        assert "/c/en/bark" in kg.neighbors([hop])[hop]
    finally:
        kg.close()
    assert list(tmp_path.glob("assertions.csv.en.sqlite"))


def test_conceptnet_spec_with_a_url_is_the_api() -> None:
    kg = open_graph("conceptnet:http://127.0.0.1:9")
    assert isinstance(kg, ConceptNetAPIGraph)
    kg.close()


def test_tog_ask_on_conceptnet(tmp_path: Path) -> None:
    dump = tmp_path / "assertions.csv"
    shutil.copyfile(COMMONSENSE, dump)
    done = subprocess.run(
        [str(TOG), "ask", "What is a dog capable of?", "--kg", f"conceptnet+en:{dump}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Answer: bark"
