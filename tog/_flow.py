"""What every part of the search shares: per-question state and typed helpers around ``yield``.

Internal to the engine (`tog.search`, `tog.linking`, `tog.prune_tools`); no I/O happens here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from kg_adapters.base import Direction, EntityId, Hop, Node, RelationId
from tog.config import SearchConfig
from tog.errors import OutputParseError
from tog.llm.base import ChatRequest, Completion, LLMTask, Sampling, task_name
from tog.paths import Note, ParseRecord, display
from tog.scoring import TextScorer
from tog.steps import (
    AskLLM,
    Flow,
    GetLabels,
    ListNeighbors,
    ListRelations,
    RelationsByDirection,
    StopSearch,
)
from tog.templates import PromptSet

PruneMode = Literal["llm", "bm25", "embedding"]

DEFAULT_MAX_TOKENS: dict[str, int] = {
    "extract_entities": 128,
    "relation_prune": 256,
    "entity_score": 384,
    "sufficiency": 384,
    "answer": 256,
    "direct_answer": 256,
}


@dataclass(slots=True)
class FlowState:
    """Mutable bookkeeping of one search (never shared between questions)."""

    question: str
    config: SearchConfig
    prompts: PromptSet
    prune: PruneMode
    scorer: TextScorer
    describe: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    unlabelled: set[str] = field(default_factory=set)
    notes: list[Note] = field(default_factory=list)
    parses: list[ParseRecord] = field(default_factory=list)
    llm_calls: int = 0
    tokens: int = 0

    def parsed(self, task: str, detail: str = "", rejected: tuple[str, ...] = ()) -> None:
        """Record that a reply was read by its parser (``detail``: what it had to drop)."""
        self.parses.append(ParseRecord(task, True, detail, rejected))

    def fallback(self, task: str, action: str, error: OutputParseError) -> None:
        """Record that a reply could not be read and what the search did instead."""
        self.parses.append(ParseRecord(task, False, f"{action}: {error}", error.rejected))
        self.notes.append(Note("parse_fallback", f"{task}: {action} ({error})"))
        for name in error.rejected:
            self.notes.append(Note("rejected_name", f"{task}: {name!r} is not a candidate"))

    def request(self, task: LLMTask, *, temperature: float, **values: str) -> ChatRequest:
        name = task_name(task)
        messages = self.prompts[name].render(**values)
        max_tokens = self.config.max_tokens.get(name, DEFAULT_MAX_TOKENS[name])
        sampling = Sampling(
            temperature=temperature,
            max_tokens=max_tokens,
            seed=self.config.seed,
            extra=dict(self.config.sampling_extra),
        )
        return ChatRequest(task=task, messages=messages, sampling=sampling)

    def check_budget(self, calls: int) -> None:
        """Raise `StopSearch` if ``calls`` more exploration calls would break a budget.

        One call is always kept for the answer, so ``max_llm_calls`` is never exceeded; the token
        budget is checked against what the calls so far reported.
        """
        config = self.config
        if config.max_llm_calls is not None and self.llm_calls + calls + 1 > config.max_llm_calls:
            raise StopSearch(
                "budget_llm_calls",
                f"{self.llm_calls} of {config.max_llm_calls} LLM calls used; {calls} more would "
                "leave none for the answer",
            )
        if config.max_tokens_total is not None and self.tokens >= config.max_tokens_total:
            raise StopSearch(
                "budget_tokens", f"{self.tokens} of {config.max_tokens_total} tokens used"
            )

    def spent(self, replies: Sequence[Completion]) -> None:
        """Count the calls and tokens of ``replies`` against the budgets."""
        self.llm_calls += len(replies)
        self.tokens += sum(r.prompt_tokens + r.completion_tokens for r in replies)

    def show(self, node: Node) -> str:
        return display(node, self.labels)

    def relation_text(self, relation: RelationId) -> str:
        return self.labels.get(relation, relation)


# --- tiny typed helpers around `yield` ----------------------------------------------------------


def ask(requests: Sequence[ChatRequest]) -> Flow[list[Completion]]:
    if not requests:
        return []
    results = yield tuple(AskLLM(r) for r in requests)
    return [cast(Completion, r) for r in results]


def explore(state: FlowState, requests: Sequence[ChatRequest]) -> Flow[list[Completion]]:
    """An exploration call (pruning, scoring, judging): `ask`, within the question's budgets.

    Raises:
        StopSearch: the calls would break ``max_llm_calls`` or the tokens are spent.
    """
    if not requests:
        return []
    state.check_budget(len(requests))
    replies = yield from ask(requests)
    state.spent(replies)
    return replies


def fetch_labels(state: FlowState, ids: Sequence[str]) -> Flow[None]:
    missing = tuple(
        dict.fromkeys(i for i in ids if i not in state.labels and i not in state.unlabelled)
    )
    if not missing:
        return None
    results = yield (GetLabels(missing),)
    found = cast(Mapping[str, str], results[0])
    for key in missing:
        if key in found:
            state.labels[key] = found[key]
        else:
            state.unlabelled.add(key)
    return None


def list_relations(
    entities: Sequence[EntityId],
) -> Flow[dict[EntityId, list[tuple[RelationId, Direction]]]]:
    ids = tuple(entities)
    if not ids:
        return {}
    results = yield (ListRelations(ids),)
    both = cast(RelationsByDirection, results[0])
    outgoing, incoming = both.get("out", {}), both.get("in", {})
    found: dict[EntityId, list[tuple[RelationId, Direction]]] = {}
    for entity in ids:
        pairs: list[tuple[RelationId, Direction]] = [(r, "out") for r in outgoing.get(entity, ())]
        pairs += [(r, "in") for r in incoming.get(entity, ())]
        found[entity] = sorted(dict.fromkeys(pairs))
    return found


def neighbors(hops: Sequence[Hop], limit: int) -> Flow[Mapping[Hop, tuple[Node, ...]]]:
    unique = tuple(dict.fromkeys(hops))
    if not unique:
        return {}
    results = yield (ListNeighbors(unique, limit=limit),)
    return cast(Mapping[Hop, tuple[Node, ...]], results[0])
