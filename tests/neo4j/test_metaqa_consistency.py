"""One graph, two stores: MetaQA's KB in Neo4j (over Bolt) and in memory answers alike.

`tog kg load`'s loader puts ``../shared/data/metaqa/kb.txt`` (129,650 triples) into a FalkorDB
server; `load_graph` reads the same file into a `NetworkXGraph`. The offline agent then answers
200 MetaQA questions (1, 2 and 3 hops, spread over each file) on both, with the dataset's topic
entities and with the graph's own linking: answers, reasoning paths, stop reasons and the KG
calls made must be identical, question by question.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tog
from eval.datasets import Question, read_metaqa
from kg_adapters import Neo4jGraph, NetworkXGraph, load_graph
from kg_adapters.neo4j_load import load_triples
from tests.services import FalkorDB, need_falkordb
from tests.shared_data import DATA, require

pytestmark = [pytest.mark.server, pytest.mark.slow]

METAQA = DATA / "metaqa"
PER_HOP = {1: 67, 2: 67, 3: 66}  # 200 questions


def spread(path: Any, hops: int, n: int) -> list[Question]:
    questions = list(read_metaqa(path, hops=hops))
    step = len(questions) / n
    return [questions[int(k * step)] for k in range(n)]


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    chosen: list[Question] = []
    for hops, n in PER_HOP.items():
        chosen += spread(require(METAQA / f"{hops}-hop" / "qa_test.txt"), hops, n)
    return chosen


@pytest.fixture(scope="module")
def in_memory() -> NetworkXGraph:
    return load_graph(require(METAQA / "kb.txt"))


@pytest.fixture(scope="module")
def in_neo4j() -> Iterator[Neo4jGraph]:
    kb = require(METAQA / "kb.txt")
    need_falkordb()
    with FalkorDB() as server:
        driver = server.driver()
        try:
            report = load_triples(driver, kb)
            assert report.triples == report.relationships == 129_650
            with Neo4jGraph(driver=driver, node_label="Entity", names_from_ids=True) as kg:
                yield kg
        finally:
            driver.close()


def summary(result: tog.Result) -> dict[str, object]:
    return {
        "answers": result.answers,
        "paths": [(p.topic, p.triples, round(p.score, 9)) for p in result.paths],
        "stop": result.stop_reason,
        "source": result.answer_source,
        "kg_calls": result.usage.kg_calls,
        "topics": dict(result.topic_entities),
    }


@pytest.mark.parametrize("linking", ["oracle", "linked"])
def test_metaqa_answers_and_paths_are_identical(
    questions: list[Question], in_memory: NetworkXGraph, in_neo4j: Neo4jGraph, linking: str
) -> None:
    memory_agent = tog.ThinkOnGraph(in_memory, None)
    neo4j_agent = tog.ThinkOnGraph(in_neo4j, None)
    answered = correct = 0
    for question in questions:
        topics = list(question.topic_entities) if linking == "oracle" else None
        expected = memory_agent.run(question.text, topic_entities=topics)
        got = neo4j_agent.run(question.text, topic_entities=topics)
        assert summary(got) == summary(expected), question.id
        answered += bool(expected.answers)
        correct += bool(set(expected.answers[:1]) & set(question.answers))
    # Not a vacuous comparison: the agent reaches answers, most of them right, on both stores.
    assert answered >= 190
    assert correct >= 120


def test_the_sample_covers_every_hop_count(questions: list[Question]) -> None:
    assert [q.hops for q in questions] == [1] * 67 + [2] * 67 + [3] * 66
    assert len({q.id for q in questions}) == 200
    assert all(q.topic_entities for q in questions)
