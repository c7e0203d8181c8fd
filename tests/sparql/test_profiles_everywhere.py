"""The Freebase profile gives the same answers over rdflib, embedded Oxigraph and Virtuoso."""

from __future__ import annotations

import pytest

from kg_adapters import Hop, OxigraphGraph
from kg_adapters.opening import open_graph
from kg_adapters.sparql import FREEBASE, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint
from tests.services import FREEBASE_GRAPH, Virtuoso
from tests.shared_data import ROOT

TINY = ROOT / "tests" / "fixtures" / "freebase_tiny.nt"
OBAMA = "m.02mjmr"


def answers(kg) -> dict[str, object]:
    relations = {d: kg.relations([OBAMA], direction=d)[OBAMA] for d in ("out", "in")}
    hops = [Hop(OBAMA, r, "out") for r in relations["out"]]
    reached = kg.neighbors(hops)
    nodes = sorted({str(n) for hop in hops for n in reached[hop]})
    return {
        "relations": relations,
        "reached": {hop.relation: sorted(map(str, reached[hop])) for hop in hops},
        "labels": kg.labels([OBAMA, *nodes]),
        "search": [m.id for m in kg.search_entities("barack obama")],
    }


@pytest.mark.server
def test_rdflib_oxigraph_and_virtuoso_agree(virtuoso_freebase: Virtuoso):
    rdflib_kg = open_graph(f"rdflib+freebase:{TINY}")
    assert isinstance(rdflib_kg, SPARQLGraph)
    oxigraph_kg = OxigraphGraph(None, profile="freebase")
    oxigraph_kg.load(TINY)
    virtuoso = SPARQLGraph(
        SPARQLEndpoint(virtuoso_freebase.sparql_url), FREEBASE, graph=FREEBASE_GRAPH
    )
    expected = answers(rdflib_kg)
    assert expected["relations"]["out"], "the fixture gives Obama outgoing relations"
    assert "type.object.name" not in expected["relations"]["out"]
    assert expected["search"][0] == OBAMA  # exact first; fuzzy neighbours may follow
    assert answers(oxigraph_kg) == expected
    # Virtuoso also holds the CWQ slice: compare on what the tiny fixture defines.
    got = answers(virtuoso)
    for direction in ("out", "in"):
        assert set(expected["relations"][direction]) <= set(got["relations"][direction])
    for relation, nodes in expected["reached"].items():
        assert set(nodes) <= set(got["reached"][relation])
    assert {k: v for k, v in got["labels"].items() if k in expected["labels"]} == expected["labels"]
    oxigraph_kg.close()
    virtuoso.source.close()
