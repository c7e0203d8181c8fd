"""Several endpoints behind one client: balancing, failover, cooldown, recovery, discovery."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tog.errors import LLMConnectionError, LLMStatusError, ModelNotFound
from tog.llm._endpoints import EndpointPool
from tog.llm.openai_compat import AsyncOpenAICompatible, OpenAICompatible
from tog.llm.standin import StandInServer

from .conftest import echo_policy, make_request

# --- the pool on its own (fake clock) ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_pool(n: int = 3, **kwargs: float) -> tuple[EndpointPool, Clock]:
    clock = Clock()
    urls = [f"http://h{k}/v1" for k in range(n)]
    options: Any = {"cooldown": 1.0, "max_cooldown": 8.0, **kwargs}
    return EndpointPool(urls, clock=clock, **options), clock


def names(pool: EndpointPool, picks: list[Any]) -> list[int]:
    return [pool.endpoints.index(p) for p in picks]


def test_ties_go_round_robin() -> None:
    pool, _ = make_pool()
    picks = []
    for _ in range(7):
        endpoint = pool.acquire()
        assert endpoint is not None
        pool.release(endpoint, "ok")
        picks.append(endpoint)
    assert names(pool, picks) == [0, 1, 2, 0, 1, 2, 0]


def test_fewest_in_flight_wins() -> None:
    pool, _ = make_pool()
    first, second = pool.acquire(), pool.acquire()
    assert names(pool, [first, second]) == [0, 1]
    third = pool.acquire()
    assert names(pool, [third]) == [2]
    assert first is not None
    pool.release(first, "ok")
    assert names(pool, [pool.acquire()]) == [0]  # the only one with nothing in flight
    assert [s.in_flight for s in pool.status()] == [1, 1, 1]


def test_failed_endpoint_cools_down_exponentially_with_a_cap() -> None:
    pool, clock = make_pool(n=2, cooldown=1.0, max_cooldown=3.0)
    bad = pool.endpoints[0]
    pauses = []
    for _ in range(4):
        assert pool.acquire(only=bad) is bad
        pauses.append(pool.release(bad, "failed"))
    assert pauses == [1.0, 2.0, 3.0, 3.0]
    status = pool.status()[0]
    assert (status.failures, status.cooldown) == (4, 3.0)

    assert all(pool.acquire() is pool.endpoints[1] for _ in range(3))  # skipped while down
    for endpoint in pool.endpoints[1:]:
        pool.release(endpoint, "ok")
        pool.release(endpoint, "ok")
        pool.release(endpoint, "ok")
    clock.now += 2.9
    assert pool.acquire() is pool.endpoints[1]
    pool.release(pool.endpoints[1], "ok")


def test_half_open_endpoint_gets_one_probe_then_recovers() -> None:
    pool, clock = make_pool(n=2)
    a, b = pool.endpoints
    pool.acquire(only=a)
    pool.release(a, "failed")
    clock.now += 1.0  # cooldown over: half-open

    hold_b = pool.acquire()  # round robin points at b after a's failure? either way one probe
    probe = pool.acquire()
    assert {hold_b, probe} == {a, b}
    assert pool.acquire() is b  # a already has its probe in flight
    pool.release(a, "ok")
    assert pool.status()[0].failures == 0
    assert pool.acquire() is a  # healthy again and least loaded


def test_all_down_probes_the_first_due_back_and_a_round_ends() -> None:
    pool, _ = make_pool(n=2)
    a, b = pool.endpoints
    for endpoint, failures in ((a, 2), (b, 1)):
        for _ in range(failures):
            pool.acquire(only=endpoint)
            pool.release(endpoint, "failed")
    assert pool.acquire() is b  # due back at +1 s, a at +2 s
    assert pool.acquire(skip={b}) is None  # the round is over: the retry policy decides
    assert pool.acquire(skip={a, b}) is None


def test_cancelled_attempt_keeps_the_health_as_it_was() -> None:
    pool, _ = make_pool(n=1)
    (a,) = pool.endpoints
    pool.acquire()
    pool.release(a, "failed")
    pool.acquire()
    pool.release(a, None)
    status = pool.status()[0]
    assert (status.in_flight, status.failures) == (0, 1)


@pytest.mark.parametrize(
    ("urls", "kwargs", "message"),
    [
        ([], {}, "at least one"),
        (["http://a/v1", "http://a/v1"], {}, "more than once"),
        (["http://a/v1"], {"cooldown": -1.0}, "cooldown"),
        (["http://a/v1"], {"cooldown": 5.0, "max_cooldown": 1.0}, "cooldown"),
    ],
)
def test_pool_rejects_bad_arguments(
    urls: list[str], kwargs: dict[str, float], message: str
) -> None:
    options: Any = {"cooldown": 1.0, "max_cooldown": 8.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        EndpointPool(urls, **options)


def test_client_normalizes_and_rejects_duplicate_urls() -> None:
    with OpenAICompatible(["http://a:8000", "http://b:8000/v1/"], "m") as llm:
        assert llm.base_urls == ("http://a:8000/v1", "http://b:8000/v1")
        assert llm.base_url == "http://a:8000/v1"
        assert repr(llm) == "OpenAICompatible(['http://a:8000/v1', 'http://b:8000/v1'], model='m')"
    with pytest.raises(ValueError, match="more than once"):
        OpenAICompatible(["http://a:8000", "http://a:8000/v1"])
    with pytest.raises(ValueError, match="at least one"):
        AsyncOpenAICompatible([])
    with pytest.raises(ValueError, match="cooldown"):
        OpenAICompatible(["http://a/v1", "http://b/v1"], cooldown=10.0, max_cooldown=1.0)


def test_429_waits_as_the_retry_policy_says_instead_of_failing_over() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        hosts.append(request.url.host)
        if request.url.host == "a" and len(hosts) == 1:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "busy"})
        return httpx.Response(
            200, json={"choices": [{"message": {"role": "assistant", "content": "ok"}}]}
        )

    sleeps: list[float] = []
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        OpenAICompatible(
            ["http://a/v1", "http://b/v1"], "m", client=client, sleep=sleeps.append
        ) as llm,
    ):
        completion = llm.complete(make_request("q"))
    assert completion.attempts == 2
    assert sleeps == [2.0]
    assert hosts == ["a", "b"]  # after the wait, the next endpoint in turn
    assert [s.failures for s in llm.endpoints()] == [0, 0]  # a 429 is not a failure


# --- real stand-in servers on loopback ---------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[StandInServer]]:
    """Three started stand-ins serving the same model, stopped at teardown."""
    started = [StandInServer(echo_policy, model="m").start() for _ in range(3)]
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def served(*servers: StandInServer) -> list[int]:
    return [len(server.requests) for server in servers]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


@pytest.mark.server
def test_sequential_requests_take_turns(servers: list[StandInServer]) -> None:
    with OpenAICompatible([s.base_url for s in servers], "m") as llm:
        for k in range(6):
            assert llm.complete(make_request(f"q{k}")).text == f"echo: q{k}"
    assert served(*servers) == [2, 2, 2]


@pytest.mark.server
def test_busy_endpoint_is_passed_over_while_its_request_is_in_flight(
    servers: list[StandInServer],
) -> None:
    slow, fast, _ = servers
    slow.latency = 1.0
    with OpenAICompatible([slow.base_url, fast.base_url], "m") as llm:
        background = threading.Thread(target=llm.complete, args=(make_request("slow"),))
        background.start()
        wait_for(lambda: len(slow.requests) == 1)
        assert [s.in_flight for s in llm.endpoints()] == [1, 0]
        for k in range(4):
            llm.complete(make_request(f"q{k}"))
        assert served(slow, fast) == [1, 4]  # fewest in flight: never the busy one
        background.join()
        assert [s.in_flight for s in llm.endpoints()] == [0, 0]


@pytest.mark.server
def test_uneven_latency_sends_most_requests_to_the_fast_endpoint(
    servers: list[StandInServer],
) -> None:
    slow, fast, _ = servers
    slow.latency = 0.3
    with OpenAICompatible([slow.base_url, fast.base_url], "m") as llm:

        def work(k: int) -> None:
            for j in range(6):
                llm.complete(make_request(f"t{k}-{j}"))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    n_slow, n_fast = served(slow, fast)
    assert n_slow + n_fast == 24
    assert n_slow < n_fast


@pytest.mark.server
def test_stopped_endpoint_fails_over_at_once_and_is_skipped(
    servers: list[StandInServer],
) -> None:
    a, b, _ = servers
    sleeps: list[float] = []
    with OpenAICompatible([a.base_url, b.base_url], "m", sleep=sleeps.append) as llm:
        llm.complete(make_request("warm-up"))
        llm.complete(make_request("warm-up"))
        assert served(a, b) == [1, 1]
        a.stop()
        first = llm.complete(make_request("q"))  # a's turn: refused, then b at once
        assert first.attempts == 2
        status = llm.endpoints()[0]
        assert status.failures == 1
        assert 0 < status.cooldown <= 1.0
        assert [llm.complete(make_request("q")).attempts for _ in range(3)] == [1, 1, 1]
    assert sleeps == []  # failing over needs no backoff
    assert served(b) == [5]


@pytest.mark.server
def test_503_fails_over_and_recovers_after_the_cooldown(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    a.fail_next(1, status=503)
    with OpenAICompatible([a.base_url, b.base_url], "m", cooldown=1.0) as llm:
        assert llm.complete(make_request("q")).attempts == 2
        for _ in range(3):
            llm.complete(make_request("q"))
        assert served(a, b) == [1, 4]  # a cools down

        time.sleep(1.05)
        llm.complete(make_request("probe"))
        assert served(a, b) == [2, 4]  # half-open: a gets the probe, answers, is healthy
        assert llm.endpoints()[0].failures == 0
        llm.complete(make_request("q"))
        llm.complete(make_request("q"))
    assert served(a, b) == [3, 5]  # taking turns again


@pytest.mark.server
def test_failing_endpoint_cooldown_doubles(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    a.fail_next(2, status=500)
    with OpenAICompatible([a.base_url, b.base_url], "m", cooldown=0.5, max_cooldown=5) as llm:
        llm.complete(make_request("q"))
        time.sleep(0.55)
        llm.complete(make_request("probe"))  # a's probe fails again: cooldown 1.0 s
        status = llm.endpoints()[0]
        assert status.failures == 2
        assert 0.5 < status.cooldown <= 1.0
    assert served(a, b) == [2, 2]


@pytest.mark.server
def test_three_endpoints_one_stopped_one_503(servers: list[StandInServer]) -> None:
    a, b, c = servers
    a.stop()
    b.fail_next(1, status=503)
    sleeps: list[float] = []
    with OpenAICompatible([s.base_url for s in servers], "m", sleep=sleeps.append) as llm:
        completion = llm.complete(make_request("q"))  # the model check found a down
        assert completion.attempts == 2  # b's 503, then c
        assert [s.failures for s in llm.endpoints()] == [1, 1, 0]
    assert served(b, c) == [1, 1]
    assert sleeps == []


@pytest.mark.server
def test_all_endpoints_down_retries_then_names_them_all(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    sleeps: list[float] = []
    with OpenAICompatible([a.base_url, b.base_url], "m", sleep=sleeps.append) as llm:
        llm.complete(make_request("warm-up"))
        llm.complete(make_request("warm-up"))
        a.stop()
        b.stop()
        with pytest.raises(LLMConnectionError) as info:
            llm.complete(make_request("q"))
    message = str(info.value)
    assert "\n" not in message
    assert f"tried {a.base_url} (connection refused), {b.base_url} (connection refused)" in message
    # Both fail at once; then each retry round probes the endpoint due back first.
    assert sleeps == [0.5, 1.0]
    assert "gave up after 4 attempts" in info.value.__notes__


@pytest.mark.server
def test_no_endpoint_answering_the_model_check_is_a_named_error() -> None:
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    sleeps: list[float] = []
    with (
        OpenAICompatible(urls, max_retries=2, sleep=sleeps.append) as llm,
        pytest.raises(LLMConnectionError) as info,
    ):
        llm.complete(make_request("q"))
    assert f"tried {urls[0]} (connection refused), {urls[1]} (connection refused)" in str(
        info.value
    )
    assert sleeps == [0.5, 1.0]


@pytest.mark.server
def test_all_endpoints_503_is_a_status_error_naming_them(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    a.fail_next(9, status=503)
    b.fail_next(9, status=503)
    with (
        OpenAICompatible([a.base_url, b.base_url], "m", max_retries=1, sleep=lambda s: None) as llm,
        pytest.raises(LLMStatusError) as info,
    ):
        llm.complete(make_request("q"))
    assert info.value.status_code == 503
    assert f"{a.base_url} (HTTP 503)" in str(info.value)
    assert f"{b.base_url} (HTTP 503)" in str(info.value)
    assert served(a, b) == [2, 1] or served(a, b) == [1, 2]


@pytest.mark.server
def test_client_errors_do_not_fail_over(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    a.context_length_error_next(1)
    with OpenAICompatible([a.base_url, b.base_url], "m") as llm, pytest.raises(LLMStatusError):
        llm.complete(make_request("q"))
    assert served(a, b) == [1, 0]
    assert llm.endpoints()[0].failures == 0


@pytest.mark.server
def test_threads_share_one_client_safely(servers: list[StandInServer]) -> None:
    errors: list[BaseException] = []
    with OpenAICompatible([s.base_url for s in servers], "m") as llm:

        def work(k: int) -> None:
            try:
                for j in range(10):
                    assert llm.complete(make_request(f"{k}-{j}")).text == f"echo: {k}-{j}"
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [s.in_flight for s in llm.endpoints()] == [0, 0, 0]
    assert sum(served(*servers)) == 80
    assert min(served(*servers)) > 0


# --- model discovery across endpoints ----------------------------------------------------------


@pytest.fixture
def mixed() -> Iterator[tuple[StandInServer, StandInServer]]:
    with (
        StandInServer(echo_policy, model="qwen-7b") as one,
        StandInServer(echo_policy, model="llama-8b") as other,
    ):
        yield one, other


@pytest.mark.server
def test_discovery_agrees_across_endpoints(servers: list[StandInServer]) -> None:
    with OpenAICompatible([s.base_url for s in servers]) as llm:
        llm.complete(make_request("q"))
        assert llm.model == "m"


@pytest.mark.server
def test_endpoints_serving_different_models_are_an_error(
    mixed: tuple[StandInServer, StandInServer],
) -> None:
    one, other = mixed
    with (
        OpenAICompatible([one.base_url, other.base_url]) as llm,
        pytest.raises(ModelNotFound) as info,
    ):
        llm.complete(make_request("q"))
    message = str(info.value)
    assert "'qwen-7b' is not served by LLM endpoint" in message
    assert other.base_url in message
    assert "llama-8b" in message
    assert served(one, other) == [0, 0]  # no chat request was sent


@pytest.mark.server
def test_configured_model_must_be_served_by_each_endpoint(
    mixed: tuple[StandInServer, StandInServer],
) -> None:
    one, other = mixed
    with (
        OpenAICompatible([one.base_url, other.base_url], "llama-8b") as llm,
        pytest.raises(ModelNotFound, match=f"not served by LLM endpoint {one.base_url}"),
    ):
        llm.complete(make_request("q"))


@pytest.mark.server
def test_discovery_skips_an_endpoint_that_is_down(servers: list[StandInServer]) -> None:
    a, b, _ = servers
    a.stop()
    with OpenAICompatible([a.base_url, b.base_url], sleep=lambda s: None) as llm:
        assert llm.complete(make_request("q")).attempts == 1  # a is already known to be down
        assert llm.model == "m"
        assert llm.endpoints()[0].failures == 1


# --- the async twin ----------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.anyio
async def test_async_balances_by_in_flight_and_fails_over(servers: list[StandInServer]) -> None:
    slow, fast, down = servers
    slow.latency = 1.0
    down.stop()
    async with AsyncOpenAICompatible([slow.base_url, fast.base_url, down.base_url]) as llm:
        background = asyncio.ensure_future(llm.complete(make_request("slow")))
        while len(slow.requests) < 1:
            await asyncio.sleep(0.005)
        results = [await llm.complete(make_request(f"q{k}")) for k in range(4)]
        await background
        assert llm.model == "m"
        assert served(slow, fast) == [1, 4]
        assert llm.endpoints()[2].failures == 1
        assert [s.in_flight for s in llm.endpoints()] == [0, 0, 0]
    assert all(r.text.startswith("echo: q") for r in results)


@pytest.mark.server
@pytest.mark.anyio
async def test_async_concurrent_requests_spread_and_recover(
    servers: list[StandInServer],
) -> None:
    a, b, c = servers
    a.fail_next(1, status=502)
    async with AsyncOpenAICompatible([s.base_url for s in servers], "m", cooldown=0.2) as llm:
        limiter = asyncio.Semaphore(4)

        async def one(k: int) -> str:
            async with limiter:
                return (await llm.complete(make_request(f"q{k}"))).text

        texts = await asyncio.gather(*(one(k) for k in range(30)))
        await asyncio.sleep(0.25)
        for k in range(3):
            await llm.complete(make_request(f"after{k}"))
        assert llm.endpoints()[0].failures == 0
    assert sorted(texts) == sorted(f"echo: q{k}" for k in range(30))
    assert sum(served(a, b, c)) == 34  # 33 answered + a's failure
    assert min(served(a, b, c)) >= 2


@pytest.mark.server
@pytest.mark.anyio
async def test_async_all_down_names_the_endpoints() -> None:
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(3)]

    async def no_sleep(seconds: float) -> None:
        return None

    async with AsyncOpenAICompatible(urls, "m", max_retries=1, sleep=no_sleep) as llm:
        with pytest.raises(LLMConnectionError) as info:
            await llm.complete(make_request("q"))
    for url in urls:
        assert url in str(info.value)
