"""Throughput of `tog.answer_many` against one question at a time, over HTTP with LLM latency.

    python benchmarks/throughput.py --data ../shared/data --questions 200 --latency 0.1

PQ-2H questions (sampled with a stride over the whole file) are answered over the PQ-2H graph
with LLM pruning, against a local `StandInServer` (in a process of its own, as a real server
would be) whose every reply takes ``--latency`` seconds. It is not a model: the offline scorer
writes the replies, so runs are deterministic.
First sequentially, ``tog.answer`` with `OpenAICompatible`; then ``tog.answer_many`` with
`AsyncOpenAICompatible` and ``--concurrency`` requests in flight. Prints wall time, questions per
second, the speed-up (target: at least 15x at concurrency 32), LLM calls per question, the most
requests the server saw at once, and whether both runs gave the same answers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import tog
from eval.datasets import Question, read_pathquestion
from eval.metrics import hits_at_1
from kg_adapters import load_graph
from tog.llm import AsyncOpenAICompatible, OpenAICompatible
from tog.llm.base import Message
from tog.llm.offline import reply_to_messages
from tog.llm.standin import StandInServer


def spread(items: list[Question], n: int) -> list[Question]:
    """``n`` items taken with an even stride over the whole list."""
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


class SlowPolicy:
    """The stand-in's policy: the offline scorer's reply after ``latency`` seconds.

    It counts the requests being answered at once (the latency is spent here, not in the
    server's own ``latency`` knob, so that the count covers the whole wait).
    """

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, messages: list[Message]) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(self.latency)
            return reply_to_messages(messages)
        finally:
            with self.lock:
                self.now -= 1


def serve(conn: Connection, latency: float) -> None:
    """Run the stand-in in this (child) process until told to stop; report its peak load.

    A real vLLM server is another process too; sharing one interpreter (and its GIL) with the
    client would make the client's CPU work and the server's threads slow each other down.
    """
    policy = SlowPolicy(latency)
    with StandInServer(policy) as server:
        conn.send(server.base_url)
        while conn.recv() == "peak":
            conn.send(policy.peak)
            policy.peak = 0


def report(
    name: str, seconds: float, cpu: float, results: list[tog.Result], questions: list[Question]
) -> None:
    calls = statistics.mean(r.usage.llm_calls for r in results)
    hits = statistics.mean(
        hits_at_1(r.answers, q.answers) for r, q in zip(results, questions, strict=True)
    )
    print(
        f"{name:16} {seconds:8.2f} s  {len(results) / seconds:7.2f} questions/s  "
        f"LLM calls/question {calls:.2f}  Hits@1 {hits:.3f}  client CPU {cpu:.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per LLM request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--sync-client",
        action="store_true",
        help="also run answer_many with the sync OpenAICompatible (worker threads)",
    )
    args = parser.parse_args()

    folder = args.data / "pathquestion" / "PathQuestion"
    kg = load_graph(folder / "2H-kb.txt")
    questions = spread(list(read_pathquestion(folder / "PQ-2H.txt")), args.questions)
    items = [(q.text, list(q.topic_entities)) for q in questions]
    config = tog.SearchConfig(prune_tool="llm")
    print(
        f"{len(questions)} PQ-2H questions, {args.latency * 1000:.0f} ms per LLM request, "
        f"concurrency {args.concurrency}, config {config.model_dump(include={'width', 'depth'})}"
    )

    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    server = context.Process(target=serve, args=(child_conn, args.latency), daemon=True)
    server.start()
    try:
        base_url = conn.recv()
        start, cpu = time.perf_counter(), time.process_time()
        with OpenAICompatible(base_url) as llm:
            one_by_one = [
                tog.answer(q, kg=kg, llm=llm, topic_entities=t, config=config) for q, t in items
            ]
        sequential = time.perf_counter() - start
        report("sequential", sequential, time.process_time() - cpu, one_by_one, questions)
        conn.send("peak")
        sequential_peak = conn.recv()

        start, cpu = time.perf_counter(), time.process_time()
        together = tog.answer_many(
            items,
            kg=kg,
            llm=AsyncOpenAICompatible(base_url),
            config=config,
            concurrency=args.concurrency,
        )
        concurrent = time.perf_counter() - start
        report("answer_many", concurrent, time.process_time() - cpu, together, questions)
        conn.send("peak")
        concurrent_peak = conn.recv()

        if args.sync_client:
            start, cpu = time.perf_counter(), time.process_time()
            with OpenAICompatible(base_url) as llm:
                threaded = tog.answer_many(
                    items, kg=kg, llm=llm, config=config, concurrency=args.concurrency
                )
            seconds = time.perf_counter() - start
            report("(sync, threads)", seconds, time.process_time() - cpu, threaded, questions)
            same_threaded = sum(
                a.answers == b.answers for a, b in zip(one_by_one, threaded, strict=True)
            )
            print(f"  speed-up {sequential / seconds:.1f}x, same answers {same_threaded}")
    finally:
        conn.send("stop")
        server.join(timeout=10)

    same = sum(a.answers == b.answers for a, b in zip(one_by_one, together, strict=True))
    errors = sum(r.stop_reason == "error" for r in together)
    print(
        f"speed-up {sequential / concurrent:.1f}x  "
        f"(requests in flight at most: sequential {sequential_peak}, "
        f"answer_many {concurrent_peak})"
    )
    print(f"same answers: {same}/{len(items)}  errors: {errors}")


if __name__ == "__main__":
    main()
