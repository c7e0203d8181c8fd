"""Structured outputs: schemas from tasks, wire styles, the server-side reader, and the parsers."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tog.errors import OutputParseError
from tog.llm import _jsonschema
from tog.llm.base import (
    ExtractEntities,
    GenerateAnswer,
    JudgeSufficiency,
    PathView,
    PruneRelations,
    RelationOption,
    ScoreEntities,
)
from tog.llm.structured import (
    STYLES,
    Constraint,
    read_constraint,
    request_fields,
    resolve_style,
    schema_for,
    task_fields,
)
from tog.parsing import parse_choices, parse_mentions, parse_scores, parse_verdict

OPTIONS = (
    RelationOption(1, "Inception", "directed by", "out"),
    RelationOption(2, "Inception", "starring", "out"),
    RelationOption(3, "Inception", "award won", "in"),
    RelationOption(4, "Inception", "genre", "out"),
)
PRUNE = PruneRelations("Who directed Inception?", OPTIONS, max_choices=3)
SCORE = ScoreEntities("Who directed Inception?", "Inception | directed by | ?", ("Nolan", "Thomas"))
JUDGE = JudgeSufficiency("Who directed Inception?", (PathView(),))
EXTRACT = ExtractEntities("Who directed Inception?", max_mentions=2)


# --- schema_for --------------------------------------------------------------------------------


def test_relation_choices_are_the_candidate_indices_at_most_max_choices() -> None:
    schema: Any = schema_for(PRUNE)
    assert schema is not None
    _jsonschema.check_schema(schema)
    choices = schema["properties"]["choices"]
    assert choices["minItems"] == 1
    assert choices["maxItems"] == 3
    item = choices["items"]
    assert item["properties"]["candidate"] == {"type": "integer", "enum": [1, 2, 3, 4]}
    assert item["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert item["required"] == ["candidate", "score"]
    assert item["additionalProperties"] is False


def test_max_items_never_exceeds_the_candidates() -> None:
    schema: Any = schema_for(PruneRelations("q", OPTIONS[:2], max_choices=5))
    assert schema["properties"]["choices"]["maxItems"] == 2


def test_entity_scores_cover_exactly_each_option_in_order() -> None:
    schema: Any = schema_for(SCORE)
    assert schema is not None
    _jsonschema.check_schema(schema)
    scores = schema["properties"]["scores"]
    assert scores["minItems"] == scores["maxItems"] == 2
    enums = [p["properties"]["candidate"]["enum"] for p in scores["prefixItems"]]
    assert enums == [[1], [2]]

    good: Any = {"scores": [{"candidate": 1, "score": 0.9}, {"candidate": 2, "score": 0.1}]}
    assert _jsonschema.validate(good, schema) == []
    bads: list[Any] = [
        {"scores": [{"candidate": 1, "score": 0.9}]},
        {"scores": [{"candidate": 2, "score": 0.9}, {"candidate": 1, "score": 0.1}]},
        {"scores": [*good["scores"], {"candidate": 3, "score": 0.0}]},
    ]
    for bad in bads:
        assert _jsonschema.validate(bad, schema), bad


def test_sufficiency_is_a_boolean_with_answers_and_rationale() -> None:
    schema: Any = schema_for(JUDGE)
    assert schema is not None
    assert list(schema["properties"]) == ["sufficient", "answers", "rationale"]
    assert schema["properties"]["sufficient"] == {"type": "boolean"}
    assert (
        _jsonschema.validate({"sufficient": True, "answers": ["x"], "rationale": ""}, schema) == []
    )
    assert _jsonschema.validate({"sufficient": "yes", "answers": [], "rationale": ""}, schema)


def test_extraction_asks_for_one_to_max_mentions_strings() -> None:
    schema: Any = schema_for(EXTRACT)
    entities = schema["properties"]["entities"]
    assert (entities["minItems"], entities["maxItems"]) == (1, 2)


@pytest.mark.parametrize(
    "task",
    [
        GenerateAnswer("q", (PathView(),)),
        GenerateAnswer("q", ()),
        PruneRelations("q", (), max_choices=3),
        ScoreEntities("q", "e", ()),
    ],
)
def test_answers_and_empty_candidate_sets_are_unconstrained(task: Any) -> None:
    assert schema_for(task) is None
    assert task_fields(task, "vllm") == {}


def test_schema_is_pure_and_plain_json() -> None:
    assert schema_for(PRUNE) == schema_for(PRUNE)
    assert json.loads(json.dumps(schema_for(SCORE))) == schema_for(SCORE)


# --- wire styles -------------------------------------------------------------------------------


def test_request_fields_for_each_style() -> None:
    schema = {"type": "boolean"}
    assert request_fields(schema, "vllm") == {"structured_outputs": {"json": schema}}
    assert request_fields(schema, "vllm-legacy") == {"guided_json": schema}
    assert request_fields(schema, "openai", name="sufficiency") == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "sufficiency", "schema": schema, "strict": True},
        }
    }


def test_task_fields_are_off_without_a_style_and_named_after_the_task() -> None:
    assert task_fields(PRUNE, None) == {}
    fields: Any = task_fields(PRUNE, "openai")
    assert fields["response_format"]["json_schema"]["name"] == "relation_prune"


@pytest.mark.parametrize(
    ("given", "style"),
    [
        (True, "vllm"),
        (False, None),
        ("vllm", "vllm"),
        ("vllm-legacy", "vllm-legacy"),
        ("openai", "openai"),
    ],
)
def test_resolve_style(given: bool | str, style: str | None) -> None:
    assert resolve_style(given) == style


@pytest.mark.parametrize("bad", ["auto", "guided_json", "", 1])
def test_unknown_style_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="structured_outputs"):
        resolve_style(bad)


# --- the server side: read_constraint ----------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_read_constraint_reads_back_every_style(style: Any) -> None:
    schema: Any = schema_for(PRUNE)
    constraint = read_constraint(task_fields(PRUNE, style))
    assert constraint is not None
    assert constraint.schema == schema


def test_read_constraint_reads_choices_strings_and_nothing() -> None:
    assert read_constraint({"messages": []}) is None
    assert read_constraint({"response_format": {"type": "text"}}) is None
    assert read_constraint({"structured_outputs": {"choice": ["yes", "no"]}}) == Constraint(
        "structured_outputs.choice", choices=("yes", "no")
    )
    assert read_constraint({"guided_choice": ["a"]}) == Constraint("guided_choice", choices=("a",))
    legacy = read_constraint({"guided_json": '{"type": "integer"}', "guided_decoding_backend": "x"})
    assert legacy == Constraint("guided_json", {"type": "integer"})
    obj = read_constraint({"response_format": {"type": "json_object"}})
    assert obj is not None
    assert obj.schema == {"type": "object"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"structured_outputs": []}, "must be an object"),
        ({"structured_outputs": {}}, "exactly one"),
        ({"structured_outputs": {"json": {}, "choice": ["a"]}}, "exactly one"),
        ({"structured_outputs": {"jsonn": {}}}, "unknown field 'jsonn'"),
        ({"structured_outputs": {"json": "{not json"}}, "not valid JSON"),
        ({"structured_outputs": {"json": {"type": "strnig"}}}, "'strnig' is not one of"),
        ({"structured_outputs": {"json": {"type": "string", "pattern": "a+"}}}, "'pattern'"),
        ({"structured_outputs": {"json": {"enum": []}}}, "enum"),
        ({"structured_outputs": {"json": {"minItems": -1}}}, "minItems"),
        ({"structured_outputs": {"regex": "a+"}}, "cannot enforce regex"),
        ({"structured_outputs": {"choice": []}}, "non-empty array of strings"),
        ({"guided_json": 5}, "must be a JSON object"),
        ({"guided_grammar": "root ::= x"}, "cannot enforce grammar"),
        ({"guided_decoding_backend": 3}, "must be a string"),
        ({"guided_json": {}, "structured_outputs": {"json": {}}}, "only one kind"),
        ({"guided_json": {}, "response_format": {"type": "json_object"}}, "only one kind"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "with a 'schema'"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": 1, "schema": {}}}},
            "name",
        ),
    ],
)
def test_malformed_fields_are_value_errors(body: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        read_constraint(body)


# --- coerce: what a constrained decoder emits always validates ---------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, 2, 5, -3, 40])
    if kind == 3:
        return rng.choice([0.5, -0.2, 1.7, 0.0, 1e9])
    if kind == 4:
        return rng.choice(["", "Nolan", "yes", "1", "x" * 500])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(6))]
    keys = ["choices", "scores", "candidate", "score", "sufficient", "answers", "entities", "z"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def shaped_replies(task: Any, n: int = 300) -> list[str]:
    schema: Any = schema_for(task)
    assert schema is not None
    rng = random.Random(7)
    replies = []
    for _ in range(n):
        value = _jsonschema.coerce(random_json(rng), schema)
        assert _jsonschema.validate(value, schema) == [], value
        replies.append(json.dumps(value))
    return replies


def test_constrained_relation_replies_always_parse_and_never_invent() -> None:
    texts = [o.render() for o in OPTIONS]
    for reply in shaped_replies(PRUNE):
        parsed = parse_choices(reply, options=texts, max_choices=3, prompt="relation_prune")
        assert parsed.rejected == ()
        assert set(parsed.scores) <= {1, 2, 3, 4}
        assert 1 <= len(parsed.scores) <= 3


def test_constrained_entity_replies_always_parse() -> None:
    for reply in shaped_replies(SCORE):
        parsed = parse_scores(reply, options=SCORE.options, prompt="entity_score")
        assert parsed.rejected == ()
        assert set(parsed.scores) == {1, 2}


def test_constrained_verdicts_always_parse() -> None:
    for reply in shaped_replies(JUDGE):
        parse_verdict(reply)


def test_constrained_mentions_parse_unless_every_mention_is_blank() -> None:
    for reply in shaped_replies(EXTRACT):
        if any(m.strip() for m in json.loads(reply)["entities"]):
            assert parse_mentions(reply, max_mentions=2)
        else:
            with pytest.raises(OutputParseError):
                parse_mentions(reply, max_mentions=2)


def test_coerce_keeps_what_fits_and_fixes_the_rest() -> None:
    schema: Any = schema_for(PRUNE)
    assert schema is not None
    reply: Any = {
        "choices": [
            {"candidate": 2, "score": 0.7},
            {"candidate": 9, "score": 3.0, "relation": "made.up"},
            {"candidate": 1, "score": 0.1},
            {"candidate": 4, "score": 0.1},
        ],
        "note": "dropped",
    }
    assert _jsonschema.coerce(reply, schema) == {
        "choices": [
            {"candidate": 2, "score": 0.7},
            {"candidate": 1, "score": 1.0},
            {"candidate": 1, "score": 0.1},
        ]
    }
    assert _jsonschema.coerce(None, schema) == {"choices": [{"candidate": 1, "score": 0.0}]}


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ("long text", {"type": "string", "maxLength": 4}, "long"),
        (7, {"type": "integer", "minimum": 0, "maximum": 5}, 5),
        (2.6, {"type": "integer"}, 3),
        ("0.25", {"type": "number"}, 0.25),
        (True, {"type": "number", "minimum": 1}, 1.0),
        ([1, 2, 3], {"type": "array", "maxItems": 2}, [1, 2]),
        ([], {"type": "array", "minItems": 1, "items": {"type": "boolean"}}, [False]),
        ({"a": 1}, {"type": "object", "additionalProperties": False}, {}),
        ("x", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "x"),
        (1.0, {"enum": [1, 2]}, 1.0),
        (True, {"enum": [1, 2]}, 1),
        ("x", {"const": "y"}, "y"),
        ("x", {}, "x"),
    ],
)
def test_coerce_cases(value: Any, schema: Any, expected: Any) -> None:
    shaped = _jsonschema.coerce(value, schema)
    assert shaped == expected
    assert _jsonschema.validate(shaped, schema) == []


def test_validate_reports_where_and_why() -> None:
    schema: Any = schema_for(PRUNE)
    assert schema is not None
    errors = _jsonschema.validate({"choices": [{"candidate": 7, "score": 2}], "x": 1}, schema)
    assert "$.choices[0].candidate: 7 is not one of [1, 2, 3, 4]" in errors
    assert "$.choices[0].score: above the maximum 1" in errors
    assert "$: unexpected property 'x'" in errors
    assert _jsonschema.validate(True, {"type": "integer"}) == ["$: expected integer, got boolean"]
