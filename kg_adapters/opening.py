"""`open_graph`: one string names any graph: a file, a SPARQL endpoint, a store, Neo4j, ConceptNet.

kb.txt, film.nt, triples.tsv.gz         a file, loaded into memory (`load_graph`)
sparql+freebase:http://host/sparql      `FreebaseGraph`
sparql+wikidata:http://host/sparql      `WikidataGraph`
sparql:http://host/sparql               `SPARQLGraph` with the plain RDF profile
oxigraph+freebase:/path/to/store        `OxigraphGraph` (profile freebase, wikidata or rdf)
bolt://host:7687?id_property=mid        `Neo4jGraph` (also bolt+s, neo4j, neo4j+s; user:pw@host)
conceptnet:assertions.csv.gz            `ConceptNetGraph.from_dump` (a dump or its index)
conceptnet+en,fr:https://host           `ConceptNetGraph.from_api`, keeping English and French

Neo4j options in the query string: ``id_property``, ``name_property``, ``node_label``,
``literal_properties`` (``all`` or comma-separated keys) and ``names_from_ids`` (``1``); any other
query parameter stays in the URI for the driver (routing context).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kg_adapters.base import KnowledgeGraph

SCHEMES = (
    "sparql+freebase:",
    "sparql+wikidata:",
    "sparql:",
    "oxigraph:",
    "oxigraph+",
    "rdflib+",
    "bolt://",
    "bolt+",
    "neo4j://",
    "neo4j+",
    "conceptnet:",
    "conceptnet+",
)
_NEO4J_OPTIONS = ("id_property", "name_property", "node_label", "literal_properties")


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
    if spec.startswith(("bolt://", "bolt+", "neo4j://", "neo4j+")):
        return _open_neo4j(spec)
    if spec.startswith(("conceptnet:", "conceptnet+")):
        from kg_adapters.conceptnet import ConceptNetGraph

        scheme, _, source = spec.partition(":")
        languages = [code for code in scheme.partition("+")[2].split(",") if code] or None
        if not source:
            raise ValueError(f"no dump, index or API URL after 'conceptnet:' in {spec!r}")
        if source.startswith(("http://", "https://")):
            return ConceptNetGraph.from_api(source, languages=languages)
        return ConceptNetGraph.from_dump(source, languages=languages)
    from kg_adapters.loading import load_graph

    return load_graph(spec, sep=sep, format=format)


def _open_neo4j(spec: str) -> KnowledgeGraph:
    """A `Neo4jGraph` from a Bolt URI: credentials from its user info, options from its query."""
    from kg_adapters.neo4j_graph import Neo4jGraph

    parts = urlsplit(spec)
    if not parts.hostname:
        raise ValueError(f"no host in the Bolt URI {spec!r}")
    auth = None
    if parts.username is not None:
        auth = (parts.username, parts.password or "")
    netloc = parts.hostname + (f":{parts.port}" if parts.port is not None else "")
    options: dict[str, str] = {}
    routing: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in (*_NEO4J_OPTIONS, "names_from_ids"):
            options[key] = value
        else:
            routing.append((key, value))
    uri = urlunsplit((parts.scheme, netloc, parts.path, urlencode(routing), ""))
    literals = options.get("literal_properties")
    return Neo4jGraph(
        uri,
        auth=auth,
        id_property=options.get("id_property", "id"),
        name_property=options.get("name_property", "name"),
        node_label=options.get("node_label") or None,
        literal_properties=(
            None if not literals else "all" if literals == "all" else tuple(literals.split(","))
        ),
        names_from_ids=options.get("names_from_ids", "") in ("1", "true", "yes"),
    )
