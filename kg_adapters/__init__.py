"""Knowledge-graph adapters for Think-on-Graph: one protocol, many stores.

Importing this package is light: the adapters that need networkx, rdflib or anyio
(`NetworkXGraph`, `RDFLibGraph`, `load_graph`, `CachedKG`, `to_async`) load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    Direction,
    EntityId,
    EntityMatch,
    Hop,
    KnowledgeGraph,
    LiteralValue,
    Node,
    RelationId,
    SupportsAsyncEntitySearch,
    SupportsDescribe,
    SupportsEntitySearch,
    SupportsMentions,
    SupportsTriples,
    Triple,
    node_key,
)
from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGError,
    KGLoadError,
    KGQueryError,
    KGResultTruncated,
    KGTimeout,
)

if TYPE_CHECKING:
    from kg_adapters.freebase import FreebaseGraph
    from kg_adapters.loading import load_graph
    from kg_adapters.nx_graph import NetworkXGraph
    from kg_adapters.oxigraph_graph import OxigraphGraph
    from kg_adapters.rdf_graph import RDFLibGraph
    from kg_adapters.sparql import SPARQLGraph
    from kg_adapters.sparql_http import SPARQLEndpoint
    from kg_adapters.wikidata import WikidataGraph
    from kg_adapters.wrappers import CachedKG, to_async

__all__ = [
    "AsyncKnowledgeGraph",
    "CachedKG",
    "Direction",
    "EntityId",
    "EntityMatch",
    "FreebaseGraph",
    "Hop",
    "KGConnectionError",
    "KGDataError",
    "KGError",
    "KGLoadError",
    "KGQueryError",
    "KGResultTruncated",
    "KGTimeout",
    "KnowledgeGraph",
    "LiteralValue",
    "NetworkXGraph",
    "Node",
    "OxigraphGraph",
    "RDFLibGraph",
    "RelationId",
    "SPARQLEndpoint",
    "SPARQLGraph",
    "SupportsAsyncEntitySearch",
    "SupportsDescribe",
    "SupportsEntitySearch",
    "SupportsMentions",
    "SupportsTriples",
    "Triple",
    "WikidataGraph",
    "load_graph",
    "node_key",
    "to_async",
]

_LAZY = {
    "CachedKG": "kg_adapters.wrappers",
    "FreebaseGraph": "kg_adapters.freebase",
    "NetworkXGraph": "kg_adapters.nx_graph",
    "OxigraphGraph": "kg_adapters.oxigraph_graph",
    "RDFLibGraph": "kg_adapters.rdf_graph",
    "SPARQLEndpoint": "kg_adapters.sparql_http",
    "SPARQLGraph": "kg_adapters.sparql",
    "WikidataGraph": "kg_adapters.wikidata",
    "load_graph": "kg_adapters.loading",
    "to_async": "kg_adapters.wrappers",
}


def __getattr__(name: str) -> object:
    """Import the heavier adapters on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
