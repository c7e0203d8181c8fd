"""Structured outputs against the local stand-in: parse failures, invented relations, Hits@1.

    python benchmarks/structured_outputs.py --data ../shared/data --sample 500

Questions: PathQuestion PQ-2H and PQ-3H, half of ``--sample`` from each, strided over the file,
with gold topic entities. Each set-up runs ``tog.ThinkOnGraph(kg, OpenAICompatible(base_url=
stand-in, structured_outputs=...))`` against a `tog.llm.standin.StandInServer`, which is NOT a
model: the offline scorer (BM25 and path ranking) decides every reply. Set-ups:

- ``enforce/json``: the stand-in enforces the structured-output fields (400 on malformed ones,
  replies shaped to the schema and validated);
- ``ignore/json``: it ignores the fields; replies are the scorer's JSON as plain text;
- ``ignore/text``: it ignores the fields and replies in free text (numbered lines, ``{braces}``,
  yes/no), read by the tolerant text parsers;
- ``ignore/sloppy`` and ``enforce/sloppy``: the scorer's JSON plus one invented relation name in
  every relation-prune reply, without and with enforcement.

Everything is counted from the traces: LLM calls, how many carried a schema (``constrained``),
replies the parsers could not read, and names matching no candidate (``rejected``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tog
from eval.datasets import Question, read_pathquestion
from eval.metrics import hits_at_1
from kg_adapters import load_graph
from kg_adapters.base import KnowledgeGraph
from tog.llm.base import Message, PruneRelations
from tog.llm.offline import reply_to_messages, task_from_messages, text_reply_to_messages
from tog.llm.openai_compat import OpenAICompatible
from tog.llm.standin import StandInServer, StructuredMode
from tog.llm.structured import StructuredStyle
from tog.result import Result

Policy = Callable[[list[Message]], str]
INVENTED = "film.film.invented_relation"


def sloppy_reply(messages: list[Message]) -> str:
    """The offline scorer's reply, plus an invented relation in every relation-prune reply."""
    reply = reply_to_messages(messages)
    if not isinstance(task_from_messages(messages), PruneRelations):
        return reply
    data = json.loads(reply)
    data["choices"].append({"relation": INVENTED, "score": 0.5})
    return json.dumps(data)


SETUPS: dict[str, tuple[StructuredMode, Policy]] = {
    "enforce/json": ("enforce", reply_to_messages),
    "ignore/json": ("ignore", reply_to_messages),
    "ignore/text": ("ignore", text_reply_to_messages),
    "ignore/sloppy": ("ignore", sloppy_reply),
    "enforce/sloppy": ("enforce", sloppy_reply),
}


@dataclass
class Tally:
    """What the traces of one set-up show."""

    questions: int = 0
    hits: float = 0.0
    calls: int = 0
    constrained: int = 0
    parse_failures: int = 0
    rejected_relations: int = 0
    rejected_other: int = 0
    errors: int = 0

    def add(self, result: Result, golds: Sequence[str]) -> None:
        """Count one question's result and its trace."""
        self.questions += 1
        self.hits += hits_at_1(result.answers, golds)
        self.errors += result.stop_reason == "error"
        for event in result.trace.llm_events():
            self.calls += 1
            self.constrained += event.constrained
            parse = event.parse if isinstance(event.parse, dict) else {}
            self.parse_failures += parse.get("ok") is False
            rejected = parse.get("rejected")
            count = len(rejected) if isinstance(rejected, list) else 0
            if event.task == "relation_prune":
                self.rejected_relations += count
            else:
                self.rejected_other += count

    def row(self, name: str, seconds: float) -> str:
        """One line of the report."""
        return (
            f"{name:15} n={self.questions:4d}  Hits@1={self.hits / max(1, self.questions):.3f}  "
            f"llm_calls={self.calls:5d}  constrained={self.constrained:5d}  "
            f"parse_failures={self.parse_failures:3d}  "
            f"invented_relations={self.rejected_relations:4d}  "
            f"other_rejected={self.rejected_other:3d}  errors={self.errors}  {seconds:5.1f} s"
        )


def spread(items: list[Question], n: int) -> list[Question]:
    """``n`` items strided over the whole list (not its head)."""
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def run_setup(
    sets: Sequence[tuple[KnowledgeGraph, list[Question]]],
    mode: StructuredMode,
    policy: Policy,
    style: bool | StructuredStyle,
    config: tog.SearchConfig,
) -> Tally:
    """Every question of ``sets`` through one stand-in in ``mode`` answering with ``policy``."""
    tally = Tally()
    with (
        StandInServer(policy, structured_outputs=mode) as server,
        OpenAICompatible(base_url=server.base_url, structured_outputs=style) as llm,
    ):
        for kg, questions in sets:
            agent = tog.ThinkOnGraph(kg, llm, config=config)
            for q in questions:
                result = agent.run(q.text, topic_entities=list(q.topic_entities), question_id=q.id)
                tally.add(result, q.answers)
    return tally


def main() -> None:
    """Run the set-ups and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sample", type=int, default=500, help="questions, half from each set")
    parser.add_argument("--setups", default=",".join(SETUPS), help="comma-separated names")
    parser.add_argument(
        "--style", default="vllm", choices=["vllm", "vllm-legacy", "openai"], help="wire style"
    )
    args = parser.parse_args()
    pq = args.data / "pathquestion" / "PathQuestion"
    half = args.sample // 2
    sets = [
        (load_graph(pq / "2H-kb.txt"), spread(list(read_pathquestion(pq / "PQ-2H.txt")), half)),
        (
            load_graph(pq / "3H-kb.txt"),
            spread(list(read_pathquestion(pq / "PQ-3H.txt")), args.sample - half),
        ),
    ]
    config = tog.SearchConfig()
    print(
        f"PathQuestion PQ-2H {len(sets[0][1])} + PQ-3H {len(sets[1][1])} questions, oracle "
        f"topics, width={config.width} depth={config.depth}, prune_tool=llm, "
        f"OpenAICompatible(structured_outputs={args.style!r}) -> StandInServer (offline "
        f"scorer, not a model)",
        flush=True,
    )
    for name in args.setups.split(","):
        mode, policy = SETUPS[name]
        start = time.perf_counter()
        tally = run_setup(sets, mode, policy, args.style, config)
        print(tally.row(name, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
