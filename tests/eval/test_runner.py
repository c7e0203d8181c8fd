"""`eval.runner` and `tog eval run`: records, manifests, resuming, refusing, linking modes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from eval.config import ConfigError, LLMSettings, RunConfig, load_run_config, merge
from eval.datasets import Question
from eval.runner import (
    MANIFEST,
    RESULTS,
    RunError,
    _run_chunk,
    kg_spec,
    read_results,
    run,
    select,
)
from kg_adapters import NetworkXGraph
from kg_adapters.base import Direction, EntityId, RelationId
from kg_adapters.errors import KGConnectionError
from tests.commands import tog_command
from tests.shared_data import DATA, require
from tog.agent import ThinkOnGraph

PQ = DATA / "pathquestion" / "PathQuestion"
WC = DATA / "pathquestion" / "WC2014"


def tog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tog_command(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def pq_config(**fields) -> RunConfig:
    return RunConfig(dataset="pq-2h", data=require(PQ), **fields)


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS).read_bytes().splitlines()]


def test_select_spreads_then_limits():
    questions = [Question(f"q:{k}", "?", (), ()) for k in range(10)]
    assert [q.id for q in select(questions, limit=3, sample=None)] == ["q:0", "q:1", "q:2"]
    assert [q.id for q in select(questions, limit=None, sample=5)] == [
        "q:0",
        "q:2",
        "q:4",
        "q:6",
        "q:8",
    ]
    assert [q.id for q in select(questions, limit=2, sample=5)] == ["q:0", "q:2"]


def test_run_writes_one_complete_record_per_question(tmp_path: Path):
    seen = []
    outcome = run(pq_config(limit=20, concurrency=4), tmp_path / "out", on_progress=seen.append)
    assert (outcome.total, outcome.skipped, outcome.answered) == (20, 0, 20)
    records = rows(tmp_path / "out")
    assert sorted(r["index"] for r in records) == list(range(20))
    first = records[0]
    for key in ("id", "question", "answers", "gold", "metrics", "stop_reason", "usage", "result"):
        assert key in first
    assert set(first["metrics"]) == {"hits@1", "em", "f1", "hit", "tog_compatible"}
    assert first["error"] is None
    assert first["linking_mode"] == "oracle"
    assert first["topic_entities"]
    assert first["hops"] == 2
    assert first["result"]["trace"], "the full trace is kept"
    assert first["usage"]["kg_calls"] == len(
        [e for e in first["result"]["trace"] if e["kind"] != "llm"]
    )
    assert seen[0].done == 0
    assert seen[-1].done == 20
    assert seen[-1].total == 20
    assert seen[-1].correct == sum(r["metrics"]["hits@1"] for r in records)

    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["dataset"] == "pq-2h"
    assert manifest["linking"] == "gold"
    assert manifest["linking_mode"] == "oracle"
    assert manifest["kg"].endswith("2H-kb.txt")
    assert manifest["backend"] == "offline"
    assert manifest["llm"] is None
    assert len(manifest["data_sha256"]) == 64
    assert manifest["code_version"]["package"]
    assert manifest["code_version"]["git_commit"]  # a commit, or "unknown" outside git
    assert manifest["started_at"]
    assert manifest["search"]["width"] == 3
    assert manifest["question_ids"] == [f"pq-2h:{k}" for k in range(20)]


def test_results_do_not_depend_on_concurrency(tmp_path: Path):
    run(pq_config(limit=24, concurrency=1), tmp_path / "a")
    run(pq_config(limit=24, concurrency=8), tmp_path / "b", chunk_size=5)
    a = {r["id"]: (r["answers"], r["metrics"]) for r in rows(tmp_path / "a")}
    b = {r["id"]: (r["answers"], r["metrics"]) for r in rows(tmp_path / "b")}
    assert a == b


def test_resume_skips_done_questions_and_repairs_a_torn_line(tmp_path: Path):
    out = tmp_path / "out"
    run(pq_config(limit=10), out)
    kept = (out / RESULTS).read_bytes().splitlines(keepends=True)[:4]
    (out / RESULTS).write_bytes(b"".join(kept) + b'{"id": "pq-2h:7", "answ')
    assert len(read_results(out / RESULTS)) == 4  # the torn line is ignored ...
    outcome = run(pq_config(limit=10), out, resume=True)
    assert (outcome.skipped, outcome.answered) == (4, 6)
    records = rows(out)  # ... then cut off before appending
    assert len(records) == 10
    assert len({r["id"] for r in records}) == 10
    assert json.loads((out / MANIFEST).read_text())["resumed_at"]


def test_resume_of_a_finished_run_does_nothing(tmp_path: Path):
    run(pq_config(limit=5), tmp_path)
    before = (tmp_path / RESULTS).read_bytes()
    outcome = run(pq_config(limit=5), tmp_path, resume=True)
    assert outcome.answered == 0
    assert (tmp_path / RESULTS).read_bytes() == before


def test_a_damaged_middle_line_is_an_error(tmp_path: Path):
    path = tmp_path / RESULTS
    path.write_bytes(b'{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(RunError, match=r"results.jsonl:2: damaged"):
        read_results(path)


def test_refuses_to_overwrite_or_to_resume_another_run(tmp_path: Path):
    run(pq_config(limit=3), tmp_path)
    with pytest.raises(RunError, match="not empty; pass --resume"):
        run(pq_config(limit=3), tmp_path)
    changed = pq_config(limit=3).model_copy(
        update={"search": pq_config().search.model_copy(update={"width": 5})}
    )
    with pytest.raises(RunError, match=r"cannot resume .*: search differs"):
        run(changed, tmp_path, resume=True)
    with pytest.raises(RunError, match="linking differs"):
        run(pq_config(limit=3, linking="linked"), tmp_path, resume=True)
    llm = LLMSettings(url=("http://127.0.0.1:9/v1",))
    with pytest.raises(RunError, match="backend differs"):
        run(pq_config(limit=3, llm=llm), tmp_path, resume=True)
    # concurrency does not change results: resuming with another one is fine
    assert run(pq_config(limit=3, concurrency=2), tmp_path, resume=True).answered == 0


def test_resume_into_an_empty_folder_starts_the_run(tmp_path: Path):
    assert run(pq_config(limit=2), tmp_path, resume=True).answered == 2


def test_linked_mode_links_from_the_text(tmp_path: Path):
    run(pq_config(limit=10, linking="linked"), tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert (manifest["linking"], manifest["linking_mode"]) == ("linked", "extracted")
    records = rows(tmp_path)
    assert {r["linking_mode"] for r in records} == {"extracted"}
    assert all(r["topic_entities"] == [] for r in records)
    assert sum(r["metrics"]["hits@1"] for r in records) >= 3


class _FailingGraph:
    """The PathQuestion graph, except that one entity's relations fail like a dead store."""

    def __init__(self, graph: NetworkXGraph, bad: str) -> None:
        self._graph, self._bad = graph, bad

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        if self._bad in entities:
            raise KGConnectionError("store unreachable", adapter="test")
        return self._graph.relations(entities, direction=direction, limit=limit)

    def __getattr__(self, name: str):
        return getattr(self._graph, name)


def test_a_failing_question_is_recorded_and_the_others_carry_on(tmp_path: Path):
    from kg_adapters import load_graph

    graph = load_graph(require(PQ / "2H-kb.txt"))
    config = pq_config(limit=6, concurrency=1)
    bad = "anna_of_holstein-gottorp"  # the topic of pq-2h:3, :4 and :5
    run(config, tmp_path, kg=_FailingGraph(graph, bad))
    records = {r["id"]: r for r in rows(tmp_path)}
    assert len(records) == 6
    failed = records["pq-2h:3"]
    assert failed["stop_reason"] == "error"
    assert failed["error"].startswith("KGConnectionError")
    assert failed["metrics"]["hits@1"] == 0.0
    assert {k for k, r in records.items() if r["error"]} == {"pq-2h:3", "pq-2h:4", "pq-2h:5"}
    assert all(r["stop_reason"] != "error" for k, r in records.items() if k < "pq-2h:3")


def test_a_question_the_agent_rejects_becomes_an_error_record():
    graph = NetworkXGraph.from_triples([("a", "r", "b")])

    class NoSearch:  # a graph that cannot link entities
        relations = graph.relations
        neighbors = graph.neighbors
        labels = graph.labels

    agent = ThinkOnGraph(NoSearch())
    chunk = [Question("x:0", "what is a?", ("a",), ("b",)), Question("x:1", "b?", ("b",), ())]
    written: list[dict] = []
    _run_chunk(agent, chunk, RunConfig(linking="linked"), {"x:0": 0, "x:1": 1}, written.append)
    assert [r["id"] for r in written] == ["x:0", "x:1"]
    assert all(r["stop_reason"] == "error" and "ValueError" in r["error"] for r in written)


def test_kg_defaults_to_the_datasets_own_kb():
    metaqa = require(DATA / "metaqa")
    assert kg_spec(RunConfig(), "metaqa-2hop", metaqa) == str((metaqa / "kb.txt").resolve())
    assert kg_spec(RunConfig(), "pq-3h", require(PQ / "PQ-3H.txt")).endswith("3H-kb.txt")
    assert (
        kg_spec(RunConfig(kg="sparql:http://x/sparql"), "cwq", Path()) == "sparql:http://x/sparql"
    )
    with pytest.raises(RunError, match=r"has no KB file .* pass --kg"):
        kg_spec(RunConfig(), "cwq", require(DATA / "tog"))


def test_worldcup_conjunctive_runs(tmp_path: Path):
    run(RunConfig(dataset="wc-c", data=require(WC), limit=5), tmp_path)
    records = rows(tmp_path)
    assert len(records) == 5
    assert {r["qtype"] for r in records} == {"conjunctive"}


def test_toml_config_and_flags(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text(
        'dataset = "pq-2h"\ndata = "pq"\nlinking = "linked"\nlimit = 7\n'
        '[llm]\nurl = "http://127.0.0.1:8000/v1,http://127.0.0.1:8001/v1"\nmodel = "m"\n'
        "[search]\nwidth = 2\n"
    )
    config = load_run_config(path)
    assert config.data == tmp_path / "pq"
    assert config.llm is not None
    assert config.llm.url == (
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8001/v1",
    )
    assert config.search.width == 2
    merged = merge(config, {"limit": 3, "linking": None}, {"depth": 2})
    assert (merged.limit, merged.linking, merged.search.width, merged.search.depth) == (
        3,
        "linked",
        2,
        2,
    )
    with pytest.raises(ConfigError, match="limit"):
        merge(config, {"limit": 0})
    path.write_text("dataset = 'x'\nbogus = 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_run_config(path)
    path.write_text("dataset = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_run_config(path)


def test_cli_run_with_a_config_file(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text(f'dataset = "pq-2h"\ndata = "{require(PQ)}"\nlimit = 4\n[search]\nwidth = 2\n')
    done = tog("eval", "run", "--config", str(path), "--limit", "3", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert "pq-2h: 3 questions" in done.stdout
    manifest = json.loads((tmp_path / "o" / MANIFEST).read_text())
    assert manifest["limit"] == 3
    assert manifest["search"]["width"] == 2
    assert (tmp_path / "o" / "report.md").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--data", ".", "--out", "{tmp}/o"], "unknown dataset 'nope'"),
        (["pq-2h", "--data", "/nonexistent", "--out", "{tmp}/o"], "does not exist"),
        (["pq-2h", "--data", "{pq}", "--out", "{tmp}/o", "--linking", "foo"], "linking"),
        (["pq-2h", "--data", "{pq}"], "--out is required"),
        (["pq-2h", "--out", "{tmp}/o"], "--data"),
        (["pq-2h", "--data", "{pq}", "--out", "{tmp}/o", "--limit", "0"], "limit"),
        (["pq-2h", "--data", "{pq}", "--out", "{tmp}/o", "--model", "m"], "need --llm"),
        (
            [
                "pq-2h",
                "--data",
                "{pq}",
                "--out",
                "{tmp}/o",
                "--record",
                "{tmp}/r",
                "--replay",
                "{tmp}/p",
            ],
            "exclude each other",
        ),
        (["pq-2h", "--data", "{pq}", "--out", "{tmp}/o", "--replay", "{tmp}/r"], "not a recording"),
        (["pq-2h", "--data", "{pq}", "--out", "{tmp}/o", "--kg", "/nonexistent.tsv"], "no such"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str):
    pq = str(require(PQ))
    done = tog("eval", "run", *(a.format(tmp=tmp_path, pq=pq) for a in args), "--no-progress")
    assert done.returncode == 1
    assert done.stderr.startswith("tog: error: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
