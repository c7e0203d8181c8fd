"""SPARQL injection: hostile ids, relation names and search texts against real servers.

Every call must return an ordinary (empty) answer or raise ValueError, never a server error; the
store must be unchanged; and the query text actually sent (recorded at the HTTP layer) must
never carry a hostile id, and carry a hostile search text only inside an escaped string literal
(proved by parsing the recorded query with pyoxigraph and replaying it on a store where exactly
one entity bears that text as its name).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import pyoxigraph
import pytest

from kg_adapters import Hop
from kg_adapters.errors import KGError
from kg_adapters.freebase import FreebaseGraph
from kg_adapters.sparql import FREEBASE_NS, RDFS_LABEL, WD_DIRECT, WD_ENTITY, SPARQLGraph
from kg_adapters.sparql_http import SPARQLEndpoint
from kg_adapters.wikidata import WikidataGraph
from tests.services import FREEBASE_GRAPH, OxigraphServer, Virtuoso, sparql_json

pytestmark = pytest.mark.server

T = TypeVar("T")

MARK = "EVILMARK"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"

HOSTILE = [
    '"',
    "'",
    "}",
    "{",
    "} UNION { ?s ?p ?o }",
    '" } UNION { ?s ?p ?o } #',
    "> } UNION { ?s ?p ?o } #",
    '"; DROP ALL',
    "'; DROP ALL; --",
    "DROP ALL",
    "CLEAR DEFAULT",
    "INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }",
    '"} ; INSERT DATA { <http://x/a> <http://x/b> "c" } ; SELECT * WHERE { "',
    "DELETE WHERE { ?s ?p ?o }",
    "line\nbreak",
    "carriage\rreturn\ttab",
    "http://x/a b",
    "http://x/a>",
    "http://x/a> <http://x/b> <http://x/c",
    "<http://x/a>",
    "back\\slash",
    "\\",
    "\\u0022 } UNION { ?s ?p ?o } #",
    '\\" } UNION { ?s ?p ?o } #',
    "\u0000",
    "nul\u0000byte",
    "Ωμέγα 🚀 名前 ‮rtl",
    "?x",
    "$x",
    "#comment",
    "@en",
    '"""',
    "'''",
    "x" * 5000,
    "a" * 100_000,
]


@dataclass
class Recorder:
    """Every SPARQL query text the HTTP client sent."""

    queries: list[str] = field(default_factory=list)

    def hook(self, request: httpx.Request) -> None:
        body = request.read().decode("utf-8")
        form = urllib.parse.parse_qs(body, keep_blank_values=True)
        self.queries.extend(form.get("query", []))


def _client(recorder: Recorder) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=60.0, event_hooks={"request": [recorder.hook]})


@dataclass
class Target:
    """A graph over a real server, with the recorder on its HTTP client."""

    name: str
    graph: SPARQLGraph
    recorder: Recorder
    count: Callable[[], int]
    valid_entity: str
    valid_relation: str
    entity_ns: str
    label_predicate: str


def _count(endpoint: str, default_graph: str | None = None) -> int:
    result, _ = sparql_json(endpoint, COUNT, default_graph=default_graph)
    return int(result["results"]["bindings"][0]["n"]["value"])


@pytest.fixture(scope="module")
def virtuoso_target(virtuoso_freebase: Virtuoso) -> Iterator[Target]:
    recorder = Recorder()
    client = _client(recorder)

    def count() -> int:
        # The Freebase graph, and every graph together (an INSERT could go anywhere).
        url = virtuoso_freebase.sparql_url
        return _count(url, FREEBASE_GRAPH) * 10**9 + _count(url)

    graph = FreebaseGraph(virtuoso_freebase.sparql_url, graph=FREEBASE_GRAPH, client=client)
    yield Target(
        "virtuoso+freebase",
        graph,
        recorder,
        count,
        "m.02mjmr",
        "people.person.place_of_birth",
        FREEBASE_NS,
        FREEBASE_NS + "type.object.name",
    )
    client.close()


@pytest.fixture(scope="module")
def oxigraph_wikidata_target(oxigraph_wikidata: OxigraphServer) -> Iterator[Target]:
    recorder = Recorder()
    client = _client(recorder)
    graph = WikidataGraph(oxigraph_wikidata.query_url, client=client)
    yield Target(
        "oxigraph+wikidata",
        graph,
        recorder,
        lambda: _count(oxigraph_wikidata.query_url),
        "Q42",
        "P27",
        WD_ENTITY,
        RDFS_LABEL,
    )
    client.close()


@pytest.fixture(scope="module")
def oxigraph_freebase_target(oxigraph_freebase: OxigraphServer) -> Iterator[Target]:
    recorder = Recorder()
    client = _client(recorder)
    graph = FreebaseGraph(oxigraph_freebase.query_url, client=client)
    yield Target(
        "oxigraph+freebase",
        graph,
        recorder,
        lambda: _count(oxigraph_freebase.query_url),
        "m.02mjmr",
        "people.person.place_of_birth",
        FREEBASE_NS,
        FREEBASE_NS + "type.object.name",
    )
    client.close()


TARGETS = ["virtuoso_target", "oxigraph_wikidata_target", "oxigraph_freebase_target"]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> Target:
    chosen: Target = request.getfixturevalue(request.param)
    chosen.recorder.queries.clear()
    return chosen


def _hostile_ids(target: Target) -> list[str]:
    """Each hostile string bare, glued to a valid id, and glued to the valid id's full IRI."""
    out = []
    for text in HOSTILE:
        out += [text + MARK, target.valid_entity + text + MARK]
        out += [target.entity_ns + target.valid_entity + text + MARK]
    return out


def _calm(call: Callable[[], T], what: object = None) -> T | None:
    """The call's answer, or None when it refused with ValueError; any other error fails."""
    try:
        return call()
    except ValueError:
        return None
    except KGError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(
            f"server error instead of a calm refusal for {what!r}: {type(exc).__name__}: "
            f"{str(exc)[:160]}"
        )


# -- ids and relation names ------------------------------------------------------------------------


def test_hostile_ids_never_reach_the_store(target: Target) -> None:
    graph, before = target.graph, target.count()
    ids = _hostile_ids(target)
    bare_variants = [target.valid_entity + s for s in ("\n", " ", "\u0000", "\t", ">", '"')]
    for bad in ids + bare_variants:
        for direction in ("out", "in"):
            got = _calm(lambda: graph.relations([bad], direction=direction))  # noqa: B023
            assert got in (None, {bad: ()}), (bad, got)
        hops = [
            Hop(bad, target.valid_relation, "out"),
            Hop(target.valid_entity, bad, "out"),
            Hop(target.valid_entity, bad, "in"),
        ]
        nodes = _calm(lambda: graph.neighbors(hops))  # noqa: B023
        assert nodes in (None, {hop: () for hop in hops}), (bad, nodes)
        assert _calm(lambda: graph.labels([bad])) in (None, {})  # noqa: B023
    # Mixed with a valid id, the valid one still answers and the bad ones are empty.
    mixed = graph.relations([target.valid_entity, *ids[:20]], direction="out")
    assert mixed[target.valid_entity]
    assert all(mixed[bad] == () for bad in ids[:20])
    assert target.count() == before
    leaked = [q for q in target.recorder.queries if MARK in q]
    assert leaked == [], f"{len(leaked)} queries carried a hostile id"


# -- search texts ----------------------------------------------------------------------------------


def test_hostile_search_texts_are_inert(target: Target) -> None:
    graph, before = target.graph, target.count()
    for text in HOSTILE:
        for probe in (text, f"{text}{MARK}", f"Who is {text}{MARK} and Barack Obama?"):
            found = _calm(lambda: graph.search_entities(probe), probe[:40])  # noqa: B023
            assert found in (None, []), (probe[:80], found)
            mentions = _calm(lambda: graph.find_mentions(probe), probe[:40])  # noqa: B023
            # Only the real name in the question may be found, never the hostile text.
            grams = [gram for gram, _ in mentions or []]
            assert set(grams) <= {"barack obama"}, (probe[:80], grams)
    assert target.count() == before


def _replay_store(target: Target, texts: list[str]) -> pyoxigraph.Store:
    """A store where entity number i is named exactly texts[i] (in English and untagged)."""
    store = pyoxigraph.Store()
    predicate = pyoxigraph.NamedNode(target.label_predicate)
    prefix = "m.evil" if target.entity_ns == FREEBASE_NS else "Q9999999"
    for i, text in enumerate(texts):
        subject = pyoxigraph.NamedNode(f"{target.entity_ns}{prefix}{i}")
        for literal in (pyoxigraph.Literal(text, language="en"), pyoxigraph.Literal(text)):
            store.add(pyoxigraph.Quad(subject, predicate, literal, pyoxigraph.DefaultGraph()))
    return store


def test_search_text_is_sent_only_as_an_escaped_literal(target: Target) -> None:
    """Replay the recorded queries on a store naming one entity per hostile text."""
    raw = [f"{text}{MARK}" for text in HOSTILE]
    # Control characters are dropped before a search (no name contains them, and Virtuoso
    # rejects a NUL even when escaped), so the name that can match is the text without them.
    texts = ["".join(ch for ch in text if ch >= " " or ch in "\t\n") for text in raw]
    store = _replay_store(target, texts)
    prefix = "m.evil" if target.entity_ns == FREEBASE_NS else "Q9999999"
    for i, (query_text, text) in enumerate(zip(raw, texts, strict=True)):
        target.recorder.queries.clear()
        _calm(lambda: target.graph.search_entities(query_text), text[:40])  # noqa: B023
        sent = [q for q in target.recorder.queries if MARK in q]
        assert sent, f"no query was sent for search text #{i}"
        matched: set[str] = set()
        for query in sent:
            # FROM <graph> names a graph the replay store lacks: query its default graph.
            query = query.replace(f"FROM <{FREEBASE_GRAPH}> ", "")
            solutions = store.query(query, use_default_graph_as_union=True)
            assert isinstance(solutions, pyoxigraph.QuerySolutions), query[:200]
            variables = {v.value for v in solutions.variables}
            assert variables <= {"e", "p", "label"}, variables
            for row in solutions:
                subject = row["e"]
                assert isinstance(subject, pyoxigraph.NamedNode)
                matched.add(subject.value)
                label = row["label"]
                assert isinstance(label, pyoxigraph.Literal)
                assert label.value.casefold() == text.casefold()
        assert matched == {f"{target.entity_ns}{prefix}{i}"}, (i, sorted(matched))


# -- the read-only guard ---------------------------------------------------------------------------


UPDATES = [
    "INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }",
    "DROP ALL",
    "CLEAR DEFAULT",
    "LOAD <http://example.org/x.nt>",
    "DELETE WHERE { ?s ?p ?o }",
    "SELECT * WHERE { ?s ?p ?o } ; INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }",
    "PREFIX x: <http://x/> INSERT DATA { x:a x:b x:c }",
    "# comment\nDROP ALL",
    "WITH <http://x/g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
]


@pytest.mark.parametrize("update", UPDATES)
def test_updates_are_refused_before_sending(target: Target, update: str) -> None:
    before = target.count()
    source = target.graph.source
    assert isinstance(source, SPARQLEndpoint)
    with pytest.raises(ValueError, match=r"read query|update keyword"):
        source.select(update)
    assert target.recorder.queries == []
    assert target.count() == before


def test_relation_names_in_full_iri_form_are_validated(target: Target) -> None:
    """A relation IRI outside the profile's pattern is unknown, never spliced into a query."""
    namespace = FREEBASE_NS if target.entity_ns == FREEBASE_NS else WD_DIRECT
    bad = [
        namespace + target.valid_relation + "> ?x } UNION { ?s ?p ?o } #" + MARK,
        namespace + target.valid_relation + "\n" + MARK,
        namespace + "a b" + MARK,
    ]
    hops = [Hop(target.valid_entity, relation, "out") for relation in bad]
    assert target.graph.neighbors(hops) == {hop: () for hop in hops}
    assert target.graph.labels(bad) == {}
    assert not [q for q in target.recorder.queries if MARK in q]
