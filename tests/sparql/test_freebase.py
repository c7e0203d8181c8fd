"""`FreebaseGraph` against a real Virtuoso (CWQ slice + freebase_tiny), and Oxigraph parity.

The same adapter code must give the same answers whichever server runs the query: Virtuoso says
``typed-literal`` where Oxigraph says ``literal`` with a datatype, and the adapter hides that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tog
from kg_adapters import Direction, EntityMatch, Hop, LiteralValue, Node
from kg_adapters.errors import KGResultTruncated
from kg_adapters.freebase import FreebaseGraph
from kg_adapters.sparql import FREEBASE, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint
from tests.services import FREEBASE_GRAPH, OxigraphServer, Virtuoso, need_oxigraph, need_virtuoso
from tests.shared_data import DATA, require
from tests.sparql.conftest import FREEBASE_TINY

pytestmark = pytest.mark.server

FB = "http://rdf.freebase.com/ns/"
XSD_DATE = "http://www.w3.org/2001/XMLSchema#date"
HIDDEN_PREFIXES = ("type.object.", "common.", "freebase.")
OBAMA = "m.02mjmr"
MICHELLE = "m.025s5v9"
PRESIDENCY_CVT = "m.0test01"  # a fake CVT id from freebase_tiny.nt
MARRIAGE_CVT = "m.0test02"
HUB = Hop("m.07ldhs", "film.actor.film", "out")  # 16 film performances in the slice
HUB_SIZE = 16
TOG = Path(sys.executable).parent / "tog"


@pytest.fixture(scope="module")
def fb(virtuoso_freebase: Virtuoso) -> Iterator[FreebaseGraph]:
    with FreebaseGraph(virtuoso_freebase.sparql_url, graph=FREEBASE_GRAPH) as graph:
        yield graph


@pytest.fixture(scope="module")
def fb_oxigraph(oxigraph_freebase: OxigraphServer) -> Iterator[SPARQLGraph]:
    endpoint = SPARQLEndpoint(oxigraph_freebase.query_url)
    yield SPARQLGraph(endpoint, FREEBASE)
    endpoint.close()


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    path = require(DATA / "freebase_cwq" / "questions.json")
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _tiny_mids() -> set[str]:
    """Every MID freebase_tiny.nt mentions (Virtuoso has these triples, oxigraph_freebase not)."""
    text = FREEBASE_TINY.read_text(encoding="utf-8")
    return set(re.findall(r"<http://rdf\.freebase\.com/ns/([mg]\.[0-9a-z_]+)>", text))


def _slice_subjects(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"^<http://rdf\.freebase\.com/ns/([mg]\.[0-9a-z_]+)>", text, re.M))


@pytest.fixture(scope="module")
def answerable(questions: list[dict[str, Any]], freebase_slice: Path) -> list[dict[str, Any]]:
    """The first 10 CWQ questions (file order) whose topic entities all are in the slice."""
    subjects = _slice_subjects(freebase_slice)
    chosen = [q for q in questions if q["topic_entity"] and set(q["topic_entity"]) <= subjects]
    assert len(chosen) >= 10
    return chosen[:10]


# -- relations and the Freebase policy (tog_spec §6.2) -------------------------------------------


def test_relations_of_obama_follow_the_policy(
    fb: FreebaseGraph, virtuoso_freebase: Virtuoso
) -> None:
    out = fb.relations([OBAMA], direction="out")[OBAMA]
    inc = fb.relations([OBAMA], direction="in")[OBAMA]
    for relations in (out, inc):
        assert relations == tuple(sorted(set(relations)))
        assert not [r for r in relations if r.startswith(HIDDEN_PREFIXES) or "sameAs" in r]
        assert all(FREEBASE.relation_id and FREEBASE.relation_id.fullmatch(r) for r in relations)
    assert {
        "people.person.place_of_birth",
        "people.person.date_of_birth",
        "people.person.nationality",
        "people.person.spouse_s",
        "government.politician.government_positions_held",
    } <= set(out)
    assert {
        "government.government_position_held.office_holder",
        "people.marriage.spouse",
    } <= set(inc)
    # The store really has the hidden predicates on this node: the policy removed them.
    raw, _ = virtuoso_freebase.query(f"SELECT DISTINCT ?p WHERE {{ <{FB}{OBAMA}> ?p ?o }}")
    stored = {b["p"]["value"].removeprefix(FB) for b in raw["results"]["bindings"]}
    assert {"type.object.name", "type.object.type", "common.topic.alias"} <= stored
    assert stored - set(out) >= {"type.object.name", "type.object.type", "common.topic.alias"}


def test_unknown_and_malformed_ids_map_to_empty(fb: FreebaseGraph) -> None:
    ids = ["m.nope", "Barack Obama", "", OBAMA]
    got = fb.relations(ids, direction="out")
    assert set(got) == set(ids)
    assert got["m.nope"] == got["Barack Obama"] == got[""] == ()
    assert got[OBAMA]


# -- neighbours: CVTs and literals (tog_spec §6.1, §6.3) -------------------------------------------


def test_neighbors_reach_the_cvt_and_its_typed_date(fb: FreebaseGraph) -> None:
    held = Hop(OBAMA, "government.politician.government_positions_held", "out")
    born = Hop(OBAMA, "people.person.date_of_birth", "out")
    got = fb.neighbors([held, born])
    assert PRESIDENCY_CVT in got[held]
    assert got[born] == (LiteralValue("1961-08-04", XSD_DATE),)
    start = Hop(PRESIDENCY_CVT, "government.government_position_held.from", "out")
    end = Hop(PRESIDENCY_CVT, "government.government_position_held.to", "out")
    office = Hop(
        PRESIDENCY_CVT, "government.government_position_held.office_position_or_title", "out"
    )
    holder = Hop(OBAMA, "government.government_position_held.office_holder", "in")
    got = fb.neighbors([start, end, office, holder])
    assert got[start] == (LiteralValue("2009-01-20", XSD_DATE),)
    assert got[end] == (LiteralValue("2017-01-20", XSD_DATE),)
    (value,) = got[start]
    assert isinstance(value, LiteralValue)
    assert value.datatype == XSD_DATE
    assert value.language is None
    assert got[office] == ("m.060d2",)
    assert PRESIDENCY_CVT in got[holder]
    assert fb.relations([PRESIDENCY_CVT], direction="out")[PRESIDENCY_CVT] == (
        "government.government_position_held.from",
        "government.government_position_held.jurisdiction_of_office",
        "government.government_position_held.office_holder",
        "government.government_position_held.office_position_or_title",
        "government.government_position_held.to",
    )


def test_marriage_cvt_leads_to_the_spouse(fb: FreebaseGraph) -> None:
    married = Hop(OBAMA, "people.person.spouse_s", "out")
    (cvt,) = [n for n in fb.neighbors([married])[married] if n == MARRIAGE_CVT]
    spouses = Hop(cvt, "people.marriage.spouse", "out")
    assert fb.neighbors([spouses])[spouses] == (MICHELLE, OBAMA)


def test_neighbour_cap_reports_the_true_count(fb: FreebaseGraph) -> None:
    small = Hop(OBAMA, "people.person.place_of_birth", "out")
    full = fb.neighbors([HUB])[HUB]
    assert len(full) == len(set(full)) == HUB_SIZE
    assert fb.neighbor_counts.last[HUB] == HUB_SIZE
    capped = fb.neighbors([HUB, small], limit=5)
    assert capped[HUB] == full[:5]
    assert capped[small] == ("m.02hrh0_",)
    assert fb.neighbor_counts.last == {HUB: HUB_SIZE, small: 1}
    assert fb.neighbors([HUB], limit=5)[HUB] == capped[HUB]  # deterministic


# -- labels and linking (tog_spec §6.4) ------------------------------------------------------------


def test_labels_batch_without_sentinels(fb: FreebaseGraph) -> None:
    ids = [OBAMA, PRESIDENCY_CVT, MICHELLE, MARRIAGE_CVT, "m.02hrh0_", "m.nope", "UnName_Entity"]
    got = fb.labels(ids)
    assert got == {OBAMA: "Barack Obama", MICHELLE: "Michelle Obama", "m.02hrh0_": "Honolulu"}
    assert "UnName_Entity" not in got.values()


def test_search_entities_by_name_and_alias(fb: FreebaseGraph) -> None:
    assert fb.search_entities("Barack Obama")[0] == EntityMatch(OBAMA, "Barack Obama", 1.0, True)
    assert fb.search_entities("barack obama")[0].id == OBAMA
    assert [m.id for m in fb.search_entities("Barack Hussein Obama II")] == [OBAMA]
    assert fb.search_entities("no such entity anywhere") == []


def test_find_mentions_on_a_cwq_question(
    fb: FreebaseGraph, questions: list[dict[str, Any]]
) -> None:
    (question,) = [
        q for q in questions if q["id"] == "WebQTest-626_8c6b952c6bd963f0ece4e401c9eb731a"
    ]
    assert question["question"] == "What does the Missouri River bisect in the Central Time Zone?"
    mentions = fb.find_mentions(question["question"])
    found = {text: [m.id for m in matches] for text, matches in mentions}
    assert found == {"missouri river": ["m.04ykz"], "central time zone": ["m.02fqwt"]}
    assert set(question["topic_entity"]) == {"m.04ykz", "m.02fqwt"}


# -- truncation: Virtuoso's ResultSetMaxRows (environment.md §4) -----------------------------------


@pytest.fixture(scope="module")
def virtuoso_max10() -> Iterator[Virtuoso]:
    """A small Virtuoso whose ResultSetMaxRows is 10, with freebase_tiny.nt only."""
    need_virtuoso()
    with Virtuoso(result_set_max_rows=10) as server:
        server.load(FREEBASE_TINY, FREEBASE_GRAPH)
        yield server


def test_capped_select_raises_and_select_all_pages(virtuoso_max10: Virtuoso) -> None:
    with SPARQLEndpoint(virtuoso_max10.sparql_url, default_graph=FREEBASE_GRAPH) as endpoint:
        with pytest.raises(KGResultTruncated, match="10 rows"):
            endpoint.select("SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 20")
        assert len(endpoint.select("SELECT ?s WHERE { ?s ?p ?o } LIMIT 9").rows) == 9
        every = endpoint.select_all("SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o")
        triples = [line for line in FREEBASE_TINY.read_text().splitlines() if line.startswith("<")]
        assert len(triples) == 34
        assert len(every.rows) == len({tuple(sorted(r.items())) for r in every.rows}) == 34


def test_adapter_splits_or_raises_but_never_answers_short(virtuoso_max10: Virtuoso) -> None:
    """A capped answer is re-asked in smaller batches; one id that still overflows is an error.

    Never a silently short answer.
    """
    with FreebaseGraph(virtuoso_max10.sparql_url, graph=FREEBASE_GRAPH) as graph:
        # Michelle Obama: 2 predicates, under the cap.
        assert graph.relations([MICHELLE], direction="out") == {
            MICHELLE: ("people.person.spouse_s",)
        }
        # Obama has 10 distinct predicates (7 after the policy): the raw result hits the cap.
        with pytest.raises(KGResultTruncated):
            graph.relations([OBAMA], direction="out")
        many = ["m.02mjmr", "m.025s5v9", "m.02hrh0_", "m.03gh4", "m.09c7w0", "m.0rh6k"]
        many += ["m.060d2", "m.05zppz", "m.04gc2", "m.01mp"]
        # 10 names + 2 aliases in one batch hit the cap: the batch is split, nothing is lost.
        split = graph.labels(many)
        assert split == {**graph.labels(many[:5]), **graph.labels(many[5:])}
        assert len(split) == len(many)


# -- the same answers from Oxigraph over HTTP ------------------------------------------------------


def _parity_entities(answerable: list[dict[str, Any]]) -> list[str]:
    """CWQ topic entities that freebase_tiny.nt does not touch, plus the hub."""
    tiny = _tiny_mids()
    ids = sorted({m for q in answerable for m in q["topic_entity"]} - tiny)
    return [*ids, HUB.entity]


def _same_answers(virt: SPARQLGraph, oxi: SPARQLGraph, entities: list[str]) -> list[Node]:
    """Assert the key calls agree on both servers; return every node reached."""
    hops: list[Hop] = []
    directions: tuple[Direction, ...] = ("out", "in")
    for direction in directions:
        got = virt.relations(entities, direction=direction)
        assert got == oxi.relations(entities, direction=direction)
        hops += [Hop(e, r, direction) for e in entities for r in got[e]]
    nodes = virt.neighbors(hops, limit=50)
    counts = dict(virt.neighbor_counts.last)
    assert nodes == oxi.neighbors(hops, limit=50)
    assert counts == oxi.neighbor_counts.last
    reached = [n for found in nodes.values() for n in found]
    ids = sorted({n for n in reached if isinstance(n, str)} | set(entities))
    names = virt.labels(ids)
    assert names == oxi.labels(ids)
    assert names
    for name in sorted(set(names.values()))[:25]:
        assert virt.search_entities(name) == oxi.search_entities(name)
    return reached


def test_oxigraph_freebase_gives_the_same_answers_as_virtuoso(
    fb: FreebaseGraph, fb_oxigraph: SPARQLGraph, answerable: list[dict[str, Any]]
) -> None:
    """Slice entities only: oxigraph_freebase does not hold freebase_tiny.nt."""
    entities = _parity_entities(answerable)
    assert len(entities) >= 8
    reached = _same_answers(fb, fb_oxigraph, entities)
    assert len(reached) > 20


@pytest.fixture(scope="module")
def oxigraph_same_data(freebase_slice: Path) -> Iterator[SPARQLGraph]:
    """An Oxigraph server with exactly Virtuoso's data: slice.nt + freebase_tiny.nt."""
    need_oxigraph()
    with (
        OxigraphServer([freebase_slice, FREEBASE_TINY]) as server,
        SPARQLEndpoint(server.query_url) as endpoint,
    ):
        yield SPARQLGraph(endpoint, FREEBASE)


def test_typed_literals_are_the_same_from_both_servers(
    fb: FreebaseGraph, oxigraph_same_data: SPARQLGraph, virtuoso_freebase: Virtuoso
) -> None:
    """Virtuoso answers ``typed-literal``, Oxigraph ``literal`` + datatype: the adapter hides it."""
    raw, _ = virtuoso_freebase.query(
        f"SELECT ?d WHERE {{ <{FB}{PRESIDENCY_CVT}> "
        f"<{FB}government.government_position_held.from> ?d }}"
    )
    assert raw["results"]["bindings"][0]["d"]["type"] == "typed-literal"
    entities = [OBAMA, MICHELLE, PRESIDENCY_CVT, MARRIAGE_CVT, "m.09c7w0", "m.02hrh0_"]
    reached = _same_answers(fb, oxigraph_same_data, entities)
    dates = {n for n in reached if isinstance(n, LiteralValue)}
    assert dates == {
        LiteralValue("1961-08-04", XSD_DATE),
        LiteralValue("2009-01-20", XSD_DATE),
        LiteralValue("2017-01-20", XSD_DATE),
        LiteralValue("1992-10-03", XSD_DATE),
    }


# -- end to end: ToG offline over Virtuoso ---------------------------------------------------------

_UNNAMED_ID = re.compile(r"^[mg]\.[0-9a-z_]+$")


def test_tog_answers_cwq_questions_offline(
    fb: FreebaseGraph, answerable: list[dict[str, Any]]
) -> None:
    config = tog.SearchConfig(width=3, depth=3)
    calls = []
    for question in answerable:
        result = tog.answer(
            question["question"],
            kg=fb,
            topic_entities=list(question["topic_entity"]),
            config=config,
            question_id=question["id"],
        )
        assert result.stop_reason, question["id"]
        assert result.usage.kg_calls > 0
        calls.append(result.usage.kg_calls)
    assert sum(calls) / len(calls) <= 15, calls


def test_tog_never_answers_with_an_unnamed_node_id(
    fb: FreebaseGraph, answerable: list[dict[str, Any]]
) -> None:
    """tog_spec §6.3: an unnamed node (a CVT) never becomes a name in an answer."""
    config = tog.SearchConfig(width=3, depth=3)
    leaked = {}
    for question in answerable:
        result = tog.answer(
            question["question"],
            kg=fb,
            topic_entities=list(question["topic_entity"]),
            config=config,
        )
        bad = [a for a in result.answers if _UNNAMED_ID.match(a)]
        if bad:
            leaked[question["id"]] = bad
    assert leaked == {}


def test_tog_ask_cli_over_virtuoso(virtuoso_freebase: Virtuoso) -> None:
    done = subprocess.run(
        [
            str(TOG),
            "ask",
            "Where was Barack Obama born?",
            "--kg",
            f"sparql+freebase:{virtuoso_freebase.sparql_url}",
            "--topic",
            OBAMA,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["topic_entities"] == {OBAMA: "Barack Obama"}
    assert result["answer"]
    assert result["usage"]["kg_calls"] > 0
    assert result["answer"] == "Honolulu"
