"""Structured outputs: a JSON schema per task, built from its candidates, and its wire fields.

`schema_for` is pure. The schema of a relation-prune request admits exactly the candidate indices
the KG returned, and that of an entity-scoring request exactly one score per candidate, in order:
a server that enforces the schema cannot return an invented relation or an unreadable reply.
The sufficiency check gets ``{"sufficient": bool, "answers": [...], "rationale": ...}``; the
final answer stays free text (its parser reads JSON and plain text alike).

vLLM renamed its request fields, so `request_fields` writes a schema in one of three styles:

- ``"vllm"``: ``structured_outputs: {"json": schema}``. vLLM 0.10.2 and later, where it
  replaced the ``guided_*`` fields.
- ``"vllm-legacy"``: ``guided_json: schema``. vLLM up to 0.11 (deprecated in 0.10.2, removed in
  0.12). A newer server ignores the field and answers unconstrained, with HTTP 200.
- ``"openai"``: ``response_format: {"type": "json_schema", "json_schema": {...}}``. vLLM 0.6 and
  later in every release since, SGLang, llama.cpp's server; the OpenAI API itself rejects
  ``prefixItems`` (entity scoring) in its strict mode.

`read_constraint` is the server side, used by the stand-in: which constraint a request asks for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

from tog.llm import _jsonschema
from tog.llm.base import (
    ExtractEntities,
    GenerateAnswer,
    JSONValue,
    JudgeSufficiency,
    LLMTask,
    PruneRelations,
    ScoreEntities,
    task_name,
)

__all__ = [
    "STYLES",
    "Constraint",
    "StructuredStyle",
    "read_constraint",
    "request_fields",
    "resolve_style",
    "schema_for",
    "task_fields",
]

StructuredStyle: TypeAlias = Literal["vllm", "vllm-legacy", "openai"]
STYLES: Final[tuple[StructuredStyle, ...]] = get_args(StructuredStyle)

# Length caps keep a constrained reply inside the step's max_tokens (tog._flow): a decoder that
# must close every string and array can still be cut off by the token limit.
_TEXT_CHARS: Final = 120
_RATIONALE_CHARS: Final = 300
_MAX_ANSWERS: Final = 5
_SCORE: Final[dict[str, JSONValue]] = {"type": "number", "minimum": 0, "maximum": 1}


# --- client side: the schema of a task and the fields that carry it ------------------------------


def schema_for(task: LLMTask) -> dict[str, JSONValue] | None:
    """The JSON schema a reply to ``task`` must match, or None when the reply is free text.

    Args:
        task: The structured task of a `ChatRequest`; its candidates bound the schema.

    Returns:
        A JSON schema (plain JSON data), or None for `GenerateAnswer` and for a task without
        candidates.

    >>> from tog.llm.base import RelationOption
    >>> task = PruneRelations("q", (RelationOption(1, "A", "r", "out"),), max_choices=3)
    >>> schema_for(task)["properties"]["choices"]["items"]["properties"]["candidate"]["enum"]
    [1]
    """
    match task:
        case PruneRelations(options=options, max_choices=limit):
            indices: list[JSONValue] = [option.index for option in options]
            if not indices:
                return None
            choice = _object(candidate={"type": "integer", "enum": indices}, score=_SCORE)
            most = max(1, min(limit, len(indices)))
            return _object(
                choices={"type": "array", "items": choice, "minItems": 1, "maxItems": most}
            )
        case ScoreEntities(options=options):
            if not options:
                return None
            each: list[JSONValue] = [
                _object(candidate={"type": "integer", "enum": [k]}, score=_SCORE)
                for k in range(1, len(options) + 1)
            ]
            size = len(each)
            return _object(
                scores={"type": "array", "prefixItems": each, "minItems": size, "maxItems": size}
            )
        case JudgeSufficiency():
            return _object(
                sufficient={"type": "boolean"},
                answers=_strings(0, _MAX_ANSWERS),
                rationale={"type": "string", "maxLength": _RATIONALE_CHARS},
            )
        case ExtractEntities(max_mentions=limit):
            return _object(entities=_strings(1, max(1, limit)))
        case GenerateAnswer():
            return None


def request_fields(
    schema: Mapping[str, JSONValue], style: StructuredStyle, *, name: str = "reply"
) -> dict[str, JSONValue]:
    """The request-body fields asking a server to enforce ``schema``, in ``style``.

    >>> request_fields({"type": "boolean"}, "vllm")
    {'structured_outputs': {'json': {'type': 'boolean'}}}
    >>> request_fields({"type": "boolean"}, "vllm-legacy")
    {'guided_json': {'type': 'boolean'}}
    """
    body = dict(schema)
    match style:
        case "vllm":
            return {"structured_outputs": {"json": body}}
        case "vllm-legacy":
            return {"guided_json": body}
        case "openai":
            spec: dict[str, JSONValue] = {"name": name, "schema": body, "strict": True}
            return {"response_format": {"type": "json_schema", "json_schema": spec}}


def task_fields(task: LLMTask, style: StructuredStyle | None) -> dict[str, JSONValue]:
    """The fields constraining a reply to ``task``: empty when off or when the reply is free."""
    schema = schema_for(task) if style is not None else None
    if schema is None or style is None:
        return {}
    return request_fields(schema, style, name=task_name(task))


def resolve_style(value: bool | str) -> StructuredStyle | None:
    """Read a ``structured_outputs=`` argument: False is off, True is ``"vllm"``.

    Raises:
        ValueError: ``value`` is not a bool or one of `STYLES`.
    """
    if value is True:
        return "vllm"
    if value is False:
        return None
    for style in STYLES:
        if value == style:
            return style
    raise ValueError(
        f"structured_outputs must be True, False or one of {', '.join(map(repr, STYLES))}; "
        f"got {value!r}"
    )


def _object(**properties: JSONValue) -> dict[str, JSONValue]:
    """An object with exactly these properties, all required, in this order."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }


def _strings(least: int, most: int) -> dict[str, JSONValue]:
    item: dict[str, JSONValue] = {"type": "string", "maxLength": _TEXT_CHARS}
    return {"type": "array", "items": item, "minItems": least, "maxItems": most}


# --- server side: what a request body asks for ---------------------------------------------------

_CURRENT_KINDS: Final = ("json", "choice", "json_object", "regex", "grammar", "structural_tag")
_CURRENT_OPTIONS: Final = frozenset(
    {
        "disable_fallback",
        "disable_any_whitespace",
        "disable_additional_properties",
        "whitespace_pattern",
        "backend",
    }
)
_LEGACY: Final = {
    "guided_json": "json",
    "guided_choice": "choice",
    "guided_regex": "regex",
    "guided_grammar": "grammar",
}
_LEGACY_OPTIONS: Final = ("guided_decoding_backend", "guided_whitespace_pattern")


@dataclass(frozen=True, slots=True)
class Constraint:
    """A constraint a request asks the server to enforce: a JSON schema or a list of choices.

    ``source`` names the request field it came from, like ``structured_outputs.json``.
    """

    source: str
    schema: Mapping[str, JSONValue] | None = None
    choices: tuple[str, ...] = ()


def read_constraint(body: Mapping[str, JSONValue]) -> Constraint | None:
    """The structured-output constraint in a chat-completion request body, if any.

    Reads all three styles. Regex and grammar constraints are refused: this code cannot enforce
    them, and quietly ignoring them would fake a guarantee.

    Raises:
        ValueError: a field is malformed, its schema is invalid or unsupported, it asks for
            regex or grammar, or the body carries more than one constraint.
    """
    found: list[Constraint] = []
    current = body.get("structured_outputs")
    if current is not None:
        found += _read_current(current)
    for field, kind in _LEGACY.items():
        if body.get(field) is not None:
            found.append(_read_kind(field, kind, body[field]))
    for field in _LEGACY_OPTIONS:
        if body.get(field) is not None and not isinstance(body[field], str):
            raise ValueError(f"{field} must be a string")
    response_format = body.get("response_format")
    if response_format is not None:
        found += _read_response_format(response_format)
    if len(found) > 1:
        sources = ", ".join(c.source for c in found)
        raise ValueError(f"only one kind of structured-output constraint is allowed; got {sources}")
    return found[0] if found else None


def _read_current(value: JSONValue) -> list[Constraint]:
    if not isinstance(value, dict):
        raise ValueError("structured_outputs must be an object")
    unknown = sorted(set(value) - set(_CURRENT_KINDS) - _CURRENT_OPTIONS)
    if unknown:
        raise ValueError(f"structured_outputs has an unknown field {unknown[0]!r}")
    kinds = [k for k in _CURRENT_KINDS if value.get(k) not in (None, False)]
    if len(kinds) != 1:
        raise ValueError(
            f"structured_outputs needs exactly one of {', '.join(_CURRENT_KINDS)}; got "
            f"{', '.join(kinds) or 'none'}"
        )
    return [_read_kind(f"structured_outputs.{kinds[0]}", kinds[0], value[kinds[0]])]


def _read_kind(source: str, kind: str, value: JSONValue) -> Constraint:
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"{source} is not valid JSON: {exc}") from exc
        return _schema_constraint(source, value)
    if kind == "json_object":
        return Constraint(source, {"type": "object"})
    if kind == "choice":
        if not (isinstance(value, list) and value and all(isinstance(c, str) for c in value)):
            raise ValueError(f"{source} must be a non-empty array of strings")
        return Constraint(source, choices=tuple(str(c) for c in value))
    raise ValueError(f"{source}: this server cannot enforce {kind} constraints")


def _read_response_format(value: JSONValue) -> list[Constraint]:
    if not isinstance(value, dict):
        raise ValueError("response_format must be an object")
    kind = value.get("type")
    if kind == "text":
        return []
    if kind == "json_object":
        return [Constraint("response_format", {"type": "object"})]
    if kind != "json_schema":
        raise ValueError(f"response_format.type must be text, json_object or json_schema; {kind!r}")
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or "schema" not in spec:
        raise ValueError("response_format.json_schema must be an object with a 'schema'")
    name = spec.get("name", "")
    if not isinstance(name, str):
        raise ValueError("response_format.json_schema.name must be a string")
    return [_schema_constraint("response_format", spec["schema"])]


def _schema_constraint(source: str, schema: JSONValue) -> Constraint:
    try:
        _jsonschema.check_schema(schema)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    assert isinstance(schema, dict)  # check_schema accepts objects only
    return Constraint(source, schema)
