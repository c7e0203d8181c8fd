"""CWQ questions over Freebase through SPARQL: accuracy, evidence recall and KG round trips.

    python benchmarks/cwq_freebase.py --kg sparql+freebase:http://127.0.0.1:8890/sparql
    python benchmarks/cwq_freebase.py --kg oxigraph+freebase:/tmp/fb --limit 100

Offline mode (no LLM: BM25 pruning and path ranking), gold topic entities, width 3, depth 3.
Prints Hits@1, how often a gold answer appears anywhere on the explored paths, adapter calls per
question from the traces, the SPARQL requests actually sent (an HTTP endpoint counts them), and the
queries a one-query-per-entity/relation/name client (the reference code's pattern) would have sent
for the same lookups.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import tog
from eval.metrics import hits_at_1, normalize_answer
from kg_adapters.opening import open_graph


def reference_equivalent(result: tog.Result) -> int:
    """Queries needed for the same lookups one entity, one relation and one name at a time."""
    total = 0
    for event in result.trace.kg_events():
        request = event.request if isinstance(event.request, dict) else {}
        if event.kind == "relations":
            total += len(request.get("entities", []))
        elif event.kind == "neighbors":
            total += len(request.get("hops", []))
        elif event.kind == "labels":
            total += len(request.get("ids", []))
        else:
            total += 1
    return total


def explored_nodes(result: tog.Result) -> set[str]:
    """Normalised labels and ids of every node any depth kept or considered."""
    names = set()
    for depth in result.depths:
        for decision in depth.entities:
            node = str(decision.node)
            names.add(normalize_answer(node))
            names.add(normalize_answer(result.labels.get(node, node)))
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kg", required=True, help="sparql+freebase:URL or oxigraph+freebase:DIR")
    parser.add_argument(
        "--questions", type=Path, default=Path("../shared/data/freebase_cwq/questions.json")
    )
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--width", type=int, default=3)
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args()

    questions = json.loads(args.questions.read_text(encoding="utf-8"))[: args.limit]
    kg = open_graph(args.kg)
    agent = tog.ThinkOnGraph(kg, None, config=tog.SearchConfig(width=args.width, depth=args.depth))
    hits, recall, trips, reference, seconds, requests = [], [], [], [], [], []
    endpoint = getattr(kg, "endpoint", None)
    for item in questions:
        topics = list(item["topic_entity"])
        before = getattr(endpoint, "requests", 0)
        start = time.perf_counter()
        result = agent.run(item["question"], topic_entities=topics, question_id=item["id"])
        seconds.append(time.perf_counter() - start)
        golds = list(item["answers"]) + [m for m in item.get("answer_mids", []) if m]
        hits.append(hits_at_1(result.answers, golds))
        seen = explored_nodes(result)
        recall.append(float(any(normalize_answer(g) in seen for g in golds)))
        trips.append(result.usage.kg_calls)
        requests.append(getattr(endpoint, "requests", 0) - before)
        reference.append(reference_equivalent(result))
    close = getattr(kg, "close", None)
    if callable(close):
        close()
    n = len(questions)
    print(
        f"kg={args.kg} questions={n} width={args.width} depth={args.depth} (offline, gold topics)"
    )
    print(f"Hits@1                         {statistics.mean(hits):.3f}")
    print(f"gold answer on explored paths  {statistics.mean(recall):.3f}")
    print(f"adapter calls / question       mean {statistics.mean(trips):.1f}  max {max(trips)}")
    if endpoint is not None:
        print(
            f"SPARQL requests / question     mean {statistics.mean(requests):.1f}  "
            f"max {max(requests)}"
        )
    print(
        f"one-at-a-time equivalent       mean {statistics.mean(reference):.1f}  "
        f"max {max(reference)}"
    )
    print(f"seconds / question             median {statistics.median(seconds):.3f}")


if __name__ == "__main__":
    main()
