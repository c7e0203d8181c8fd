"""`open_graph`: one string names any graph: a file, a SPARQL endpoint or an Oxigraph store.

kb.txt, film.nt, triples.tsv.gz         a file, loaded into memory (`load_graph`)
sparql+freebase:http://host/sparql      `FreebaseGraph`
sparql+wikidata:http://host/sparql      `WikidataGraph`
sparql:http://host/sparql               `SPARQLGraph` with the plain RDF profile
oxigraph+freebase:/path/to/store        `OxigraphGraph` (profile freebase, wikidata or rdf)
"""

from __future__ import annotations

from kg_adapters.base import KnowledgeGraph

SCHEMES = ("sparql+freebase:", "sparql+wikidata:", "sparql:", "oxigraph:", "oxigraph+", "rdflib+")


def is_graph_spec(text: str) -> bool:
    """Whether ``text`` names a store rather than a file."""
    return text.startswith(SCHEMES)


def open_graph(spec: str, *, sep: str | None = None, format: str | None = None) -> KnowledgeGraph:
    """Open the graph named by ``spec`` (see the module docstring).

    Raises:
        ValueError: an unknown scheme or profile.
        kg_adapters.errors.KGLoadError: a file that cannot be read.
    """
    if spec.startswith("sparql+freebase:"):
        from kg_adapters.freebase import FreebaseGraph

        return FreebaseGraph(spec.removeprefix("sparql+freebase:"))
    if spec.startswith("sparql+wikidata:"):
        from kg_adapters.wikidata import WikidataGraph

        return WikidataGraph(spec.removeprefix("sparql+wikidata:"))
    if spec.startswith("sparql:"):
        from kg_adapters.sparql import RDF, SPARQLGraph
        from kg_adapters.sparql_http import SPARQLEndpoint

        return SPARQLGraph(SPARQLEndpoint(spec.removeprefix("sparql:")), RDF)
    if spec.startswith(("oxigraph:", "oxigraph+")):
        from kg_adapters.oxigraph_graph import OxigraphGraph

        scheme, _, path = spec.partition(":")
        profile = scheme.partition("+")[2] or None
        if profile not in (None, "freebase", "wikidata", "rdf"):
            raise ValueError(f"unknown profile {profile!r} in {spec!r}")
        return OxigraphGraph(path, profile=profile, read_only=True)  # type: ignore[arg-type]
    if spec.startswith("rdflib+"):
        from kg_adapters.rdflib_source import RDFLibSource
        from kg_adapters.sparql import PROFILES, SPARQLGraph

        scheme, _, path = spec.partition(":")
        name = scheme.partition("+")[2]
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r} in {spec!r}")
        return SPARQLGraph(
            RDFLibSource.from_file(path, format=format), PROFILES[name], index_labels=True
        )
    from kg_adapters.loading import load_graph

    return load_graph(spec, sep=sep, format=format)
