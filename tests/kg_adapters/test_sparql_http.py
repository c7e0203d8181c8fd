"""SPARQLEndpoint / AsyncSPARQLEndpoint over httpx.MockTransport.

The mock server runs the query text it receives on an in-memory pyoxigraph store, so the real
query strings are executed; scripted responses stand in for failures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from kg_adapters.base import LiteralValue
from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGQueryError,
    KGResultTruncated,
    KGTimeout,
)
from kg_adapters.sparql_http import (
    DEFAULT_USER_AGENT,
    AsyncSPARQLEndpoint,
    SPARQLEndpoint,
    check_read_query,
)

pyoxigraph = pytest.importorskip("pyoxigraph")

ENDPOINT = "http://127.0.0.1:8890/sparql"
NS = "http://rdf.freebase.com/ns/"
GRAPH = "http://rdf.freebase.com/"
XSD = "http://www.w3.org/2001/XMLSchema#"
NOLAN = f"{NS}m.0nolan"
FILMS = [f"{NS}m.0film{i}" for i in range(5)]

TRIPLES = "\n".join(
    [
        f'<{NOLAN}> <{NS}type.object.name> "Christopher Nolan"@en .',
        f'<{FILMS[0]}> <{NS}type.object.name> "Inception"@en .',
        f'<{FILMS[0]}> <{NS}film.film.initial_release_date> "2010-07-16"^^<{XSD}date> .',
        f'<{FILMS[0]}> <{NS}film.film.runtime> "148"^^<{XSD}integer> .',
        *(f"<{film}> <{NS}film.film.directed_by> <{NOLAN}> ." for film in FILMS),
    ]
)

DIRECTED = f"SELECT ?film WHERE {{ ?film <{NS}film.film.directed_by> <{NOLAN}> . }} ORDER BY ?film"
INCEPTION = f"SELECT DISTINCT ?p ?o WHERE {{ <{FILMS[0]}> ?p ?o . }} ORDER BY ?p ?o LIMIT 10"

Script = Callable[[httpx.Request], httpx.Response]


class FakeVirtuoso:
    """A MockTransport handler: scripted answers first, then the query run on pyoxigraph."""

    def __init__(self, *, max_rows: int | None = None) -> None:
        self.store = pyoxigraph.Store()
        self.store.bulk_load(
            TRIPLES.encode(), pyoxigraph.RdfFormat.N_TRIPLES, to_graph=pyoxigraph.NamedNode(GRAPH)
        )
        self.max_rows = max_rows
        self.script: list[Script] = []
        self.forms: list[dict[str, str]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.forms.append(form)
        self.headers.append(request.headers)
        if self.script:
            return self.script.pop(0)(request)
        graph = form.get("default-graph-uri")
        result = self.store.query(
            form["query"],
            use_default_graph_as_union=graph is None,
            default_graph=pyoxigraph.NamedNode(graph) if graph else None,
        )
        data = json.loads(result.serialize(format=pyoxigraph.QueryResultsFormat.JSON))
        headers = {}
        if (
            self.max_rows is not None
        ):  # Virtuoso's ResultSetMaxRows: cut silently, say so in a header
            data["results"]["bindings"] = data["results"]["bindings"][: self.max_rows]
            headers["X-SPARQL-MaxRows"] = str(self.max_rows)
        return httpx.Response(200, json=data, headers=headers)

    @property
    def queries(self) -> list[str]:
        return [form["query"] for form in self.forms]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def status(code: int, body: str = "", headers: dict[str, str] | None = None) -> Script:
    return lambda request: httpx.Response(code, text=body, headers=headers)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.fixture
def server() -> FakeVirtuoso:
    return FakeVirtuoso()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(server: FakeVirtuoso, clock: FakeClock) -> Iterator[Callable[..., SPARQLEndpoint]]:
    clients: list[httpx.Client] = []

    def build(**kwargs: object) -> SPARQLEndpoint:
        client = httpx.Client(transport=httpx.MockTransport(server))
        clients.append(client)
        options: dict[str, object] = {"sleep": clock.sleep, "clock": clock}
        options.update(kwargs)
        return SPARQLEndpoint(ENDPOINT, client=client, **options)  # type: ignore[arg-type]

    yield build
    for client in clients:
        client.close()


# --- select ------------------------------------------------------------------------------------


def test_select_runs_the_query_and_parses_typed_literals(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    sparql = make()
    bindings = sparql.select(INCEPTION)
    assert bindings.variables == ("p", "o")
    values = {row["p"]: row["o"] for row in bindings.rows}
    assert values[f"{NS}film.film.runtime"] == LiteralValue("148", f"{XSD}integer")
    assert values[f"{NS}film.film.initial_release_date"] == LiteralValue("2010-07-16", f"{XSD}date")
    assert values[f"{NS}type.object.name"] == LiteralValue("Inception", None, "en")
    assert values[f"{NS}film.film.directed_by"] == NOLAN
    assert sparql.requests == 1
    assert sparql.last_query == INCEPTION
    headers = server.headers[0]
    assert headers["accept"] == "application/sparql-results+json"
    assert headers["user-agent"] == DEFAULT_USER_AGENT
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert server.forms[0] == {"query": INCEPTION}


def test_default_graph_is_sent_as_default_graph_uri(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    sparql = make(default_graph=GRAPH, user_agent="probe/1.0", headers={"X-Extra": "1"})
    assert len(sparql.select(DIRECTED).rows) == 5
    assert server.forms[0]["default-graph-uri"] == GRAPH
    assert server.headers[0]["user-agent"] == "probe/1.0"
    assert server.headers[0]["x-extra"] == "1"


def test_virtuoso_typed_literal_is_read_like_a_literal(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    body = {
        "head": {"vars": ["n"]},
        "results": {
            "bindings": [
                {"n": {"type": "typed-literal", "datatype": f"{XSD}integer", "value": "148"}}
            ]
        },
    }
    server.script.append(lambda request: httpx.Response(200, json=body))
    rows = make().select("SELECT ?n WHERE { ?s ?p ?n } LIMIT 1").rows
    assert rows == [{"n": LiteralValue("148", f"{XSD}integer")}]


@pytest.mark.parametrize(
    "query",
    [
        f"INSERT DATA {{ <{NOLAN}> <{NS}p> <{NS}o> }}",
        "DELETE WHERE { ?s ?p ?o }",
        "LOAD <http://example.org/dump.nt>",
        "  # a comment\n  drop all",
        f"PREFIX ns: <{NS}>\nINSERT DATA {{ ns:a ns:b ns:c }}",
        "WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
        "SELECT * WHERE { ?s ?p ?o } ; CLEAR DEFAULT",
        "SELECT * WHERE { ?s ?p ?o }\nCREATE GRAPH <http://g>",
        "ASK {} DELETE DATA { <http://a> <http://b> <http://c> }",
        "",
    ],
)
def test_update_queries_are_refused_before_any_request(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, query: str
) -> None:
    sparql = make()
    with pytest.raises(ValueError, match="refusing"):
        sparql.select(query)
    assert sparql.requests == 0
    assert server.forms == []


@pytest.mark.parametrize(
    "query",
    [
        'SELECT ?s WHERE { ?s ?p "INSERT DATA { } DELETE" }',
        "SELECT ?s WHERE { ?s ?p '''\nDROP ALL\n''' }",
        "SELECT ?s WHERE { ?s <http://example.org/ns/delete> ?o } # DELETE WHERE { }",
        "PREFIX load: <http://example.org/>\nSELECT ?drop WHERE { ?drop load:create ?o }",
        f"PREFIX ns: <{NS}> SELECT ?x WHERE {{ ?x ns:base.clear ?y . ?y ns:film.drop-load ?z }}",
        "base <http://example.org/> prefix : <x#> describe <a>",
        "ASK { ?s ?p ?o }",
        "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }",
    ],
)
def test_read_queries_with_update_words_in_strings_iris_and_names_pass(query: str) -> None:
    assert check_read_query(query) == query


def test_truncated_result_raises_with_the_query() -> None:
    server = FakeVirtuoso(max_rows=3)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        sparql = SPARQLEndpoint(ENDPOINT, client=client)
        with pytest.raises(KGResultTruncated, match="X-SPARQL-MaxRows") as info:
            sparql.select(DIRECTED)
        assert info.value.query == DIRECTED
        assert info.value.adapter == "sparql"
        # Under the cap the header is harmless.
        one = sparql.select(f"SELECT ?n WHERE {{ <{NOLAN}> <{NS}type.object.name> ?n }}")
        assert len(one.rows) == 1
        assert sparql.requests == 2


# --- select_all --------------------------------------------------------------------------------


def test_select_all_pages_until_a_short_page(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    sparql = make()
    bindings = sparql.select_all(DIRECTED, page_size=2)
    assert [row["film"] for row in bindings.rows] == FILMS
    assert bindings.variables == ("film",)
    assert [q.rsplit("\n", 1)[1] for q in server.queries] == [
        "LIMIT 2 OFFSET 0",
        "LIMIT 2 OFFSET 2",
        "LIMIT 2 OFFSET 4",
    ]


def test_select_all_reads_an_empty_page_after_an_exact_fit(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    bindings = make().select_all(DIRECTED, page_size=5)
    assert len(bindings.rows) == 5
    assert [q.rsplit("\n", 1)[1] for q in server.queries] == [
        "LIMIT 5 OFFSET 0",
        "LIMIT 5 OFFSET 5",
    ]


def test_select_all_halves_the_page_when_the_server_caps_it() -> None:
    server = FakeVirtuoso(max_rows=3)
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        bindings = SPARQLEndpoint(ENDPOINT, client=client).select_all(DIRECTED, page_size=4)
    assert [row["film"] for row in bindings.rows] == FILMS
    assert [q.rsplit("\n", 1)[1] for q in server.queries] == [
        "LIMIT 4 OFFSET 0",  # capped at 3: halve and retry this page
        "LIMIT 2 OFFSET 0",
        "LIMIT 2 OFFSET 2",
        "LIMIT 2 OFFSET 4",
    ]


def test_select_all_raises_beyond_max_rows(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    sparql = make()
    with pytest.raises(KGResultTruncated, match="max_rows=4") as info:
        sparql.select_all(DIRECTED, page_size=2, max_rows=4)
    assert info.value.query == DIRECTED
    assert len(make().select_all(DIRECTED, page_size=2, max_rows=5).rows) == 5


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (f"SELECT ?film WHERE {{ ?film <{NS}film.film.directed_by> ?d }}", "ORDER BY"),
        (DIRECTED + " LIMIT 10", "LIMIT/OFFSET"),
        ("DELETE WHERE { ?s ?p ?o } ORDER BY ?s", "refusing"),
    ],
)
def test_select_all_rejects_unpageable_queries(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, query: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make().select_all(query)
    assert server.forms == []


def test_page_query_survives_a_trailing_comment(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso
) -> None:
    rows = make().select_all(DIRECTED + " # films by Nolan", page_size=10).rows
    assert len(rows) == 5


# --- retries and errors ------------------------------------------------------------------------


def test_429_honours_retry_after(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script.append(status(429, "slow down", {"Retry-After": "7"}))
    sparql = make()
    assert len(sparql.select(DIRECTED).rows) == 5
    assert clock.slept == [7.0]
    assert sparql.requests == 2


def test_retry_after_is_capped(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script.append(status(429, "", {"Retry-After": "3600"}))
    make(max_retry_after=30.0).select(DIRECTED)
    assert clock.slept == [30.0]


def test_503_twice_then_200_backs_off_exponentially(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script += [status(503, "busy"), status(503, "busy")]
    sparql = make(backoff=0.5)
    assert len(sparql.select(DIRECTED).rows) == 5
    assert clock.slept == [0.5, 1.0]
    assert sparql.requests == 3


def test_retries_are_bounded(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script += [status(502), status(504), status(503)]
    with pytest.raises(KGQueryError) as info:
        make(max_retries=2).select(DIRECTED)
    assert info.value.status == 503
    assert "gave up after 3 attempts" in info.value.__notes__
    assert len(clock.slept) == 2


def test_400_is_a_query_error_with_detail_and_no_retry(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    body = "Virtuoso 37000 Error SP030: SPARQL compiler, line 1: syntax error " + "x" * 800
    server.script.append(status(400, body))
    sparql = make()
    with pytest.raises(KGQueryError, match="HTTP 400") as info:
        sparql.select("SELECT * WHERE { ?s ?p }")
    error = info.value
    assert type(error) is KGQueryError
    assert error.status == 400
    assert error.detail == body[:500]
    assert error.query == "SELECT * WHERE { ?s ?p }"
    assert error.adapter == "sparql"
    assert sparql.requests == 1
    assert clock.slept == []


@pytest.mark.parametrize("code", [401, 403, 404, 500])
def test_other_client_errors_are_final(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock, code: int
) -> None:
    server.script.append(status(code, "no"))
    with pytest.raises(KGQueryError) as info:
        make().select(DIRECTED)
    assert info.value.status == code
    assert clock.slept == []


def test_connect_error_after_retries(server: FakeVirtuoso, clock: FakeClock) -> None:
    server.script += [refused] * 3
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        sparql = SPARQLEndpoint(
            "http://127.0.0.1:9/sparql", client=client, sleep=clock.sleep, backoff=0.25
        )
        with pytest.raises(KGConnectionError) as info:
            sparql.select(DIRECTED)
    assert type(info.value) is KGConnectionError
    assert str(info.value) == (
        "cannot reach SPARQL endpoint http://127.0.0.1:9/sparql: connection refused"
    )
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.query == DIRECTED
    assert clock.slept == [0.25, 0.5]
    assert sparql.requests == 3


def test_connect_error_from_a_real_closed_port() -> None:
    sparql = SPARQLEndpoint("http://127.0.0.1:9/sparql", max_retries=0, timeout=5)
    with (
        sparql,
        pytest.raises(KGConnectionError, match=r"^cannot reach SPARQL endpoint http://127"),
    ):
        sparql.select("ASK {}")


def test_timeout_is_kgtimeout(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script += [timed_out, timed_out]
    sparql = make(max_retries=1, timeout=2.5)
    with pytest.raises(KGTimeout, match=r"did not answer within 2.5s: read timeout"):
        sparql.select(DIRECTED)
    assert sparql.requests == 2


def test_timeout_then_success(make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso) -> None:
    server.script.append(timed_out)
    assert len(make().select(DIRECTED).rows) == 5


@pytest.mark.parametrize(
    "answer",
    [
        status(200, "<html>Virtuoso</html>", {"Content-Type": "text/html"}),
        status(200, json.dumps({"head": {}, "boolean": True})),
    ],
)
def test_unreadable_200_is_a_data_error(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, answer: Script
) -> None:
    server.script.append(answer)
    with pytest.raises(KGDataError) as info:
        make().select(DIRECTED)
    assert info.value.query == DIRECTED


# --- polite mode -------------------------------------------------------------------------------


def test_polite_mode_spaces_requests(make: Callable[..., SPARQLEndpoint], clock: FakeClock) -> None:
    sparql = make(min_interval=1.0)
    sparql.select(DIRECTED)
    sparql.select(DIRECTED)
    clock.now += 0.4  # the caller spent 0.4 s between queries
    sparql.select(DIRECTED)
    clock.now += 5.0
    sparql.select(DIRECTED)
    assert clock.slept == [1.0, pytest.approx(0.6)]


def test_polite_mode_spaces_retries_too(
    make: Callable[..., SPARQLEndpoint], server: FakeVirtuoso, clock: FakeClock
) -> None:
    server.script.append(status(503))
    make(min_interval=2.0, backoff=0.5).select(DIRECTED)
    assert clock.slept == [0.5, 1.5]  # backoff, then the rest of the interval


def test_polite_mode_sends_one_request_at_a_time(server: FakeVirtuoso) -> None:
    in_flight = 0
    peak = 0
    guard = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with guard:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with guard:
            in_flight -= 1
        return server(request)

    with httpx.Client(transport=httpx.MockTransport(slow)) as client:
        sparql = SPARQLEndpoint(ENDPOINT, client=client, min_interval=1e-6)
        threads = [threading.Thread(target=sparql.select, args=(DIRECTED,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert peak == 1
    assert sparql.requests == 4


# --- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", ["ftp://example.org/sparql", "127.0.0.1:8890/sparql", "http:///sparql", "sparql"]
)
def test_bad_endpoint_is_a_value_error(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        SPARQLEndpoint(endpoint)


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"max_retries": -1}, {"backoff": -1}, {"min_interval": -0.5}]
)
def test_bad_numbers_are_value_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SPARQLEndpoint(ENDPOINT, **kwargs)


def test_an_injected_client_is_not_closed(server: FakeVirtuoso) -> None:
    client = httpx.Client(transport=httpx.MockTransport(server))
    with SPARQLEndpoint(ENDPOINT, client=client) as sparql:
        sparql.select(DIRECTED)
    assert not client.is_closed
    client.close()
    own = SPARQLEndpoint(ENDPOINT)
    own.close()
    assert own._client.is_closed
    assert repr(own) == f"SPARQLEndpoint({ENDPOINT!r})"


# --- async twin --------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def async_endpoint(
    server: FakeVirtuoso, clock: FakeClock, **kwargs: object
) -> tuple[AsyncSPARQLEndpoint, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    options: dict[str, object] = {"sleep": clock.asleep, "clock": clock}
    options.update(kwargs)
    return AsyncSPARQLEndpoint(ENDPOINT, client=client, **options), client  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_select_and_refusal(server: FakeVirtuoso, clock: FakeClock) -> None:
    sparql, client = async_endpoint(server, clock)
    async with client, sparql:
        bindings = await sparql.select(INCEPTION)
        values = {row["p"]: row["o"] for row in bindings.rows}
        assert values[f"{NS}film.film.runtime"] == LiteralValue("148", f"{XSD}integer")
        with pytest.raises(ValueError, match="refusing"):
            await sparql.select("DELETE WHERE { ?s ?p ?o }")
    assert sparql.requests == 1
    assert server.headers[0]["user-agent"] == DEFAULT_USER_AGENT


@pytest.mark.anyio
async def test_async_truncation_and_paging(clock: FakeClock) -> None:
    server = FakeVirtuoso(max_rows=3)
    sparql, client = async_endpoint(server, clock)
    async with client:
        with pytest.raises(KGResultTruncated):
            await sparql.select(DIRECTED)
        bindings = await sparql.select_all(DIRECTED, page_size=4)
    assert [row["film"] for row in bindings.rows] == FILMS
    assert [q.rsplit("\n", 1)[-1] for q in server.queries[1:]] == [
        "LIMIT 4 OFFSET 0",
        "LIMIT 2 OFFSET 0",
        "LIMIT 2 OFFSET 2",
        "LIMIT 2 OFFSET 4",
    ]


@pytest.mark.anyio
async def test_async_retries_429_and_503(server: FakeVirtuoso, clock: FakeClock) -> None:
    server.script += [status(429, "", {"Retry-After": "2"}), status(503)]
    sparql, client = async_endpoint(server, clock, backoff=0.5)
    async with client:
        assert len((await sparql.select(DIRECTED)).rows) == 5
    assert clock.slept == [2.0, 1.0]
    assert sparql.requests == 3


@pytest.mark.anyio
async def test_async_errors(server: FakeVirtuoso, clock: FakeClock) -> None:
    server.script += [refused] * 3 + [timed_out] * 3 + [status(400, "bad")]
    sparql, client = async_endpoint(server, clock)
    async with client:
        with pytest.raises(KGConnectionError, match="connection refused"):
            await sparql.select(DIRECTED)
        with pytest.raises(KGTimeout):
            await sparql.select(DIRECTED)
        with pytest.raises(KGQueryError) as info:
            await sparql.select(DIRECTED)
    assert info.value.status == 400
    assert info.value.detail == "bad"
    assert sparql.requests == 7


@pytest.mark.anyio
async def test_async_polite_mode(server: FakeVirtuoso, clock: FakeClock) -> None:
    sparql, client = async_endpoint(server, clock, min_interval=1.5)
    async with client:
        for _ in range(3):
            await sparql.select(DIRECTED)
    assert clock.slept == [1.5, 1.5]


@pytest.mark.anyio
async def test_async_owns_its_client() -> None:
    async with AsyncSPARQLEndpoint(ENDPOINT) as sparql:
        assert not sparql._client.is_closed
    assert sparql._client.is_closed
