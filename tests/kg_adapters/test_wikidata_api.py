"""`WikidataGraph` search API and descriptions over httpx.MockTransport (no network).

One fake serves both hosts: ``query.wikidata.org`` POSTs run on an in-memory pyoxigraph store
(so the real SPARQL text is executed), ``www.wikidata.org`` GETs get scripted API answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from kg_adapters.base import EntityMatch
from kg_adapters.errors import KGConnectionError, KGDataError, KGQueryError, KGTimeout
from kg_adapters.sparql_http import DEFAULT_USER_AGENT
from kg_adapters.wikidata import DEFAULT_API_URL, WikidataGraph

pyoxigraph = pytest.importorskip("pyoxigraph")

PUBLIC = "https://query.wikidata.org/sparql"
LOCAL = "http://127.0.0.1:7878/query"
WD = "http://www.wikidata.org/entity/"

TURTLE = f"""
@prefix wd: <{WD}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix schema: <http://schema.org/> .
wd:Q42 rdfs:label "Douglas Adams"@en ; skos:altLabel "DNA"@en ;
    schema:description "English writer and humorist"@en ,
        "britischer Schriftsteller"@de .
wd:Q5 rdfs:label "human"@en ;
    schema:description "common name of Homo sapiens"@en .
wd:Q145 rdfs:label "United Kingdom"@en ; schema:description "pays d'Europe"@fr .
wd:P57 rdfs:label "director"@en ; schema:description "director(s) of film"@en .
"""

Answer = Callable[[httpx.Request], httpx.Response]


def api_json(*items: object) -> Answer:
    body = {"searchinfo": {"search": "x"}, "search": list(items), "success": 1}
    return lambda request: httpx.Response(200, json=body)


def item(ident: object, label: str | None, matched: str, kind: str = "label") -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": ident,
        "title": ident,
        "concepturi": f"{WD}{ident}",
        "match": {"type": kind, "language": "en", "text": matched},
    }
    if label is not None:
        found["label"] = label
    return found


def status(code: int, body: str = "", headers: dict[str, str] | None = None) -> Answer:
    return lambda request: httpx.Response(code, text=body, headers=headers)


class FakeWikidata:
    """SPARQL on pyoxigraph for the query service; scripted answers for the search API."""

    def __init__(self) -> None:
        self.store = pyoxigraph.Store()
        self.store.load(TURTLE.encode(), pyoxigraph.RdfFormat.TURTLE)
        self.api: list[Answer] = []
        self.api_requests: list[httpx.Request] = []
        self.sparql_requests: list[httpx.Request] = []
        self.queries: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "www.wikidata.org":
            self.api_requests.append(request)
            assert request.method == "GET"
            return self.api.pop(0)(request)
        self.sparql_requests.append(request)
        assert request.method == "POST"
        query = parse_qs(request.content.decode())["query"][0]
        self.queries.append(query)
        result = self.store.query(query)
        data = json.loads(result.serialize(format=pyoxigraph.QueryResultsFormat.JSON))
        return httpx.Response(200, json=data)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> FakeWikidata:
    return FakeWikidata()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(fake: FakeWikidata) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(fake)) as shared:
        yield shared


@pytest.fixture
def make(client: httpx.Client, sleeps: Sleeps) -> Callable[..., WikidataGraph]:
    def build(endpoint: str = PUBLIC, **kwargs: Any) -> WikidataGraph:
        options: dict[str, Any] = {"client": client, "sleep": sleeps}
        options.update(kwargs)
        return WikidataGraph(endpoint, **options)

    return build


# -- the request -----------------------------------------------------------------------------------


def test_search_api_request_has_params_and_user_agent(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    fake.api.append(api_json(item("Q42", "Douglas Adams", "Douglas Adams")))
    graph = make()
    assert graph.search_api is True
    assert graph.search_entities("  Douglas Adams ", limit=3) == [
        EntityMatch("Q42", "Douglas Adams", 1.0, exact=True)
    ]
    (request,) = fake.api_requests
    assert fake.sparql_requests == []  # the API only, no SPARQL
    assert str(request.url).startswith(DEFAULT_API_URL + "?")
    assert dict(request.url.params) == {
        "action": "wbsearchentities",
        "search": "Douglas Adams",
        "language": "en",
        "uselang": "en",
        "type": "item",
        "limit": "3",
        "format": "json",
    }
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT


def test_search_text_is_a_param_never_built_into_the_url(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    fake.api.append(api_json())
    tricky = "AT&T?format=xml&action=delete#x"
    assert make().search_entities(tricky) == []
    (request,) = fake.api_requests
    assert request.url.params["search"] == tricky
    assert request.url.params["action"] == "wbsearchentities"
    assert request.url.params.get_list("format") == ["json"]


def test_custom_user_agent_language_and_limit_cap(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    fake.api.append(api_json())
    graph = make(language="de", headers={"user-agent": "my-bot/1.0 (me@example.org)"})
    assert graph.search_entities("Frankreich", limit=500) == []
    (request,) = fake.api_requests
    assert request.headers["User-Agent"] == "my-bot/1.0 (me@example.org)"
    params = request.url.params
    assert (params["language"], params["uselang"], params["limit"]) == ("de", "de", "50")
    # The SPARQL endpoint sends the same User-Agent.
    graph.labels(["Q42"])
    assert fake.sparql_requests[0].headers["User-Agent"] == "my-bot/1.0 (me@example.org)"


def test_empty_text_or_zero_limit_asks_nothing(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    graph = make()
    assert graph.search_entities("   ") == []
    assert graph.search_entities("Douglas Adams", limit=0) == []
    assert fake.api_requests == [] == fake.sparql_requests


# -- the answer ------------------------------------------------------------------------------------


def test_results_map_to_entity_matches_in_api_order(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    fake.api.append(
        api_json(
            item("Q42", "Douglas Adams", "douglas ADAMS"),
            item("Q1", "Douglas Adams (disambiguation)", "Douglas Adams (disambiguation)"),
            item("Q2", "Douglas Noël Adams", "DNA", kind="alias"),
            item("Q3", None, "Douglas Adams", kind="alias"),  # no label: the matched text
        )
    )
    got = make().search_entities("Douglas Adams", limit=10)
    assert got == [
        EntityMatch("Q42", "Douglas Adams", 1.0, exact=True),
        EntityMatch("Q1", "Douglas Adams (disambiguation)", 0.9, exact=False),
        EntityMatch("Q2", "Douglas Noël Adams", 0.8, exact=False),
        EntityMatch("Q3", "Douglas Adams", 1.0, exact=True),
    ]


def test_scores_decrease_and_stay_above_zero(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    fake.api.append(api_json(*(item(f"Q{i}", f"Paris {i}", f"Paris {i}") for i in range(1, 16))))
    got = make().search_entities("Paris", limit=15)
    scores = [m.score for m in got]
    assert [m.id for m in got] == [f"Q{i}" for i in range(1, 16)]
    assert scores[:3] == [0.9, 0.8, 0.7]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) > 0
    assert not any(m.exact for m in got)


def test_result_is_cut_at_limit(fake: FakeWikidata, make: Callable[..., WikidataGraph]) -> None:
    fake.api.append(api_json(*(item(f"Q{i}", "x", "x") for i in range(1, 6))))
    assert [m.id for m in make().search_entities("x", limit=2)] == ["Q1", "Q2"]


def test_invalid_ids_are_dropped(fake: FakeWikidata, make: Callable[..., WikidataGraph]) -> None:
    fake.api.append(
        api_json(
            item("P31", "instance of", "x"),
            item("q42", "lower case", "x"),
            item("Q42> } UNION { ?s ?p ?o", "injection", "x"),
            item(f"{WD}Q5", "full IRI", "x"),
            item(42, "not a string", "x"),
            item("", "empty", "x"),
            {"label": "no id", "match": {"text": "x"}},
            "not an object",
            item("Q7", "kept", "x"),
            item("Q7", "duplicate", "x"),
        )
    )
    assert make().search_entities("x") == [EntityMatch("Q7", "kept", 1.0, exact=True)]


# -- failures --------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], sleeps: Sleeps
) -> None:
    fake.api += [
        status(429, "slow down", {"Retry-After": "7"}),
        api_json(item("Q42", "Douglas Adams", "Douglas Adams")),
    ]
    got = make().search_entities("Douglas Adams")
    assert [m.id for m in got] == ["Q42"]
    assert len(fake.api_requests) == 2
    assert sleeps == [7.0]


def test_429_gives_up_after_max_retries(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], sleeps: Sleeps
) -> None:
    fake.api += [status(429, "slow down", {"Retry-After": "0"})] * 3
    with pytest.raises(KGQueryError, match="HTTP 429") as info:
        make(max_retries=1).search_entities("x")
    assert info.value.status == 429
    assert len(fake.api_requests) == 2
    assert sleeps == [0.0]
    assert "gave up after 2 attempts" in info.value.__notes__


def test_500_raises_query_error_at_once(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], sleeps: Sleeps
) -> None:
    fake.api.append(status(500, "<html>\n<h1>Internal error</h1>\n</html>"))
    with pytest.raises(KGQueryError) as info:
        make().search_entities("x")
    message = str(info.value)
    assert "\n" not in message
    assert "HTTP 500" in message
    assert "www.wikidata.org" in message
    assert info.value.status == 500
    assert len(fake.api_requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "answer",
    [
        status(200, "<html>not json</html>", {"Content-Type": "text/html"}),
        lambda request: httpx.Response(200, json=["a", "list"]),
        lambda request: httpx.Response(200, json={"search": "not a list"}),
        lambda request: httpx.Response(200, json={"success": 1}),
    ],
    ids=["html", "list", "search-not-list", "no-search"],
)
def test_malformed_body_raises_data_error(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], answer: Answer
) -> None:
    fake.api.append(answer)
    with pytest.raises(KGDataError, match="Wikidata search API") as info:
        make().search_entities("x")
    assert "\n" not in str(info.value)


def test_api_error_object_raises_query_error(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    body = {"error": {"code": "badvalue", "info": "Unrecognized value for parameter"}}
    fake.api.append(lambda request: httpx.Response(200, json=body))
    with pytest.raises(KGQueryError, match="badvalue: Unrecognized value"):
        make().search_entities("x")


def test_connection_errors_are_retried_then_raised(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], sleeps: Sleeps
) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    fake.api += [refused] * 3
    with pytest.raises(KGConnectionError, match="cannot reach Wikidata search API") as info:
        make(max_retries=2).search_entities("x")
    assert not isinstance(info.value, KGTimeout)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(fake.api_requests) == 3
    assert sleeps == [0.5, 1.0]


def test_timeout_raises_kg_timeout(
    fake: FakeWikidata, make: Callable[..., WikidataGraph], sleeps: Sleeps
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.api.append(slow)
    with pytest.raises(KGTimeout, match="did not answer within 5s"):
        make(max_retries=0, timeout=5).search_entities("x")


# -- which search ----------------------------------------------------------------------------------


def test_search_api_false_on_the_public_host_uses_sparql(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    graph = make(search_api=False)
    assert graph.search_api is False
    assert graph.search_entities("DNA") == [EntityMatch("Q42", "DNA", 1.0, exact=True)]
    assert fake.api_requests == []
    assert fake.sparql_requests


def test_local_endpoint_uses_sparql_by_default(fake: FakeWikidata, sleeps: Sleeps) -> None:
    local = httpx.Client(transport=httpx.MockTransport(fake))
    with local, WikidataGraph(LOCAL, client=local, sleep=sleeps) as graph:
        assert graph.search_api is False
        assert [m.id for m in graph.search_entities("united kingdom")] == ["Q145"]
    assert fake.api_requests == []
    assert sleeps == []  # not polite-paced either


def test_search_api_true_forces_the_api_and_uses_an_injected_client(
    fake: FakeWikidata, sleeps: Sleeps
) -> None:
    api_seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        api_seen.append(request)
        return api_json(item("Q42", "Douglas Adams", "Douglas Adams"))(request)

    sparql = httpx.Client(transport=httpx.MockTransport(fake))
    api_client = httpx.Client(transport=httpx.MockTransport(api))
    with sparql, api_client:
        graph = WikidataGraph(
            LOCAL,
            client=sparql,
            search_api=True,
            api_client=api_client,
            api_url="http://127.0.0.1:9999/w/api.php",
            sleep=sleeps,
        )
        assert [m.id for m in graph.search_entities("Douglas Adams")] == ["Q42"]
        graph.close()
        assert not api_client.is_closed
        assert not sparql.is_closed
    (request,) = api_seen
    assert request.url.host == "127.0.0.1"
    assert request.url.path == "/w/api.php"
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert fake.api_requests == [] == fake.sparql_requests


def test_bad_api_url_is_refused() -> None:
    with pytest.raises(ValueError, match="api_url"):
        WikidataGraph(LOCAL, api_url="www.wikidata.org/w/api.php")


def test_graph_owns_and_closes_the_client_it_creates() -> None:
    graph = WikidataGraph(LOCAL)
    shared = graph._api_client
    assert shared is graph._owned_client
    graph.close()
    assert shared.is_closed


# -- descriptions ----------------------------------------------------------------------------------


def test_descriptions_batched_with_language_fallback(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    graph = make(language="de", batch_size=2)
    got = graph.descriptions(["Q42", "Q5", "Q145", "P57", "Q99999", "nope", "q5", "Q42"])
    assert got == {
        "Q42": "britischer Schriftsteller",  # de
        "Q5": "common name of Homo sapiens",  # en fallback
        "Q145": "pays d'Europe",  # any language, last
        "P57": "director(s) of film",  # property descriptions too
    }
    # Five valid ids, two per VALUES block: three queries; invalid ids never sent.
    assert len(fake.queries) == 3
    sent = " ".join(fake.queries)
    assert "<http://schema.org/description>" in sent
    assert "nope" not in sent
    assert "q5" not in sent
    assert all("VALUES ?e" in q for q in fake.queries)


def test_descriptions_in_english_and_of_nothing(
    fake: FakeWikidata, make: Callable[..., WikidataGraph]
) -> None:
    graph = make()
    assert graph.descriptions(["Q42"]) == {"Q42": "English writer and humorist"}
    assert graph.descriptions(["not an id", ""]) == {}
    assert graph.descriptions([]) == {}
    assert len(fake.queries) == 1
