"""Offline Hits@1 and speed on PathQuestion and MetaQA (no LLM: BM25 pruning + path ranking).

    python benchmarks/offline_accuracy.py --data ../shared/data --sample 300

Questions are sampled with a stride over the whole file (not its head). Each set is run with
gold topic entities (oracle linking) and with the graph's own gazetteer linking.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import tog
from eval.datasets import Question, read_metaqa, read_pathquestion
from eval.metrics import hits_at_1
from kg_adapters import load_graph


def spread(items: list[Question], n: int) -> list[Question]:
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def run(name: str, kb: Path, questions: list[Question], config: tog.SearchConfig) -> None:
    start = time.perf_counter()
    kg = load_graph(kb)
    load_s = time.perf_counter() - start
    agent = tog.ThinkOnGraph(kg, None, config=config)
    for mode in ("oracle", "linked"):
        hits, times, calls, kg_calls = [], [], [], []
        for q in questions:
            t = time.perf_counter()
            topics = list(q.topic_entities) if mode == "oracle" else None
            result = agent.run(q.text, topic_entities=topics, question_id=q.id)
            times.append(time.perf_counter() - t)
            hits.append(hits_at_1(result.answers, q.answers))
            calls.append(result.usage.llm_calls)
            kg_calls.append(result.usage.kg_calls)
        print(
            f"{name:10} {mode:7} n={len(questions):4d}  Hits@1={statistics.mean(hits):.3f}  "
            f"median={1000 * statistics.median(times):6.1f} ms  "
            f"p95={1000 * sorted(times)[int(0.95 * (len(times) - 1))]:6.1f} ms  "
            f"calls/q={statistics.mean(calls):.2f}  kg/q={statistics.mean(kg_calls):.1f}  "
            f"(kb load {load_s:.1f} s)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--sets", default="PQ-2H,PQ-3H,MetaQA-1,MetaQA-2,MetaQA-3")
    parser.add_argument("--path-score", choices=["local", "cumulative"], default="local")
    parser.add_argument("--width", type=int, default=3)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--prune-tool", choices=["bm25", "embedding"], default="bm25")
    parser.add_argument("--variant", choices=["tog", "tog-r"], default="tog")
    args = parser.parse_args()
    config = tog.SearchConfig(
        width=args.width,
        depth=args.depth,
        path_score=args.path_score,
        prune_tool=args.prune_tool,
        variant=args.variant,
    )
    pq = args.data / "pathquestion" / "PathQuestion"
    mq = args.data / "metaqa"
    sets = {
        "PQ-2H": (pq / "2H-kb.txt", lambda: list(read_pathquestion(pq / "PQ-2H.txt"))),
        "PQ-3H": (pq / "3H-kb.txt", lambda: list(read_pathquestion(pq / "PQ-3H.txt"))),
        "PQL-2H": (pq / "PQL2-KB.txt", lambda: list(read_pathquestion(pq / "PQL-2H.txt"))),
        "PQL-3H": (pq / "PQL3-KB.txt", lambda: list(read_pathquestion(pq / "PQL-3H.txt"))),
        **{
            f"MetaQA-{h}": (
                mq / "kb.txt",
                lambda h=h: list(read_metaqa(mq / f"{h}-hop" / "qa_test.txt", hops=h)),
            )
            for h in (1, 2, 3)
        },
    }
    shown = {"width", "depth", "path_score", "seed", "prune_tool", "variant"}
    print(f"config: {config.model_dump(include=shown)}")
    for name in args.sets.split(","):
        kb, load = sets[name]
        run(name, kb, spread(load(), args.sample), config)


if __name__ == "__main__":
    main()
