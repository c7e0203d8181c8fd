"""`FreebaseGraph`: Freebase over SPARQL (a local Virtuoso, Oxigraph, or any endpoint)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from kg_adapters.sparql import FREEBASE, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint


class FreebaseGraph(SPARQLGraph):
    """Freebase: MIDs (``m.02mjmr``) as ids, English ``type.object.name`` as labels.

    The relation policy is ToG's: ``type.object.*``, ``common.*``, ``freebase.*`` and anything
    with ``sameAs`` are never offered; domain relations, ``base.*`` and ``user.*`` are. Compound
    value (CVT) nodes have no name: they keep their MID and are simply absent from `labels`.

    Args:
        endpoint: The SPARQL URL, e.g. ``http://127.0.0.1:8890/sparql`` (Virtuoso).
        graph: Named graph holding Freebase (``http://rdf.freebase.com/`` after a Virtuoso
            bulk load into that graph); None queries the default graph.
        client: An httpx client to reuse; the graph owns one it creates.
        timeout: Seconds per query.
        max_retries: Retries on connection errors, timeouts, 429 and 5xx.
        headers: Extra HTTP headers.
        batch_size: Ids per ``VALUES`` block.
        neighbor_limit: Neighbours per hop when the caller gives no limit.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        graph: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        neighbor_limit: int = 200,
    ) -> None:
        self.endpoint = SPARQLEndpoint(
            endpoint, client=client, timeout=timeout, max_retries=max_retries, headers=headers
        )
        super().__init__(
            self.endpoint,
            FREEBASE,
            graph=graph,
            batch_size=batch_size,
            neighbor_limit=neighbor_limit,
        )
