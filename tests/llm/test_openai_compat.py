from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tog.errors import (
    ContextLengthExceeded,
    LLMConnectionError,
    LLMError,
    LLMRateLimited,
    LLMResponseError,
    LLMStatusError,
    LLMTimeout,
    ModelNotFound,
)
from tog.llm.base import Sampling
from tog.llm.openai_compat import AsyncOpenAICompatible, OpenAICompatible, _transport_error
from tog.llm.standin import StandInServer

from .conftest import make_request

BASE = "http://llm.test/v1"
Handler = Callable[[httpx.Request], httpx.Response]
MakeLLM = Callable[..., OpenAICompatible]


def completion_json(text: str | None = "hello", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }
    body.update(overrides)
    return body


def vllm_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": "BadRequestError", "code": status}}
    )


class Recorder:
    """A MockTransport handler that replays responses in order and records each request."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests if r.content]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_llm(sleeps: list[float]) -> Iterator[MakeLLM]:
    """Build sync backends over a MockTransport; their clients are closed at teardown."""
    clients: list[httpx.Client] = []

    def make(handler: Handler, model: str | None = "m", **kwargs: object) -> OpenAICompatible:
        client = httpx.Client(transport=httpx.MockTransport(handler))
        clients.append(client)
        return OpenAICompatible(
            kwargs.pop("base_url", BASE),  # type: ignore[arg-type]
            model,
            client=client,
            sleep=sleeps.append,
            **kwargs,  # type: ignore[arg-type]
        )

    yield make
    for client in clients:
        client.close()


# --- request body and headers -----------------------------------------------------------------


def test_body_carries_messages_and_sampling_with_extra_merged_last(make_llm: MakeLLM) -> None:
    handler = Recorder(httpx.Response(200, json=completion_json()))
    sampling = Sampling(
        temperature=0.4,
        max_tokens=64,
        top_p=0.9,
        seed=7,
        stop=("\n\n",),
        extra={"guided_json": {"type": "object"}, "temperature": 0.1},
    )
    llm = make_llm(handler)

    llm.complete(make_request("Who directed Inception?", sampling=sampling))

    (request,) = handler.requests
    assert request.method == "POST"
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert json.loads(request.content) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You answer questions."},
            {"role": "user", "content": "Who directed Inception?"},
        ],
        "temperature": 0.1,  # extra wins: vendor fields pass through unchanged
        "max_tokens": 64,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["\n\n"],
        "guided_json": {"type": "object"},
    }


def test_unset_optional_sampling_fields_are_left_out(make_llm: MakeLLM) -> None:
    handler = Recorder(httpx.Response(200, json=completion_json()))

    make_llm(handler).complete(make_request("q"))

    (body,) = handler.bodies()
    assert set(body) == {"model", "messages", "temperature", "max_tokens"}
    assert (body["temperature"], body["max_tokens"]) == (0.0, 256)


def test_api_key_and_headers_are_sent(make_llm: MakeLLM) -> None:
    handler = Recorder(httpx.Response(200, json=completion_json()))
    llm = make_llm(handler, api_key="sk-test", headers={"X-Team": "tog"})

    llm.complete(make_request("q"))

    headers = handler.requests[0].headers
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["X-Team"] == "tog"
    assert headers["Content-Type"] == "application/json"


def test_no_authorization_header_without_api_key(make_llm: MakeLLM) -> None:
    handler = Recorder(httpx.Response(200, json=completion_json()))

    make_llm(handler).complete(make_request("q"))

    assert "Authorization" not in handler.requests[0].headers


# --- response parsing -------------------------------------------------------------------------


def test_completion_fields_come_from_the_response(make_llm: MakeLLM) -> None:
    llm = make_llm(Recorder(httpx.Response(200, json=completion_json("Nolan"))))

    completion = llm.complete(make_request("q"))

    assert completion.text == "Nolan"
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 2)
    assert completion.finish_reason == "stop"
    assert completion.model == "served-model"
    assert completion.attempts == 1


def test_null_content_and_missing_usage_and_model_have_defaults(make_llm: MakeLLM) -> None:
    body = completion_json(None)
    del body["usage"], body["model"]
    llm = make_llm(Recorder(httpx.Response(200, json=body)), model="asked")

    completion = llm.complete(make_request("q"))

    assert completion.text == ""
    assert (completion.prompt_tokens, completion.completion_tokens) == (0, 0)
    assert completion.model == "asked"


@pytest.mark.parametrize(
    ("response", "why"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), "not a JSON object"),
        (httpx.Response(200, json=["a list"]), "not a JSON object"),
        (httpx.Response(200, json={"object": "chat.completion"}), "no choices"),
        (httpx.Response(200, json=completion_json(choices=[])), "no choices"),
        (httpx.Response(200, json=completion_json(choices=[{"text": "x"}])), "no choices"),
        (
            httpx.Response(200, json=completion_json(choices=[{"message": {"content": [1]}}])),
            "non-text",
        ),
    ],
)
def test_2xx_that_is_not_a_completion_is_a_response_error(
    make_llm: MakeLLM, sleeps: list[float], response: httpx.Response, why: str
) -> None:
    handler = Recorder(response)

    with pytest.raises(LLMResponseError, match=why) as info:
        make_llm(handler).complete(make_request("q"))

    assert "http://llm.test/v1/chat/completions" in str(info.value)
    assert len(handler.requests) == 1
    assert sleeps == []


# --- retries ----------------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff_and_counted(
    make_llm: MakeLLM, sleeps: list[float]
) -> None:
    handler = Recorder(
        vllm_error(503, "overloaded"),
        vllm_error(500, "boom"),
        httpx.Response(200, json=completion_json("ok")),
    )

    completion = make_llm(handler, backoff=0.5).complete(make_request("q"))

    assert completion.text == "ok"
    assert completion.attempts == 3
    assert len(handler.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_5xx_is_raised_after_max_retries(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(vllm_error(502, "bad gateway"))

    with pytest.raises(LLMStatusError) as info:
        make_llm(handler, max_retries=3, backoff=0.25).complete(make_request("q"))

    error = info.value
    assert type(error) is LLMStatusError
    assert error.status_code == 502
    assert "bad gateway" in error.body
    assert len(handler.requests) == 4
    assert sleeps == [0.25, 0.5, 1.0]
    assert error.__notes__ == ["gave up after 4 attempts"]


def test_max_retries_zero_makes_one_attempt(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(vllm_error(503, "down"))

    with pytest.raises(LLMStatusError):
        make_llm(handler, max_retries=0).complete(make_request("q"))

    assert len(handler.requests) == 1
    assert sleeps == []


def test_429_honours_retry_after(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow"}}),
        httpx.Response(200, json=completion_json("ok")),
    )

    completion = make_llm(handler).complete(make_request("q"))

    assert completion.attempts == 2
    assert sleeps == [7.0]


def test_429_retry_after_is_capped(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(200, json=completion_json()),
    )

    make_llm(handler, max_retry_after=30.0).complete(make_request("q"))

    assert sleeps == [30.0]


def test_429_without_retry_after_uses_backoff(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(httpx.Response(429), httpx.Response(200, json=completion_json()))

    make_llm(handler, backoff=2.0).complete(make_request("q"))

    assert sleeps == [2.0]


def test_429_exhausted_raises_rate_limited_with_retry_after(
    make_llm: MakeLLM, sleeps: list[float]
) -> None:
    handler = Recorder(httpx.Response(429, headers={"Retry-After": "1.5"}, text="busy"))

    with pytest.raises(LLMRateLimited) as info:
        make_llm(handler, max_retries=1).complete(make_request("q"))

    assert info.value.retry_after == 1.5
    assert info.value.status_code == 429
    assert sleeps == [1.5]
    assert len(handler.requests) == 2


def test_context_length_400_is_not_retried(make_llm: MakeLLM, sleeps: list[float]) -> None:
    message = (
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
        "(4744 in the messages, 256 in the completion)."
    )
    handler = Recorder(vllm_error(400, message))

    with pytest.raises(ContextLengthExceeded) as info:
        make_llm(handler).complete(make_request("q"))

    assert info.value.status_code == 400
    assert "maximum context length is 4096" in str(info.value)
    assert "'m'" in str(info.value)
    assert len(handler.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, LLMStatusError), (401, LLMStatusError), (403, LLMStatusError), (404, ModelNotFound)],
)
def test_client_errors_are_never_retried(
    make_llm: MakeLLM, sleeps: list[float], status: int, error_type: type[LLMStatusError]
) -> None:
    handler = Recorder(vllm_error(status, "nope"))

    with pytest.raises(error_type) as info:
        make_llm(handler).complete(make_request("q"))

    assert type(info.value) is error_type
    assert info.value.status_code == status
    assert len(handler.requests) == 1
    assert sleeps == []


def test_error_body_saying_model_does_not_exist_is_model_not_found(make_llm: MakeLLM) -> None:
    handler = Recorder(
        httpx.Response(
            400, json={"object": "error", "message": "The model `llama` does not exist."}
        )
    )

    with pytest.raises(ModelNotFound, match="llama"):
        make_llm(handler, model="llama").complete(make_request("q"))


def test_connection_errors_are_retried_then_raised_from_the_httpx_error(
    make_llm: MakeLLM, sleeps: list[float]
) -> None:
    cause = httpx.ConnectError("[Errno 111] Connection refused")
    handler = Recorder(cause)

    with pytest.raises(LLMConnectionError) as info:
        make_llm(handler).complete(make_request("q"))

    assert type(info.value) is LLMConnectionError
    assert str(info.value) == f"cannot reach LLM endpoint {BASE}: connection refused"
    assert info.value.__cause__ is cause
    assert len(handler.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_timeouts_are_retried_and_raise_llm_timeout(make_llm: MakeLLM, sleeps: list[float]) -> None:
    handler = Recorder(
        httpx.ReadTimeout("timed out"), httpx.Response(200, json=completion_json("late"))
    )

    assert make_llm(handler).complete(make_request("q")).attempts == 2

    failing = Recorder(httpx.ReadTimeout("timed out"))
    with pytest.raises(LLMTimeout, match="did not answer within 2s") as info:
        make_llm(failing, timeout=2.0, max_retries=1).complete(make_request("q"))
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.model == "m"


def _all_subclasses(cls: type[httpx.RequestError]) -> list[type[httpx.RequestError]]:
    found: list[type[httpx.RequestError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def test_every_httpx_request_error_is_mapped() -> None:
    classes: list[type[httpx.RequestError]] = [
        httpx.RequestError,
        *_all_subclasses(httpx.RequestError),
    ]
    assert len(classes) > 10

    for cls in classes:
        error = _transport_error(cls("boom"), base_url=BASE, timeout=60.0, model="m")
        if issubclass(cls, httpx.TimeoutException):
            assert type(error) is LLMTimeout, cls
        elif issubclass(cls, httpx.TransportError):
            assert type(error) is LLMConnectionError, cls
        else:
            assert type(error) is LLMResponseError, cls
        assert BASE in str(error)
        assert "\n" not in str(error)


def test_error_messages_are_one_line_naming_url_and_model(make_llm: MakeLLM) -> None:
    handler = Recorder(httpx.Response(500, text="Traceback:\n  line 1\n  line 2\n" + "x" * 2000))

    with pytest.raises(LLMStatusError) as info:
        make_llm(handler, max_retries=0, model="llama-3").complete(make_request("q"))

    message = str(info.value)
    assert "\n" not in message
    assert "http://llm.test/v1/chat/completions" in message
    assert "'llama-3'" in message
    assert len(message) < 500
    assert info.value.body.startswith("Traceback:\n")  # the full body is kept on the error


# --- model discovery --------------------------------------------------------------------------


def models_json(*ids: str) -> dict[str, object]:
    return {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}


def routes(models: httpx.Response) -> Recorder:
    class Router(Recorder):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if request.url.path == "/v1/models":
                return models
            return httpx.Response(200, json=completion_json())

    return Router()


def test_single_served_model_is_discovered_once(make_llm: MakeLLM) -> None:
    handler = routes(httpx.Response(200, json=models_json("qwen-7b")))
    llm = make_llm(handler, model=None)
    assert llm.model is None

    llm.complete(make_request("a"))
    llm.complete(make_request("b"))

    assert llm.model == "qwen-7b"
    paths = [(r.method, r.url.path) for r in handler.requests]
    assert paths == [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
    ]
    assert [b["model"] for b in handler.bodies()] == ["qwen-7b", "qwen-7b"]


def test_no_served_model_is_model_not_found(make_llm: MakeLLM) -> None:
    llm = make_llm(routes(httpx.Response(200, json=models_json())), model=None)

    with pytest.raises(ModelNotFound, match="serves no model"):
        llm.complete(make_request("q"))
    assert llm.model is None


def test_several_served_models_ask_for_model_argument(make_llm: MakeLLM) -> None:
    llm = make_llm(routes(httpx.Response(200, json=models_json("a-7b", "b-13b"))), model=None)

    with pytest.raises(LLMError) as info:
        llm.complete(make_request("q"))

    assert type(info.value) is LLMError
    assert "a-7b, b-13b" in str(info.value)
    assert "model=" in str(info.value)


def test_models_lists_ids_and_rejects_other_bodies(make_llm: MakeLLM) -> None:
    assert make_llm(Recorder(httpx.Response(200, json=models_json("x", "y")))).models() == [
        "x",
        "y",
    ]
    with pytest.raises(LLMResponseError, match="no model list"):
        make_llm(Recorder(httpx.Response(200, json={"models": []}))).models()


def test_given_model_skips_discovery(make_llm: MakeLLM) -> None:
    handler = routes(httpx.Response(500))

    make_llm(handler, model="given").complete(make_request("q"))

    assert [r.url.path for r in handler.requests] == ["/v1/chat/completions"]


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("https://llm.example.org/openai/v1", "https://llm.example.org/openai/v1"),
    ],
)
def test_base_url_is_normalized(given: str, normalized: str) -> None:
    with OpenAICompatible(given, "m") as llm:
        assert llm.base_url == normalized


@pytest.mark.parametrize(
    "bad", ["localhost:8000", "ftp://host/v1", "http:///v1", "", "127.0.0.1", "http://h/v1?x=1"]
)
def test_bad_base_url_raises_value_error_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url") as info:
        OpenAICompatible(bad)
    assert repr(bad) in str(info.value)
    with pytest.raises(ValueError, match="base_url"):
        AsyncOpenAICompatible(bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"max_retries": -1}, {"backoff": -1.0}, {"max_retry_after": -0.5}],
)
def test_out_of_range_numbers_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        OpenAICompatible(BASE, "m", **kwargs)


def test_owned_client_is_closed_injected_client_is_not() -> None:
    with OpenAICompatible(BASE, "m") as owner:
        owned = owner._client
    assert owned.is_closed

    with httpx.Client() as injected:
        OpenAICompatible(BASE, "m", client=injected).close()
        assert not injected.is_closed


def test_repr_names_url_and_model_but_not_the_key() -> None:
    with OpenAICompatible(BASE, "m", api_key="sk-secret") as llm:
        assert repr(llm) == "OpenAICompatible('http://llm.test/v1', model='m')"


# --- async over MockTransport -----------------------------------------------------------------


@pytest.mark.anyio
async def test_async_retries_discovers_and_counts_attempts() -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    calls: list[str] = []
    failures = [vllm_error(503, "busy"), httpx.Response(429, headers={"Retry-After": "4"})]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=models_json("only"))
        return failures.pop(0) if failures else httpx.Response(200, json=completion_json("ok"))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
        AsyncOpenAICompatible(BASE, client=client, sleep=fake_sleep) as llm,
    ):
        completion = await llm.complete(make_request("q"))

    assert (completion.text, completion.attempts) == ("ok", 3)
    assert llm.model == "only"
    assert sleeps == [0.5, 4.0]
    assert calls == ["/v1/models"] + ["/v1/chat/completions"] * 3


@pytest.mark.anyio
async def test_async_maps_errors_like_sync() -> None:
    async def no_sleep(seconds: float) -> None:
        raise AssertionError("a 400 must not be retried")

    handler = Recorder(vllm_error(400, "This model's maximum context length is 4096 tokens."))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        llm = AsyncOpenAICompatible(BASE, "m", client=client, sleep=no_sleep)
        with pytest.raises(ContextLengthExceeded):
            await llm.complete(make_request("q"))
        await llm.aclose()
        assert not client.is_closed  # injected: the backend leaves it open
    assert len(handler.requests) == 1


@pytest.mark.anyio
async def test_async_owned_client_is_closed() -> None:
    async with AsyncOpenAICompatible("http://127.0.0.1:8000", "m") as llm:
        assert llm.base_url == "http://127.0.0.1:8000/v1"
    assert llm._client.is_closed


# --- over real HTTP against the stand-in ------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.server
def test_sync_against_standin(standin: StandInServer) -> None:
    with OpenAICompatible(standin.base_url) as llm:
        assert llm.models() == ["standin-model"]
        completion = llm.complete(make_request("Who wrote Dune?"))

    assert llm.model == "standin-model"
    assert completion.text == "echo: Who wrote Dune?"
    assert completion.prompt_tokens == 6  # "You answer questions." + "Who wrote Dune?"
    assert completion.completion_tokens == 4
    assert completion.finish_reason == "stop"
    assert completion.model == "standin-model"
    assert completion.attempts == 1


@pytest.mark.server
def test_sync_retries_injected_failures_over_http(standin: StandInServer) -> None:
    sleeps: list[float] = []
    standin.fail_next(1, status=503)
    standin.rate_limit_next(1, retry_after=2)

    with OpenAICompatible(standin.base_url, "standin-model", sleep=sleeps.append) as llm:
        completion = llm.complete(make_request("hi"))

        assert completion.attempts == 3
        assert sleeps == [0.5, 2.0]
        assert len(standin.requests) == 3

        standin.context_length_error_next(1)
        with pytest.raises(ContextLengthExceeded, match="maximum context length is 4096"):
            llm.complete(make_request("hi"))
        assert len(standin.requests) == 4


@pytest.mark.server
def test_sync_wrong_model_over_http_is_model_not_found(standin: StandInServer) -> None:
    sleeps: list[float] = []
    with (
        OpenAICompatible(standin.base_url, "gpt-4", sleep=sleeps.append) as llm,
        pytest.raises(ModelNotFound, match="gpt-4"),
    ):
        llm.complete(make_request("hi"))
    assert sleeps == []  # a 404 is final
    assert len(standin.requests) == 1


@pytest.mark.server
def test_refused_port_is_connection_error() -> None:
    port = free_port()
    with (
        OpenAICompatible(
            f"http://127.0.0.1:{port}/v1", "m", max_retries=1, sleep=lambda s: None
        ) as llm,
        pytest.raises(LLMConnectionError) as info,
    ):
        llm.complete(make_request("q"))

    assert type(info.value) is LLMConnectionError
    assert str(info.value).startswith(f"cannot reach LLM endpoint http://127.0.0.1:{port}/v1: ")
    assert "refused" in str(info.value)


@pytest.mark.server
@pytest.mark.anyio
async def test_async_against_standin(standin: StandInServer) -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    standin.fail_next(2, status=500)
    async with AsyncOpenAICompatible(standin.base_url, sleep=fake_sleep) as llm:
        assert await llm.models() == ["standin-model"]
        completion = await llm.complete(make_request("async question"))

        standin.rate_limit_next(5, retry_after=1)
        with pytest.raises(LLMRateLimited) as info:
            await llm.complete(make_request("again"))

    assert completion.text == "echo: async question"
    assert completion.attempts == 3
    assert info.value.retry_after == 1.0
    assert sleeps == [0.5, 1.0, 1.0, 1.0]


@pytest.mark.server
@pytest.mark.anyio
async def test_async_refused_port_is_connection_error() -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    port = free_port()
    async with AsyncOpenAICompatible(f"http://127.0.0.1:{port}", "m", sleep=no_sleep) as llm:
        with pytest.raises(LLMConnectionError, match=f"127.0.0.1:{port}/v1: .*refused"):
            await llm.complete(make_request("q"))
