"""Record a run's LLM and KG exchanges, then replay it with the network off."""

from __future__ import annotations

import doctest
import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

import kg_adapters.codec
import tog
from eval.datasets import read_pathquestion
from kg_adapters import EntityMatch, Hop, LiteralValue, NetworkXGraph, Node, load_graph, to_async
from kg_adapters.base import SupportsDescribe, SupportsEntitySearch, SupportsMentions
from kg_adapters.codec import KGCall, decode_result, encode_result
from kg_adapters.errors import KGError, KGTimeout
from tests.commands import run_tog as run
from tog.errors import KGReplayMiss, LLMRateLimited, ReplayMiss, ToGError
from tog.llm.base import ChatRequest, ExtractEntities, Message, Sampling
from tog.llm.offline import reply_to_messages
from tog.llm.openai_compat import OpenAICompatible
from tog.llm.scripted import AsyncScriptedLLM, ScriptedLLM
from tog.llm.standin import StandInServer
from tog.record import RecordedError, Recorder, Replayer, without_timings

from .shared_data import DATA, require

FILMS: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("Christopher Nolan", "born_in", "London"),
    ("Inception", "release_year", LiteralValue("2010", "xsd:gYear")),
]


def request(text: str = "q", seed: int | None = None) -> ChatRequest:
    task = ExtractEntities(text, 2)
    return ChatRequest(task, (Message("user", text),), Sampling(seed=seed))


def dumps(results: Sequence[tog.Result]) -> list[str]:
    return [json.dumps(without_timings(r.to_json()), sort_keys=True) for r in results]


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection, and any HTTP client construction, fails."""

    def refuse(self: socket.socket, address: object) -> None:
        raise ConnectionRefusedError(f"network disabled in this test: {address!r}")

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay must not build an HTTP client")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(httpx.Client, "__init__", no_client)
    monkeypatch.setattr(httpx.AsyncClient, "__init__", no_client)


def test_doctests_pass() -> None:
    outcome = doctest.testmod(kg_adapters.codec)
    assert outcome.attempted > 0
    assert outcome.failed == 0


# --- the KG codec --------------------------------------------------------------------------------

HOP = Hop("Inception", "directed_by", "out")
MATCH = EntityMatch("m.1", "Inception", 0.75, exact=True)
ANSWERS: list[tuple[Any, Any]] = [
    ("relations", {"a": ("r1", "r2"), "b": ()}),
    (
        "neighbors",
        {HOP: ("x", LiteralValue("2010", "xsd:gYear"), LiteralValue("chat", None, "fr"))},
    ),
    ("labels", {"m.1": "Inception", "m.2": "Nolan"}),
    ("search_entities", [MATCH, EntityMatch("m.2", "Incept", 1)]),
    ("find_mentions", [("Inception", [MATCH]), ("Nolan", [])]),
    ("describe", {"m.cvt": (("award", "m.3"), ("year", LiteralValue("2011")))}),
]


@pytest.mark.parametrize(("method", "answer"), ANSWERS, ids=[m for m, _ in ANSWERS])
def test_codec_round_trips_every_answer_exactly(method: Any, answer: Any) -> None:
    encoded = encode_result(method, answer)
    text = json.dumps(encoded)
    decoded = decode_result(method, json.loads(text))
    assert decoded == answer
    assert repr(decoded) == repr(answer)  # same types, same order (an int score stays an int)


def test_kg_call_keys_are_canonical() -> None:
    assert (
        KGCall.relations(["a"], direction="out").key()
        == KGCall.relations(("a",), direction="out", limit=None).key()
    )
    assert (
        KGCall.relations(["a", "b"], direction="out").key()
        != KGCall.relations(["b", "a"], direction="out").key()
    )
    long = str(KGCall.labels([f"m.{k}" for k in range(100)]))
    assert long.startswith('labels(ids=["m.0", ')
    assert long.endswith("...)")
    assert len(long) == 200
    with pytest.raises(ValueError, match="not an encoded hop"):
        decode_result("neighbors", [[["a", "r", "sideways"], []]])


# --- recording and replaying ---------------------------------------------------------------------


def film_reply(request: ChatRequest) -> str:
    return reply_to_messages(list(request.messages))


def test_a_recorded_run_replays_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = NetworkXGraph.from_triples(FILMS)
    recording = Recorder(tmp_path / "run", info={"kg": "films"})
    kg, llm = recording.kg(graph), recording.llm(ScriptedLLM(film_reply, model="films-llm"))
    assert isinstance(kg, SupportsEntitySearch)
    assert isinstance(kg, SupportsMentions)
    assert not isinstance(kg, SupportsDescribe)
    questions = ["Who directed Inception?", "Where was the director of Interstellar born?"]
    recorded = [tog.answer(q, kg=kg, llm=llm) for q in questions]
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["llm"] == {
        "backend": "ScriptedLLM",
        "model": "films-llm",
        "structured_style": None,
    }
    assert meta["kg"] == {
        "backend": "NetworkXGraph",
        "capabilities": ["search_entities", "find_mentions"],
    }
    assert meta["info"] == {"kg": "films"}

    no_network(monkeypatch)
    replay = Replayer(tmp_path / "run")
    assert replay.info == {"kg": "films"}
    replay_kg, replay_llm = replay.kg(), replay.llm()
    assert isinstance(replay_kg, SupportsEntitySearch)
    assert isinstance(replay_kg, SupportsMentions)
    assert not isinstance(replay_kg, SupportsDescribe)
    replayed = [tog.answer(q, kg=replay_kg, llm=replay_llm) for q in questions]
    assert dumps(replayed) == dumps(recorded)
    assert replayed[0].answer == "Christopher Nolan"
    assert replayed[0].llm_backend == "ScriptedLLM"


def test_an_offline_run_replays_without_an_llm(tmp_path: Path) -> None:
    recording = Recorder(tmp_path / "run")
    kg = recording.kg(NetworkXGraph.from_triples(FILMS))
    recorded = tog.answer("Who directed Inception?", kg=kg)
    replay = Replayer(tmp_path / "run")
    assert replay.llm() is None
    replayed = tog.answer("Who directed Inception?", kg=replay.kg(), llm=replay.llm())
    assert dumps([replayed]) == dumps([recorded])


def test_repeated_requests_replay_in_order_and_strictly(tmp_path: Path) -> None:
    recording = Recorder(tmp_path / "run")
    llm = recording.llm(ScriptedLLM(["first", "second"]))
    assert [llm.complete(request()).text for _ in range(2)] == ["first", "second"]
    replayer = Replayer(tmp_path / "run")
    replay = replayer.llm()
    assert replay is not None
    assert [replay.complete(request()).text for _ in range(2)] == ["first", "second"]
    with pytest.raises(ReplayMiss, match=r"recorded 2 time\(s\), asked once more"):
        replay.complete(request())
    again = replayer.llm()
    assert again is not None
    assert again.complete(request()).text == "first"  # each replay LLM starts afresh
    with pytest.raises(ReplayMiss, match="never recorded") as caught:
        replay.complete(request(seed=1))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("replay miss: LLM extract_entities request ")
    assert caught.value.what in message


def test_an_unrecorded_kg_call_is_a_kg_error_and_a_replay_miss(tmp_path: Path) -> None:
    Recorder(tmp_path / "run").kg(NetworkXGraph.from_triples(FILMS)).labels(["Inception"])
    kg = Replayer(tmp_path / "run").kg()
    assert kg.labels(["Inception"]) == {"Inception": "Inception"}
    with pytest.raises(KGReplayMiss) as caught:
        kg.relations(["zzz"], direction="out")
    assert isinstance(caught.value, KGError)
    assert isinstance(caught.value, ReplayMiss)
    assert str(caught.value) == (
        f'replay miss: KG relations(entities=["zzz"], direction="out", limit=null) '
        f"(never recorded) in {tmp_path / 'run'}"
    )
    assert caught.value.adapter == "replay"


class Weird(Exception):
    pass


def test_recorded_errors_are_raised_again(tmp_path: Path) -> None:
    class Failing:
        def relations(self, entities: Any, *, direction: Any, limit: Any = None) -> Any:
            raise KGTimeout("store did not answer", adapter="fake", query="SELECT 1")

        def neighbors(self, hops: Any, *, limit: Any = None) -> Any:
            raise Weird("odd")

        def labels(self, ids: Any) -> Any:
            raise RuntimeError("no labels")

    def reply(request: ChatRequest) -> str:
        raise LLMRateLimited("slow down", retry_after=2.5, model="m")

    recording = Recorder(tmp_path / "run")
    kg, llm = recording.kg(Failing()), recording.llm(ScriptedLLM(reply))
    for call in (lambda: kg.relations(["a"], direction="out"), lambda: llm.complete(request())):
        with pytest.raises((ToGError, KGError)):
            call()
    with pytest.raises(Weird):
        kg.neighbors([HOP])
    with pytest.raises(RuntimeError):
        kg.labels(["a"])

    replay = Replayer(tmp_path / "run")
    with pytest.raises(KGTimeout, match="store did not answer") as timeout:
        replay.kg().relations(["a"], direction="out")
    assert (timeout.value.adapter, timeout.value.query) == ("fake", "SELECT 1")
    with pytest.raises(LLMRateLimited, match="slow down") as limited:
        replay.llm().complete(request())  # type: ignore[union-attr]
    assert (limited.value.retry_after, limited.value.status_code) == (2.5, 429)
    with pytest.raises(RuntimeError, match="no labels"):
        replay.kg().labels(["a"])
    with pytest.raises(RecordedError, match=r"^tests\.test_record\.Weird: odd$"):
        replay.kg().neighbors([HOP])  # not rebuilt: only builtins, tog and kg_adapters errors are


def test_a_folder_is_recorded_once_unless_appending(tmp_path: Path) -> None:
    recording = Recorder(tmp_path / "run")
    recording.llm(ScriptedLLM(["a"])).complete(request())
    with pytest.raises(ValueError, match="already holds a recording"):
        Recorder(tmp_path / "run")
    more = Recorder(tmp_path / "run", append=True, info={"part": 2})
    more.llm(ScriptedLLM(["b"])).complete(request("other"))
    assert Replayer(tmp_path / "run").counts == (2, 0)
    with pytest.raises(ValueError, match="records a llm"):
        more.llm(ScriptedLLM(["c"], model="different")).complete(request())
    with pytest.raises(FileNotFoundError, match="not a recording"):
        Replayer(tmp_path / "empty")


@pytest.mark.anyio
async def test_an_async_run_records_and_replays(tmp_path: Path) -> None:
    recording = Recorder(tmp_path / "run")
    kg = recording.kg(to_async(NetworkXGraph.from_triples(FILMS)))
    llm = recording.llm(AsyncScriptedLLM(film_reply))
    recorded = await tog.aanswer("Who directed Inception?", kg=kg, llm=llm)
    replay = Replayer(tmp_path / "run")
    replayed = await tog.aanswer("Who directed Inception?", kg=replay.kg(), llm=replay.llm())
    assert dumps([replayed]) == dumps([recorded])
    assert replayed.llm_backend == "AsyncScriptedLLM"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_without_timings_drops_only_wall_clock_fields() -> None:
    data: Mapping[str, Any] = {
        "answer": "x",
        "usage": {"llm_calls": 1, "kg_seconds": 0.1, "llm_seconds": 0.2, "wall_seconds": 0.3},
        "trace": [{"kind": "llm", "seconds": 0.2}],
    }
    assert without_timings(data) == {
        "answer": "x",
        "usage": {"llm_calls": 1},
        "trace": [{"kind": "llm"}],
    }


# --- an evaluation-like run over HTTP ------------------------------------------------------------


def pathquestion_items() -> tuple[Any, list[Any]]:
    folder = require(DATA / "pathquestion" / "PathQuestion")
    questions = list(read_pathquestion(folder / "PQ-2H.txt"))
    picked = questions[:: len(questions) // 20][:20]
    # Half start from the gold topic entity, half are linked from the text (KG search + LLM).
    items = [(q.text, list(q.topic_entities)) if k % 2 else q.text for k, q in enumerate(picked)]
    return load_graph(folder / "2H-kb.txt"), items


@pytest.mark.server
def test_twenty_pathquestion_questions_replay_byte_identically_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, items = pathquestion_items()
    with (
        StandInServer(reply_to_messages, model="standin") as server,
        OpenAICompatible(server.base_url, structured_outputs=True) as client,
    ):
        recording = Recorder(tmp_path / "run", info={"dataset": "PQ-2H"})
        recorded = tog.answer_many(
            items, kg=recording.kg(graph), llm=recording.llm(client), concurrency=4
        )
        sent = len(server.requests)
    assert all(r.exception is None for r in recorded)
    assert sum(r.answer != "" for r in recorded) >= 10
    llm_lines = (tmp_path / "run" / "llm.jsonl").read_text().splitlines()
    assert len(llm_lines) == sent
    assert json.loads(llm_lines[0])["request"]["model"] == "standin"

    no_network(monkeypatch)
    replay = Replayer(tmp_path / "run")
    replayed = tog.answer_many(items, kg=replay.kg(), llm=replay.llm(), concurrency=4)
    assert dumps(replayed) == dumps(recorded)
    assert replayed[0].llm_backend == "OpenAICompatible"

    # A question the recording lacks fails loudly, in one line naming the request.
    fresh = Replayer(tmp_path / "run")
    with pytest.raises(ReplayMiss) as caught:
        tog.answer("Who is the spouse of nobody in particular?", kg=fresh.kg(), llm=fresh.llm())
    message = str(caught.value)
    assert message.startswith("replay miss: ")
    assert "\n" not in message
    assert "never recorded" in message
    assert str(tmp_path / "run") in message


# --- the command line ----------------------------------------------------------------------------


@pytest.mark.server
def test_tog_ask_records_and_replays(tmp_path: Path) -> None:
    folder = str(tmp_path / "run")
    question = "Where was the director of Inception born?"
    with StandInServer(reply_to_messages, model="standin") as server:
        done = run("ask", question, "--llm", server.base_url, "--record", folder, "--json")
        assert done.returncode == 0, done.stderr
    recorded = json.loads(done.stdout)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["info"]["question"] == question
    assert meta["info"]["llm"] == [server.base_url]

    # The server is gone: the replay needs neither it nor --llm.
    again = run("ask", question, "--replay", folder, "--json")
    assert again.returncode == 0, again.stderr
    assert without_timings(json.loads(again.stdout)) == without_timings(recorded)
    assert recorded["answer"] == "London"

    missed = run("ask", "Who directed Inception?", "--replay", folder)
    assert missed.returncode == 1
    assert missed.stderr.startswith("tog: error: replay miss: ")
    assert len(missed.stderr.strip().splitlines()) == 1

    both = run("ask", question, "--replay", folder, "--record", str(tmp_path / "other"))
    assert both.returncode == 1
    assert "cannot be used together" in both.stderr
