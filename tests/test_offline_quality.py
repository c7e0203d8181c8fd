"""Offline mode must be genuinely useful: accuracy floors on real benchmark data, no LLM.

These are quality checks, not speed checks (speed lives in ``benchmarks/``). Samples are spread
over each whole file, with gold topic entities.
"""

from __future__ import annotations

import pytest

import tog
from eval.datasets import Question, read_metaqa, read_pathquestion
from eval.metrics import hits_at_1
from kg_adapters import load_graph
from tests.shared_data import DATA, require

PQ = DATA / "pathquestion" / "PathQuestion"
METAQA = DATA / "metaqa"


def spread(questions: list[Question], n: int) -> list[Question]:
    step = len(questions) / n
    return [questions[int(k * step)] for k in range(n)]


def hits(kb, questions: list[Question]) -> float:
    agent = tog.ThinkOnGraph(load_graph(require(kb)), None)
    scores = [
        hits_at_1(agent.run(q.text, topic_entities=list(q.topic_entities)).answers, q.answers)
        for q in questions
    ]
    return sum(scores) / len(scores)


@pytest.mark.slow
def test_pathquestion_2h_offline_hits_at_1():
    questions = spread(list(read_pathquestion(require(PQ / "PQ-2H.txt"))), 300)
    assert hits(PQ / "2H-kb.txt", questions) >= 0.80


@pytest.mark.slow
def test_metaqa_1hop_offline_hits_at_1():
    questions = spread(list(read_metaqa(require(METAQA / "1-hop" / "qa_test.txt"), hops=1)), 200)
    assert hits(METAQA / "kb.txt", questions) >= 0.85


def test_readers_parse_the_real_files():
    pq = list(read_pathquestion(require(PQ / "PQ-2H.txt")))
    assert len(pq) == 1908
    assert all(q.topic_entities[0].replace("_", " ") in q.text.replace("_", " ") for q in pq)
    assert pq[0].hops == 2
    metaqa = list(read_metaqa(require(METAQA / "2-hop" / "qa_test.txt"), hops=2))
    assert len(metaqa) == 14872
    assert all("[" not in q.text and q.topic_entities for q in metaqa)
