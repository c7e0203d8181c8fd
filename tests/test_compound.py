"""Compound (CVT) nodes are shown by their own facts, never as a bare id or an invented name."""

from __future__ import annotations

import json

import pyoxigraph

import tog
from kg_adapters import Hop, LiteralValue
from kg_adapters._sparql import parse_results
from kg_adapters.sparql import FREEBASE, SPARQLGraph

NS = "http://rdf.freebase.com/ns/"
XSD_DATE = "http://www.w3.org/2001/XMLSchema#date"
TRIPLES = f"""
<{NS}m.02mjmr> <{NS}type.object.name> "Barack Obama"@en .
<{NS}m.02mjmr> <{NS}government.politician.government_positions_held> <{NS}m.0cvt1> .
<{NS}m.0cvt1> <{NS}government.government_position_held.office_position_or_title> <{NS}m.060d2> .
<{NS}m.0cvt1> <{NS}government.government_position_held.from> "2009-01-20"^^<{XSD_DATE}> .
<{NS}m.0cvt1> <{NS}type.object.type> <{NS}government.government_position_held> .
<{NS}m.060d2> <{NS}type.object.name> "President of the United States"@en .
"""


def graph() -> SPARQLGraph:
    raw = pyoxigraph.Store()
    raw.load(input=TRIPLES, format=pyoxigraph.RdfFormat.N_TRIPLES)

    class Source:
        def select(self, query: str):
            data = raw.query(query).serialize(format=pyoxigraph.QueryResultsFormat.JSON)
            return parse_results(json.loads(data))

    return SPARQLGraph(Source(), FREEBASE)


def test_describe_lists_a_cvts_own_facts_after_the_policy():
    kg = graph()
    facts = kg.describe(["m.0cvt1", "m.nothing"])
    assert facts["m.nothing"] == ()
    assert dict(facts["m.0cvt1"]) == {
        "government.government_position_held.from": LiteralValue("2009-01-20", XSD_DATE),
        "government.government_position_held.office_position_or_title": "m.060d2",
    }
    assert "m.0cvt1" not in kg.labels(["m.0cvt1"])  # unnamed: absent, never "UnName_Entity"


def test_the_search_shows_compound_nodes_by_their_facts_and_never_answers_with_them():
    kg = graph()
    hop = Hop("m.02mjmr", "government.politician.government_positions_held", "out")
    assert kg.neighbors([hop])[hop] == ("m.0cvt1",)
    result = tog.answer(
        "When did Barack Obama start as President of the United States?",
        kg=kg,
        topic_entities=["m.02mjmr"],
    )
    compound = result.labels["m.0cvt1"]
    assert compound.startswith("[compound: ")
    assert "from = 2009-01-20" in compound
    assert "office position or title = President of the United States" in compound
    assert not any(a.startswith("[compound") for a in result.answers)
    assert any(e.kind == "describe" for e in result.trace)
    prompts = [e.request for e in result.trace.llm_events()]
    assert "m.0cvt1" not in json.dumps(prompts)  # the model sees facts, not the bare id
    assert "2009-01-20" in result.answers
