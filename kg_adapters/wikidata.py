"""`WikidataGraph`: Wikidata over SPARQL (a local copy, or the public endpoint, politely)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from kg_adapters.sparql import WIKIDATA, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint

PUBLIC_HOSTS = frozenset({"query.wikidata.org"})


class WikidataGraph(SPARQLGraph):
    """Wikidata: ``Q`` ids, truthy ``wdt:P…`` relations, labels in a chosen language.

    Relations are filtered by property type (external identifiers, URLs and media are dropped)
    and by meta labels ("Wikimedia …", "Commons category", "image"); "country", "country of
    citizenship", "inception" and "instance of" are kept. Property labels come from the property
    entities (``wd:P57 rdfs:label "director"``). Against the public endpoint the graph is polite:
    one request at a time, at most one per second, and 429 ``Retry-After`` is honoured.

    Args:
        endpoint: The SPARQL URL of a local copy, or ``https://query.wikidata.org/sparql``.
        language: Preferred label language (fallback: untagged, then any).
        client: An httpx client to reuse; the graph owns one it creates.
        timeout: Seconds per query.
        max_retries: Retries on connection errors, timeouts, 429 and 5xx.
        min_interval: Seconds between requests; default 1.0 for the public endpoint, else 0.
        headers: Extra HTTP headers.
        batch_size: Ids per ``VALUES`` block.
        neighbor_limit: Neighbours per hop when the caller gives no limit.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        language: str = "en",
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        min_interval: float | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        neighbor_limit: int = 200,
    ) -> None:
        public = urlsplit(endpoint).hostname in PUBLIC_HOSTS
        interval = (1.0 if public else 0.0) if min_interval is None else min_interval
        self.endpoint = SPARQLEndpoint(
            endpoint,
            client=client,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            min_interval=interval,
        )
        super().__init__(
            self.endpoint,
            WIKIDATA,
            batch_size=batch_size,
            neighbor_limit=neighbor_limit,
            language=language,
        )

    def close(self) -> None:
        """Close the HTTP client (if this graph created it)."""
        self.endpoint.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
