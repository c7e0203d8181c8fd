"""Pure SPARQL building and parsing, and the guarantee that hostile text never reaches a query."""

from __future__ import annotations

import pyoxigraph
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kg_adapters import Hop, LiteralValue
from kg_adapters._sparql import (
    check_iri,
    exact_label_query,
    labels_query,
    neighbor_counts_query,
    neighbors_query,
    parse_results,
    pick_label,
    relations_query,
    string_literal,
)
from kg_adapters.errors import KGDataError
from kg_adapters.sparql import FREEBASE, RDF, WIKIDATA, SPARQLGraph

NS = "http://rdf.freebase.com/ns/"

HOSTILE = [
    'm.0abc"',
    "m.0abc> } UNION { ?s ?p ?o",
    "m.0abc}",
    "m.0abc\nINSERT DATA { <a> <b> <c> }",
    "http://x/a b",
    "http://x/a>",
    "film.film.directed_by } ; DROP ALL",
    "<http://evil/>",
    "",
    "m.",
    "Q42 } UNION {",
    'P57"',
]


def store_source():
    store = pyoxigraph.Store()
    store.load(
        input=(
            f'<{NS}m.02mjmr> <{NS}type.object.name> "Barack Obama"@en .\n'
            f"<{NS}m.02mjmr> <{NS}people.person.place_of_birth> <{NS}m.02hrh0_> .\n"
            f'<{NS}m.02hrh0_> <{NS}type.object.name> "Honolulu"@en .\n'
            f'<{NS}m.02mjmr> <{NS}common.topic.alias> "Obama"@en .\n'
            f"<{NS}m.02mjmr> <{NS}type.object.type> <{NS}people.person> .\n"
        ),
        format=pyoxigraph.RdfFormat.N_TRIPLES,
    )
    queries: list[str] = []

    class Source:
        def select(self, query: str):
            queries.append(query)
            data = store.query(query).serialize(format=pyoxigraph.QueryResultsFormat.JSON)
            import json

            return parse_results(json.loads(data))

    return Source(), queries


def test_builders_emit_full_iris_that_oxigraph_parses():
    source, _ = store_source()
    entity = NS + "m.02mjmr"
    relation = NS + "people.person.place_of_birth"
    for query in (
        relations_query([entity], "out", limit=10),
        relations_query([entity], "in", limit=10, graph=NS),
        neighbors_query([(entity, relation)], "out", limit=10),
        neighbor_counts_query([(entity, relation)], "in"),
        labels_query([entity], [NS + "type.object.name"], limit=10),
        exact_label_query("Barack Obama", [NS + "type.object.name"], ["en", None], limit=5),
    ):
        assert "ns:" not in query
        assert "DISTINCT" in query or "COUNT" in query
        assert "LIMIT" in query
        source.select(query)  # parses and runs on Oxigraph (which rejects multi-dot prefixes)


def test_check_iri_rejects_hostile_text():
    assert check_iri("http://rdf.freebase.com/ns/m.02mjmr")
    for bad in ['http://x/a"', "http://x/a b", "http://x/a>", "http://x/{a}", "m.0abc", "", "a:\n"]:
        with pytest.raises(ValueError, match="not a valid IRI"):
            check_iri(bad)


@given(st.text(max_size=200))
@settings(max_examples=500, deadline=None)
def test_string_literals_round_trip_through_a_real_parser(text: str):
    if any(ch < " " and ch not in "\t\n\r\b\f" for ch in text):
        with pytest.raises(ValueError, match="control characters"):
            string_literal(text)
        return
    store = pyoxigraph.Store()
    query = f"SELECT ?x WHERE {{ BIND({string_literal(text, language='en')} AS ?x) }}"
    [row] = list(store.query(query))
    assert row["x"].value == text


@pytest.mark.parametrize("profile", [FREEBASE, WIKIDATA])
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_never_reach_the_store(profile, hostile: str):
    source, queries = store_source()
    kg = SPARQLGraph(source, profile)
    assert kg.relations([hostile], direction="out") == {hostile: ()}
    assert (
        kg.neighbors([Hop(hostile, "people.person.place_of_birth", "out")])[
            Hop(hostile, "people.person.place_of_birth", "out")
        ]
        == ()
    )
    assert kg.neighbors([Hop("m.02mjmr", hostile, "out")]) == {Hop("m.02mjmr", hostile, "out"): ()}
    assert hostile not in kg.labels([hostile])
    for query in queries:
        assert hostile not in query or hostile in ("m.", "")


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if h])
def test_hostile_search_text_is_an_escaped_literal(hostile: str):
    source, queries = store_source()
    kg = SPARQLGraph(source, FREEBASE)
    assert kg.search_entities(hostile) == []
    assert queries, "the text was looked up"
    assert all("INSERT" not in q.replace('\\"', "") or '"' in q for q in queries)


def test_freebase_profile_policy_and_short_ids():
    source, _ = store_source()
    kg = SPARQLGraph(source, FREEBASE)
    assert kg.relations(["m.02mjmr"], direction="out") == {
        "m.02mjmr": ("people.person.place_of_birth",)
    }
    hop = Hop("m.02mjmr", "people.person.place_of_birth", "out")
    assert kg.neighbors([hop]) == {hop: ("m.02hrh0_",)}
    assert kg.neighbor_counts.last == {hop: 1}
    assert kg.labels(["m.02mjmr", "m.02hrh0_", "m.nothing"]) == {
        "m.02mjmr": "Barack Obama",
        "m.02hrh0_": "Honolulu",
    }
    assert [m.id for m in kg.search_entities("Obama")] == ["m.02mjmr"]
    assert kg.find_mentions("Where was barack obama born?")[0][0] == "barack obama"


def test_parse_results_reads_every_term_type():
    rows = parse_results(
        {
            "head": {"vars": ["a", "b", "c", "d", "e"]},
            "results": {
                "bindings": [
                    {
                        "a": {"type": "uri", "value": "http://x/a"},
                        "b": {"type": "bnode", "value": "b0"},
                        "c": {"type": "literal", "value": "hi", "xml:lang": "en"},
                        "d": {
                            "type": "typed-literal",
                            "value": "2009-01-20",
                            "datatype": "http://www.w3.org/2001/XMLSchema#date",
                        },
                        "e": {"type": "literal", "value": "1", "datatype": "http://x/int"},
                    }
                ]
            },
        }
    ).rows
    assert rows == [
        {
            "a": "http://x/a",
            "b": "_:b0",
            "c": LiteralValue("hi", None, "en"),
            "d": LiteralValue("2009-01-20", "http://www.w3.org/2001/XMLSchema#date"),
            "e": LiteralValue("1", "http://x/int"),
        }
    ]


@pytest.mark.parametrize("bad", [[], {"results": {}}, {"results": {"bindings": [{"x": 1}]}}])
def test_parse_results_rejects_malformed_answers(bad):
    with pytest.raises(KGDataError):
        parse_results(bad)


def test_pick_label_prefers_languages_in_order():
    labels = [LiteralValue("Munich", language="en"), LiteralValue("München", language="de")]
    assert pick_label(labels, ["de", "en"]) == "München"
    assert pick_label(labels, ["fr", None]) == "Munich"
    assert pick_label([LiteralValue("x")], ["en", None]) == "x"


def test_rdf_profile_uses_full_iris():
    source, _ = store_source()
    kg = SPARQLGraph(source, RDF)
    rels = kg.relations([NS + "m.02mjmr"], direction="out")[NS + "m.02mjmr"]
    assert NS + "people.person.place_of_birth" in rels
    assert all(r.startswith(NS) for r in rels)  # ids are the full IRIs
    assert kg.profile.relation_of("http://www.w3.org/2000/01/rdf-schema#label") is None
