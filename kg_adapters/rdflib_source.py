"""`RDFLibSource`: run the SPARQL adapters' queries on an rdflib graph (small files, no server).

With it, the Freebase and Wikidata profiles work over a plain file through rdflib:
``SPARQLGraph(RDFLibSource.from_file("slice.nt.gz"), FREEBASE)``. rdflib's SPARQL engine is far
slower than Oxigraph's (see docs): use it for fixtures and small slices, `OxigraphGraph` beyond.
"""

from __future__ import annotations

import json
from pathlib import Path

from kg_adapters._sparql import Bindings, parse_results
from kg_adapters.errors import KGQueryError
from kg_adapters.sparql_http import check_read_query


class RDFLibSource:
    """A SPARQL source over an in-memory ``rdflib.Graph``.

    Args:
        graph: The rdflib graph (any store rdflib supports).
    """

    def __init__(self, graph: object) -> None:
        self.graph = graph

    @classmethod
    def from_file(cls, path: str | Path, *, format: str | None = None) -> RDFLibSource:
        """Parse an RDF file (N-Triples, Turtle, RDF/XML, JSON-LD; plain or ``.gz``)."""
        from kg_adapters.rdf_graph import read_rdf

        return cls(read_rdf(Path(path), format=format))

    def __repr__(self) -> str:
        return f"RDFLibSource({len(self.graph)} triples)"  # type: ignore[arg-type]

    def select(self, query: str) -> Bindings:
        """Run one read query; rdflib's parser errors become `KGQueryError`."""
        check_read_query(query)
        try:
            result = self.graph.query(query)  # type: ignore[attr-defined]
            data = json.loads(result.serialize(format="json"))
        except Exception as exc:  # rdflib raises ParseException, ValueError, TypeError...
            raise KGQueryError(
                f"rdflib could not run the query: {exc}".splitlines()[0],
                adapter="rdflib",
                query=query,
                detail=str(exc)[:500],
            ) from exc
        return parse_results(data)
