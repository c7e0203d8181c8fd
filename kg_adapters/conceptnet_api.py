"""`ConceptNetAPIGraph`: ConceptNet over its REST API (``api.conceptnet.io`` or a mirror).

Reads ``GET /c/<lang>/<term>`` (every edge touching a node) and ``GET /query?start=|end=&rel=``
(the edges of one hop), following ``view.nextPage``. Every response is cached per instance (a
bounded LRU), so `relations` then `neighbors` on one node cost one request when the node's edges
fit in ``max_edges``. Connection errors, timeouts, 429 and 5xx are retried with exponential
backoff; then `KGConnectionError` says the API is unreachable: the public service has been down
for long stretches, so `kg_adapters.conceptnet.ConceptNetGraph.from_dump` is the dependable
source. Ids are checked before any request (no ``/c/en/../../admin``), and every path segment
and query value is percent-encoded. Conventions are those of `kg_adapters.conceptnet`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Final, Self

import httpx

from kg_adapters._conceptnet_http import (
    ADAPTER,
    ApiEdge,
    Failure,
    Page,
    concept_path,
    parse_page,
    query_string,
    status_failure,
    transport_failure,
)
from kg_adapters._conceptnet_uri import (
    check_concept_id,
    check_relation_id,
    concept_label,
    expand_languages,
    is_concept,
    language_of,
    relation_label,
    standardize_text,
    term_of,
)
from kg_adapters._label_index import STOPWORDS, longest_mentions, mention_spans, normalize
from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, Node, RelationId
from kg_adapters.conceptnet import DEFAULT_API_URL, EdgeRecord, _check
from kg_adapters.errors import KGDataError, KGError

__all__ = ["DEFAULT_USER_AGENT", "ConceptNetAPIGraph"]

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = "think-on-graph/0.1 (Python KGQA library; think-on-graph on PyPI)"
_LOOKUP_PAGE: Final = 50  # edges read to tell whether a term exists (entity search)
_DETAIL_CHARS: Final = 300


# --- the adapter -------------------------------------------------------------------------------


class ConceptNetAPIGraph:
    """ConceptNet over HTTP, with the conventions of `kg_adapters.conceptnet.ConceptNetGraph`.

    Differences from the dump: no `triples` (the API offers no export); `search_entities` is
    exact only (a term lookup per search language: the ``languages`` filter, or English), and
    finds the senses listed on the term's first page of edges; `labels` names any well-formed
    concept URI from the URI itself (no request). A hop whose edges exceed ``max_edges`` is
    answered from the first ``max_edges`` edges the API returns (it ranks them by weight).

    >>> with ConceptNetAPIGraph("https://api.conceptnet.io", languages=("en",)) as kg:
    ...     kg.relations(["/c/en/dog"], direction="out")  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        *,
        languages: Sequence[str] | None = None,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        page_size: int = 1000,
        max_edges: int = 10_000,
        cache_size: int = 1024,
        max_lookups: int = 64,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Configure the client; no request is made until the first call.

        Args:
            base_url: The API root (``https://api.conceptnet.io`` or a mirror).
            languages: Keep edges whose two ends are in these languages; None keeps all.
            client: An httpx client; it is not closed by `close`.
            timeout: Seconds per HTTP attempt.
            retries: Retries after a failed attempt (connection error, timeout, 429, 5xx).
            backoff: Seconds before the first retry, doubled for each further one; a server's
                Retry-After wins, capped at ``max_retry_after``.
            max_retry_after: Upper bound on a Retry-After wait, in seconds.
            page_size: Edges asked for per page (1 to 1000).
            max_edges: Most edges read for one node or hop.
            cache_size: Responses kept in memory (least recently used dropped first).
            max_lookups: Most term lookups one `find_mentions` call makes.
            user_agent: The User-Agent header.
            sleep: Called with the seconds to wait before a retry (default ``time.sleep``).

        Raises:
            ValueError: ``base_url`` is not an http(s) URL with a host, or a number is out of
                range.
        """
        try:
            url = httpx.URL(base_url.strip())
        except (httpx.InvalidURL, TypeError, AttributeError) as exc:
            raise ValueError(f"base_url {base_url!r} is not a valid URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise ValueError(f"base_url must be an http(s) URL with a host; got {base_url!r}")
        if not timeout > 0 or retries < 0 or backoff < 0 or max_retry_after < 0:
            raise ValueError("timeout must be > 0; retries, backoff, max_retry_after >= 0")
        if not 1 <= page_size <= 1000 or max_edges < 1 or cache_size < 0 or max_lookups < 0:
            raise ValueError(
                "page_size must be in 1..1000, max_edges >= 1, cache_size and max_lookups >= 0"
            )
        self._base = str(url).rstrip("/")
        self._languages = expand_languages(languages)
        self._search_languages = tuple(languages) if languages is not None else ("en",)
        self._owns_client = client is None
        self._client = httpx.Client(timeout=timeout) if client is None else client
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._timeout = float(timeout)
        self._retries = retries
        self._backoff = float(backoff)
        self._max_retry_after = float(max_retry_after)
        self._page_size = page_size
        self._max_edges = max_edges
        self._cache_size = cache_size
        self._max_lookups = max_lookups
        self._sleep = sleep or time.sleep
        self._cache: OrderedDict[str, Page] = OrderedDict()
        self._lock = threading.Lock()
        self.requests = 0
        """HTTP requests sent so far (retries included)."""

    @property
    def base_url(self) -> str:
        """The API root."""
        return self._base

    def __repr__(self) -> str:
        languages = None if self._languages is None else sorted(self._languages)
        return f"ConceptNetAPIGraph({self._base!r}, languages={languages})"

    # -- the KnowledgeGraph protocol ---------------------------------------------------------

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """Distinct relations at each concept, sorted by id; one paged ``GET /c/...`` per node.

        Args:
            entities: Concept URIs (other ids are unknown: ``()``).
            direction: ``"out"`` (the concept starts the edge) or ``"in"`` (it ends it).
            limit: At most this many relations per concept.

        Returns:
            A tuple per requested id.

        Raises:
            ValueError: A malformed ``/c/`` id, a bad direction or a negative limit (before any
                request).
            KGError: The API failed (see the module docstring).
        """
        _check(direction, limit)
        for entity in entities:
            self._check_entity(entity)
        result: dict[EntityId, tuple[RelationId, ...]] = {}
        for entity in entities:
            if entity in result:
                continue
            if not self._keeps(entity):
                result[entity] = ()
                continue
            edges, _ = self._pages(self._node_url(entity), self._max_edges)
            found = {
                edge.relation
                for edge in edges
                if self._visible(edge)
                and (edge.start if direction == "out" else edge.end) == entity
            }
            result[entity] = tuple(sorted(found))[:limit]
        return result

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """Distinct concepts at the other end of each hop, sorted by id.

        Uses the node's cached edges when `relations` read them all; else ``GET /query`` with
        ``start=`` (out) or ``end=`` (in) and ``rel=``, paged up to ``max_edges``.

        Args:
            hops: ``(concept, relation, direction)`` steps.
            limit: At most this many concepts per hop (a prefix of the sorted list).

        Returns:
            A tuple per requested hop.

        Raises:
            ValueError: A malformed id, a bad direction or a negative limit (before any request).
            KGError: The API failed.
        """
        records = self.edges(hops, limit=limit)
        return {hop: _distinct_nodes(found) for hop, found in records.items()}

    def edges(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[EdgeRecord, ...]]:
        """The edges behind `neighbors`, with weight and surface text (see `EdgeRecord`).

        Records are in neighbour order (node id), then heaviest first; ``limit`` keeps the
        records of the first ``limit`` distinct nodes.

        Raises:
            ValueError: A malformed id, a bad direction or a negative limit (before any request).
            KGError: The API failed.
        """
        _check(None, limit)
        for hop in hops:
            _check(hop.direction, None)
            self._check_entity(hop.entity)
            if hop.relation.startswith("/r/"):
                check_relation_id(hop.relation)
        result: dict[Hop, tuple[EdgeRecord, ...]] = {}
        for hop in hops:
            if hop not in result:
                result[hop] = self._hop_edges(hop, limit)
        return result

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """Names read off the URIs: concepts (in the language filter) and relations; no request.

        Args:
            ids: Concept or relation URIs.

        Returns:
            ``{id: label}`` for well-formed concept and relation URIs; other ids are absent.
        """
        result: dict[str, str] = {}
        for item in ids:
            label = ""
            try:
                if item.startswith("/c/") and self._keeps(check_concept_id(item)):
                    label = concept_label(item)
                elif item.startswith("/r/"):
                    label = relation_label(check_relation_id(item))
            except ValueError:
                continue
            if label:
                result[item] = label
        return result

    # -- optional capabilities ---------------------------------------------------------------

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Concepts whose term is ``text``, exact only: one cached lookup per search language.

        The text is standardised as ConceptNet terms are (lower case, spaces as ``_``); the
        matches are the nodes of that term (bare or sense-tagged) on its first page of edges,
        the bare term first.

        Args:
            text: A mention such as ``"ice cream"``.
            limit: At most this many matches.

        Returns:
            Exact matches (score 1.0); ``[]`` when the term is unknown or the text blank.

        Raises:
            ValueError: ``limit`` is negative.
            KGError: The API failed.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        term = standardize_text(text)
        if not term or limit == 0:
            return []
        matches: list[EntityMatch] = []
        for language in self._search_languages:
            matches += self._term_matches(f"/c/{language}/{term}")
        return matches[:limit]

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Spans of ``text`` that exactly name a concept, by term lookups (cached, bounded).

        The normalised text's n-grams (up to ``max_tokens`` words; spans made only of stopwords
        are skipped) are looked up longest first, at most ``max_lookups`` of them, and the
        longest non-overlapping spans that exist are kept.

        Args:
            text: A question.
            max_tokens: The longest span considered, in words.

        Returns:
            ``(normalised mention, exact matches)`` pairs, left to right.

        Raises:
            KGError: The API failed.
        """
        spans = [
            span
            for span in mention_spans(normalize(text).split(), max_tokens)
            if not all(word in STOPWORDS for word in span[2].split())
        ]
        keys = list(dict.fromkeys(key for _, _, key in spans))[: self._max_lookups]
        found: dict[str, list[EntityMatch]] = {}
        for key in keys:
            matches = [
                match
                for language in self._search_languages
                for match in self._term_matches(f"/c/{language}/{key.replace(' ', '_')}")
            ]
            if matches:
                found[key] = matches
        chosen = longest_mentions(span for span in spans if span[2] in found)
        return [(key, found[key]) for key in chosen]

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _check_entity(self, entity: str) -> None:
        if isinstance(entity, str) and entity.startswith("/c/"):
            check_concept_id(entity)

    def _keeps(self, uri: str) -> bool:
        """Whether ``uri`` is a concept in the language filter."""
        if not is_concept(uri):
            return False
        return self._languages is None or language_of(uri) in self._languages

    def _visible(self, edge: ApiEdge) -> bool:
        return self._keeps(edge.start) and self._keeps(edge.end)

    def _node_url(self, node: str, page_size: int | None = None) -> str:
        return f"{concept_path(node)}?{query_string({'limit': page_size or self._page_size})}"

    def _hop_edges(self, hop: Hop, limit: int | None) -> tuple[EdgeRecord, ...]:
        if not self._keeps(hop.entity) or not hop.relation.startswith("/r/"):
            return ()
        edges = self._cached_pages(self._node_url(hop.entity))
        if edges is None:
            side = "start" if hop.direction == "out" else "end"
            params: dict[str, str | int] = {
                side: hop.entity,
                "rel": hop.relation,
                "limit": self._page_size,
            }
            edges, _ = self._pages(f"/query?{query_string(params)}", self._max_edges)
        here = "start" if hop.direction == "out" else "end"
        rows = sorted(
            (
                (edge.end if here == "start" else edge.start, -edge.weight, edge.uri, edge)
                for edge in edges
                if edge.relation == hop.relation
                and getattr(edge, here) == hop.entity
                and self._visible(edge)
            ),
            key=lambda row: row[:3],
        )
        records: list[EdgeRecord] = []
        nodes: set[str] = set()
        for node, _, _, edge in rows:
            if node not in nodes:
                if limit is not None and len(nodes) == limit:
                    break
                nodes.add(node)
            records.append(EdgeRecord(node, edge.weight, edge.surface_text, edge.uri, edge.dataset))
        return tuple(records)

    def _term_matches(self, term: str) -> list[EntityMatch]:
        """The nodes of ``term`` on its first page of edges: the bare term first, then by id."""
        try:
            url = self._node_url(term, min(self._page_size, _LOOKUP_PAGE))
        except ValueError:  # text that cannot form a term (a stray backslash, a lone dot)
            return []
        if not self._keeps(term):
            return []
        page = self._page(url)
        wanted = term.casefold()
        nodes = {
            node
            for edge in page.edges
            if self._visible(edge)
            for node in (edge.start, edge.end)
            if term_of(node).casefold() == wanted
        }
        return [EntityMatch(node, concept_label(node), 1.0, exact=True) for node in sorted(nodes)]

    def _cached_pages(self, first: str) -> list[ApiEdge] | None:
        """All edges behind ``first`` if every page is cached and complete, else None."""
        edges: list[ApiEdge] = []
        url: str | None = first
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            with self._lock:
                page = self._cache.get(url)
            if page is None:
                return None
            edges.extend(page.edges)
            url = self._next_url(page)
        return edges

    def _pages(self, first: str, budget: int) -> tuple[list[ApiEdge], bool]:
        """Edges of ``first`` and its next pages, up to ``budget``; and whether that was all."""
        edges: list[ApiEdge] = []
        url: str | None = first
        seen: set[str] = set()
        while url is not None and url not in seen and len(edges) < budget:
            seen.add(url)
            page = self._page(url)
            edges.extend(page.edges)
            url = self._next_url(page)
        if url is not None:
            logger.info("ConceptNet API: stopped paging %s after %d edges", first, len(edges))
        return edges[:budget], url is None

    def _next_url(self, page: Page) -> str | None:
        """``view.nextPage`` as a path on this API; KGDataError if it points elsewhere."""
        link = page.next_page
        if link is None:
            return None
        if link.startswith("/") and not link.startswith("//"):
            return link
        base = httpx.URL(self._base)
        target = httpx.URL(link)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise KGDataError(f"nextPage {link!r} leaves the API at {self._base}", adapter=ADAPTER)
        path = target.raw_path.decode("ascii")
        prefix = base.raw_path.decode("ascii").rstrip("/")
        return path[len(prefix) :] if prefix and path.startswith(prefix) else path

    def _page(self, url: str) -> Page:
        """One response, from the cache or the API."""
        with self._lock:
            page = self._cache.get(url)
            if page is not None:
                self._cache.move_to_end(url)
                return page
        page = self._fetch(url)
        if self._cache_size:
            with self._lock:
                self._cache[url] = page
                self._cache.move_to_end(url)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return page

    def _fetch(self, url: str) -> Page:
        """GET ``url`` (a path and query on this API) with bounded retries."""
        full = self._base + url
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.requests += 1
            try:
                response = self._client.get(full, headers=self._headers, timeout=self._timeout)
            except httpx.RequestError as exc:
                failure = transport_failure(exc, self._base, full, self._timeout)
            else:
                if response.is_success:
                    return self._read(response, full)
                failure = status_failure(response, self._base, full)
            delay = self._delay(failure, attempt - 1)
            if delay is None:
                if attempt > 1:
                    failure.error.add_note(f"gave up after {attempt} attempts")
                raise failure.error from failure.cause
            logger.warning(
                "ConceptNet API %s: attempt %d failed, retrying in %.2fs: %s",
                full,
                attempt,
                delay,
                failure.error,
            )
            self._sleep(delay)

    def _delay(self, failure: Failure, retry: int) -> float | None:
        if not failure.retryable or retry >= self._retries:
            return None
        if failure.retry_after is not None:
            return min(failure.retry_after, self._max_retry_after)
        return float(self._backoff * 2.0**retry)

    def _read(self, response: httpx.Response, url: str) -> Page:
        try:
            data: object = response.json()
        except ValueError as exc:
            raise KGDataError(
                f"ConceptNet API at {self._base} answered GET {url} with a body that is not "
                f"JSON: {' '.join(response.text[:_DETAIL_CHARS].split())!r}",
                adapter=ADAPTER,
                query=url,
            ) from exc
        try:
            return parse_page(data)
        except KGError as exc:
            exc.query = url
            raise


def _distinct_nodes(records: Iterable[EdgeRecord]) -> tuple[Node, ...]:
    return tuple(dict.fromkeys(record.node for record in records))
