"""`VLLMEngine` against a stand-in for ``vllm.LLM`` (vLLM itself cannot run on these machines).

`FakeLLM` has ``vllm.LLM``'s ``chat`` and ``generate`` signatures and returns objects shaped like
vllm's ``RequestOutput``; a fake ``vllm`` module (``LLM``, ``SamplingParams``,
``sampling_params.StructuredOutputsParams`` / ``GuidedDecodingParams``) is put in ``sys.modules``
for the tests that need one. The replies come from the offline scorer reading the rendered
messages, so a lockstep run can be compared with one-at-a-time runs through `ScriptedLLM`.
"""

from __future__ import annotations

import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

import tog
from kg_adapters import NetworkXGraph, Node
from tog.errors import ContextLengthExceeded, LLMResponseError
from tog.llm import ScriptedLLM, SupportsBatchComplete, VLLMEngine
from tog.llm.base import (
    ChatRequest,
    GenerateAnswer,
    JudgeSufficiency,
    Message,
    PruneRelations,
    RelationOption,
    Role,
    Sampling,
    ScoreEntities,
)
from tog.llm.offline import reply_to_messages
from tog.llm.vllm_engine import sampling_kwargs
from tog.trace import Trace


@dataclass
class FakeCompletionOutput:
    """Shaped like ``vllm.outputs.CompletionOutput``."""

    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = "stop"


@dataclass
class FakeRequestOutput:
    """Shaped like ``vllm.outputs.RequestOutput``."""

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    outputs: list[FakeCompletionOutput]
    finished: bool = True


class FakeSamplingParams:
    """Records its keyword arguments; rejects names `vllm.SamplingParams` does not have."""

    FIELDS = frozenset(
        {"temperature", "max_tokens", "top_p", "top_k", "seed", "stop", "n"}
        | {"structured_outputs", "guided_decoding", "repetition_penalty"}
    )

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - self.FIELDS
        if unknown:
            raise TypeError(f"unexpected keyword arguments {sorted(unknown)}")
        self.kwargs = kwargs


@dataclass
class FakeStructuredOutputsParams:
    json: Any = None
    regex: str | None = None
    choice: list[str] | None = None
    json_object: bool | None = None


@dataclass
class FakeGuidedDecodingParams:
    json: Any = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None


def words(text: str) -> list[int]:
    return list(range(len(text.split())))


@dataclass
class FakeLLM:
    """A stand-in for ``vllm.LLM``: same ``chat`` / ``generate`` signatures, scripted replies."""

    model: str = "fake-model"
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    chat_calls: list[dict[str, Any]] = field(default_factory=list)
    generate_calls: list[Any] = field(default_factory=list)
    error: Exception | None = None
    drop_last: bool = False

    def chat(
        self,
        messages: list[dict[str, str]] | list[list[dict[str, str]]],
        sampling_params: Any = None,
        use_tqdm: bool = True,
        lora_request: Any = None,
        chat_template: str | None = None,
        chat_template_content_format: str = "auto",
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        tools: list[dict[str, Any]] | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[FakeRequestOutput]:
        conversations = cast(
            list[list[dict[str, str]]],
            messages if messages and isinstance(messages[0], list) else [messages],
        )
        self.chat_calls.append(
            {
                "conversations": conversations,
                "sampling_params": sampling_params,
                "use_tqdm": use_tqdm,
                "chat_template_kwargs": chat_template_kwargs,
            }
        )
        if self.error is not None:
            raise self.error
        outputs = []
        for k, conversation in enumerate(conversations):
            turns = [Message(cast(Role, m["role"]), m["content"]) for m in conversation]
            text = reply_to_messages(turns)
            prompt_ids = list(range(sum(len(m.content.split()) for m in turns)))
            out = FakeCompletionOutput(0, text, words(text), "stop")
            outputs.append(FakeRequestOutput(str(k), None, prompt_ids, [out]))
        return outputs[:-1] if self.drop_last else outputs

    def generate(
        self,
        prompts: Any,
        sampling_params: Any = None,
        *,
        use_tqdm: bool = True,
        lora_request: Any = None,
    ) -> list[FakeRequestOutput]:
        self.generate_calls.append(prompts)
        raise AssertionError("VLLMEngine should use chat, not generate")


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A fake ``vllm`` package in ``sys.modules``."""
    module = types.ModuleType("vllm")
    params = types.ModuleType("vllm.sampling_params")
    params.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    params.StructuredOutputsParams = FakeStructuredOutputsParams  # type: ignore[attr-defined]
    params.GuidedDecodingParams = FakeGuidedDecodingParams  # type: ignore[attr-defined]
    module.LLM = lambda model, **kwargs: FakeLLM(model=model, engine_kwargs=kwargs)  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    module.sampling_params = params  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", params)
    return module


def request_for(
    task: Any, text: str = "Question: q", *, sampling: Sampling | None = None
) -> ChatRequest:
    messages = (Message("system", "shared instructions"), Message("user", text))
    return ChatRequest(task=task, messages=messages, sampling=sampling or Sampling())


PRUNE = PruneRelations(
    "q", (RelationOption(1, "A", "r", "out"), RelationOption(2, "A", "s", "in")), 2
)
JUDGE = JudgeSufficiency("q", ())
ANSWER = GenerateAnswer("q", ())
SCORE = ScoreEntities("q", "A | r | ?", ("x", "y"))


# --- imports -------------------------------------------------------------------------------------


def test_importing_tog_and_the_engine_never_imports_vllm() -> None:
    code = (
        "import sys, tog, tog.llm, tog.llm.vllm_engine\n"
        "tog.llm.VLLMEngine; tog.answer_many\n"
        "print('vllm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_model_name_without_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match=r"think-on-graph\[vllm\]"):
        VLLMEngine("Qwen/Qwen2.5-7B-Instruct")


def test_a_model_name_builds_vllm_llm_with_the_engine_kwargs(fake_vllm: types.ModuleType) -> None:
    engine = VLLMEngine("some/model", engine_kwargs={"max_model_len": 4096})
    assert isinstance(engine.llm, FakeLLM)
    assert engine.llm.model == "some/model"
    assert engine.llm.engine_kwargs == {"max_model_len": 4096}
    assert engine.model == "some/model"
    assert isinstance(engine, SupportsBatchComplete)


def test_engine_kwargs_with_a_ready_llm_are_a_mistake() -> None:
    with pytest.raises(ValueError, match="engine_kwargs"):
        VLLMEngine(FakeLLM(), engine_kwargs={"x": 1})


def test_structured_outputs_must_be_a_known_style() -> None:
    with pytest.raises(ValueError, match="structured_outputs"):
        VLLMEngine(FakeLLM(), structured_outputs="openai")  # type: ignore[arg-type]


# --- the mapping ---------------------------------------------------------------------------------


def test_sampling_maps_one_to_one_and_vendor_fields_pass_through() -> None:
    sampling = Sampling(
        temperature=0.4, max_tokens=64, top_p=0.9, seed=7, stop=("END",), extra={"top_k": 20}
    )
    assert sampling_kwargs(sampling) == {
        "temperature": 0.4,
        "max_tokens": 64,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END"],
        "top_k": 20,
    }
    assert sampling_kwargs(Sampling()) == {"temperature": 0.0, "max_tokens": 256}
    legacy = sampling_kwargs(Sampling(extra={"guided_json": {"type": "object"}}))
    assert legacy["guided_decoding"] == {"json": {"type": "object"}}
    assert "guided_json" not in legacy


def test_complete_batch_is_one_chat_call_sorted_by_task_with_replies_in_input_order(
    fake_vllm: types.ModuleType,
) -> None:
    fake = FakeLLM()
    engine = VLLMEngine(fake, chat_template_kwargs={"enable_thinking": False})
    requests = [
        request_for(
            JUDGE, "Question: one\nPaths:\n(no paths)", sampling=Sampling(temperature=0.0, seed=1)
        ),
        request_for(
            PRUNE, "Question: two\nChoose at most 2.\nCandidates:\n1. A | r | ?\n2. ? | s | A"
        ),
        request_for(ANSWER, "Question: three"),
        request_for(
            PRUNE, "Question: four\nChoose at most 2.\nCandidates:\n1. A | r | ?\n2. ? | s | A"
        ),
    ]
    completions = engine.complete_batch(requests)

    assert len(fake.chat_calls) == 1
    assert fake.generate_calls == []
    call = fake.chat_calls[0]
    sent = [c[-1]["content"].split("\n")[0] for c in call["conversations"]]
    # answer < relation_prune < sufficiency; ties keep their order
    assert sent == ["Question: three", "Question: two", "Question: four", "Question: one"]
    assert call["use_tqdm"] is False
    assert call["chat_template_kwargs"] == {"enable_thinking": False}
    assert call["sampling_params"][-1].kwargs == {"temperature": 0.0, "max_tokens": 256, "seed": 1}
    assert all(isinstance(p, FakeSamplingParams) for p in call["sampling_params"])
    # replies come back in the caller's order, with token counts and finish reasons
    expected = [engine.complete(r) for r in requests]
    assert [c.text for c in completions] == [c.text for c in expected]
    assert completions[0].text == reply_to_messages(list(requests[0].messages))
    assert completions[0].prompt_tokens == sum(len(m.content.split()) for m in requests[0].messages)
    assert completions[0].completion_tokens == len(completions[0].text.split())
    assert completions[0].finish_reason == "stop"
    assert completions[0].model == "fake-model"
    assert engine.complete_batch([]) == []


@pytest.mark.parametrize(
    ("style", "field", "cls"),
    [
        (True, "structured_outputs", FakeStructuredOutputsParams),
        ("vllm-legacy", "guided_decoding", FakeGuidedDecodingParams),
    ],
)
def test_structured_outputs_constrain_each_task_with_its_schema(
    fake_vllm: types.ModuleType, style: Any, field: str, cls: type
) -> None:
    from tog.llm.structured import schema_for

    fake = FakeLLM()
    engine = VLLMEngine(fake, structured_outputs=style)
    engine.complete_batch([request_for(PRUNE), request_for(ANSWER)])
    answer_params, prune_params = fake.chat_calls[0]["sampling_params"]
    assert isinstance(prune_params.kwargs[field], cls)
    assert prune_params.kwargs[field].json == schema_for(PRUNE)
    assert field not in answer_params.kwargs  # the final answer stays free text


def test_a_custom_sampling_params_factory_replaces_the_vllm_mapping() -> None:
    fake = FakeLLM()
    built: list[dict[str, object]] = []

    def build(kwargs: dict[str, object]) -> object:
        built.append(kwargs)
        return kwargs

    engine = VLLMEngine(fake, sampling_params=build)
    engine.complete(request_for(JUDGE, sampling=Sampling(temperature=0.3)))
    assert built == [{"temperature": 0.3, "max_tokens": 256}]


def test_a_too_long_prompt_is_context_length_exceeded(fake_vllm: types.ModuleType) -> None:
    fake = FakeLLM(
        error=ValueError(
            "The decoder prompt (length 5000) is longer than the maximum model length of 4096."
        )
    )
    with pytest.raises(ContextLengthExceeded, match="maximum model length") as info:
        VLLMEngine(fake).complete(request_for(JUDGE))
    assert info.value.backend == "vllm"


def test_other_vllm_errors_propagate_unchanged(fake_vllm: types.ModuleType) -> None:
    with pytest.raises(RuntimeError, match="CUDA"):
        VLLMEngine(FakeLLM(error=RuntimeError("CUDA out of memory"))).complete(request_for(JUDGE))


def test_a_missing_output_is_a_response_error(fake_vllm: types.ModuleType) -> None:
    with pytest.raises(LLMResponseError, match="1 outputs for 2"):
        VLLMEngine(FakeLLM(drop_last=True)).complete_batch(
            [request_for(JUDGE), request_for(ANSWER)]
        )


# --- lockstep: one chat call per round for all questions -----------------------------------------

FILMS = {
    "Inception": ("Christopher Nolan", "London", "Leonardo DiCaprio", "Los Angeles"),
    "Titanic": ("James Cameron", "Kapuskasing", "Kate Winslet", "Reading"),
    "Alien": ("Ridley Scott", "South Shields", "Sigourney Weaver", "Manhattan"),
}


def films_kg() -> NetworkXGraph:
    triples: list[tuple[str, str, Node]] = []
    for film, (director, born, star, star_born) in FILMS.items():
        triples += [
            (film, "directed by", director),
            (film, "starring", star),
            (director, "place of birth", born),
            (star, "place of birth", star_born),
        ]
    return NetworkXGraph.from_triples(triples)


def question(film: str) -> str:
    return f"Where was the director of {film} born?"


def events(trace: Trace) -> list[tuple[object, ...]]:
    return [(e.kind, e.request, e.response, e.error, e.task) for e in trace]


def test_answer_many_sends_one_chat_call_per_round_for_all_questions(
    fake_vllm: types.ModuleType,
) -> None:
    kg = films_kg()
    config = tog.SearchConfig(width=2, depth=2, seed=5)
    items = [(question(f), [f]) for f in FILMS]
    fake = FakeLLM()
    results = tog.answer_many(items, kg=kg, llm=VLLMEngine(fake), config=config, concurrency=8)

    scripted = ScriptedLLM(lambda r: reply_to_messages(list(r.messages)), model="fake-model")
    expected = [
        tog.answer(q, kg=kg, llm=scripted, topic_entities=t, config=config) for q, t in items
    ]
    alone = FakeLLM()
    tog.answer_many(items[:1], kg=kg, llm=VLLMEngine(alone), config=config)

    # One chat call per round, as many rounds as one question alone needs, all questions in each.
    assert fake.generate_calls == []
    assert len(fake.chat_calls) == len(alone.chat_calls) >= 2
    for call, single in zip(fake.chat_calls, alone.chat_calls, strict=True):
        asked = [c[-1]["content"] for c in call["conversations"]]
        for film in FILMS:
            assert sum(question(film) in text for text in asked) == len(single["conversations"])
    # Same answers as one-at-a-time runs, and complete per-question traces.
    assert [r.answers for r in results] == [r.answers for r in expected]
    assert results[0].answer == "London"
    assert [r.stop_reason for r in results] == [r.stop_reason for r in expected]
    assert [r.usage.llm_calls for r in results] == [r.usage.llm_calls for r in expected]
    assert [r.usage.prompt_tokens for r in results] == [r.usage.prompt_tokens for r in expected]
    assert [events(r.trace) for r in results] == [events(r.trace) for r in expected]
    for result in results:
        kinds = {e.kind for e in result.trace}
        assert {"relations", "neighbors", "labels", "llm"} <= kinds
        assert result.llm_backend == "VLLMEngine"
    assert sum(len(c["conversations"]) for c in fake.chat_calls) == sum(
        r.usage.llm_calls for r in results
    )
