"""`Stepper`: run one question's search a depth at a time, to watch the beam grow (notebooks).

It drives the same sans-I/O engine as `ThinkOnGraph.run`, batch by batch, and pauses when the
engine reports a finished depth (the ``on_depth`` hook of `tog.search.think_on_graph`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import cast

from kg_adapters.base import KnowledgeGraph
from tog.agent import ThinkOnGraph, TopicEntities
from tog.config import SearchConfig
from tog.drivers import _timed, is_async_kg, is_async_llm
from tog.llm.base import ChatModel
from tog.paths import DepthRecord, SearchOutcome
from tog.result import ReasoningPath, Result
from tog.steps import Batch, GetLabels, Step, StepResult
from tog.templates import PromptSet
from tog.trace import Trace


class Stepper:
    """One question's search, advanced by hand: `step` runs until the next depth is done.

    >>> from kg_adapters import NetworkXGraph
    >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
    >>> stepper = Stepper(kg, question="Who directed Inception?")
    >>> stepper.step().depth
    1
    >>> [p.text() for p in stepper.beam]
    ['Inception | directed_by | Christopher Nolan']
    >>> stepper.run().answer
    'Christopher Nolan'

    The wall-time budget (``time_budget_s``) is not applied: a paused search has no meaningful
    wall time. Only sync backends are supported; the trace and usage are those of `run`.

    Args:
        kg: The knowledge graph (a sync `KnowledgeGraph`).
        llm: A chat backend, or None for the offline scorer.
        question: The question text.
        topic_entities: KG ids to start from; found in the question when None.
        config: Search settings.
        prompts: Prompt templates.
        question_id: Carried into the result.

    Raises:
        TypeError: an async KG or LLM.
        ValueError: an empty question, or no way to find topic entities.
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        llm: ChatModel | None = None,
        *,
        question: str,
        topic_entities: TopicEntities | None = None,
        config: SearchConfig | None = None,
        prompts: PromptSet | None = None,
        question_id: str | None = None,
    ) -> None:
        self.agent = ThinkOnGraph(kg, llm, config=config, prompts=prompts)
        if is_async_kg(kg) or is_async_llm(self.agent.llm):
            raise TypeError("Stepper needs a sync KG and LLM")
        self.question = question
        self.question_id = question_id
        self.trace = Trace()
        self.labels: dict[str, str] = {}
        self.depths: list[DepthRecord] = []
        self.result: Result | None = None
        self._reported: list[DepthRecord] = []
        self._flow, self._mode = self.agent._flow(
            question, topic_entities, on_depth=self._reported.append
        )
        self._batch: Batch | None = None
        self._start = 0.0
        self._failed: BaseException | None = None

    @property
    def done(self) -> bool:
        """Whether the search has finished (`result` is set)."""
        return self.result is not None

    @property
    def answer(self) -> str | None:
        """The best answer once done (``""`` for none), else None."""
        return None if self.result is None else self.result.answer

    @property
    def beam(self) -> tuple[ReasoningPath, ...]:
        """The paths kept after the last completed depth, best first, with their scores."""
        if not self.depths:
            return ()
        return tuple(ReasoningPath.from_path(p, self.labels) for p in self.depths[-1].beam)

    def step(self) -> DepthRecord | None:
        """Run until the next depth is done and return its record.

        Returns:
            The depth just completed (its candidates, scores and beam), or None when the search
            finished without completing another depth; `result` is then set.

        Raises:
            RuntimeError: an earlier step failed.
        """
        while not self._reported and self.result is None:
            self._advance()
        if self._reported:
            record = self._reported.pop(0)
            self.depths.append(record)
            return record
        return None

    def run(self) -> Result:
        """Run the rest of the search and return its result."""
        while self.result is None:
            self.step()
        return self.result

    def close(self) -> None:
        """Abandon the search (its flow is closed; the stepper cannot go on)."""
        self._flow.close()
        if self.result is None and self._failed is None:
            self._failed = RuntimeError("the stepper was closed")

    def _advance(self) -> None:
        """Run the pending batch and take the next one (or the outcome)."""
        if self._failed is not None:
            raise RuntimeError("this search failed or was closed; start a new Stepper") from (
                self._failed
            )
        try:
            if self._batch is None:
                self._start = time.perf_counter()
                self._batch = next(self._flow)
                return
            results = [self._run(step) for step in self._batch]
            self._batch = self._flow.send(results)
        except StopIteration as stop:
            self._finish(cast(SearchOutcome, stop.value))
        except BaseException as exc:
            self._failed = exc
            self._flow.close()
            raise

    def _run(self, step: Step) -> StepResult:
        kg = cast(KnowledgeGraph, self.agent.kg)
        llm = cast(ChatModel, self.agent.llm)
        result = _timed(step, kg, llm, self.trace, self.agent.embedder)
        if isinstance(step, GetLabels):
            self.labels.update(cast(Mapping[str, str], result))
        return result

    def _finish(self, outcome: SearchOutcome) -> None:
        result = self.agent._result(
            self.question, self.question_id, outcome, self.trace, self._mode, self._start
        )
        self.labels.update(result.labels)
        # Depths the engine ended inside (a budget ran out while judging) still get returned.
        self._reported.extend(result.depths[len(self.depths) + len(self._reported) :])
        self.result = result

    def _repr_html_(self) -> str:
        from tog.display import stepper_html

        return stepper_html(self)


__all__ = ["Stepper"]
