"""Structured outputs over HTTP: request bodies, the stand-in enforcing or ignoring, a full run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import tog
from eval.datasets import read_pathquestion
from eval.metrics import hits_at_1
from kg_adapters import load_graph
from tog.errors import LLMStatusError
from tog.llm import _jsonschema
from tog.llm.base import (
    ChatRequest,
    JudgeSufficiency,
    Message,
    PathView,
    PruneRelations,
    RelationOption,
    Sampling,
    ScoreEntities,
)
from tog.llm.offline import reply_to_messages, text_reply_to_messages
from tog.llm.openai_compat import AsyncOpenAICompatible, OpenAICompatible
from tog.llm.standin import StandInServer, main, shape_reply
from tog.llm.structured import Constraint, schema_for, task_fields

from ..shared_data import DATA, require

OPTIONS = (
    RelationOption(1, "Inception", "directed by", "out"),
    RelationOption(2, "Inception", "starring", "out"),
    RelationOption(3, "Inception", "award won", "in"),
)
PRUNE = PruneRelations("Who directed Inception?", OPTIONS, max_choices=2)


def prune_request(extra: dict[str, Any] | None = None) -> ChatRequest:
    messages = (Message("user", "Question: Who directed Inception?\nCandidates:\n1. ..."),)
    return ChatRequest(PRUNE, messages, Sampling(extra=extra or {}))


def reply_json(text: str = '{"choices": [{"candidate": 1, "score": 1.0}]}') -> dict[str, Any]:
    return {
        "model": "m",
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def capture(**kwargs: Any) -> tuple[OpenAICompatible, list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=reply_json())

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAICompatible("http://llm.test/v1", "m", client=client, **kwargs), bodies


# --- what the client sends ---------------------------------------------------------------------


def test_off_by_default_sends_no_structured_fields() -> None:
    llm, bodies = capture()
    completion = llm.complete(prune_request())
    assert llm.structured_outputs is None
    assert not {"structured_outputs", "guided_json", "response_format"} & set(bodies[0])
    assert completion.constrained is False


@pytest.mark.parametrize(
    ("option", "field"),
    [
        (True, "structured_outputs"),
        ("vllm", "structured_outputs"),
        ("vllm-legacy", "guided_json"),
        ("openai", "response_format"),
    ],
)
def test_each_style_carries_the_tasks_schema(option: Any, field: str) -> None:
    llm, bodies = capture(structured_outputs=option)
    completion = llm.complete(prune_request())
    (body,) = bodies
    assert {k: body[k] for k in body if k == field} == task_fields(PRUNE, llm.structured_outputs)
    assert completion.constrained is True


def test_free_text_tasks_are_not_constrained() -> None:
    llm, bodies = capture(structured_outputs=True)
    request = ChatRequest(tog.llm.base.GenerateAnswer("q", ()), (Message("user", "q"),), Sampling())
    assert llm.complete(request).constrained is False
    assert "structured_outputs" not in bodies[0]


def test_sampling_extra_still_overrides() -> None:
    llm, bodies = capture(structured_outputs=True)
    llm.complete(prune_request({"structured_outputs": {"choice": ["a"]}}))
    assert bodies[0]["structured_outputs"] == {"choice": ["a"]}


def test_bad_style_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="structured_outputs"):
        OpenAICompatible("http://llm.test/v1", structured_outputs="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="structured_outputs"):
        AsyncOpenAICompatible("http://llm.test/v1", structured_outputs="guided")  # type: ignore[arg-type]


# --- the stand-in: enforce and ignore ----------------------------------------------------------


@pytest.fixture
def enforcing() -> Iterator[StandInServer]:
    with StandInServer(reply_to_messages, model="m", structured_outputs="enforce") as server:
        yield server


def post(server: StandInServer, **fields: Any) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": "Question: x"}], **fields}
    with httpx.Client() as client:
        return client.post(f"{server.base_url}/chat/completions", json=body)


@pytest.mark.server
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"structured_outputs": {"json": {"type": "strnig"}}}, "is not one of"),
        ({"structured_outputs": {"json": {}, "choice": ["a"]}}, "exactly one"),
        (
            {"guided_json": {"type": "object"}, "response_format": {"type": "json_object"}},
            "one kind",
        ),
        ({"guided_regex": "a+"}, "cannot enforce regex"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "'schema'"),
    ],
)
def test_enforcing_standin_answers_400_to_malformed_fields(
    enforcing: StandInServer, fields: dict[str, Any], reason: str
) -> None:
    response = post(enforcing, **fields)
    assert response.status_code == 400
    assert reason in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "BadRequestError"


@pytest.mark.server
def test_client_sees_the_400_as_a_final_status_error(enforcing: StandInServer) -> None:
    sleeps: list[float] = []
    bad = {"structured_outputs": {"json": {"type": "object"}}, "guided_json": {"type": "object"}}
    with (
        OpenAICompatible(enforcing.base_url, "m", sleep=sleeps.append) as llm,
        pytest.raises(LLMStatusError, match="one kind") as info,
    ):
        llm.complete(prune_request(bad))
    assert info.value.status_code == 400
    assert sleeps == []


@pytest.mark.server
@pytest.mark.parametrize("style", ["vllm", "vllm-legacy", "openai"])
def test_enforcing_standin_shapes_replies_to_the_schema(style: Any) -> None:
    def invents(messages: list[Message]) -> str:
        return 'Sure! {"choices": [{"relation": "made.up", "score": 0.9}, {"candidate": 2}]}'

    with (
        StandInServer(invents, model="m", structured_outputs="enforce") as server,
        OpenAICompatible(server.base_url, "m", structured_outputs=style) as llm,
    ):
        completion = llm.complete(prune_request())
    reply = json.loads(completion.text)
    schema: Any = schema_for(PRUNE)
    assert _jsonschema.validate(reply, schema) == []
    assert reply == {"choices": [{"candidate": 1, "score": 0.9}, {"candidate": 2, "score": 0.0}]}


@pytest.mark.server
def test_enforcing_standin_honours_choices() -> None:
    with StandInServer(
        lambda messages: "I would say: No.", model="m", structured_outputs="enforce"
    ) as server:
        response = post(server, structured_outputs={"choice": ["yes", "no"]})
        plain = post(server)
    assert response.json()["choices"][0]["message"]["content"] == "no"
    assert plain.json()["choices"][0]["message"]["content"] == "I would say: No."


@pytest.mark.server
def test_ignoring_standin_replies_as_its_policy_says() -> None:
    with StandInServer(lambda messages: "free text", model="m") as server:
        response = post(server, structured_outputs={"json": {"type": "strnig"}})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "free text"


def test_standin_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="enforce"):
        StandInServer(echo, structured_outputs="strict")  # type: ignore[arg-type]


def test_standin_cli_rejects_an_unknown_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--port", "0", "--structured-outputs", "strict"])
    assert "invalid choice" in capsys.readouterr().err


def echo(messages: list[Message]) -> str:
    return messages[-1].content


def test_shape_reply_covers_every_entity_and_keeps_scores() -> None:
    task = ScoreEntities("q", "e", ("a", "b", "c"))
    schema: Any = schema_for(task)
    shaped = json.loads(
        shape_reply('{"scores": [{"candidate": 2, "score": 0.7}]}', Constraint("x", schema))
    )
    assert shaped == {
        "scores": [
            {"candidate": 1, "score": 0.0},
            {"candidate": 2, "score": 0.7},  # kept in its own slot, not moved to candidate 1
            {"candidate": 3, "score": 0.0},
        ]
    }
    clamped = shape_reply('{"scores": [{"candidate": 3, "score": 4}]}', Constraint("x", schema))
    assert json.loads(clamped)["scores"][2] == {"candidate": 3, "score": 1.0}
    kept = '{"scores": [{"candidate": 1, "score": 0.2}, {"candidate": 2, "score": 0.7}, '
    kept += '{"candidate": 3, "score": 0.1}]}'
    assert json.loads(shape_reply(kept, Constraint("x", schema))) == json.loads(kept)
    verdict = json.loads(shape_reply("Yes, {Paris}", Constraint("x", schema_for(JUDGE))))
    assert verdict == {"sufficient": False, "answers": [], "rationale": ""}


JUDGE = JudgeSufficiency("q", (PathView(),))


# --- a full run: PathQuestion through ThinkOnGraph against the stand-in ------------------------


def pathquestion_sets(per_set: int) -> list[tuple[Any, list[Any]]]:
    pq = require(DATA / "pathquestion" / "PathQuestion")
    sets = []
    for questions, kb in (("PQ-2H.txt", "2H-kb.txt"), ("PQ-3H.txt", "3H-kb.txt")):
        items = list(read_pathquestion(pq / questions))
        step = len(items) // per_set
        sets.append((load_graph(pq / kb), items[::step][:per_set]))
    return sets


def run_pathquestion(sets: list[tuple[Any, list[Any]]], mode: Any, policy: Any) -> dict[str, float]:
    counts = dict.fromkeys(
        ["questions", "hits", "calls", "constrained", "parse_failures", "rejected"], 0.0
    )
    with (
        StandInServer(policy, structured_outputs=mode) as server,
        OpenAICompatible(base_url=server.base_url, structured_outputs=True) as llm,
    ):
        for kg, questions in sets:
            agent = tog.ThinkOnGraph(kg, llm)
            for q in questions:
                result = agent.run(q.text, topic_entities=list(q.topic_entities), question_id=q.id)
                counts["questions"] += 1
                counts["hits"] += hits_at_1(result.answers, q.answers)
                for event in result.trace.llm_events():
                    parse: Any = event.parse
                    counts["calls"] += 1
                    counts["constrained"] += event.constrained
                    counts["parse_failures"] += parse["ok"] is False
                    counts["rejected"] += len(parse["rejected"])
    return counts


@pytest.mark.server
def test_pathquestion_enforced_never_fails_to_parse_or_invents() -> None:
    sets = pathquestion_sets(per_set=15)
    enforced = run_pathquestion(sets, "enforce", reply_to_messages)
    assert enforced["questions"] == 30
    assert enforced["parse_failures"] == 0
    assert enforced["rejected"] == 0
    assert enforced["constrained"] > 0.8 * enforced["calls"]  # all but the final answers
    assert enforced["hits"] / enforced["questions"] >= 0.5

    ignored = run_pathquestion(sets, "ignore", text_reply_to_messages)
    assert ignored["parse_failures"] == 0
    assert ignored["hits"] / ignored["questions"] >= 0.5


@pytest.mark.server
def test_pathquestion_sloppy_policy_invents_only_when_not_enforced() -> None:
    def sloppy(messages: list[Message]) -> str:
        data = json.loads(reply_to_messages(messages))
        if "choices" in data:
            data["choices"].append({"relation": "film.invented", "score": 0.5})
        return json.dumps(data)

    sets = [(kg, questions[:5]) for kg, questions in pathquestion_sets(per_set=5)]
    assert run_pathquestion(sets, "ignore", sloppy)["rejected"] > 0
    enforced = run_pathquestion(sets, "enforce", sloppy)
    assert enforced["rejected"] == 0
    assert enforced["parse_failures"] == 0
