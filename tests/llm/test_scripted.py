from __future__ import annotations

import pytest

from tog.llm.base import AsyncChatModel, ChatModel, ChatRequest
from tog.llm.scripted import AsyncScriptedLLM, ScriptedLLM

from .conftest import make_request


def test_queue_replies_in_order_and_records_requests() -> None:
    llm = ScriptedLLM(["first", "second"])
    one, two = make_request("a"), make_request("b")

    assert llm.complete(one).text == "first"
    assert llm.complete(two).text == "second"
    assert llm.requests == [one, two]


def test_token_counts_are_whitespace_words() -> None:
    llm = ScriptedLLM(["the answer is  Paris"], model="fake-7b")

    completion = llm.complete(make_request("what is the capital of France?"))

    # "You answer questions." (3) + "what is the capital of France?" (6)
    assert completion.prompt_tokens == 9
    assert completion.completion_tokens == 4
    assert completion.model == "fake-7b"
    assert completion.finish_reason == "stop"
    assert completion.attempts == 1


def test_empty_queue_raises_lookup_error_naming_the_count() -> None:
    llm = ScriptedLLM(["only", "two"])
    llm.complete(make_request("a"))
    llm.complete(make_request("b"))

    with pytest.raises(LookupError, match="2 were scripted"):
        llm.complete(make_request("c"))
    assert len(llm.requests) == 3


def test_no_replies_at_all_raises_on_first_call() -> None:
    with pytest.raises(LookupError, match="0 were scripted"):
        ScriptedLLM([]).complete(make_request("a"))


def test_function_computes_reply_from_request() -> None:
    def reply(request: ChatRequest) -> str:
        return request.messages[-1].content.upper()

    llm = ScriptedLLM(reply)

    assert llm.complete(make_request("hello")).text == "HELLO"
    assert llm.complete(make_request("again")).text == "AGAIN"
    assert [r.messages[-1].content for r in llm.requests] == ["hello", "again"]


def test_a_single_string_is_rejected() -> None:
    with pytest.raises(TypeError, match="not one string"):
        ScriptedLLM("oops")


def test_non_string_replies_are_rejected() -> None:
    with pytest.raises(TypeError, match="strings"):
        AsyncScriptedLLM(["ok", 3])  # type: ignore[list-item]


def test_the_queue_is_copied() -> None:
    replies = ["a"]
    llm = ScriptedLLM(replies)
    replies.append("b")

    llm.complete(make_request("x"))
    with pytest.raises(LookupError):
        llm.complete(make_request("y"))


def test_fakes_are_not_collected_by_pytest_and_satisfy_the_protocols() -> None:
    sync: ChatModel = ScriptedLLM(["x"])
    async_: AsyncChatModel = AsyncScriptedLLM(["x"])

    assert ScriptedLLM.__test__ is False
    assert AsyncScriptedLLM.__test__ is False
    assert sync.complete(make_request("q")).text == "x"
    assert callable(async_.complete)


@pytest.mark.anyio
async def test_async_queue_function_and_exhaustion() -> None:
    queued = AsyncScriptedLLM(["one"], model="m")
    request = make_request("two words")

    completion = await queued.complete(request)

    assert (completion.text, completion.model, completion.completion_tokens) == ("one", "m", 1)
    assert queued.requests == [request]
    with pytest.raises(LookupError, match="1 were scripted"):
        await queued.complete(request)

    computed = AsyncScriptedLLM(lambda r: f"{len(r.messages)} messages")
    assert (await computed.complete(request)).text == "2 messages"
    assert computed.model == "scripted"
