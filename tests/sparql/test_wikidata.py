"""`WikidataGraph` against a real Oxigraph server loaded with wikidata_tiny.ttl."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tog
from kg_adapters import EntityMatch, Hop, LiteralValue
from kg_adapters.wikidata import WikidataGraph
from tests.services import OxigraphServer

pytestmark = pytest.mark.server

WD = "http://www.wikidata.org/entity/"
WDT = "http://www.wikidata.org/prop/direct/"
XSD = "http://www.w3.org/2001/XMLSchema#"
DROPPED = {"P18", "P345", "P646", "P856"}  # image (CommonsMedia), 2 external ids, URL


@pytest.fixture(scope="module")
def wd(oxigraph_wikidata: OxigraphServer) -> Iterator[WikidataGraph]:
    with WikidataGraph(oxigraph_wikidata.query_url) as graph:
        yield graph


@pytest.fixture(scope="module")
def wd_de(oxigraph_wikidata: OxigraphServer) -> Iterator[WikidataGraph]:
    with WikidataGraph(oxigraph_wikidata.query_url, language="de") as graph:
        yield graph


def _stored_predicates(server: OxigraphServer, entity: str) -> set[str]:
    result, _ = server.query(f"SELECT DISTINCT ?p WHERE {{ <{WD}{entity}> ?p ?o }}")
    return {b["p"]["value"].removeprefix(WDT) for b in result["results"]["bindings"]}


# -- the relation policy (tog_spec §6.2) -----------------------------------------------------------


def test_relations_drop_ids_urls_and_media(
    wd: WikidataGraph, oxigraph_wikidata: OxigraphServer
) -> None:
    got = wd.relations(["Q42", "Q90"], direction="out")
    assert got["Q42"] == ("P106", "P19", "P20", "P21", "P26", "P27", "P31", "P569", "P570")
    assert {"P17", "P31"} <= set(got["Q90"])
    assert not DROPPED & (set(got["Q42"]) | set(got["Q90"]))
    # The store has them: the policy dropped them (and the label/alias/description predicates).
    assert {"P18", "P345", "P646"} <= _stored_predicates(oxigraph_wikidata, "Q42")
    assert {"P856", "P646"} <= _stored_predicates(oxigraph_wikidata, "Q90")


def test_country_citizenship_and_instance_of_are_kept(wd: WikidataGraph) -> None:
    assert wd.relations(["Q30"], direction="in") == {"Q30": ("P17", "P27", "P495")}
    assert "P31" in wd.relations(["Q25188"], direction="out")["Q25188"]
    assert "P577" in wd.relations(["Q25188"], direction="out")["Q25188"]  # dates are answers
    hops = [Hop("Q42", "P27", "out"), Hop("Q90", "P17", "out"), Hop("Q42", "P31", "out")]
    assert wd.neighbors(hops) == {hops[0]: ("Q145",), hops[1]: ("Q142",), hops[2]: ("Q5",)}


def test_wikidata_ids_outside_the_profile_are_unknown(wd: WikidataGraph) -> None:
    ids = ["Q42", f"{WD}Q42", "q42", "P31", "Douglas Adams"]
    got = wd.relations(ids, direction="out")
    assert set(got) == set(ids)
    assert got[f"{WD}Q42"] == got["Q42"]  # the full IRI maps to the same entity
    assert got["q42"] == got["Douglas Adams"] == ()


# -- labels ----------------------------------------------------------------------------------------


def test_relation_labels_come_from_property_entities(wd: WikidataGraph) -> None:
    assert wd.labels(["P57"]) == {"P57": "director"}
    assert wd.labels(["P17", "P27", "P31", "P577"]) == {
        "P17": "country",
        "P27": "country of citizenship",
        "P31": "instance of",
        "P577": "publication date",
    }


def test_entity_labels_with_unknown_absent(wd: WikidataGraph) -> None:
    got = wd.labels(["Q42", "Q5", "Q99999999", "Q25188", "nope"])
    assert got == {"Q42": "Douglas Adams", "Q5": "human", "Q25188": "Inception"}


def test_labels_in_german_fall_back_to_english(wd_de: WikidataGraph) -> None:
    got = wd_de.labels(["Q142", "Q5", "P57", "P17", "Q17", "Q90000020", "Q99999999"])
    assert got == {
        "Q142": "Frankreich",
        "Q5": "Mensch",
        "P57": "Regisseur",
        "P17": "Staat",
        "Q17": "Japan",  # en, not fr "Japon" nor ja
        "Q90000020": "Jane Belson",  # only @en
    }


# -- literals --------------------------------------------------------------------------------------


def test_literal_dates_and_quantities_are_values(wd: WikidataGraph) -> None:
    born = Hop("Q42", "P569", "out")
    died = Hop("Q42", "P570", "out")
    runtime = Hop("Q25188", "P2047", "out")
    got = wd.neighbors([born, died, runtime])
    assert got[born] == (LiteralValue("1952-03-11T00:00:00Z", f"{XSD}dateTime"),)
    assert got[died] == (LiteralValue("2001-05-11T00:00:00Z", f"{XSD}dateTime"),)
    assert got[runtime] == (LiteralValue("148", f"{XSD}decimal"),)
    (value,) = got[born]
    assert isinstance(value, LiteralValue)
    assert str(value) == "1952-03-11T00:00:00Z"


# -- entity search ---------------------------------------------------------------------------------


def test_search_by_label(wd: WikidataGraph) -> None:
    assert wd.search_entities("Douglas Adams") == [EntityMatch("Q42", "Douglas Adams", 1.0, True)]
    assert [m.id for m in wd.search_entities("douglas adams")] == ["Q42"]
    assert wd.search_entities("Titanic", limit=1)[0].id == "Q44578"
    assert wd.search_entities("no such thing") == []


def test_search_by_alias(wd: WikidataGraph) -> None:
    assert [m.id for m in wd.search_entities("DNA")] == ["Q42"]
    assert [m.id for m in wd.search_entities("Holland")] == ["Q55"]
    assert [m.id for m in wd.search_entities("Madame Curie")] == ["Q7186"]
    assert [m.id for m in wd.search_entities("movie")] == ["Q11424"]
    assert all(m.exact and m.score == 1.0 for m in wd.search_entities("UK"))


def test_search_is_case_insensitive(wd: WikidataGraph) -> None:
    """Exact means exact up to case: "uk", "united KINGDOM" and "UNITED KINGDOM" are the UK."""
    for text in ("UK", "uk", "united KINGDOM", "UNITED KINGDOM", "united kingdom"):
        assert [m.id for m in wd.search_entities(text)] == ["Q145"], text


def test_search_in_the_preferred_language(wd_de: WikidataGraph) -> None:
    assert [m.id for m in wd_de.search_entities("Frankreich")] == ["Q142"]
    assert [m.id for m in wd_de.search_entities("Douglas Adams")] == ["Q42"]


def test_find_mentions(wd: WikidataGraph) -> None:
    mentions = wd.find_mentions("Who directed Inception, and where was Douglas Adams born?")
    assert [(text, [m.id for m in found]) for text, found in mentions] == [
        ("inception", ["Q25188"]),
        ("douglas adams", ["Q42"]),
    ]


# -- end to end ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "topic", "expected"),
    [
        ("Who directed Inception?", "Q25188", "Christopher Nolan"),
        ("What is the capital of France?", "Q142", "Paris"),
        ("Where was Douglas Adams born?", "Q42", "Cambridge"),
    ],
)
def test_tog_answers_offline_over_wikidata(
    wd: WikidataGraph, question: str, topic: str, expected: str
) -> None:
    result = tog.answer(question, kg=wd, topic_entities=[topic])
    assert result.answer == expected
    assert result.topic_entities == {topic: wd.labels([topic])[topic]}
    assert result.usage.kg_calls > 0
    assert result.paths


# -- descriptions ----------------------------------------------------------------------------------


@pytest.mark.server
def test_descriptions_from_schema_description(wd: WikidataGraph, wd_de: WikidataGraph) -> None:
    assert wd.descriptions(["Q42", "Q99999999", "nope"]) == {
        "Q42": "English science fiction writer and humorist (1952–2001)"
    }
    # No German description in the fixture: the English one is the fallback.
    assert wd_de.descriptions(["Q5", "Q142"]) == {
        "Q5": "common name of Homo sapiens",
        "Q142": "country in Western Europe",
    }
    assert wd_de.descriptions(["Q99999999"]) == {}
