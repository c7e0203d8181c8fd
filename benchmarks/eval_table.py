"""Offline accuracy table (no LLM) over the benchmarks that ship their own KB, via `eval.runner`.

    python benchmarks/eval_table.py --data ../shared/data --sample 300

Each set runs through the same code as ``tog eval run`` (in-process, one run folder each, gold
linking unless ``--linking linked``), with ``--sample`` questions spread over the file. Prints one
Markdown table: dataset, n, Hits@1, F1, questions/s, LLM calls/question, KG calls/question.
Questions/s counts answering only (the KB load is excluded); "LLM calls" are the offline scorer's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eval.config import RunConfig
from eval.report import summarize
from eval.runner import kg_spec, open_kg, read_manifest, read_results, run
from kg_adapters.base import KnowledgeGraph

SETS = {
    "metaqa-1hop": "metaqa",
    "metaqa-2hop": "metaqa",
    "metaqa-3hop": "metaqa",
    "pq-2h": "pathquestion/PathQuestion",
    "pq-3h": "pathquestion/PathQuestion",
    "pql-2h": "pathquestion/PathQuestion",
    "pql-3h": "pathquestion/PathQuestion",
    "wc-p2": "pathquestion/WC2014",
    "wc-c": "pathquestion/WC2014",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--linking", choices=["gold", "linked"], default="gold")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: temp)")
    args = parser.parse_args()

    graphs: dict[str, KnowledgeGraph] = {}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for name in args.sets.split(","):
            config = RunConfig(
                dataset=name,
                data=args.data / SETS[name],
                sample=args.sample,
                concurrency=args.concurrency,
                linking=args.linking,
            )
            spec = kg_spec(config, name, args.data / SETS[name])
            if spec not in graphs:
                start = time.perf_counter()
                graphs[spec] = open_kg(spec)
                print(f"loaded {spec} in {time.perf_counter() - start:.1f} s", flush=True)
            out = root / name
            outcome = run(config, out, kg=graphs[spec])
            summary = summarize(read_manifest(out), read_results(out / "results.jsonl"))
            rows.append(
                (
                    name,
                    summary["n"],
                    summary["hits@1"],
                    summary["f1"],
                    outcome.answered / outcome.seconds if outcome.seconds else 0.0,
                    summary["llm_calls_per_question"],
                    summary["kg_calls_per_question"],
                )
            )
    print(f"\nlinking={args.linking}  sample={args.sample}  concurrency={args.concurrency}\n")
    print("| dataset | n | Hits@1 | F1 | questions/s | LLM calls/q | KG calls/q |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, hits, f1, rate, calls, kg_calls in rows:
        print(
            f"| {name} | {n} | {hits:.3f} | {f1:.3f} | {rate:.1f} | {calls:.2f} | {kg_calls:.1f} |"
        )


if __name__ == "__main__":
    main()
