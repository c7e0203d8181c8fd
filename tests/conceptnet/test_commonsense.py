"""A commonsense question answered offline over a small ConceptNet dump of our own."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import tog
from kg_adapters import ConceptNetGraph, Hop
from tests.conceptnet_api import ConceptNetAPIServer

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "conceptnet_commonsense.csv"


def fixture_rows() -> list[tuple[str, str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as stream:
        return [
            (rel, start, end)
            for _, rel, start, end, _ in csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]


def capable_of(node: str) -> set[str]:
    return {end for rel, start, end in fixture_rows() if rel == "/r/CapableOf" and start == node}


@pytest.mark.parametrize("languages", [("en",), None])
def test_what_is_a_dog_capable_of(tmp_path: Path, languages: tuple[str, ...] | None) -> None:
    with ConceptNetGraph.from_dump(
        FIXTURE, languages=languages, index_path=tmp_path / "cs.db"
    ) as kg:
        result = tog.answer("What is a dog capable of?", kg=kg)
    assert result.topic_entities == {"/c/en/dog": "dog"}
    assert result.answer_ids
    assert set(result.answer_ids) <= capable_of("/c/en/dog")
    assert result.answer in {"bark", "fetch sticks", "guard a house"}
    path = result.paths[0]
    assert [(t.subject, t.relation) for t in path.triples] == [("/c/en/dog", "/r/CapableOf")]
    assert path.end in capable_of("/c/en/dog")


@pytest.mark.server
def test_the_same_question_over_the_api() -> None:
    records = [{"rel": rel, "start": start, "end": end} for rel, start, end in fixture_rows()]
    with (
        ConceptNetAPIServer(records) as server,
        ConceptNetGraph.from_api(server.url, languages=("en",)) as kg,
    ):
        result = tog.answer("What is a dog capable of?", kg=kg)
    assert set(result.answer_ids) <= capable_of("/c/en/dog")
    assert result.paths[0].triples[0].relation == "/r/CapableOf"


def test_where_is_a_cat_found(tmp_path: Path) -> None:
    with ConceptNetGraph.from_dump(FIXTURE, index_path=tmp_path / "cs.db") as kg:
        hop = Hop("/c/en/cat", "/r/AtLocation", "out")
        (record,) = kg.edges([hop])[hop]
        assert record.node == "/c/en/house"
        assert record.surface_text == "*Something you find in [[a house]] is [[a cat]]"
        assert kg.labels(["/r/AtLocation", "/c/en/climb_trees"]) == {
            "/r/AtLocation": "at location",
            "/c/en/climb_trees": "climb trees",
        }
        # ExternalURL edges end at web pages: never nodes.
        assert kg.stats.dropped["not_concept"] == 1


@pytest.mark.anyio
async def test_async_answer_runs_the_sqlite_graph_in_threads(tmp_path: Path) -> None:
    with ConceptNetGraph.from_dump(FIXTURE, index_path=tmp_path / "cs.db") as kg:
        result = await tog.aanswer("What is a dog capable of?", kg=kg)
    assert set(result.answer_ids) <= capable_of("/c/en/dog")
