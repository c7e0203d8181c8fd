"""The trace: every KG query and LLM call of a run, with timings, as JSON-friendly events."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kg_adapters.base import EntityMatch, Hop, LiteralValue
from tog.llm.base import Completion, task_name
from tog.steps import (
    AskLLM,
    Describe,
    Embed,
    FindMentions,
    GetLabels,
    ListNeighbors,
    ListRelations,
    SearchEntities,
    Step,
    StepResult,
)

EventKind = Literal[
    "relations",
    "neighbors",
    "labels",
    "search_entities",
    "find_mentions",
    "describe",
    "embed",
    "llm",
]

JSON = str | int | float | bool | None | list["JSON"] | dict[str, "JSON"]


def to_json(value: object) -> JSON:
    """Turn our values (dataclasses, named tuples, literals, mappings) into plain JSON data."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, LiteralValue):
        out: dict[str, JSON] = {"literal": value.lexical}
        if value.datatype:
            out["datatype"] = value.datatype
        if value.language:
            out["language"] = value.language
        return out
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: to_json(v) for k, v in value._asdict().items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_json(v) for v in items]
    return repr(value)


def _key(key: object) -> str:
    if isinstance(key, Hop):
        return f"{key.entity}|{key.relation}|{key.direction}"
    return str(key)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One step as it ran: what was asked, what came back (or the error), and how long it took.

    LLM events also carry token counts, HTTP ``attempts``, how the reply was parsed (``parse``)
    and whether the request asked the server to enforce a structured-output schema
    (``constrained``).
    """

    kind: EventKind
    request: JSON
    response: JSON
    seconds: float
    error: str | None = None
    task: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0
    parse: JSON = None
    constrained: bool = False


@dataclass
class Trace:
    """The events of one question, in the order they ran."""

    events: list[TraceEvent] = field(default_factory=list)

    def record(
        self, step: Step, result: StepResult | None, seconds: float, error: BaseException | None
    ) -> None:
        """Append the event for ``step``; ``result`` is None when the step raised ``error``."""
        self.events.append(_event(step, result, seconds, error))

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def llm_events(self) -> list[TraceEvent]:
        """Only the LLM calls."""
        return [e for e in self.events if e.kind == "llm"]

    def kg_events(self) -> list[TraceEvent]:
        """Only the KG queries."""
        return [e for e in self.events if e.kind not in ("llm", "embed")]

    def attach_parses(self, parses: Sequence[object]) -> None:
        """Put each LLM reply's parse outcome on its event (the engine reads replies in order)."""
        calls = [k for k, e in enumerate(self.events) if e.kind == "llm" and e.error is None]
        for k, record in zip(calls, parses, strict=False):
            self.events[k] = dataclasses.replace(self.events[k], parse=to_json(record))

    def to_json(self) -> list[JSON]:
        """The events as JSON data."""
        return [to_json(e) for e in self.events]

    def _repr_html_(self) -> str:
        from tog.display import trace_html

        return trace_html(self)


def _event(
    step: Step, result: StepResult | None, seconds: float, error: BaseException | None
) -> TraceEvent:
    err = f"{type(error).__name__}: {error}" if error is not None else None
    seconds = round(seconds, 6)
    match step:
        case AskLLM(request=request):
            completion = result if isinstance(result, Completion) else None
            return TraceEvent(
                "llm",
                {
                    "task": task_name(request.task),
                    "messages": [{"role": m.role, "content": m.content} for m in request.messages],
                    "sampling": to_json(request.sampling),
                },
                None
                if completion is None
                else {
                    "text": completion.text,
                    "finish_reason": completion.finish_reason,
                    "model": completion.model,
                },
                seconds,
                err,
                task=task_name(request.task),
                prompt_tokens=completion.prompt_tokens if completion else 0,
                completion_tokens=completion.completion_tokens if completion else 0,
                attempts=completion.attempts if completion else 0,
                constrained=completion.constrained if completion else False,
            )
        case ListRelations(entities=entities, directions=directions, limit=limit):
            return TraceEvent(
                "relations",
                {"entities": list(entities), "directions": list(directions), "limit": limit},
                to_json(result),
                seconds,
                err,
            )
        case ListNeighbors(hops=hops, limit=limit):
            counts = (
                {_key(h): len(v) for h, v in result.items()}  # type: ignore[union-attr]
                if result is not None
                else None
            )
            return TraceEvent(
                "neighbors",
                {"hops": [to_json(h) for h in hops], "limit": limit},
                {"counts": to_json(counts), "nodes": to_json(result)},
                seconds,
                err,
            )
        case GetLabels(ids=ids):
            return TraceEvent("labels", {"ids": list(ids)}, to_json(result), seconds, err)
        case SearchEntities(text=text, limit=limit):
            matches = result if isinstance(result, list) else []
            return TraceEvent(
                "search_entities",
                {"text": text, "limit": limit},
                [to_json(m) for m in matches if isinstance(m, EntityMatch)],
                seconds,
                err,
            )
        case FindMentions(text=text):
            return TraceEvent("find_mentions", {"text": text}, to_json(result), seconds, err)
        case Describe(entities=entities, limit=limit):
            return TraceEvent(
                "describe",
                {"entities": list(entities), "limit": limit},
                to_json(result),
                seconds,
                err,
            )
        case Embed(texts=texts):
            first = result[0] if isinstance(result, list) and result else ()
            dims = len(first) if isinstance(first, tuple) else 0
            return TraceEvent(
                "embed", {"texts": list(texts)}, {"vectors": len(texts), "dims": dims}, seconds, err
            )
