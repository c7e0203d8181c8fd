"""LangChainChat, AsyncLangChainChat and the LangChain tool and runnable, on langchain's fakes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core import exceptions as lc_exceptions
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableLambda

import tog
import tog.llm
from kg_adapters import NetworkXGraph
from tog.drivers import is_async_llm
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
from tog.integrations.langchain import NO_ANSWER, answer_text, as_runnable, as_tool
from tog.llm import AsyncLangChainChat, LangChainChat
from tog.llm.base import Sampling

from .conftest import make_request

ROOT = Path(__file__).resolve().parents[2]

FILMS = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
]
QUESTION = "Which films did Christopher Nolan direct?"
TOPICS = ["Christopher Nolan"]
CONFIG = tog.SearchConfig(width=3, depth=2)
# One reply per prompt, in the order the search asks them.
REPLIES = [
    json.dumps({"choices": [{"candidate": 1, "score": 1.0}]}),  # relation_prune
    json.dumps({"scores": [{"candidate": 1, "score": 0.6}, {"candidate": 2, "score": 0.4}]}),
    json.dumps({"sufficient": True, "answers": ["Inception", "Interstellar"], "rationale": "r"}),
]
ANSWERS = ("Inception", "Interstellar")
LANGCHAIN_TYPE = {"system": "system", "user": "human", "assistant": "ai"}


class Recorder(BaseCallbackHandler):
    """Records the messages and invocation parameters of every chat-model call."""

    run_inline = True

    def __init__(self) -> None:
        self.messages: list[list[BaseMessage]] = []
        self.params: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        [conversation] = messages
        self.messages.append(conversation)
        self.params.append(kwargs.get("invocation_params", {}))


def fake(replies: list[str], recorder: Recorder | None = None) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies), callbacks=[recorder] if recorder else None)


def graph() -> NetworkXGraph:
    return NetworkXGraph.from_triples(FILMS)


def sent(recorder: Recorder) -> list[list[tuple[str, str]]]:
    return [[(m.type, str(m.content)) for m in call] for call in recorder.messages]


def expected(result: tog.Result) -> list[list[tuple[str, str]]]:
    """The messages of every LLM step in the trace, with langchain's role names."""
    calls: list[list[tuple[str, str]]] = []
    for event in result.trace.llm_events():
        assert isinstance(event.request, dict)
        messages = event.request["messages"]
        assert isinstance(messages, list)
        call: list[tuple[str, str]] = []
        for message in messages:
            assert isinstance(message, dict)
            call.append((LANGCHAIN_TYPE[str(message["role"])], str(message["content"])))
        calls.append(call)
    return calls


# --- the whole search through a langchain chat model ----------------------------------------------


def test_answer_sends_every_prompt_through_invoke_with_its_roles() -> None:
    recorder = Recorder()
    llm = LangChainChat(fake(REPLIES, recorder))

    result = tog.answer(QUESTION, kg=graph(), llm=llm, topic_entities=TOPICS, config=CONFIG)

    assert result.answers == ANSWERS
    assert result.stop_reason == "sufficient"
    assert result.llm_backend == "LangChainChat"
    assert [e.task for e in result.trace.llm_events()] == [
        "relation_prune",
        "entity_score",
        "sufficiency",
    ]
    assert sent(recorder) == expected(result)
    roles = {kind for call in sent(recorder) for kind, _ in call}
    assert roles == {"system", "human", "ai"}  # the prompts' few-shot turns are AI messages


@pytest.mark.anyio
async def test_aanswer_sends_every_prompt_through_ainvoke() -> None:
    recorder = Recorder()
    llm = AsyncLangChainChat(fake(REPLIES, recorder))
    assert is_async_llm(llm)
    assert not is_async_llm(LangChainChat(fake([])))

    result = await tog.aanswer(QUESTION, kg=graph(), llm=llm, topic_entities=TOPICS, config=CONFIG)

    assert result.answers == ANSWERS
    assert result.llm_backend == "AsyncLangChainChat"
    assert sent(recorder) == expected(result)


def test_token_usage_comes_from_usage_metadata() -> None:
    replies: list[BaseMessage] = [
        AIMessage(
            content=text,
            usage_metadata={"input_tokens": 100 + k, "output_tokens": 10 + k, "total_tokens": 0},
            response_metadata={"finish_reason": "stop", "model_name": "fake-4o"},
        )
        for k, text in enumerate(REPLIES)
    ]
    model = FakeMessagesListChatModel(responses=replies)

    result = tog.answer(
        QUESTION, kg=graph(), llm=LangChainChat(model), topic_entities=TOPICS, config=CONFIG
    )

    assert result.answers == ANSWERS
    assert result.usage.prompt_tokens == 100 + 101 + 102
    assert result.usage.completion_tokens == 10 + 11 + 12
    assert [e.prompt_tokens for e in result.trace.llm_events()] == [100, 101, 102]
    assert [e.response for e in result.trace.llm_events()] == [
        {"text": text, "finish_reason": "stop", "model": "fake-4o"} for text in REPLIES
    ]


def test_without_usage_metadata_tokens_are_zero_and_the_model_is_the_class() -> None:
    completion = LangChainChat(FakeListChatModel(responses=["Paris"])).complete(make_request("q"))

    assert completion.text == "Paris"
    assert (completion.prompt_tokens, completion.completion_tokens) == (0, 0)
    assert completion.model == "FakeListChatModel"
    assert completion.attempts == 1


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ([{"type": "text", "text": "Par"}, {"type": "text", "text": "is"}], "Paris"),
        (["Par", "is"], "Paris"),
        (
            [
                {"type": "reasoning", "reasoning": "the capital"},
                {"type": "text", "text": "Paris"},
                {"type": "tool_use", "id": "1", "name": "x", "input": {}},
            ],
            "Paris",
        ),
        ([], ""),
    ],
    ids=["text-blocks", "strings", "mixed-blocks", "empty"],
)
def test_content_blocks_are_joined_text_parts(content: list[Any], text: str) -> None:
    model = FakeMessagesListChatModel(responses=[AIMessage(content=content)])

    assert LangChainChat(model).complete(make_request("q")).text == text


@pytest.mark.anyio
async def test_async_content_blocks_and_usage() -> None:
    reply = AIMessage(
        content=[{"type": "text", "text": "Paris"}],
        usage_metadata={"input_tokens": 7, "output_tokens": 1, "total_tokens": 8},
        response_metadata={"stop_reason": "end_turn", "model": "claude-x"},
    )
    completion = await AsyncLangChainChat(FakeMessagesListChatModel(responses=[reply])).complete(
        make_request("q")
    )

    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "Paris",
        7,
        1,
    )
    assert (completion.finish_reason, completion.model) == ("end_turn", "claude-x")


def test_a_reply_that_is_not_a_message_is_a_response_error() -> None:
    def forty_two(_: object) -> int:
        return 42

    llm = LangChainChat(RunnableLambda(forty_two))  # type: ignore[arg-type]

    with pytest.raises(LLMResponseError, match="returned int"):
        llm.complete(make_request("q"))


# --- sampling ------------------------------------------------------------------------------------


class TunableFake(GenericFakeChatModel):
    """A fake that declares sampling fields and records what each call ran with."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    calls: list[dict[str, Any]]  # shared with the per-call copies, which are shallow

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(
            {
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
                "stop": stop,
                "kwargs": kwargs,
            }
        )
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


class OllamaLikeFake(GenericFakeChatModel):
    """Declares ``num_predict`` where others say ``max_tokens``."""

    num_predict: int | None = None
    calls: list[int | None]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(self.num_predict)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


SAMPLING = Sampling(
    temperature=0.4, max_tokens=99, top_p=0.9, seed=7, stop=("\n\n",), extra={"logprobs": True}
)


def test_declared_sampling_fields_are_set_on_a_per_call_copy() -> None:
    model = TunableFake(messages=iter(["a"]), calls=[])

    LangChainChat(model).complete(make_request("q", sampling=SAMPLING))

    [call] = model.calls
    # top_p is not a field of this model, so it is not sent at all.
    assert call == {
        "temperature": 0.4,
        "max_tokens": 99,
        "seed": 7,
        "stop": ["\n\n"],
        "kwargs": {"logprobs": True},
    }
    assert (model.temperature, model.max_tokens, model.seed) == (None, None, None)


@pytest.mark.anyio
async def test_async_sampling_matches_sync() -> None:
    model = TunableFake(messages=iter(["a"]), calls=[])

    await AsyncLangChainChat(model).complete(make_request("q", sampling=SAMPLING))

    [call] = model.calls
    assert (call["temperature"], call["max_tokens"], call["seed"]) == (0.4, 99, 7)
    assert (call["stop"], call["kwargs"]) == (["\n\n"], {"logprobs": True})


def test_pass_sampling_false_keeps_the_models_own_settings() -> None:
    model = TunableFake(messages=iter(["a"]), calls=[], temperature=1.0)

    LangChainChat(model, pass_sampling=False).complete(make_request("q", sampling=SAMPLING))

    [call] = model.calls
    assert call == {
        "temperature": 1.0,
        "max_tokens": None,
        "seed": None,
        "stop": None,
        "kwargs": {},
    }


def test_max_tokens_goes_to_the_models_own_field_name() -> None:
    model = OllamaLikeFake(messages=iter(["a"]), calls=[])

    LangChainChat(model).complete(make_request("q", sampling=Sampling(max_tokens=42)))

    assert model.calls == [42]


def test_stop_and_extra_reach_invoke_on_models_without_sampling_fields() -> None:
    recorder = Recorder()

    LangChainChat(fake(["a"], recorder)).complete(make_request("q", sampling=SAMPLING))

    [params] = recorder.params
    assert params["stop"] == ["\n\n"]
    assert params["logprobs"] is True
    assert "temperature" not in params


# --- errors --------------------------------------------------------------------------------------


class Response:
    def __init__(self, status_code: int, headers: dict[str, str], text: str = "") -> None:
        self.status_code = status_code
        self.headers = headers
        self.text = text


class APIStatusError(Exception):
    """Shaped like the openai / anthropic SDK errors: a status code and the HTTP response."""

    def __init__(self, message: str, status_code: int, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.response = Response(status_code, headers or {}, text=message)


class RateLimitError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class APIConnectionError(Exception):
    pass


class APITimeoutError(APIConnectionError):
    pass


def raising(exc: BaseException) -> Iterator[str]:
    raise exc
    yield "never"


ERRORS: list[tuple[Exception, type[LLMError]]] = [
    (TimeoutError("read timed out"), LLMTimeout),
    (httpx.ReadTimeout("slow"), LLMTimeout),
    (APITimeoutError("Request timed out."), LLMTimeout),
    (lc_exceptions.ModelTimeoutError("slow"), LLMTimeout),
    (ConnectionRefusedError("refused"), LLMConnectionError),
    (httpx.ConnectError("refused"), LLMConnectionError),
    (APIConnectionError("Connection error."), LLMConnectionError),
    (lc_exceptions.ContextOverflowError("too long"), ContextLengthExceeded),
    (
        APIStatusError("This model's maximum context length is 4096 tokens", 400),
        ContextLengthExceeded,
    ),
    (RateLimitError("slow down", 429, {"retry-after": "3"}), LLMRateLimited),
    (lc_exceptions.ModelRateLimitError("slow down"), LLMRateLimited),
    (NotFoundError("no such model", 404), ModelNotFound),
    (APIStatusError("server error", 500), LLMStatusError),
    (APIStatusError("bad request", 400), LLMStatusError),
    (ValueError("boom"), LLMError),
]


@pytest.mark.parametrize(("error", "mapped"), ERRORS, ids=lambda v: type(v).__name__)
def test_errors_map_to_the_most_specific_llm_error(
    error: Exception, mapped: type[LLMError]
) -> None:
    llm = LangChainChat(GenericFakeChatModel(messages=raising(error)))

    with pytest.raises(LLMError) as caught:
        llm.complete(make_request("q"))

    assert type(caught.value) is mapped
    assert caught.value.__cause__ is error
    assert caught.value.backend == "langchain"
    assert caught.value.model == "GenericFakeChatModel"
    assert "GenericFakeChatModel" in str(caught.value)
    assert type(error).__name__ in str(caught.value)


def test_status_errors_keep_the_status_body_and_retry_after() -> None:
    error = RateLimitError("slow down", 429, {"retry-after": "3"})
    llm = LangChainChat(GenericFakeChatModel(messages=raising(error)))

    with pytest.raises(LLMRateLimited) as caught:
        llm.complete(make_request("q"))

    assert (caught.value.status_code, caught.value.retry_after) == (429, 3.0)
    assert caught.value.body == "slow down"


def test_an_exhausted_fake_is_an_llm_error_not_a_silent_stop() -> None:
    # StopIteration escaping into the driver would end the search as if it had finished.
    llm = LangChainChat(fake(REPLIES[:1]))

    with pytest.raises(LLMError, match="GenericFakeChatModel") as caught:
        tog.answer(QUESTION, kg=graph(), llm=llm, topic_entities=TOPICS, config=CONFIG)

    assert isinstance(caught.value.__cause__, Exception)


@pytest.mark.anyio
@pytest.mark.parametrize(("error", "mapped"), ERRORS[::4], ids=lambda v: type(v).__name__)
async def test_async_errors_map_like_sync(error: Exception, mapped: type[LLMError]) -> None:
    llm = AsyncLangChainChat(GenericFakeChatModel(messages=raising(error)))

    with pytest.raises(LLMError) as caught:
        await llm.complete(make_request("q"))

    assert type(caught.value) is mapped
    # asyncio re-creates a TimeoutError crossing from the executor thread; same type and text.
    assert type(caught.value.__cause__) is type(error)
    assert str(caught.value.__cause__) == str(error)


def test_a_non_runnable_is_rejected() -> None:
    with pytest.raises(TypeError, match="langchain-core chat model"):
        LangChainChat(object())  # type: ignore[arg-type]


# --- ToG as a LangChain tool and runnable ---------------------------------------------------------


def agent(replies: list[str] = REPLIES, config: tog.SearchConfig = CONFIG) -> tog.ThinkOnGraph:
    return tog.ThinkOnGraph(graph(), LangChainChat(fake(replies)), config=config)


def async_agent(replies: list[str] = REPLIES) -> tog.ThinkOnGraph:
    return tog.ThinkOnGraph(graph(), AsyncLangChainChat(fake(replies)), config=CONFIG)


def tool_call(**args: object) -> dict[str, object]:
    return {"type": "tool_call", "name": "think_on_graph", "args": args, "id": "call-1"}


def test_tool_returns_the_answer_text_and_the_result_as_artifact() -> None:
    tool = as_tool(agent())
    assert tool.name == "think_on_graph"
    assert set(tool.args) == {"question", "topic_entities"}

    message = tool.invoke(tool_call(question=QUESTION, topic_entities=TOPICS))

    assert isinstance(message, ToolMessage)
    assert message.content == "Inception; Interstellar"
    assert isinstance(message.artifact, tog.Result)
    assert message.artifact.answers == ANSWERS
    assert message.tool_call_id == "call-1"


def test_tool_with_plain_arguments_returns_the_text() -> None:
    tool = as_tool(agent(), name="kgqa", description="Ask the film graph.")

    assert (
        tool.invoke({"question": QUESTION, "topic_entities": TOPICS}) == "Inception; Interstellar"
    )
    assert (tool.name, tool.description) == ("kgqa", "Ask the film graph.")


@pytest.mark.anyio
async def test_tool_ainvoke_runs_the_async_agent() -> None:
    message = await as_tool(async_agent()).ainvoke(
        tool_call(question=QUESTION, topic_entities=TOPICS)
    )

    assert message.content == "Inception; Interstellar"
    assert message.artifact.answers == ANSWERS
    assert message.artifact.llm_backend == "AsyncLangChainChat"


def test_runnable_invoke_returns_the_result() -> None:
    result = as_runnable(agent()).invoke({"question": QUESTION, "topic_entities": TOPICS})

    assert isinstance(result, tog.Result)
    assert result.answers == ANSWERS


@pytest.mark.anyio
async def test_runnable_ainvoke_and_composition() -> None:
    chain = as_runnable(async_agent()) | RunnableLambda(answer_text)

    text = await chain.ainvoke({"question": QUESTION, "topic_entities": TOPICS})

    assert text == "Inception; Interstellar"


def test_runnable_rejects_other_inputs() -> None:
    with pytest.raises(TypeError, match="question string"):
        as_runnable(agent()).invoke(["not", "a", "question"])  # type: ignore[arg-type]


def test_no_answer_is_said_in_words() -> None:
    replies = [
        *REPLIES[:2],
        json.dumps({"sufficient": False, "answers": [], "rationale": "r"}),
        json.dumps({"answers": [], "rationale": "r"}),
    ]
    tool = as_tool(agent(replies, CONFIG.model_copy(update={"depth": 1})))

    message = tool.invoke(tool_call(question=QUESTION, topic_entities=TOPICS))

    assert message.artifact.answers == ()
    assert message.artifact.stop_reason == "depth_exhausted"
    assert message.content == NO_ANSWER


# --- public surface and lazy import --------------------------------------------------------------


def test_public_names() -> None:
    assert tog.llm.LangChainChat is LangChainChat
    assert tog.llm.AsyncLangChainChat is AsyncLangChainChat
    assert (
        repr(LangChainChat(fake([])))
        == "LangChainChat(GenericFakeChatModel, model='GenericFakeChatModel')"
    )


def test_importing_tog_llm_does_not_import_langchain() -> None:
    code = (
        "import sys, tog, tog.llm\n"
        "from tog.llm import *\n"
        "import tog.llm.langchain\n"
        "print(sorted(m for m in sys.modules if m.startswith(('langchain', 'langsmith'))))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
