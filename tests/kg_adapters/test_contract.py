"""The KnowledgeGraph contract: one suite, run over every adapter loaded with tiny_kg."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from kg_adapters import (
    EntityMatch,
    Hop,
    KnowledgeGraph,
    LiteralValue,
    NetworkXGraph,
    RDFLibGraph,
    SupportsEntitySearch,
    SupportsMentions,
    SupportsTriples,
    Triple,
)
from kg_adapters.conceptnet import ConceptNetGraph
from tests.conceptnet_api import ConceptNetAPIServer, api_records, tiny_kg_edges, write_dump
from tests.neo4j.tiny import tiny_server
from tests.services import (
    OxigraphServer,
    Virtuoso,
    need_oxigraph,
    need_virtuoso,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TTL = FIXTURES / "tiny_kg.ttl"
TSV = FIXTURES / "tiny_kg.tsv"
NS = "http://example.org/film/"
XSD = "http://www.w3.org/2001/XMLSchema#"
NUM_EDGES = 27
NUM_TRIPLES = 47  # every triple of tiny_kg.ttl: edges, labels, the alias and owl:sameAs
TINY_GRAPH = "http://example.org/tiny/"  # the named graph tiny_kg.ttl is loaded into on Virtuoso

LITERALS = {
    "2010-07-16": LiteralValue("2010-07-16", f"{XSD}date"),
    "2014-11-07": LiteralValue("2014-11-07", f"{XSD}date"),
    "148": LiteralValue("148", f"{XSD}integer"),
    "1998": LiteralValue("1998", f"{XSD}gYear"),
}
IRI_LOCAL_NAMES = {"Amélie": "Amelie"}


class SearchableKG(KnowledgeGraph, SupportsEntitySearch, SupportsTriples, Protocol):
    """What every adapter under test offers (for the type checker)."""

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]: ...


@dataclass(frozen=True)
class Case:
    """An adapter loaded with tiny_kg, and how to spell the fixture's names in it."""

    name: str
    kg: SearchableKG
    is_rdf: bool
    has_literals: bool
    has_aliases: bool
    # What differs, by design, between an in-memory adapter and a SPARQL store:
    # - a SPARQL query cannot name a blank node, so `_:` compound nodes are reached but not
    #   expanded;
    # - a node without a label predicate has no name (no IRI local-name fallback, tog_spec §6.4);
    # - exact search only (no fuzzy ranking without a full-text index);
    # - no `triples()` dump (the optional `SupportsTriples` capability).
    # And over HTTP without `index_labels`: the store is asked for a name only in the preferred
    # label languages (`SPARQLGraph.search_entities`), so a label in another language (@fr) does
    # not link.
    expands_blank_nodes: bool = True
    local_name_labels: bool = True
    fuzzy_search: bool = True
    has_triples: bool = True
    links_other_languages: bool = True
    # ConceptNet spells names as concept URIs: /c/en/<Name_With_Underscores> for entities (case
    # kept), /r/<relation> for relations.
    concept_uris: bool = False
    # A property graph has no xsd:gYear: a year kept as an integer node property comes back as
    # xsd:integer. TSV literal texts whose literal differs from LITERALS for this adapter.
    literal_overrides: Mapping[str, LiteralValue] = field(default_factory=dict)

    def e(self, name: str) -> str:
        if self.concept_uris:
            return "/c/en/" + name.replace(" ", "_")
        if not self.is_rdf:
            return name
        return NS + IRI_LOCAL_NAMES.get(name, name.replace(" ", "_"))

    def r(self, name: str) -> str:
        if self.concept_uris:
            return "/r/" + name
        return NS + name if self.is_rdf else name

    def node(self, text: str) -> LiteralValue | str:
        """A TSV tail as this adapter returns it: a literal, or an entity id."""
        if self.has_literals and text in LITERALS:
            return self.literal_overrides.get(text, LITERALS[text])
        return self.e(text)


def tsv_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            head, relation, tail = line.split("\t")
            rows.append((head, relation, tail))
    return rows


def build_networkx_triples() -> Case:
    kg = NetworkXGraph.from_triples(
        [(h, r, LITERALS.get(t, t)) for h, r, t in tsv_rows()],
        aliases={"Christopher Nolan": ["Chris Nolan"]},
    )
    return Case("networkx_triples", kg, is_rdf=False, has_literals=True, has_aliases=True)


def build_networkx_tsv() -> Case:
    kg = NetworkXGraph.from_tsv(TSV)
    return Case("networkx_tsv", kg, is_rdf=False, has_literals=False, has_aliases=False)


def build_networkx_rdf() -> Case:
    kg = NetworkXGraph.from_rdf(TTL)
    return Case("networkx_rdf", kg, is_rdf=True, has_literals=True, has_aliases=True)


def build_rdflib() -> Case:
    kg = RDFLibGraph.from_file(TTL)
    return Case("rdflib", kg, is_rdf=True, has_literals=True, has_aliases=True)


def build_oxigraph_rdf() -> Case:
    """The SPARQL code path: an in-memory Oxigraph store, plain RDF profile (full IRIs as ids)."""
    from kg_adapters.oxigraph_graph import OxigraphGraph

    kg = OxigraphGraph(None)
    assert kg.load(TTL) == NUM_TRIPLES
    return Case(
        "oxigraph_rdf",
        kg,  # type: ignore[arg-type]  # no triples(): see has_triples
        is_rdf=True,
        has_literals=True,
        has_aliases=True,
        expands_blank_nodes=False,
        local_name_labels=False,
        fuzzy_search=True,  # slices index every name in memory
        has_triples=False,
    )


BUILDERS: dict[str, Callable[[], Case]] = {
    "networkx_triples": build_networkx_triples,
    "networkx_tsv": build_networkx_tsv,
    "networkx_rdf": build_networkx_rdf,
    "rdflib": build_rdflib,
    "oxigraph_rdf": build_oxigraph_rdf,
}


# -- SPARQL over HTTP to real servers (pytest.mark.server) -----------------------------------------


@pytest.fixture(scope="session")
def virtuoso_tiny() -> Iterator[Virtuoso]:
    """A scratch Virtuoso 7 with tiny_kg.ttl bulk-loaded into the named graph TINY_GRAPH."""
    need_virtuoso()
    with Virtuoso(
        default_graph=TINY_GRAPH, number_of_buffers=2_000, max_dirty_buffers=1_200
    ) as server:
        server.load(TTL, TINY_GRAPH)
        yield server


@pytest.fixture(scope="session")
def oxigraph_tiny() -> Iterator[OxigraphServer]:
    """A read-only Oxigraph server with tiny_kg.ttl in its default graph."""
    need_oxigraph()
    with OxigraphServer([TTL]) as server:
        yield server


def http_case(name: str, kg: object) -> Case:
    """A `SPARQLGraph` over HTTP: exact search only (no ``index_labels``), no blank-node
    expansion, no local-name labels and no `triples()`."""
    return Case(
        name,
        kg,  # type: ignore[arg-type]  # no triples(): see has_triples
        is_rdf=True,
        has_literals=True,
        has_aliases=True,
        expands_blank_nodes=False,
        local_name_labels=False,
        fuzzy_search=False,
        has_triples=False,
        links_other_languages=False,
    )


def build_virtuoso_rdf(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    from kg_adapters.sparql import RDF, SPARQLGraph
    from kg_adapters.sparql_http import SPARQLEndpoint

    server: Virtuoso = request.getfixturevalue("virtuoso_tiny")
    endpoint = stack.enter_context(SPARQLEndpoint(server.sparql_url))
    return http_case("virtuoso_rdf", SPARQLGraph(endpoint, RDF, graph=TINY_GRAPH))


def build_oxigraph_server_rdf(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    from kg_adapters.sparql import RDF, SPARQLGraph
    from kg_adapters.sparql_http import SPARQLEndpoint

    server: OxigraphServer = request.getfixturevalue("oxigraph_tiny")
    endpoint = stack.enter_context(SPARQLEndpoint(server.query_url))
    return http_case("oxigraph_server_rdf", SPARQLGraph(endpoint, RDF))


# -- ConceptNet: tiny_kg as an assertions dump (SQLite index), and over a local API stand-in ------


@pytest.fixture(scope="session")
def conceptnet_tiny_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("conceptnet")
    return write_dump(tiny_kg_edges(tsv_rows()), folder / "assertions.csv")


@pytest.fixture(scope="session")
def conceptnet_tiny_api() -> Iterator[ConceptNetAPIServer]:
    """The tiny_kg edges served in API form; lookups fold case (see `ConceptNetAPIServer`)."""
    with ConceptNetAPIServer(api_records(tiny_kg_edges(tsv_rows())), fold_case=True) as server:
        yield server


def build_conceptnet_dump(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    """A dump indexed once per session (from_dump reuses the index), a fresh adapter per call."""
    dump: Path = request.getfixturevalue("conceptnet_tiny_dump")
    kg = stack.enter_context(ConceptNetGraph.from_dump(dump, index_path=dump.with_suffix(".db")))
    return Case(
        "conceptnet_dump",
        kg,
        is_rdf=False,
        has_literals=False,
        has_aliases=False,
        concept_uris=True,
    )


def build_conceptnet_api(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    """Over HTTP: no triples() dump, and exact search only (the API has no full-text index)."""
    server: ConceptNetAPIServer = request.getfixturevalue("conceptnet_tiny_api")
    kg = stack.enter_context(ConceptNetGraph.from_api(server.url, page_size=4))
    return Case(
        "conceptnet_api",
        kg,  # type: ignore[arg-type]  # no triples(): see has_triples
        is_rdf=False,
        has_literals=False,
        has_aliases=False,
        fuzzy_search=False,
        has_triples=False,
        concept_uris=True,
    )


CONCEPTNET_BUILDERS: dict[str, Callable[[pytest.FixtureRequest, ExitStack], Case]] = {
    "conceptnet_api": build_conceptnet_api,
    "conceptnet_dump": build_conceptnet_dump,
}


# -- Neo4jGraph over FalkorDB's Bolt port: tiny_kg from our loader, and as a property graph ------


@pytest.fixture(scope="session")
def falkordb_tiny_tsv() -> Iterator[Any]:
    """A driver on a FalkorDB holding tiny_kg.tsv, loaded by `load_triples` (plain names)."""
    with tiny_server("tsv") as (_, driver):
        yield driver


@pytest.fixture(scope="session")
def falkordb_tiny_props() -> Iterator[Any]:
    """A driver on a FalkorDB holding tiny_kg as a property graph built with Cypher."""
    with tiny_server("props") as (_, driver):
        yield driver


def build_neo4j_tsv(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    """Like networkx_tsv: every TSV field is an entity named by its id, every triple an edge."""
    from kg_adapters import Neo4jGraph

    driver = request.getfixturevalue("falkordb_tiny_tsv")
    kg = stack.enter_context(Neo4jGraph(driver=driver, node_label="Entity"))
    return Case("neo4j_tsv", kg, is_rdf=False, has_literals=False, has_aliases=False)


def build_neo4j_props(request: pytest.FixtureRequest, stack: ExitStack) -> Case:
    """release_date (a date), runtime_minutes and ceremony_year (integers) are node properties
    offered as literal neighbours; the other relations are relationships."""
    from kg_adapters import Neo4jGraph

    driver = request.getfixturevalue("falkordb_tiny_props")
    kg = stack.enter_context(
        Neo4jGraph(driver=driver, node_label="Entity", literal_properties="all")
    )
    return Case(
        "neo4j_props",
        kg,
        is_rdf=False,
        has_literals=True,
        has_aliases=False,
        literal_overrides={"1998": LiteralValue("1998", f"{XSD}integer")},
    )


SERVER_BUILDERS: dict[str, Callable[[pytest.FixtureRequest, ExitStack], Case]] = {
    "virtuoso_rdf": build_virtuoso_rdf,
    "oxigraph_server_rdf": build_oxigraph_server_rdf,
    "neo4j_tsv": build_neo4j_tsv,
    "neo4j_props": build_neo4j_props,
}
RDF_SERVER_CASES = sorted(name for name in SERVER_BUILDERS if name.endswith("_rdf"))


def server_params(*names: str) -> list[object]:
    return [pytest.param(name, marks=pytest.mark.server) for name in names]


@pytest.fixture
def build(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Case]]:
    """Build a case by name (a fresh adapter each call); HTTP clients close at teardown."""
    with ExitStack() as stack:

        def make(name: str) -> Case:
            if name in SERVER_BUILDERS:
                return SERVER_BUILDERS[name](request, stack)
            if name in CONCEPTNET_BUILDERS:
                return CONCEPTNET_BUILDERS[name](request, stack)
            return BUILDERS[name]()

        yield make


@pytest.fixture(
    params=[
        *sorted(BUILDERS),
        "conceptnet_dump",
        *server_params(*sorted(SERVER_BUILDERS)),
        *server_params("conceptnet_api"),  # a local API stand-in on a loopback port
    ]
)
def case(request: pytest.FixtureRequest, build: Callable[[str], Case]) -> Case:
    return build(request.param)


@pytest.fixture(
    params=["networkx_rdf", "oxigraph_rdf", "rdflib", *server_params(*RDF_SERVER_CASES)]
)
def rdf_case(request: pytest.FixtureRequest, build: Callable[[str], Case]) -> Case:
    return build(request.param)


# -- relations -------------------------------------------------------------------------------------


def test_unknown_entity_is_empty_not_an_error(case: Case) -> None:
    assert case.kg.relations(["x"], direction="out") == {"x": ()}
    assert case.kg.relations(["x"], direction="in") == {"x": ()}


def test_relations_out_are_distinct_and_sorted(case: Case) -> None:
    inception = case.e("Inception")
    expected = ["directed_by", "has_genre", "release_date", "runtime_minutes", "starred_actors"]
    expected.append("written_by")
    got = case.kg.relations([inception], direction="out")
    assert got == {inception: tuple(sorted(case.r(name) for name in expected))}


def test_relations_in(case: Case) -> None:
    nolan = case.e("Christopher Nolan")
    got = case.kg.relations([nolan], direction="in")
    assert got == {nolan: (case.r("directed_by"), case.r("written_by"))}


def test_label_alias_and_same_as_are_never_relations(case: Case) -> None:
    # Christopher Nolan is the subject only of rdfs:label, skos:altLabel and owl:sameAs triples.
    nolan = case.e("Christopher Nolan")
    assert case.kg.relations([nolan], direction="out") == {nolan: ()}


def test_relations_key_every_requested_id(case: Case) -> None:
    ids = [case.e("Titanic"), "x", case.e("Leonardo DiCaprio"), case.e("Titanic")]
    got = case.kg.relations(ids, direction="in")
    assert set(got) == set(ids)
    assert got[case.e("Leonardo DiCaprio")] == (case.r("starred_actors"),)
    assert got["x"] == ()
    assert got[case.e("Titanic")] == ()


def test_relation_limit(case: Case) -> None:
    inception = case.e("Inception")
    full = case.kg.relations([inception], direction="out")[inception]
    assert case.kg.relations([inception], direction="out", limit=2)[inception] == full[:2]
    assert case.kg.relations([inception], direction="out", limit=0)[inception] == ()


def test_negative_limit_or_bad_direction_is_a_value_error(case: Case) -> None:
    with pytest.raises(ValueError, match="limit"):
        case.kg.relations([case.e("Inception")], direction="out", limit=-1)
    with pytest.raises(ValueError, match="limit"):
        case.kg.neighbors([Hop(case.e("Inception"), case.r("directed_by"), "out")], limit=-1)
    with pytest.raises(ValueError, match="direction"):
        case.kg.relations([case.e("Inception")], direction="up")  # type: ignore[arg-type]


# -- neighbours ------------------------------------------------------------------------------------


def test_neighbors_in_both_directions(case: Case) -> None:
    directed_in = Hop(case.e("Christopher Nolan"), case.r("directed_by"), "in")
    starred_out = Hop(case.e("Titanic"), case.r("starred_actors"), "out")
    got = case.kg.neighbors([directed_in, starred_out])
    assert sorted(map(str, got[directed_in])) == sorted(
        case.e(name) for name in ("Inception", "Interstellar", "The Dark Knight")
    )
    assert set(got[starred_out]) == {case.e("Leonardo DiCaprio"), case.e("Kate Winslet")}


def test_neighbors_are_distinct(case: Case) -> None:
    hop = Hop(case.e("Leonardo DiCaprio"), case.r("starred_actors"), "in")
    nodes = case.kg.neighbors([hop])[hop]
    assert len(nodes) == len(set(nodes)) == 2


def test_every_requested_hop_is_a_key(case: Case) -> None:
    known = Hop(case.e("Inception"), case.r("directed_by"), "out")
    hops = [
        known,
        Hop("x", case.r("directed_by"), "out"),
        Hop(case.e("Inception"), case.r("no_such_relation"), "out"),
        Hop(case.e("Inception"), case.r("directed_by"), "in"),
        known,
    ]
    got = case.kg.neighbors(hops)
    assert set(got) == set(hops)
    assert got[known] == (case.e("Christopher Nolan"),)
    assert [got[hop] for hop in hops[1:4]] == [(), (), ()]


def test_neighbor_limit_is_a_deterministic_prefix(case: Case) -> None:
    hop = Hop(case.e("Christopher Nolan"), case.r("written_by"), "in")
    full = case.kg.neighbors([hop])[hop]
    assert len(full) == 3
    first = case.kg.neighbors([hop], limit=2)[hop]
    assert first == full[:2]
    assert case.kg.neighbors([hop], limit=2)[hop] == first
    assert case.kg.neighbors([hop], limit=0)[hop] == ()
    assert case.kg.neighbors([hop], limit=10)[hop] == full


def test_order_is_the_same_in_a_fresh_load(case: Case, build: Callable[[str], Case]) -> None:
    again = build(case.name)  # a server case: a fresh adapter and client on the same store
    hops = [
        Hop(case.e(entity), case.r(relation), direction)
        for entity in ("Christopher Nolan", "Leonardo DiCaprio", "Inception", "Jonathan Nolan")
        for relation in ("directed_by", "written_by", "starred_actors")
        for direction in ("in", "out")
    ]
    assert again.kg.neighbors(hops) == case.kg.neighbors(hops)


def test_literal_neighbours_come_back_as_values(case: Case) -> None:
    date = Hop(case.e("Inception"), case.r("release_date"), "out")
    runtime = Hop(case.e("Inception"), case.r("runtime_minutes"), "out")
    got = case.kg.neighbors([date, runtime])
    assert got[date] == (case.node("2010-07-16"),)
    assert got[runtime] == (case.node("148"),)
    if case.has_literals:
        assert isinstance(got[runtime][0], LiteralValue)
        assert str(got[runtime][0]) == "148"


def test_literals_have_no_relations(case: Case) -> None:
    # With literals, ask about the value's lexical form; without, the date is a node: its id.
    date = "2010-07-16" if case.has_literals else case.e("2010-07-16")
    got = {d: case.kg.relations([date], direction=d)[date] for d in ("out", "in")}
    if case.has_literals:
        # A literal is a value, not a node id: nothing hangs off it.
        assert got == {"out": (), "in": ()}
    else:
        # A plain-name TSV has no literals: the date is an entity like any other.
        assert got == {"out": (), "in": (case.r("release_date"),)}


def test_compound_node_is_reachable_and_expandable(case: Case) -> None:
    award_hop = Hop(case.e("Titanic"), case.r("won_award"), "out")
    (compound,) = case.kg.neighbors([award_hop])[award_hop]
    assert isinstance(compound, str)
    if not case.expands_blank_nodes:
        # SPARQL cannot name a blank node in a query: it is reached and kept as an unnamed
        # compound id, and asking about it is an empty answer, never an error or a wrong node.
        assert compound.startswith("_:")
        assert case.kg.labels([compound]) == {}
        assert case.kg.relations([compound], direction="out") == {compound: ()}
        year = Hop(compound, case.r("ceremony_year"), "out")
        assert case.kg.neighbors([year])[year] == ()
        return
    assert case.kg.relations([compound], direction="out") == {
        compound: (case.r("award"), case.r("ceremony_year"))
    }
    year = Hop(compound, case.r("ceremony_year"), "out")
    assert case.kg.neighbors([year])[year] == (case.node("1998"),)
    back = Hop(compound, case.r("won_award"), "in")
    assert case.kg.neighbors([back])[back] == (case.e("Titanic"),)


# -- labels ----------------------------------------------------------------------------------------


def test_labels_batch_with_unknown_absent(case: Case) -> None:
    ids = [case.e("Christopher Nolan"), case.e("Inception"), "x", case.e("Amélie")]
    got = case.kg.labels(ids)
    assert got == {
        case.e("Christopher Nolan"): "Christopher Nolan",
        case.e("Inception"): "Inception",
        case.e("Amélie"): "Amélie",
    }


def test_labels_never_invent_names(case: Case) -> None:
    assert case.kg.labels([]) == {}
    assert case.kg.labels(["x", "UnName_Entity", ""]) == {}


# -- entity search and mentions --------------------------------------------------------------------


def test_search_entities_exact_first(case: Case) -> None:
    matches = case.kg.search_entities("christopher NOLAN")
    assert matches[0] == EntityMatch(
        case.e("Christopher Nolan"), "Christopher Nolan", 1.0, exact=True
    )
    rest = matches[1:]
    if not case.fuzzy_search:
        assert rest == []
        return
    assert all(not m.exact and 0 < m.score < 1 for m in rest)
    assert [m.score for m in rest] == sorted((m.score for m in rest), reverse=True)
    if case.local_name_labels:  # Jonathan Nolan has no label, only an IRI local name
        assert case.e("Jonathan Nolan") in [m.id for m in rest], "a shared word: fuzzy match"


def test_search_entities_alias(case: Case) -> None:
    matches = case.kg.search_entities("Chris Nolan", limit=3)
    assert len(matches) <= 3
    if not case.has_aliases and not case.fuzzy_search:
        # No alias and no fuzzy ranking (ConceptNet over HTTP): nothing is named "Chris Nolan".
        assert matches == []
        return
    assert matches[0].id == case.e("Christopher Nolan")
    assert matches[0].exact is case.has_aliases


def test_search_entities_fuzzy_only(case: Case) -> None:
    matches = case.kg.search_entities("nolan")
    if not case.fuzzy_search:
        # Exact search only: a partial name never produces an (exact) match.
        assert matches == []
        return
    expected = {case.e("Christopher Nolan")}
    if case.local_name_labels:  # Jonathan Nolan is named only by his IRI's local name
        expected.add(case.e("Jonathan Nolan"))
    assert {m.id for m in matches} == expected
    assert all(not m.exact and m.score < 1.0 for m in matches)
    assert [m.id for m in matches] == [m.id for m in case.kg.search_entities("nolan")]


def test_search_entities_blank_and_unknown(case: Case) -> None:
    assert case.kg.search_entities("") == []
    assert case.kg.search_entities("  ?! ") == []
    assert case.kg.search_entities("zzzz qqqq") == []
    assert case.kg.search_entities("Inception", limit=0) == []


def test_find_mentions_on_a_question(case: Case) -> None:
    mentions = case.kg.find_mentions("Who directed Inception, and did Kate Winslet star in it?")
    assert [(text, [m.id for m in matches]) for text, matches in mentions] == [
        ("inception", [case.e("Inception")]),
        ("kate winslet", [case.e("Kate Winslet")]),
    ]
    assert all(m.exact and m.score == 1.0 for _, matches in mentions for m in matches)


def test_find_mentions_prefers_the_longest_span(case: Case) -> None:
    mentions = case.kg.find_mentions("What did the Dark Knight's writer Jonathan Nolan write?")
    # Jonathan Nolan has no label in tiny_kg.ttl: only adapters that name nodes by their IRI's
    # local name (or plain-name adapters) can find him.
    expected = (
        ["the dark knight", "jonathan nolan"] if case.local_name_labels else ["the dark knight"]
    )
    assert [text for text, _ in mentions] == expected


# -- optional capabilities -------------------------------------------------------------------------


def test_optional_capabilities(case: Case) -> None:
    assert isinstance(case.kg, SupportsEntitySearch)
    assert isinstance(case.kg, SupportsMentions)
    if not case.has_triples:
        assert not isinstance(case.kg, SupportsTriples)
        return
    assert isinstance(case.kg, SupportsTriples)
    triples = list(case.kg.triples())
    assert len(triples) == len(set(triples)) == NUM_EDGES
    assert all(isinstance(t, Triple) for t in triples)
    assert list(case.kg.triples(limit=3)) == triples[:3]
    assert (
        Triple(case.e("Inception"), case.r("directed_by"), case.e("Christopher Nolan")) in triples
    )


# -- RDF conventions shared by NetworkXGraph.from_rdf and RDFLibGraph ------------------------------


def test_rdf_label_rules(rdf_case: Case) -> None:
    kg = rdf_case.kg
    ids = [rdf_case.e(n) for n in ("Amélie", "Jonathan Nolan", "Science Fiction")]
    ids += [rdf_case.r("directed_by"), rdf_case.r("written_by")]
    expected = {
        rdf_case.e("Amélie"): "Amélie",  # @en preferred over @fr
        rdf_case.r("directed_by"): "directed by",  # rdfs:label of the predicate
    }
    if rdf_case.local_name_labels:
        expected |= {
            rdf_case.e("Jonathan Nolan"): "Jonathan Nolan",  # no label: IRI local name
            rdf_case.e("Science Fiction"): "Science Fiction",
            rdf_case.r("written_by"): "written by",  # local name of the predicate
        }
    assert kg.labels(ids) == expected


def test_rdf_blank_nodes_are_unnamed_ids(rdf_case: Case) -> None:
    hop = Hop(rdf_case.e("Titanic"), rdf_case.r("won_award"), "out")
    (compound,) = rdf_case.kg.neighbors([hop])[hop]
    assert isinstance(compound, str)
    assert compound.startswith("_:")
    assert rdf_case.kg.labels([compound]) == {}


def test_rdf_same_as_is_dropped(rdf_case: Case) -> None:
    wikidata = "http://www.wikidata.org/entity/Q25191"
    assert rdf_case.kg.relations([wikidata], direction="in") == {wikidata: ()}
    assert rdf_case.kg.labels([wikidata]) == {}
    assert rdf_case.kg.search_entities("Q25191") == []


def test_rdf_other_language_labels_serve_linking(rdf_case: Case) -> None:
    matches = rdf_case.kg.search_entities("le fabuleux destin d'amélie poulain")
    if not rdf_case.links_other_languages:
        # Exact lookup in the preferred languages (@en, untagged) only: the @fr title is not
        # found even spelled exactly; the @en label still is, up to case.
        assert matches == []
        assert rdf_case.kg.search_entities("Le Fabuleux Destin d'Amélie Poulain") == []
        assert rdf_case.kg.search_entities("AMÉLIE") == [
            EntityMatch(rdf_case.e("Amélie"), "Amélie", 1.0, exact=True)
        ]
        return
    assert matches[0] == EntityMatch(rdf_case.e("Amélie"), "Amélie", 1.0, exact=True)


def test_rdf_adapters_agree() -> None:
    in_memory = sorted(map(repr, build_networkx_rdf().kg.triples()))
    native = sorted(map(repr, build_rdflib().kg.triples()))

    def without_blank_ids(reprs: list[str]) -> list[str]:
        return sorted(r if "'_:" not in r else r.split("'_:")[0] for r in reprs)

    assert without_blank_ids(in_memory) == without_blank_ids(native)


def test_tsv_fixture_has_the_ttl_edges() -> None:
    rdf = build_networkx_rdf().kg
    labels = rdf.labels([t.subject for t in rdf.triples()] + [str(t.object) for t in rdf.triples()])

    def name(node: LiteralValue | str) -> str:
        if isinstance(node, LiteralValue):
            return node.lexical
        if node.startswith("_:"):
            return "Titanic at the 70th Academy Awards"
        return labels[node]

    from_ttl = {
        (name(t.subject), t.relation.removeprefix(NS), name(t.object)) for t in rdf.triples()
    }
    assert from_ttl == set(tsv_rows())
