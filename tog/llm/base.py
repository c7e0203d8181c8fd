"""What the agent sends to a language model and what it gets back.

A `ChatRequest` carries the rendered messages *and* the structured task they were rendered from,
so a backend that is not a model (the offline scorer, a scripted fake) can answer from the task's
fields while a real endpoint sees only the messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias, runtime_checkable

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

Role: TypeAlias = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, exactly as sent."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """Decoding settings for one call.

    ``extra`` passes vendor fields through unchanged (for example vLLM's structured-output fields,
    whose names changed between versions); the backend merges it into the request body.
    """

    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    extra: Mapping[str, JSONValue] = field(default_factory=dict)


# --- the structured tasks -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelationOption:
    """A numbered relation candidate as the model sees it (1-based ``index``)."""

    index: int
    entity: str
    relation: str
    direction: Literal["out", "in"]

    def render(self) -> str:
        """The candidate as a triple with a blank: ``Inception | directed by | ?``."""
        if self.direction == "out":
            return f"{self.entity} | {self.relation} | ?"
        return f"? | {self.relation} | {self.entity}"


@dataclass(frozen=True, slots=True)
class TripleView:
    """A triple as text, in the KG's own direction."""

    subject: str
    relation: str
    object: str

    def render(self) -> str:
        """``subject | relation | object``."""
        return f"{self.subject} | {self.relation} | {self.object}"


@dataclass(frozen=True, slots=True)
class PathView:
    """A reasoning path as the model sees it: its triples, or (ToG-R) a relation chain and its ends.

    For ToG, ``triples`` holds the path's triples in order. For ToG-R, ``chain`` holds the topic and
    the relation texts (``"Inception -> directed by"``) and ``ends`` the candidate end entities.
    """

    triples: tuple[TripleView, ...] = ()
    chain: str = ""
    ends: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractEntities:
    """Find up to ``max_mentions`` entity mentions in the question."""

    question: str
    max_mentions: int


@dataclass(frozen=True, slots=True)
class PruneRelations:
    """Choose up to ``max_choices`` of the numbered relation candidates, each with a score."""

    question: str
    options: tuple[RelationOption, ...]
    max_choices: int


@dataclass(frozen=True, slots=True)
class ScoreEntities:
    """Score the numbered entities reached through ``edge`` (``"Film | directed by | ?"``)."""

    question: str
    edge: str
    options: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JudgeSufficiency:
    """Decide whether ``paths`` suffice to answer, and answer if they do."""

    question: str
    paths: tuple[PathView, ...]


@dataclass(frozen=True, slots=True)
class GenerateAnswer:
    """Give the final answer from ``paths``; with no paths, from the model's own knowledge."""

    question: str
    paths: tuple[PathView, ...]


LLMTask: TypeAlias = (
    ExtractEntities | PruneRelations | ScoreEntities | JudgeSufficiency | GenerateAnswer
)

TaskName: TypeAlias = Literal[
    "extract_entities", "relation_prune", "entity_score", "sufficiency", "answer", "direct_answer"
]


def task_name(task: LLMTask) -> TaskName:
    """The prompt name of a task (also the name of its template file)."""
    match task:
        case ExtractEntities():
            return "extract_entities"
        case PruneRelations():
            return "relation_prune"
        case ScoreEntities():
            return "entity_score"
        case JudgeSufficiency():
            return "sufficiency"
        case GenerateAnswer(paths=paths):
            return "answer" if paths else "direct_answer"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One logical LLM call: the task, the messages rendered for it, and how to sample."""

    task: LLMTask
    messages: tuple[Message, ...]
    sampling: Sampling


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's reply with what it cost.

    ``attempts`` counts HTTP attempts including retries (1 when the first try succeeded);
    ``constrained`` says whether the request asked the server to enforce a structured-output
    schema (`tog.llm.structured`).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    model: str = ""
    attempts: int = 1
    constrained: bool = False


class ChatModel(Protocol):
    """A synchronous chat backend."""

    def complete(self, request: ChatRequest) -> Completion:
        """Send one request and return the reply; raise `tog.errors.LLMError` on failure."""
        ...


class AsyncChatModel(Protocol):
    """An asynchronous chat backend: `ChatModel` with ``async def complete``."""

    async def complete(self, request: ChatRequest) -> Completion:
        """See `ChatModel.complete`."""
        ...


@runtime_checkable
class SupportsBatchComplete(Protocol):
    """Optional: a backend that answers many requests in one call (in-process vLLM, offline)."""

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer every request, in order."""
        ...


def backend_name(llm: object) -> str:
    """A backend's name for results: its ``backend_name`` attribute, else its class name.

    Wrappers (`tog.llm.CachedLLM`, `tog.record` recordings and replays) set ``backend_name`` to
    the wrapped backend's, so a result names the model server, not the wrapper.
    """
    name = getattr(llm, "backend_name", None)
    return name if isinstance(name, str) else type(llm).__name__
