"""Knowledge-graph adapters for Think-on-Graph: one protocol, many stores.

Importing this package is light: the adapters that need networkx, rdflib, anyio or the neo4j
driver (`NetworkXGraph`, `RDFLibGraph`, `load_graph`, `CachedKG`, `to_async`, `Neo4jGraph`)
load on first access.
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
    from kg_adapters.conceptnet import ConceptNetGraph, build_conceptnet_index
    from kg_adapters.conceptnet_api import ConceptNetAPIGraph
    from kg_adapters.freebase import FreebaseGraph
    from kg_adapters.loading import load_graph
    from kg_adapters.neo4j_graph import AsyncNeo4jGraph, Neo4jGraph
    from kg_adapters.nx_graph import NetworkXGraph
    from kg_adapters.oxigraph_graph import OxigraphGraph
    from kg_adapters.rdf_graph import RDFLibGraph
    from kg_adapters.sparql import SPARQLGraph
    from kg_adapters.sparql_http import SPARQLEndpoint
    from kg_adapters.wikidata import WikidataGraph
    from kg_adapters.wrappers import CachedKG, to_async

__all__ = [
    "AsyncKnowledgeGraph",
    "AsyncNeo4jGraph",
    "CachedKG",
    "ConceptNetAPIGraph",
    "ConceptNetGraph",
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
    "Neo4jGraph",
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
    "build_conceptnet_index",
    "load_graph",
    "node_key",
    "to_async",
]

_LAZY = {
    "AsyncNeo4jGraph": "kg_adapters.neo4j_graph",
    "CachedKG": "kg_adapters.wrappers",
    "ConceptNetAPIGraph": "kg_adapters.conceptnet_api",
    "ConceptNetGraph": "kg_adapters.conceptnet",
    "FreebaseGraph": "kg_adapters.freebase",
    "Neo4jGraph": "kg_adapters.neo4j_graph",
    "NetworkXGraph": "kg_adapters.nx_graph",
    "OxigraphGraph": "kg_adapters.oxigraph_graph",
    "RDFLibGraph": "kg_adapters.rdf_graph",
    "SPARQLEndpoint": "kg_adapters.sparql_http",
    "SPARQLGraph": "kg_adapters.sparql",
    "WikidataGraph": "kg_adapters.wikidata",
    "build_conceptnet_index": "kg_adapters.conceptnet",
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
