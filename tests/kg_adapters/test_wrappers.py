"""CachedKG forwards only misses; to_async serves a sync adapter from worker threads."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import pytest

from kg_adapters import (
    CachedKG,
    Direction,
    EntityId,
    Hop,
    LiteralValue,
    NetworkXGraph,
    Node,
    RelationId,
    SupportsAsyncEntitySearch,
    SupportsEntitySearch,
    to_async,
)
from kg_adapters.wrappers import CacheInfo

TRIPLES: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("The Dark Knight", "directed_by", "Christopher Nolan"),
    ("Inception", "release_year", LiteralValue("2010")),
]


class RecordingKG:
    """A KnowledgeGraph (without entity search) that logs what it is asked."""

    def __init__(self) -> None:
        self.inner = NetworkXGraph.from_triples(TRIPLES)
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.threads: set[int] = set()

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        self.calls.append(("relations", tuple(entities)))
        self.threads.add(threading.get_ident())
        return self.inner.relations(entities, direction=direction, limit=limit)

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        self.calls.append(("neighbors", tuple(hops)))
        self.threads.add(threading.get_ident())
        return self.inner.neighbors(hops, limit=limit)

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        self.calls.append(("labels", tuple(ids)))
        self.threads.add(threading.get_ident())
        return self.inner.labels(ids)


def test_cache_forwards_only_misses_in_one_batch() -> None:
    fake = RecordingKG()
    kg = CachedKG(fake)
    first = kg.relations(["Inception", "x"], direction="out")
    assert first == {"Inception": ("directed_by", "release_year"), "x": ()}
    second = kg.relations(["x", "Interstellar", "Inception", "Interstellar"], direction="out")
    assert list(second) == ["x", "Interstellar", "Inception"]
    assert second["Inception"] == first["Inception"]
    assert fake.calls == [("relations", ("Inception", "x")), ("relations", ("Interstellar",))]
    assert kg.cache_info() == CacheInfo(hits=2, misses=3, size=3, maxsize=100_000)


def test_cache_keys_include_direction_and_limit() -> None:
    fake = RecordingKG()
    kg = CachedKG(fake)
    kg.relations(["Christopher Nolan"], direction="out")
    assert kg.relations(["Christopher Nolan"], direction="in") == {
        "Christopher Nolan": ("directed_by",)
    }
    assert len(fake.calls) == 2
    hop = Hop("Christopher Nolan", "directed_by", "in")
    full = kg.neighbors([hop])[hop]
    assert kg.neighbors([hop], limit=2)[hop] == full[:2]  # served from the unlimited entry
    assert len(fake.calls) == 3
    kg.clear()
    assert kg.neighbors([hop], limit=2)[hop] == full[:2]
    assert kg.neighbors([hop])[hop] == full  # a limited entry cannot answer an unlimited call
    assert [name for name, _ in fake.calls[3:]] == ["neighbors", "neighbors"]


def test_cache_remembers_absent_labels() -> None:
    fake = RecordingKG()
    kg = CachedKG(fake)
    assert kg.labels(["Inception", "nobody"]) == {"Inception": "Inception"}
    assert kg.labels(["nobody", "Inception", "Interstellar"]) == {
        "Inception": "Inception",
        "Interstellar": "Interstellar",
    }
    assert fake.calls == [("labels", ("Inception", "nobody")), ("labels", ("Interstellar",))]


def test_cache_evicts_least_recently_used() -> None:
    fake = RecordingKG()
    kg = CachedKG(fake, maxsize=2)
    kg.labels(["a"])
    kg.labels(["b"])
    kg.labels(["a"])  # refresh a
    kg.labels(["c"])  # evicts b
    kg.labels(["a", "b"])
    assert fake.calls[-1] == ("labels", ("b",))
    assert kg.cache_info().size == 2
    with pytest.raises(ValueError, match="maxsize"):
        CachedKG(fake, maxsize=0)


def test_cache_keeps_capabilities_truthful() -> None:
    plain = CachedKG(RecordingKG())
    assert not isinstance(plain, SupportsEntitySearch)
    assert not hasattr(plain, "search_entities")
    searchable = CachedKG(NetworkXGraph.from_triples(TRIPLES))
    assert isinstance(searchable, SupportsEntitySearch)
    assert isinstance(searchable, CachedKG)
    assert searchable.search_entities("christopher nolan")[0].id == "Christopher Nolan"
    assert isinstance(CachedKG(searchable), SupportsEntitySearch)


@pytest.mark.anyio
async def test_to_async_runs_calls_in_worker_threads() -> None:
    fake = RecordingKG()
    kg = to_async(fake)
    hop = Hop("Inception", "release_year", "out")
    assert await kg.relations(["Inception"], direction="out") == fake.inner.relations(
        ["Inception"], direction="out"
    )
    assert await kg.neighbors([hop], limit=1) == {hop: (LiteralValue("2010"),)}
    assert await kg.labels(["Inception", "x"]) == {"Inception": "Inception"}
    assert threading.get_ident() not in fake.threads
    assert not isinstance(kg, SupportsAsyncEntitySearch)


@pytest.mark.anyio
async def test_to_async_keeps_entity_search() -> None:
    kg = to_async(CachedKG(NetworkXGraph.from_triples(TRIPLES)))
    assert isinstance(kg, SupportsAsyncEntitySearch)
    matches = await kg.search_entities("inception", limit=1)
    assert [m.id for m in matches] == ["Inception"]
