"""ConceptNetGraph.from_api over a local stand-in serving the shared Uyghur edges (cn_data_ug)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kg_adapters import (
    ConceptNetAPIGraph,
    ConceptNetGraph,
    EntityMatch,
    Hop,
    KGConnectionError,
    KGDataError,
    KGQueryError,
    KGTimeout,
    SupportsEntitySearch,
    SupportsMentions,
    SupportsTriples,
)
from kg_adapters._conceptnet_http import Page, parse_page
from tests.conceptnet_api import ConceptNetAPIServer
from tests.services import free_port
from tests.shared_data import DATA, require

UG_JSON = DATA / "conceptnet" / "cn_data_ug.json"
HOME = "/c/ug/قارا"  # "black": 12 edges on the bare term, more on its senses

pytestmark = pytest.mark.server


def ug_records() -> list[dict[str, Any]]:
    """Every edge of cn_data_ug.json once (a word's edges repeat under other words)."""
    data = json.loads(require(UG_JSON).read_text(encoding="utf-8"))
    unique: dict[str, dict[str, Any]] = {}
    for edges in data.values():
        for edge in edges:
            unique.setdefault(edge["uri"], edge)
    return list(unique.values())


def full_ends(record: dict[str, Any]) -> tuple[str, str, str]:
    """``(rel, start, end)`` with the sense-tagged ends read off the assertion URI."""
    inner = record["uri"].removeprefix("/a/[").removesuffix("]")
    rel, start, end = (part.rstrip("/") for part in inner.split("/,"))
    assert rel == "/r/" + record["rel"]
    return rel, start, end


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return ug_records()


@pytest.fixture
def server(records: list[dict[str, Any]]) -> Iterator[ConceptNetAPIServer]:
    with ConceptNetAPIServer(records) as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def kg(server: ConceptNetAPIServer, sleeps: list[float]) -> Iterator[ConceptNetAPIGraph]:
    with ConceptNetGraph.from_api(server.url, page_size=7, sleep=sleeps.append) as graph:
        yield graph


def expected(records: list[dict[str, Any]], languages: set[str] | None = None):
    """Relations and neighbours by node, counted from the JSON records."""
    out: dict[str, dict[str, set[str]]] = {}
    into: dict[str, dict[str, set[str]]] = {}
    for record in records:
        rel, start, end = full_ends(record)
        if not (start.startswith("/c/") and end.startswith("/c/")):
            continue  # ExternalURL edges end at web pages
        if languages and not {start.split("/")[2], end.split("/")[2]} <= languages:
            continue
        out.setdefault(start, {}).setdefault(rel, set()).add(end)
        into.setdefault(end, {}).setdefault(rel, set()).add(start)
    return out, into


# -- answers agree with the JSON ------------------------------------------------------------------


def test_relations_and_neighbours_of_a_real_concept(kg, server, records) -> None:
    out, into = expected(records)
    assert (
        sum(len(nodes) for nodes in out[HOME].values())
        + sum(len(nodes) for nodes in into.get(HOME, {}).values())
        > 7
    ), "more edges than one page"
    assert kg.relations([HOME], direction="out") == {HOME: tuple(sorted(out[HOME]))}
    assert kg.relations([HOME], direction="in") == {HOME: tuple(sorted(into.get(HOME, {})))}
    assert any("offset=" in path for path in server.requests), "paged through view.nextPage"
    fetched = len(server.requests)
    hops = [Hop(HOME, rel, "out") for rel in sorted(out[HOME])]
    hops += [Hop(HOME, rel, "in") for rel in sorted(into.get(HOME, {}))]
    got = kg.neighbors(hops)
    for hop in hops:
        side = out if hop.direction == "out" else into
        assert got[hop] == tuple(sorted(side[HOME][hop.relation])), hop
    assert len(server.requests) == fetched, "neighbours came from the cached node pages"
    assert kg.neighbors(hops, limit=1) == {hop: got[hop][:1] for hop in hops}


def test_every_concept_agrees(records) -> None:
    out, into = expected(records)
    nodes = sorted({*out, *into})[::40]
    with ConceptNetAPIServer(records) as server, ConceptNetGraph.from_api(server.url) as kg:
        got_out = kg.relations(nodes, direction="out")
        got_in = kg.relations(nodes, direction="in")
    assert got_out == {node: tuple(sorted(out.get(node, {}))) for node in nodes}
    assert got_in == {node: tuple(sorted(into.get(node, {}))) for node in nodes}


def test_neighbours_without_relations_first_use_query(kg, server, records) -> None:
    out, into = expected(records)
    rel = sorted(out[HOME])[0]
    hop, back = Hop(HOME, rel, "out"), Hop(sorted(out[HOME][rel])[0], rel, "in")
    got = kg.neighbors([hop, back])
    assert got[hop] == tuple(sorted(out[HOME][rel]))
    assert HOME in got[back]
    assert got[back] == tuple(sorted(into[back.entity][rel]))
    queries = [path for path in server.requests if path.startswith("/query")]
    assert any(f"start={HOME}" in path and f"rel={rel}" in path for path in queries)
    assert any(f"end={back.entity}" in path for path in queries)


def test_language_filter(server, records) -> None:
    out, into = expected(records, {"ug"})
    with ConceptNetGraph.from_api(server.url, languages=["ug"], page_size=50) as kg:
        assert kg.relations([HOME], direction="out") == {HOME: tuple(sorted(out.get(HOME, {})))}
        assert kg.relations(["/c/en/home"], direction="out") == {"/c/en/home": ()}
        assert kg.labels([HOME, "/c/en/home", "/r/RelatedTo"]) == {
            HOME: "قارا",
            "/r/RelatedTo": "related to",
        }
        hops = [Hop(HOME, rel, "in") for rel in sorted(into.get(HOME, {}))]
        assert kg.neighbors(hops) == {h: tuple(sorted(into[HOME][h.relation])) for h in hops}


def test_weights_surface_texts_and_uris(kg, records) -> None:
    out, _ = expected(records)
    rel = sorted(out[HOME])[0]
    hop = Hop(HOME, rel, "out")
    found = kg.edges([hop])[hop]
    assert [r.node for r in found] == sorted(r.node for r in found)
    by_uri = {record["uri"]: record for record in records}
    for record in found:
        source = by_uri[record.uri]
        assert record.weight == source["weight"]
        assert record.dataset == source["dataset"]
        assert full_ends(source)[2] == record.node


def test_search_and_mentions_by_term_lookups(server, records) -> None:
    with ConceptNetGraph.from_api(server.url, languages=("ug",)) as kg:
        # توپ (ball) has Uyghur-Uyghur edges; قارا has none, so the "ug" filter hides it.
        assert kg.search_entities("توپ")[0] == EntityMatch("/c/ug/توپ", "توپ", 1.0, exact=True)
        assert kg.search_entities("قارا") == []
        assert kg.search_entities("no such word") == []
        assert kg.search_entities("  ?! ") == []
        mentions = kg.find_mentions("توپ ۋە توققۇز")
        assert [key for key, _ in mentions] == ["توپ", "توققۇز"]
        before = len(server.requests)
        kg.find_mentions("توپ ۋە توققۇز")
        assert len(server.requests) == before, "lookups are cached"
    with ConceptNetGraph.from_api(server.url, languages=("ug", "en")) as kg:
        assert kg.search_entities("قارا")[0] == EntityMatch(HOME, "قارا", 1.0, exact=True)
    assert isinstance(kg, SupportsEntitySearch)
    assert isinstance(kg, SupportsMentions)
    assert not isinstance(kg, SupportsTriples)


def test_unknown_node_is_empty(kg, server) -> None:
    assert kg.relations(["/c/ug/nothing_here"], direction="out") == {"/c/ug/nothing_here": ()}
    hop = Hop("/c/ug/nothing_here", "/r/RelatedTo", "out")
    assert kg.neighbors([hop]) == {hop: ()}


# -- failures: retries, then a clear error ---------------------------------------------------------


def test_transient_503_and_429_are_retried(kg, server, sleeps) -> None:
    server.fail(503, times=2)
    assert kg.relations([HOME], direction="out")[HOME]
    assert sleeps == [0.5, 1.0]  # exponential backoff
    server.fail(429, retry_after="3")
    kg.relations(["/c/ug/باش"], direction="out")
    assert sleeps[-1] == 3.0  # the server's Retry-After


def test_a_service_that_stays_down_is_unreachable(kg, server, sleeps) -> None:
    server.down = True
    with pytest.raises(KGConnectionError, match=r"ConceptNet API at .* is unreachable") as info:
        kg.relations([HOME], direction="out")
    assert "HTTP 503" in str(info.value)
    assert "gave up after 3 attempts" in info.value.__notes__
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_rate_limit_that_persists_is_a_query_error(kg, server) -> None:
    server.fail(429, times=3)
    with pytest.raises(KGQueryError) as info:
        kg.relations([HOME], direction="out")
    assert info.value.status == 429


def test_nothing_listening_is_unreachable(sleeps) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        ConceptNetGraph.from_api(url, retries=1, sleep=sleeps.append) as kg,
        pytest.raises(KGConnectionError, match="is unreachable"),
    ):
        kg.relations(["/c/en/dog"], direction="out")
    assert sleeps == [0.5]


def test_wrong_base_path_is_a_query_error(server) -> None:
    with (
        ConceptNetGraph.from_api(server.url + "/nope") as kg,
        pytest.raises(KGQueryError) as info,
    ):
        kg.relations(["/c/en/dog"], direction="out")
    assert info.value.status == 404


def mock_graph(handler, **options) -> ConceptNetAPIGraph:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return ConceptNetGraph.from_api(
        "http://cn.test", client=client, sleep=lambda _: None, **options
    )


def test_timeouts_raise_kg_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(KGTimeout, match="no answer within"):
        mock_graph(handler).relations(["/c/en/dog"], direction="out")


def test_non_json_and_foreign_next_pages_are_data_errors() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    with pytest.raises(KGDataError, match="not JSON"):
        mock_graph(html).relations(["/c/en/dog"], direction="out")

    def elsewhere(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"edges": [], "view": {"nextPage": "http://evil.test/x"}})

    with pytest.raises(KGDataError, match="leaves the API"):
        mock_graph(elsewhere).relations(["/c/en/dog"], direction="out")


def test_cache_is_bounded(server) -> None:
    with ConceptNetGraph.from_api(server.url, cache_size=1) as kg:
        for _ in range(2):
            kg.relations([HOME, "/c/ug/باش"], direction="out")
        assert len(server.requests) == 4
        kg.relations(["/c/ug/باش"], direction="in")
        assert len(server.requests) == 4


# -- ids are checked before any request ------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "/c/en/../../admin",
        "/c/en/dog/../../../etc/passwd",
        "/c/en/./dog",
        "/c//dog",
        "/c/en/",
        "/c/EN/dog",
        "/c/en/dog\r\nHost: evil.test",
        "/c/en/a b",
        "/c/en/a\\..\\b",
    ],
)
def test_injection_ids_are_rejected_before_any_request(kg, server, bad: str) -> None:
    with pytest.raises(ValueError, match="concept URI"):
        kg.relations([HOME, bad], direction="out")
    with pytest.raises(ValueError, match="concept URI"):
        kg.neighbors([Hop(HOME, "/r/RelatedTo", "out"), Hop(bad, "/r/RelatedTo", "out")])
    with pytest.raises(ValueError, match="relation URI"):
        kg.edges([Hop(HOME, "/r/../admin", "out")])
    assert server.requests == []
    assert kg.labels([bad]) == {}


def test_other_ids_are_unknown_without_a_request(kg, server) -> None:
    ids = ["x", "", "../../admin", "http://evil.test/c/en/dog", "/a/[/r/IsA/,/c/en/a/,/c/en/b/]"]
    assert kg.relations(ids, direction="in") == dict.fromkeys(ids, ())
    hop = Hop(HOME, "RelatedTo", "out")  # not a relation URI
    assert kg.neighbors([hop]) == {hop: ()}
    assert server.requests == []


def test_path_segments_and_query_values_are_encoded(kg, server) -> None:
    odd = "/c/en/what?limit=1000&x=#frag"
    assert kg.relations([odd], direction="out") == {odd: ()}
    (path,) = server.requests
    assert path == "/c/en/what?limit=1000&x=#frag?limit=7"  # decoded by the server: one segment
    hop = Hop("/c/en/a&rel=/r/IsA", "/r/IsA", "out")
    assert kg.neighbors([hop]) == {hop: ()}
    assert server.requests[-1] == "/query?start=/c/en/a&rel=/r/IsA&rel=/r/IsA&limit=7"
    assert server.raw_requests[-1].startswith("/query?start=/c/en/a%26rel%3D/r/IsA&rel=/r/IsA")


# -- response parsing (pure) -----------------------------------------------------------------------


def test_parse_page_reads_flattened_records_with_short_relation_names(records) -> None:
    page = parse_page({"edges": records[:3], "view": {"nextPage": "/c/ug/x?offset=3&limit=3"}})
    assert [edge.relation for edge in page.edges] == ["/r/" + r["rel"] for r in records[:3]]
    assert page.edges[0].start == records[0]["start"]
    assert page.edges[0].uri == records[0]["uri"]
    assert page.next_page == "/c/ug/x?offset=3&limit=3"
    assert parse_page({"edges": [], "error": {"status": 404, "details": "no"}}) == Page(
        (), None, found=False
    )
    with pytest.raises(KGQueryError):
        parse_page({"error": {"status": 500, "details": "boom"}})
    with pytest.raises(KGDataError, match="edges"):
        parse_page({"items": []})
    with pytest.raises(KGDataError, match="lacks"):
        parse_page({"edges": [{"rel": "IsA", "start": "/c/en/a"}]})
