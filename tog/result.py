"""`Result`: one answered question, with its evidence, usage and full trace (JSON-serialisable)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, overload

from kg_adapters.base import EntityId, LiteralValue, Node, Triple
from tog.parsing import norm_text
from tog.paths import AnswerSource, DepthRecord, LinkDecision, Note, Path, StopReason, display
from tog.trace import JSON, Trace, to_json


@dataclass(frozen=True, slots=True)
class ReasoningPath:
    """An evidence path: its triples in the KG's own direction, with labels for display.

    Iterating (or indexing) a `ReasoningPath` gives its triples, which compare equal to plain
    ``(subject, relation, object)`` tuples.
    """

    topic: EntityId
    triples: tuple[Triple, ...]
    score: float
    labels: Mapping[str, str] = field(default_factory=dict, repr=False)
    ends: tuple[Node, ...] = ()
    end: Node | None = None

    def __iter__(self) -> Iterator[Triple]:
        return iter(self.triples)

    def __len__(self) -> int:
        return len(self.triples)

    @overload
    def __getitem__(self, index: int) -> Triple: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Triple, ...]: ...
    def __getitem__(self, index: int | slice) -> Triple | tuple[Triple, ...]:
        return self.triples[index]

    @property
    def depth(self) -> int:
        """Number of hops."""
        return len(self.triples)

    def text(self) -> str:
        """The path as ``subject | relation | object`` lines, with labels."""
        lines = [
            f"{display(t.subject, self.labels)} | {self.labels.get(t.relation, t.relation)} | "
            f"{display(t.object, self.labels)}"
            for t in self.triples
        ]
        if self.ends:
            lines.append("ends: " + ", ".join(display(n, self.labels) for n in self.ends))
        return "\n".join(lines)

    def to_json(self) -> JSON:
        """The path as JSON data, with labels next to ids."""
        return {
            "topic": self.topic,
            "score": round(self.score, 6),
            "triples": [
                {
                    "subject": t.subject,
                    "subject_label": display(t.subject, self.labels),
                    "relation": t.relation,
                    "relation_label": self.labels.get(t.relation, t.relation),
                    "object": to_json(t.object),
                    "object_label": display(t.object, self.labels),
                    "object_is_literal": isinstance(t.object, LiteralValue),
                }
                for t in self.triples
            ],
            "ends": [to_json(n) for n in self.ends],
        }

    @classmethod
    def from_path(cls, path: Path, labels: Mapping[str, str]) -> ReasoningPath:
        """Convert an engine path."""
        used = {path.topic, *(h.relation for h in path.hops), *(h.node for h in path.hops)}
        used.update(path.ends)
        mine = {k: labels[k] for k in used if isinstance(k, str) and k in labels}
        return cls(path.topic, tuple(path.triples()), path.score, mine, path.ends, path.tail)

    def _repr_html_(self) -> str:
        from tog.display import path_html

        return path_html(self)


@dataclass(frozen=True)
class Usage(Mapping[str, float]):
    """What a question cost. Readable as attributes or as a mapping (``usage["llm_calls"]``).

    ``llm_calls`` counts logical search calls (the quantity the call bounds limit); ``setup_calls``
    the entity-extraction call; ``llm_attempts`` HTTP attempts including retries.
    """

    llm_calls: int = 0
    setup_calls: int = 0
    llm_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    kg_calls: int = 0
    kg_seconds: float = 0.0
    llm_seconds: float = 0.0
    wall_seconds: float = 0.0
    calls_by_task: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        value = getattr(self, key, None)
        if key == "calls_by_task" or not isinstance(value, int | float):
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter([f for f in self.__dataclass_fields__ if f != "calls_by_task"])

    def __len__(self) -> int:
        return len(self.__dataclass_fields__) - 1

    @classmethod
    def from_trace(cls, trace: Trace, *, wall_seconds: float) -> Usage:
        """Count calls, tokens and time from a trace (the single source of these numbers)."""
        llm = trace.llm_events()
        kg = trace.kg_events()
        by_task: dict[str, int] = {}
        for event in llm:
            by_task[event.task or "?"] = by_task.get(event.task or "?", 0) + 1
        setup = by_task.get("extract_entities", 0)
        return cls(
            llm_calls=len(llm) - setup,
            setup_calls=setup,
            llm_attempts=sum(e.attempts for e in llm),
            prompt_tokens=sum(e.prompt_tokens for e in llm),
            completion_tokens=sum(e.completion_tokens for e in llm),
            kg_calls=len(kg),
            kg_seconds=round(sum(e.seconds for e in kg), 6),
            llm_seconds=round(sum(e.seconds for e in llm), 6),
            wall_seconds=round(wall_seconds, 6),
            calls_by_task=by_task,
        )


@dataclass(frozen=True)
class Result:
    """One answered question.

    ``answer`` is the best answer (empty when there is none), ``answers`` the ranked list,
    ``paths`` the evidence, ``trace`` every KG and LLM exchange, ``depths`` every pruning decision,
    ``labels`` every display name the search resolved. ``exception`` is what a question failed
    with when `tog.answer_many` returns failures as results (``stop_reason == "error"``).
    """

    question: str
    answers: tuple[str, ...]
    answer_ids: tuple[str, ...]
    paths: tuple[ReasoningPath, ...]
    stop_reason: StopReason
    answer_source: AnswerSource
    linking_mode: Literal["oracle", "extracted"]
    topic_entities: Mapping[EntityId, str]
    usage: Usage
    trace: Trace
    rationale: str = ""
    question_id: str | None = None
    depths: tuple[DepthRecord, ...] = ()
    links: tuple[LinkDecision, ...] = ()
    notes: tuple[Note, ...] = ()
    prune_tool: str = ""
    variant: str = "tog"
    llm_backend: str = ""
    config: Mapping[str, JSON] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    exception: Exception | None = field(default=None, repr=False, compare=False)

    @property
    def answer(self) -> str:
        """The best answer, or ``""`` when the search found none."""
        return self.answers[0] if self.answers else ""

    @property
    def error(self) -> str | None:
        """``"ExceptionType: message"`` when the question failed (``stop_reason == "error"``)."""
        if self.exception is None:
            return None
        return f"{type(self.exception).__name__}: {self.exception}"

    def supporting_paths(self) -> tuple[ReasoningPath, ...]:
        """The evidence paths that end at one of the answers (all paths if none does)."""
        wanted = {norm_text(a) for a in self.answers}
        mine = tuple(
            p
            for p in self.paths
            if any(
                norm_text(display(n, p.labels)) in wanted
                for n in (p.ends or ((p.end,) if p.end is not None else ()))
            )
        )
        return mine or self.paths

    def to_json(self, *, include_trace: bool = True) -> dict[str, JSON]:
        """The whole result as JSON data (what ``tog ask --json`` prints)."""
        data: dict[str, JSON] = {
            "question_id": self.question_id,
            "question": self.question,
            "answer": self.answer,
            "answers": list(self.answers),
            "answer_ids": list(self.answer_ids),
            "rationale": self.rationale,
            "stop_reason": self.stop_reason,
            "answer_source": self.answer_source,
            "linking_mode": self.linking_mode,
            "topic_entities": dict(self.topic_entities),
            "links": to_json(self.links),
            "paths": [p.to_json() for p in self.paths],
            "usage": to_json(self.usage),
            "variant": self.variant,
            "prune_tool": self.prune_tool,
            "llm": self.llm_backend,
            "config": dict(self.config),
            "notes": to_json(self.notes),
            "depths": to_json(self.depths),
            "labels": dict(self.labels),
        }
        if self.exception is not None:
            data["error"] = self.error
        if include_trace:
            data["trace"] = self.trace.to_json()
        return data

    def _repr_html_(self) -> str:
        from tog.display import result_html

        return result_html(self)
