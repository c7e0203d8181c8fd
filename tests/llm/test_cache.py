"""The response cache: request keys, the SQLite store, CachedLLM, and a rerun over HTTP."""

from __future__ import annotations

import dataclasses
import doctest
import json
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import tog
import tog.llm.cache
import tog.llm.wire
from eval.datasets import read_pathquestion
from kg_adapters import load_graph
from tog.errors import LLMError
from tog.llm import AsyncCachedLLM, CachedLLM, ResponseCache
from tog.llm.base import (
    ChatRequest,
    Completion,
    ExtractEntities,
    Message,
    PruneRelations,
    RelationOption,
    Sampling,
    SupportsBatchComplete,
)
from tog.llm.offline import OfflineScorer, reply_to_messages
from tog.llm.openai_compat import AsyncOpenAICompatible, OpenAICompatible
from tog.llm.scripted import AsyncScriptedLLM, ScriptedLLM
from tog.llm.standin import StandInServer
from tog.llm.wire import LLMIdentity, identity_of, request_body, request_key
from tog.record import without_timings

from ..shared_data import DATA, require
from .conftest import make_request

OPTIONS = (
    RelationOption(1, "Inception", "directed by", "out"),
    RelationOption(2, "Inception", "starring", "out"),
)


def prune(question: str = "Who directed Inception?", **sampling: Any) -> ChatRequest:
    task = PruneRelations(question, OPTIONS, max_choices=2)
    return ChatRequest(task, (Message("user", f"Q: {question}"),), Sampling(**sampling))


def test_doctests_pass() -> None:
    for module in (tog.llm.cache, tog.llm.wire):
        outcome = doctest.testmod(module)
        assert outcome.attempted > 0, module.__name__
        assert outcome.failed == 0, module.__name__


# --- request keys ---------------------------------------------------------------------------------


def test_request_key_covers_everything_sent() -> None:
    base = request_key(prune(), "m")
    assert base == request_key(prune(), "m")
    assert len(base) == 64
    variants = [
        request_key(prune(), "other-model"),
        request_key(prune("Who starred in Inception?"), "m"),
        request_key(prune(temperature=0.4), "m"),
        request_key(prune(max_tokens=100), "m"),
        request_key(prune(top_p=0.9), "m"),
        request_key(prune(seed=1), "m"),
        request_key(prune(stop=("\n",)), "m"),
        request_key(prune(extra={"top_k": 5}), "m"),
        request_key(prune(), "m", "vllm"),
        request_key(prune(), "m", "openai"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_request_key_is_the_body_not_the_task_object() -> None:
    # Two tasks rendering the same messages are one request to a server without a schema...
    same = dataclasses.replace(prune(), task=ExtractEntities("anything", 3))
    assert request_key(same, "m") == request_key(prune(), "m")
    # ...but not when the schema (built from the task's candidates) is sent too.
    assert request_key(same, "m", "vllm") != request_key(prune(), "m", "vllm")


@pytest.mark.parametrize("style", [False, "vllm", "vllm-legacy", "openai"])
def test_request_body_is_exactly_what_the_client_sends(style: Any) -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        reply = {"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=reply)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    request = prune(temperature=0.4, seed=3, stop=("x",), extra={"top_k": 2})
    with OpenAICompatible("http://llm/v1", "m", client=client, structured_outputs=style) as llm:
        llm.complete(request)
        identity = llm.identity()
    client.close()
    assert identity == LLMIdentity("m", style or None, "OpenAICompatible")
    assert sent == [request_body(request, "m", identity.structured_style)]


def test_identity_falls_back_to_the_model_attribute_or_type_name() -> None:
    assert identity_of(ScriptedLLM([], model="mine")) == LLMIdentity("mine", None, "ScriptedLLM")
    assert identity_of(OfflineScorer()).model == "OfflineScorer"


# --- the store ------------------------------------------------------------------------------------


def test_response_cache_keeps_every_completion_field_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    reply = Completion("text", 3, 4, None, "served", attempts=2, constrained=True)
    with ResponseCache(path) as cache:
        cache.put("k", reply, task="relation_prune", request={"model": "m"})
        cache.put("k", Completion("second"))  # the first completion stays
        assert cache.get("nope") is None
    with ResponseCache(path) as cache:
        assert cache.get("k") == reply
        assert len(cache) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT task, request FROM completions").fetchall() == [
            ("relation_prune", '{"model":"m"}')
        ]
    db.close()


def test_response_cache_is_safe_across_threads(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as cache:

        def work(n: int) -> None:
            for k in range(50):
                cache.put(f"{n}-{k}", Completion(f"{n}-{k}"))
                assert cache.get(f"{n}-{k}") == Completion(f"{n}-{k}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(cache) == 400


def test_a_newer_cache_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ValueError, match="format 99"):
        ResponseCache(path)


# --- CachedLLM ------------------------------------------------------------------------------------


def test_cached_llm_counts_hits_and_caches_sampled_requests(tmp_path: Path) -> None:
    inner = ScriptedLLM(["one", "two"])
    hot = make_request("hi", sampling=Sampling(temperature=0.9, seed=1))
    with CachedLLM(inner, tmp_path / "c.sqlite") as llm:
        assert llm.complete(hot).text == "one"
        assert llm.complete(hot).text == "one"  # temperature > 0 is cached: reproducibility
        assert llm.complete(make_request("hi", sampling=Sampling(seed=2))).text == "two"
        assert llm.cache_info() == tog.llm.cache.CacheInfo(hits=1, misses=2, size=2)
        assert llm.backend_name == "ScriptedLLM"
    assert len(inner.requests) == 2


def test_errors_are_not_cached(tmp_path: Path) -> None:
    calls = 0

    def flaky(request: ChatRequest) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LLMError("down")
        return "up"

    with CachedLLM(ScriptedLLM(flaky), tmp_path / "c.sqlite") as llm:
        with pytest.raises(LLMError):
            llm.complete(make_request("x"))
        assert llm.complete(make_request("x")).text == "up"
        assert llm.complete(make_request("x")).text == "up"
    assert calls == 2


def test_a_shared_cache_is_left_open_and_models_do_not_mix(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        with CachedLLM(ScriptedLLM(["a"], model="m1"), cache) as first:
            first.complete(make_request("x"))
        with CachedLLM(ScriptedLLM(["b"], model="m2"), cache) as second:
            assert second.complete(make_request("x")).text == "b"
        assert len(cache) == 2


class Batcher(ScriptedLLM):
    def __init__(self) -> None:
        super().__init__(lambda request: request.messages[-1].content.upper())
        self.batches: list[int] = []

    def complete_batch(self, requests: Any) -> list[Completion]:
        self.batches.append(len(requests))
        return [self.complete(r) for r in requests]


def test_a_batch_backend_stays_a_batch_backend_and_only_misses_are_sent(tmp_path: Path) -> None:
    inner = Batcher()
    with CachedLLM(inner, tmp_path / "c.sqlite") as llm:
        assert isinstance(llm, SupportsBatchComplete)
        assert not isinstance(CachedLLM(ScriptedLLM([]), llm.cache), SupportsBatchComplete)
        assert llm.complete(make_request("a")).text == "A"
        replies = llm.complete_batch([make_request(x) for x in "abc"])
        assert [r.text for r in replies] == ["A", "B", "C"]
    assert inner.batches == [2]


@pytest.mark.anyio
async def test_async_cached_llm(tmp_path: Path) -> None:
    inner = AsyncScriptedLLM(["one"])
    async with AsyncCachedLLM(inner, tmp_path / "c.sqlite") as llm:
        assert (await llm.complete(make_request("x"))).text == "one"
        assert (await llm.complete(make_request("x"))).text == "one"
        assert llm.cache_info().hits == 1
        assert (await llm.identity()).model == "scripted"


# --- a rerun over HTTP costs nothing ------------------------------------------------------------


def pathquestions(n: int) -> tuple[Any, list[tuple[str, list[str]]]]:
    folder = require(DATA / "pathquestion" / "PathQuestion")
    questions = list(read_pathquestion(folder / "PQ-2H.txt"))
    picked = questions[:: len(questions) // n][:n]
    return load_graph(folder / "2H-kb.txt"), [(q.text, list(q.topic_entities)) for q in picked]


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: object) -> None:
        raise ConnectionRefusedError(f"network disabled in this test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def dumps(results: list[tog.Result]) -> list[str]:
    return [json.dumps(without_timings(r.to_json()), sort_keys=True) for r in results]


@pytest.mark.server
def test_rerunning_answer_many_makes_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kg, items = pathquestions(8)
    path = tmp_path / "llm.sqlite"
    with StandInServer(reply_to_messages, model="standin") as server:
        with OpenAICompatible(server.base_url, "standin") as client:
            llm = CachedLLM(client, path)
            first = tog.answer_many(items, kg=kg, llm=llm, concurrency=4)
            info = llm.cache_info()
            llm.close()
        sent = len(server.requests)
        assert sent == sum(r.usage.llm_calls + r.usage.setup_calls for r in first) > 8
        assert info.misses == info.size == sent

        no_network(monkeypatch)
        with OpenAICompatible(server.base_url, "standin") as client, CachedLLM(client, path) as llm:
            second = tog.answer_many(items, kg=kg, llm=llm, concurrency=4)
            assert llm.cache_info().misses == 0
            assert llm.cache_info().hits == sent
        assert len(server.requests) == sent
    assert all(r.exception is None for r in second)
    assert dumps(second) == dumps(first)
    assert second[0].llm_backend == "OpenAICompatible"


@pytest.mark.server
def test_rerunning_with_an_async_client_makes_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kg, items = pathquestions(4)
    path = tmp_path / "llm.sqlite"
    with StandInServer(reply_to_messages, model="standin") as server:
        llm = AsyncCachedLLM(AsyncOpenAICompatible(server.base_url, "standin"), path)
        first = tog.answer_many(items, kg=kg, llm=llm, concurrency=4)  # closes the client
        sent = len(server.requests)
        no_network(monkeypatch)
        again = AsyncCachedLLM(AsyncOpenAICompatible(server.base_url, "standin"), path)
        second = tog.answer_many(items, kg=kg, llm=again, concurrency=4)
        assert len(server.requests) == sent > 0
    assert dumps(second) == dumps(first)
