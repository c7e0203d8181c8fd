"""Start-up and per-question speed: ``import tog`` time and offline answering on PQ-3H.

    python benchmarks/speed.py --data ../shared/data

Targets (issue #2): ``import tog`` under 0.3 s; offline answering on the PQ-3H graph under 50 ms
per question (median).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def import_seconds(statement: str, runs: int) -> float:
    """Best-of-``runs`` time of a fresh interpreter running ``statement``, minus bare start-up."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = min(once("pass") for _ in range(runs))
    return min(once(statement) for _ in range(runs)) - bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()

    for statement in ("import tog", "import kg_adapters", "import tog; tog.SearchConfig"):
        seconds = import_seconds(statement, args.runs)
        print(f"{statement:32} {1000 * seconds:7.1f} ms (best of {args.runs})")

    import tog
    from eval.datasets import read_pathquestion
    from kg_adapters import load_graph

    pq = args.data / "pathquestion" / "PathQuestion"
    kg = load_graph(pq / "3H-kb.txt")
    questions = list(read_pathquestion(pq / "PQ-3H.txt"))
    step = max(1, len(questions) // args.questions)
    sample = questions[::step][: args.questions]
    agent = tog.ThinkOnGraph(kg, None)
    agent.run(sample[0].text, topic_entities=list(sample[0].topic_entities))  # warm caches
    times = []
    for q in sample:
        start = time.perf_counter()
        agent.run(q.text, topic_entities=list(q.topic_entities))
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"offline answer, PQ-3H graph ({len(kg)} triples), {len(times)} questions: "
        f"median {1000 * statistics.median(times):.2f} ms, "
        f"p95 {1000 * times[int(0.95 * len(times)) - 1]:.2f} ms, "
        f"max {1000 * times[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
