"""Prompt templates (`tog.templates`): snapshots, render/parse errors, loading, and round trips.

Every prompt is rendered with fixed, realistic values and compared with
``tests/snapshots/<name>.txt``, so a prompt edit shows up as a review diff (style.md §6). After an
intended change, rewrite the snapshots with ``UPDATE_SNAPSHOTS=1 pytest tests/test_prompts.py`` and
review the diff.

The round trips check that what the engine sends is what the task says: a real search renders each
kind of request, and `tog.llm.offline.task_from_messages` must rebuild the exact task from the
messages; the few-shot examples must be formatted like live prompts and parse with their parsers.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import tog
from kg_adapters import NetworkXGraph
from tog.config import SearchConfig
from tog.errors import PromptError
from tog.llm.base import (
    ChatRequest,
    ExtractEntities,
    GenerateAnswer,
    JudgeSufficiency,
    LLMTask,
    Message,
    PathView,
    PruneRelations,
    RelationOption,
    ScoreEntities,
    TripleView,
    task_name,
)
from tog.llm.offline import task_from_messages
from tog.llm.scripted import ScriptedLLM
from tog.parsing import (
    Scored,
    parse_answer,
    parse_choices,
    parse_mentions,
    parse_scores,
    parse_verdict,
)
from tog.paths import render_paths
from tog.templates import PROMPT_NAMES, Prompt, PromptSet, default_prompt_dir, load_prompts

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
PROMPTS = load_prompts()

PLACEHOLDERS = {
    "extract_entities": {"question", "max_mentions"},
    "relation_prune": {"question", "max_choices", "candidates"},
    "entity_score": {"question", "edge", "candidates"},
    "sufficiency": {"question", "paths"},
    "answer": {"question", "paths"},
    "direct_answer": {"question"},
}


# --- values, rendered the way tog/search.py renders them -----------------------------------------


def values_for(task: LLMTask) -> dict[str, str]:
    """The placeholder values `tog.search` fills in for ``task``."""
    match task:
        case ExtractEntities(question=question, max_mentions=limit):
            return {"question": question, "max_mentions": str(limit)}
        case PruneRelations(question=question, options=options, max_choices=limit):
            lines = "\n".join(f"{o.index}. {o.render()}" for o in options)
            return {"question": question, "max_choices": str(limit), "candidates": lines}
        case ScoreEntities(question=question, edge=edge, options=options):
            lines = "\n".join(f"{i}. {label}" for i, label in enumerate(options, 1))
            return {"question": question, "edge": edge, "candidates": lines}
        case JudgeSufficiency(question=question, paths=paths):
            return {"question": question, "paths": render_paths(paths)}
        case GenerateAnswer(question=question, paths=paths):
            if paths:
                return {"question": question, "paths": render_paths(paths)}
            return {"question": question}


NOLAN_QUESTION = "Who composed the music for the film Christopher Nolan directed in 2010?"
NOLAN_RELATIONS = (
    RelationOption(1, "Christopher Nolan", "place of birth", "out"),
    RelationOption(2, "Christopher Nolan", "directed by", "in"),
    RelationOption(3, "Christopher Nolan", "written by", "in"),
    RelationOption(4, "Christopher Nolan", "spouse", "out"),
)
NOLAN_PATH = TripleView("Inception", "directed by", "Christopher Nolan")

SNAPSHOT_TASKS: dict[str, LLMTask] = {
    "extract_entities": ExtractEntities(
        "Which studio produced the film that won the Palme d'Or in 1994?", 3
    ),
    "relation_prune": PruneRelations(NOLAN_QUESTION, NOLAN_RELATIONS, 3),
    "entity_score": ScoreEntities(
        NOLAN_QUESTION,
        NOLAN_RELATIONS[1].render(),
        ("Inception", "Interstellar", "The Dark Knight", "Tenet"),
    ),
    "sufficiency": JudgeSufficiency(
        "Where was the director of Inception born?",
        (
            PathView(triples=(NOLAN_PATH,), ends=("Christopher Nolan",)),
            PathView(
                triples=(NOLAN_PATH, TripleView("Christopher Nolan", "place of birth", "London")),
                ends=("London",),
            ),
        ),
    ),
    "answer": GenerateAnswer(
        "In which year was the first Christopher Nolan film scored by Hans Zimmer released?",
        (
            PathView(
                triples=(
                    TripleView("Inception", "composer", "Hans Zimmer"),
                    TripleView("Inception", "release year", "2010"),
                ),
                ends=("2010",),
            ),
            PathView(
                chain="Hans Zimmer -> composer (reverse) -> release year",
                ends=("2005", "2008", "2010", "2014"),
            ),
        ),
    ),
    # "$" in a value must come out literally (values are never substituted again)
    "direct_answer": GenerateAnswer("Which film grossed over $2 billion in 2009 ($question)?", ()),
}


def source(prompt: Prompt) -> list[tuple[str, str]]:
    """A prompt's parts as plain text (`string.Template` has no equality of its own)."""
    return [(role, template.template) for role, template in prompt.parts]


def transcript(messages: Sequence[Message]) -> str:
    return "".join(f"### {m.role}\n{m.content}\n" for m in messages)


def assert_matches_snapshot(name: str, text: str) -> None:
    """Compare with ``tests/snapshots/<name>.txt``; ``UPDATE_SNAPSHOTS=1`` (re)writes it."""
    path = SNAPSHOTS / f"{name}.txt"
    update = os.environ.get("UPDATE_SNAPSHOTS") == "1"
    expected = path.read_bytes().decode("utf-8") if path.is_file() else None
    if expected == text:
        return
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    if expected is None:
        pytest.fail(f"snapshot {path} is missing; write it with UPDATE_SNAPSHOTS=1 and review it")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"snapshots/{name}.txt",
            tofile=f"rendered {name}",
        )
    )
    pytest.fail(
        f"prompt {name!r} renders differently from its snapshot "
        f"(if intended: UPDATE_SNAPSHOTS=1, then review):\n{diff}"
    )


# --- snapshots ---------------------------------------------------------------------------------


def test_every_prompt_has_snapshot_values() -> None:
    assert set(SNAPSHOT_TASKS) == set(PROMPT_NAMES)
    assert {name: task_name(task) for name, task in SNAPSHOT_TASKS.items()} == {
        name: name for name in PROMPT_NAMES
    }


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_rendered_prompt_matches_snapshot(name: str) -> None:
    messages = PROMPTS[name].render(**values_for(SNAPSHOT_TASKS[name]))

    assert_matches_snapshot(name, transcript(messages))


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_placeholders_are_exactly_what_the_search_fills(name: str) -> None:
    assert PROMPTS[name].placeholders == PLACEHOLDERS[name]
    assert set(values_for(SNAPSHOT_TASKS[name])) == PLACEHOLDERS[name]


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_rendered_prompt_is_a_system_then_shots_then_the_live_question(name: str) -> None:
    task = SNAPSHOT_TASKS[name]
    messages = PROMPTS[name].render(**values_for(task))
    roles = [m.role for m in messages]

    assert roles[0] == "system"
    assert roles[1:] == ["user", "assistant"] * ((len(roles) - 2) // 2) + ["user"]
    assert len(roles) >= 4, "every prompt carries at least one few-shot example"
    live = messages[-1].content
    assert live.startswith(f"Question: {task.question}\n") or live == f"Question: {task.question}"
    for value in values_for(task).values():
        assert value in live
    assert all(m.content == m.content.strip("\n") and m.content for m in messages)


def test_snapshot_helper_fails_on_a_difference_and_shows_a_diff(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SNAPSHOTS", tmp_path)
    monkeypatch.delenv("UPDATE_SNAPSHOTS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing"):
        assert_matches_snapshot("demo", "one\ntwo\n")

    monkeypatch.setenv("UPDATE_SNAPSHOTS", "1")
    assert_matches_snapshot("demo", "one\ntwo\n")
    assert (tmp_path / "demo.txt").read_text(encoding="utf-8") == "one\ntwo\n"

    monkeypatch.delenv("UPDATE_SNAPSHOTS")
    assert_matches_snapshot("demo", "one\ntwo\n")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)-two\n\+three"):
        assert_matches_snapshot("demo", "one\nthree\n")


# --- Prompt.render / Prompt.parse ----------------------------------------------------------------

SIMPLE = "### system\nBe brief.\n### user\nQuestion: $question\nAt most $max_mentions.\n"


def test_render_fills_every_placeholder() -> None:
    prompt = Prompt.parse("demo", SIMPLE)

    messages = prompt.render(question="Who?", max_mentions="2")

    assert messages == (
        Message("system", "Be brief."),
        Message("user", "Question: Who?\nAt most 2."),
    )


def test_render_missing_placeholder_raises_naming_it() -> None:
    with pytest.raises(PromptError, match="max_mentions"):
        Prompt.parse("demo", SIMPLE).render(question="Who?")


def test_render_unexpected_placeholder_raises_naming_it() -> None:
    with pytest.raises(PromptError, match="paths"):
        Prompt.parse("demo", SIMPLE).render(question="Who?", max_mentions="2", paths="x")


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_shipped_prompts_reject_missing_and_unexpected_values(name: str) -> None:
    values = values_for(SNAPSHOT_TASKS[name])
    with pytest.raises(PromptError, match="question"):
        PROMPTS[name].render(**{k: v for k, v in values.items() if k != "question"})
    with pytest.raises(PromptError, match="topic"):
        PROMPTS[name].render(**values, topic="Inception")


def test_render_keeps_literal_dollars_and_json_braces() -> None:
    prompt = Prompt.parse(
        "demo",
        '### system\nCosts $$5. Reply {"answers": [...]}.\n### user\nQuestion: $question\n',
    )

    messages = prompt.render(question="Is $question ${question} literal?")

    assert messages[0].content == 'Costs $5. Reply {"answers": [...]}.'
    assert messages[1].content == "Question: Is $question ${question} literal?"


def test_parse_splits_messages_on_headers_only() -> None:
    text = "### system\nS\n\n### user\nU ### not a header\n### assistant  \nA\n### user\nQ\n"

    prompt = Prompt.parse("demo", text)

    assert source(prompt) == [
        ("system", "S"),
        ("user", "U ### not a header"),
        ("assistant", "A"),
        ("user", "Q"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("Question: $question\n", "header", id="no-header"),
        pytest.param("Hello\n### system\nS\n### user\nU\n", "before", id="text-before-header"),
        pytest.param("### system\nS\n### user\nU\n### assistant\nA\n", "end", id="ends-assistant"),
        pytest.param("### user\nU\n### system\nS\n", "end", id="ends-system"),
        pytest.param("### system\nS\n### user\nCosts $5\n", "placeholder", id="bad-placeholder"),
        pytest.param("### system\nS $\n### user\nU\n", "placeholder", id="lone-dollar"),
    ],
)
def test_parse_rejects_malformed_templates(text: str, match: str) -> None:
    with pytest.raises(PromptError, match=match):
        Prompt.parse("demo", text)


def test_prompt_set_unknown_name_raises() -> None:
    with pytest.raises(PromptError, match="nope"):
        PROMPTS["nope"]


# --- load_prompts --------------------------------------------------------------------------------


def copy_prompts(target: Path) -> Path:
    source = default_prompt_dir()
    target.mkdir()
    for name in PROMPT_NAMES:
        (target / f"{name}.txt").write_bytes((source / f"{name}.txt").read_bytes())
    return target


def test_shipped_folder_holds_exactly_the_prompts() -> None:
    folder = default_prompt_dir()
    files = {entry.name for entry in folder.iterdir() if entry.name.endswith(".txt")}

    assert files == {f"{name}.txt" for name in PROMPT_NAMES}


@pytest.mark.parametrize("as_str", [False, True])
def test_load_prompts_from_a_copied_folder(tmp_path: Path, as_str: bool) -> None:
    folder = copy_prompts(tmp_path / "prompts")

    loaded = load_prompts(str(folder) if as_str else folder)

    assert isinstance(loaded, PromptSet)
    assert set(loaded.prompts) == set(PROMPT_NAMES)
    for name in PROMPT_NAMES:
        assert loaded[name].name == name
        assert source(loaded[name]) == source(PROMPTS[name])


def test_load_prompts_uses_an_edited_copy(tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path / "prompts")
    (folder / "direct_answer.txt").write_text(
        "### system\nAnswer tersely.\n### user\nQ: $question\n", encoding="utf-8"
    )

    messages = load_prompts(folder)["direct_answer"].render(question="Capital of Peru?")

    assert messages == (
        Message("system", "Answer tersely."),
        Message("user", "Q: Capital of Peru?"),
    )


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_load_prompts_names_the_missing_file(tmp_path: Path, name: str) -> None:
    folder = copy_prompts(tmp_path / "prompts")
    (folder / f"{name}.txt").unlink()

    with pytest.raises(PromptError, match=f"{name}.txt"):
        load_prompts(folder)


def test_load_prompts_names_a_malformed_file(tmp_path: Path) -> None:
    folder = copy_prompts(tmp_path / "prompts")
    (folder / "sufficiency.txt").write_text("### system\nS\n", encoding="utf-8")

    with pytest.raises(PromptError, match="sufficiency"):
        load_prompts(folder)


def test_load_prompts_from_an_empty_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"\.txt not found"):
        load_prompts(tmp_path)


def test_default_prompt_dir_is_the_checkout_folder_here() -> None:
    folder = default_prompt_dir()

    assert (folder / "sufficiency.txt").is_file()
    loaded = load_prompts(None)
    assert all(source(loaded[name]) == source(PROMPTS[name]) for name in PROMPT_NAMES)


# --- round trip: what the search sends can be read back as its task ------------------------------

TRIPLES = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Inception", "starring", "Tom Hardy"),
    ("Inception", "release_year", "2010"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("Christopher Nolan", "place_of_birth", "London"),
]


def scripted_reply(request: ChatRequest) -> str:
    """Valid replies that keep the search going until its final answer call."""
    match request.task:
        case ExtractEntities():
            return json.dumps({"entities": ["Inception"]})
        case PruneRelations(options=options, max_choices=limit):
            picks = [{"candidate": o.index, "score": 1.0} for o in options[:limit]]
            return json.dumps({"choices": picks})
        case ScoreEntities(options=options):
            picks = [{"candidate": i, "score": 1.0} for i in range(1, len(options) + 1)]
            return json.dumps({"scores": picks})
        case JudgeSufficiency():
            return json.dumps({"sufficient": False, "answers": [], "rationale": "not yet"})
        case GenerateAnswer():
            return json.dumps({"answers": ["London"], "rationale": "r"})


CONFIGS = {
    "tog": SearchConfig(width=3, depth=2),
    "tog-r": SearchConfig(width=2, depth=2, variant="tog-r"),
    "llm-only": SearchConfig(width=2, depth=1, on_depth_exhausted="llm_only"),
}


@pytest.fixture(scope="module")
def search_requests() -> dict[str, list[ChatRequest]]:
    """Requests a real search sent, by prompt name, over three configurations."""
    by_name: dict[str, list[ChatRequest]] = {name: [] for name in PROMPT_NAMES}
    for config in CONFIGS.values():
        llm = ScriptedLLM(scripted_reply)
        agent = tog.ThinkOnGraph(NetworkXGraph.from_triples(TRIPLES), llm, config=config)
        result = agent.run("Where was the director of Inception born?")
        assert result.answers == ("London",)
        for request in llm.requests:
            by_name[task_name(request.task)].append(request)
    return by_name


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_search_request_messages_rebuild_the_task(
    search_requests: dict[str, list[ChatRequest]], name: str
) -> None:
    requests = search_requests[name]
    assert requests, f"the search sent no {name} request"
    for request in requests:
        assert task_from_messages(request.messages) == request.task


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_search_renders_the_prompt_from_the_task_fields(
    search_requests: dict[str, list[ChatRequest]], name: str
) -> None:
    for request in search_requests[name]:
        assert request.messages == PROMPTS[name].render(**values_for(request.task))


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_snapshot_values_rebuild_their_task(name: str) -> None:
    task = SNAPSHOT_TASKS[name]

    assert task_from_messages(PROMPTS[name].render(**values_for(task))) == task


# --- few-shot examples: formatted like live prompts, replies parse --------------------------------


def shots(name: str) -> list[tuple[Message, Message, Message]]:
    """(system, user, assistant) for each few-shot example of a prompt."""
    prompt = PROMPTS[name]
    rendered = prompt.render(**values_for(SNAPSHOT_TASKS[name]))
    system = rendered[0]
    body = rendered[1:-1]
    return [(system, body[i], body[i + 1]) for i in range(0, len(body), 2)]


def parse_shot_reply(task: LLMTask, reply: str) -> object:
    match task:
        case ExtractEntities(max_mentions=limit):
            return parse_mentions(reply, max_mentions=limit)
        case PruneRelations(options=options, max_choices=limit):
            texts = [o.render() for o in options]
            return parse_choices(reply, options=texts, max_choices=limit, prompt="relation_prune")
        case ScoreEntities(options=options):
            return parse_scores(reply, options=options, prompt="entity_score")
        case JudgeSufficiency():
            return parse_verdict(reply)
        case GenerateAnswer():
            return parse_answer(reply, prompt=task_name(task))


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_few_shot_questions_are_formatted_like_the_live_question(name: str) -> None:
    for system, user, _ in shots(name):
        task = task_from_messages([system, user])
        assert task_name(task) == name
        live = PROMPTS[name].render(**values_for(task))
        assert live[-1] == user


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_few_shot_replies_parse_with_the_matching_parser(name: str) -> None:
    for system, user, assistant in shots(name):
        task = task_from_messages([system, user])
        parsed = parse_shot_reply(task, assistant.content)
        if isinstance(parsed, Scored):
            assert not parsed.rejected
            assert not parsed.uniform_fallback
            # the shot reply is already what the parser returns: nothing rescaled or dropped
            raw = json.loads(assistant.content)
            stated = {item["candidate"]: item["score"] for item in next(iter(raw.values()))}
            if isinstance(task, ScoreEntities):
                stated = {i: stated.get(i, 0.0) for i in range(1, len(task.options) + 1)}
            assert parsed.scores == pytest.approx(stated)
        if isinstance(task, PruneRelations):
            assert isinstance(parsed, Scored)
            assert len(parsed.scores) <= task.max_choices
        if isinstance(task, ExtractEntities):
            assert isinstance(parsed, list)
            assert parsed
            assert len(parsed) <= task.max_mentions
            assert all(mention in task.question for mention in parsed)
        if isinstance(task, GenerateAnswer):
            assert parsed.answers  # type: ignore[attr-defined]
        if isinstance(task, JudgeSufficiency):
            ends = {end for view in task.paths for end in view.ends}
            if parsed.sufficient:  # type: ignore[attr-defined]
                assert set(parsed.answers) <= ends  # type: ignore[attr-defined]


def test_sufficiency_shots_show_both_verdicts() -> None:
    verdicts = [
        parse_verdict(assistant.content).sufficient for _, _, assistant in shots("sufficiency")
    ]

    assert True in verdicts
    assert False in verdicts


# --- prefix caching: what all requests of a task share comes first --------------------------------


def other_question(task: LLMTask) -> LLMTask:
    """``task`` about a different question (and, where it has them, different candidates)."""
    question = "Which instrument did the lead singer of Queen play?"
    match task:
        case ExtractEntities(max_mentions=limit):
            return ExtractEntities(question, limit)
        case PruneRelations(max_choices=limit):
            return PruneRelations(question, (RelationOption(1, "Queen", "member", "out"),), limit)
        case ScoreEntities():
            return ScoreEntities(question, "Queen | member | ?", ("Freddie Mercury", "Brian May"))
        case JudgeSufficiency(paths=paths):
            return JudgeSufficiency(question, paths[:1])
        case GenerateAnswer(paths=paths):
            return GenerateAnswer(question, paths[:1])


@pytest.mark.parametrize("name", PROMPT_NAMES)
def test_two_questions_share_the_whole_prompt_up_to_the_live_question(name: str) -> None:
    """Instructions and few-shot examples come first, so vLLM's prefix cache reuses them."""
    task = SNAPSHOT_TASKS[name]
    first = PROMPTS[name].render(**values_for(task))
    second = PROMPTS[name].render(**values_for(other_question(task)))
    assert first[:-1] == second[:-1]  # system prompt and every few-shot turn are identical
    one, two = transcript(first), transcript(second)
    pairs = enumerate(zip(one, two, strict=False))
    shared = next((k for k, (x, y) in pairs if x != y), min(len(one), len(two)))
    live = first[-1].content
    assert shared >= len(one) - len(live)
    assert live.startswith("Question: ")  # the live turn opens with what differs
    assert shared >= 0.8 * len(one), f"{name}: only {shared} of {len(one)} characters shared"
