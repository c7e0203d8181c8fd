"""Wrappers composing around any adapter: `CachedKG` (LRU caches), `to_async` (worker threads).

Both keep optional capabilities visible to ``isinstance``: a wrapper offers ``search_entities``
exactly when the wrapped adapter does, so capability checks see through the wrapper.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import anyio
import anyio.to_thread

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    Direction,
    EntityId,
    EntityMatch,
    Hop,
    KnowledgeGraph,
    Node,
    RelationId,
    SupportsDescribe,
    SupportsEntitySearch,
    SupportsMentions,
)

__all__ = ["CacheInfo", "CachedKG", "to_async"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
_T = TypeVar("_T", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of a `CachedKG`, per requested key (an entity, a hop or an id).

    Attributes:
        hits: Keys answered from the cache.
        misses: Keys forwarded to the wrapped adapter.
        size: Entries currently held, over the three caches.
        maxsize: Capacity of each cache.
    """

    hits: int
    misses: int
    size: int
    maxsize: int


class _LRU(Generic[_K, _V]):
    """A least-recently-used map; callers hold the owner's lock."""

    __slots__ = ("_data", "_maxsize")

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[_K, _V] = OrderedDict()
        self._maxsize = maxsize

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: _K) -> bool:
        return key in self._data

    def get(self, key: _K) -> _V:
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: _K, value: _V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()


class CachedKG:
    """A `KnowledgeGraph` that remembers answers: relations, neighbours and labels.

    Relations are cached per ``(entity, direction, limit)``, neighbours per ``(hop, limit)`` and
    labels per id (a missing label is remembered as missing). A call forwards only the keys it has
    not seen, in one batched call; a limited request is also answered from a cached unlimited one.
    Each of the three caches holds at most ``maxsize`` entries, least recently used first out.
    Thread-safe; concurrent misses on one key may both be forwarded.

    ``CachedKG(kg)`` returns an instance that also has ``search_entities`` (forwarded, uncached)
    exactly when ``kg`` supports `SupportsEntitySearch`, so ``isinstance`` checks stay truthful.

    >>> from kg_adapters.nx_graph import NetworkXGraph
    >>> kg = CachedKG(NetworkXGraph.from_triples([("Inception", "directed_by", "Nolan")]))
    >>> _ = kg.labels(["Nolan", "nobody"]); _ = kg.labels(["Nolan", "nobody"])
    >>> kg.cache_info()
    CacheInfo(hits=2, misses=2, size=2, maxsize=100000)
    """

    def __new__(cls, kg: KnowledgeGraph, *, maxsize: int = 100_000) -> CachedKG:
        """Pick the variant with ``search_entities`` when ``kg`` supports entity search."""
        if cls is CachedKG and isinstance(kg, SupportsEntitySearch):
            return super().__new__(_SearchableCachedKG)
        return super().__new__(cls)

    def __init__(self, kg: KnowledgeGraph, *, maxsize: int = 100_000) -> None:
        """Wrap an adapter.

        Args:
            kg: The adapter to cache.
            maxsize: Entries kept per cache (relations, neighbours, labels).

        Raises:
            ValueError: If ``maxsize`` is below 1.
        """
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._kg = kg
        self._maxsize = maxsize
        self._relations: _LRU[tuple[EntityId, Direction, int | None], tuple[RelationId, ...]]
        self._relations = _LRU(maxsize)
        self._neighbors: _LRU[tuple[Hop, int | None], tuple[Node, ...]] = _LRU(maxsize)
        self._labels: _LRU[str, str | None] = _LRU(maxsize)
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()
        _pass_mentions(self, kg)

    @property
    def inner(self) -> KnowledgeGraph:
        """The wrapped adapter."""
        return self._kg

    def __repr__(self) -> str:
        return f"CachedKG({self._kg!r}, maxsize={self._maxsize})"

    def cache_info(self) -> CacheInfo:
        """Hit and miss counters and the cache size.

        Returns:
            A snapshot of the counters.
        """
        with self._lock:
            size = len(self._relations) + len(self._neighbors) + len(self._labels)
            return CacheInfo(self._hits, self._misses, size, self._maxsize)

    def clear(self) -> None:
        """Empty the caches and reset the counters."""
        with self._lock:
            self._relations.clear()
            self._neighbors.clear()
            self._labels.clear()
            self._hits = self._misses = 0

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`; only uncached entities are forwarded.

        Args:
            entities: Entity ids.
            direction: ``"out"`` or ``"in"``.
            limit: At most this many relations per entity.

        Returns:
            A tuple per requested id.
        """
        return self._through(
            self._relations,
            entities,
            lambda entity: (entity, direction, limit),
            lambda missing: self._kg.relations(missing, direction=direction, limit=limit),
            (),
            unlimited=None if limit is None else lambda entity: (entity, direction, None),
            truncate=lambda found: found[:limit],
        )

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`; only uncached hops are forwarded.

        Args:
            hops: ``(entity, relation, direction)`` steps.
            limit: At most this many nodes per hop.

        Returns:
            A tuple per requested hop.
        """
        return self._through(
            self._neighbors,
            hops,
            lambda hop: (hop, limit),
            lambda missing: self._kg.neighbors(missing, limit=limit),
            (),
            unlimited=None if limit is None else lambda hop: (hop, None),
            truncate=lambda found: found[:limit],
        )

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`; only uncached ids are forwarded, absences are cached.

        Args:
            ids: Entity or relation ids.

        Returns:
            ``{id: label}`` for the ids that have one.
        """
        found = self._through(
            self._labels,
            ids,
            lambda entity: entity,
            lambda missing: self._kg.labels(missing),
            None,
        )
        return {entity: label for entity, label in found.items() if label is not None}

    def _through(
        self,
        cache: _LRU[_K, _V],
        items: Sequence[_T],
        key: Callable[[_T], _K],
        fetch: Callable[[list[_T]], Mapping[_T, _V]],
        absent: _V,
        *,
        unlimited: Callable[[_T], _K] | None = None,
        truncate: Callable[[_V], _V] | None = None,
    ) -> dict[_T, _V]:
        """Answer ``items`` from ``cache``, forwarding the misses to ``fetch`` in one call.

        ``unlimited`` gives the key of the same request without a limit; a value cached there is
        cut down with ``truncate``.
        """
        found: dict[_T, _V] = {}
        missing: list[_T] = []
        with self._lock:
            for item in dict.fromkeys(items):
                exact = key(item)
                if exact in cache:
                    found[item] = cache.get(exact)
                elif unlimited is not None and truncate is not None and unlimited(item) in cache:
                    found[item] = truncate(cache.get(unlimited(item)))
                else:
                    missing.append(item)
            self._hits += len(found)
            self._misses += len(missing)
        if missing:
            fetched = fetch(missing)
            with self._lock:
                for item in missing:
                    value = fetched.get(item, absent)
                    cache.put(key(item), value)
                    found[item] = value
        return {item: found[item] for item in items}


class _SearchableCachedKG(CachedKG):
    """A `CachedKG` whose wrapped adapter supports entity search (forwarded, not cached)."""

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """See `SupportsEntitySearch.search_entities`."""
        return cast(SupportsEntitySearch, self._kg).search_entities(text, limit=limit)


def to_async(
    kg: KnowledgeGraph, *, limiter: anyio.CapacityLimiter | None = None
) -> AsyncKnowledgeGraph:
    """Serve a synchronous in-process adapter to async code, one worker thread per call.

    The result also has an async ``search_entities`` exactly when ``kg`` supports entity search.
    The adapter must tolerate calls from several threads (the in-memory adapters and `CachedKG` do).

    Args:
        kg: The synchronous adapter.
        limiter: Caps concurrent worker threads; anyio's default limiter (40 threads) when ``None``.

    Returns:
        An `AsyncKnowledgeGraph` with the same answers.
    """
    if isinstance(kg, SupportsEntitySearch):
        return _SearchableThreadedKG(kg, limiter)
    return _ThreadedKG(kg, limiter)


class _ThreadedKG:
    """`AsyncKnowledgeGraph` running each call of a sync adapter in a worker thread."""

    def __init__(self, kg: KnowledgeGraph, limiter: anyio.CapacityLimiter | None) -> None:
        self._kg = kg
        self._limiter = limiter
        _pass_mentions(self, kg)

    def __repr__(self) -> str:
        return f"to_async({self._kg!r})"

    async def _run(self, call: Callable[[], _V]) -> _V:
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`."""
        call = functools.partial(
            self._kg.relations, tuple(entities), direction=direction, limit=limit
        )
        return await self._run(call)

    async def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`."""
        return await self._run(functools.partial(self._kg.neighbors, tuple(hops), limit=limit))

    async def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`."""
        return await self._run(functools.partial(self._kg.labels, tuple(ids)))


class _SearchableThreadedKG(_ThreadedKG):
    """`_ThreadedKG` whose wrapped adapter supports entity search."""

    async def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """See `SupportsEntitySearch.search_entities`."""
        search = cast(SupportsEntitySearch, self._kg).search_entities
        return await self._run(functools.partial(search, text, limit=limit))


def _pass_mentions(wrapper: object, kg: object) -> None:
    """Expose the inner adapter's ``find_mentions`` and ``describe`` (called as they are)."""
    if isinstance(kg, SupportsMentions):
        wrapper.find_mentions = kg.find_mentions  # type: ignore[attr-defined]
    if isinstance(kg, SupportsDescribe):
        wrapper.describe = kg.describe  # type: ignore[attr-defined]
