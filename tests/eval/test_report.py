"""`eval.report` and `tog eval report` / `tog eval compare`."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eval.config import RunConfig
from eval.report import (
    compare,
    gold_caveats,
    load_run,
    paired_bootstrap,
    percentile,
    render_comparison,
    render_markdown,
    summarize,
    write_report,
)
from eval.runner import MANIFEST, RESULTS, run
from tests.shared_data import DATA, require

PQ = DATA / "pathquestion" / "PathQuestion"


def tog(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("tog", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "tog.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=False
    )


def record(index: int, hits: float, *, calls: int = 2, hops: int = 1, **extra) -> dict:
    return {
        "id": f"d:{index}",
        "index": index,
        "question": f"q{index}?",
        "hops": hops,
        "qtype": extra.pop("qtype", None),
        "answers": ["x"],
        "metrics": {"hits@1": hits, "em": hits, "f1": hits, "hit": 1.0, "tog_compatible": hits},
        "stop_reason": extra.pop("stop_reason", "sufficient"),
        "usage": {
            "llm_calls": calls,
            "setup_calls": 0,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "kg_calls": 4,
            "wall_seconds": 0.1 * (index + 1),
        },
        "error": extra.pop("error", None),
        **extra,
    }


MANIFEST_DATA = {
    "dataset": "cwq",
    "linking": "gold",
    "linking_mode": "oracle",
    "kg": "sparql+freebase:http://127.0.0.1:8890/sparql",
    "backend": "openai-compatible",
    "model": "m",
    "question_ids": ["d:0", "d:1", "d:2", "d:3"],
    "search": {"width": 3, "depth": 3, "variant": "tog", "prune_tool": "llm", "seed": 0},
}


def test_summary_counts_missing_questions_as_wrong_and_sorts_by_index():
    records = [
        record(2, 1.0, hops=2, qtype="composition"),
        record(0, 1.0, calls=3, qtype="conjunction"),
        record(1, 0.0, stop_reason="error", error="LLMTimeout: too slow"),
        record(0, 0.0),  # a duplicate id: the first record counts
        {**record(9, 1.0), "id": "other:9"},  # not in the run's question set
    ]
    summary = summarize(MANIFEST_DATA, records)
    assert summary["n"] == 4
    assert summary["answered"] == 3
    assert summary["missing"] == 1
    assert summary["hits@1"] == 0.5  # 2 of 4: the missing one scores 0
    assert summary["hit"] == 0.75
    assert summary["llm_calls_per_question"] == pytest.approx(7 / 3, abs=1e-4)
    assert summary["kg_calls_per_question"] == 4.0
    assert summary["tokens_per_question"] == 110.0
    assert summary["latency_p50_s"] == 0.2
    assert summary["by_hops"] == {
        "1": {"n": 2, "hits@1": 0.5, "em": 0.5, "f1": 0.5, "hit": 1.0, "tog_compatible": 0.5},
        "2": {"n": 1, "hits@1": 1.0, "em": 1.0, "f1": 1.0, "hit": 1.0, "tog_compatible": 1.0},
    }
    assert set(summary["by_qtype"]) == {"composition", "conjunction"}
    assert summary["stop_reasons"] == {"sufficient": 2, "error": 1}
    assert summary["errors"] == {"LLMTimeout": 1}
    assert summary["llm_calls_histogram"] == {"2": 2, "3": 1}
    assert summary["linking_mode"] == "oracle"
    assert any("one answer per question" in c for c in summary["gold_caveats"])
    text = render_markdown(summary)
    assert "| hits@1 | em | f1 | hit | tog_compatible |" in text
    assert "## By hops" in text
    assert "## Gold caveats" in text
    assert "LLMTimeout" in text


def test_gold_caveats_per_dataset():
    assert any("81%" in c for c in gold_caveats("webqsp"))
    assert not any("81%" in c for c in gold_caveats("pq-2h"))
    assert any("alias" in c for c in gold_caveats("trex"))
    assert any("Hit" in c for c in gold_caveats("pq-2h"))


def test_percentile_and_bootstrap():
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 95) == 9.5
    low, high = paired_bootstrap([0.0] * 50 + [1.0] * 50, [1.0] * 100)
    assert 0.35 <= low <= 0.5 <= high <= 0.65
    with pytest.raises(ValueError, match="length"):
        paired_bootstrap([1.0], [])


def test_compare_lists_changed_questions():
    a = [record(0, 1.0), record(1, 0.0), record(2, 1.0), record(3, 0.0)]
    b = [record(0, 1.0), record(1, 1.0), record(2, 0.0), record(3, 1.0)]
    comparison = compare((MANIFEST_DATA, a), (MANIFEST_DATA, b))
    assert comparison["metrics"]["hits@1"]["delta"] == 0.25
    assert comparison["metrics"]["hits@1"]["a"] == 0.5
    assert [c["id"] for c in comparison["changed"]] == ["d:1", "d:2", "d:3"]
    assert (comparison["improved"], comparison["regressed"]) == (2, 1)
    assert comparison["settings_differ"] == []
    text = render_comparison(comparison, show=1)
    assert "+ d:1" in text
    assert "and 2 more" in text


@pytest.fixture(scope="module")
def pq_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pq") / "run"
    run(RunConfig(dataset="pq-2h", data=require(PQ), sample=40), out)
    return out


def test_report_command_prints_one_json_object(pq_run: Path):
    done = tog("eval", "report", str(pq_run), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # one object, nothing else on stdout
    for key in (
        "n",
        "hits@1",
        "em",
        "f1",
        "hit",
        "tog_compatible",
        "llm_calls_per_question",
        "kg_calls_per_question",
        "latency_p50_s",
        "latency_p95_s",
        "linking",
        "dataset",
        "stop_reasons",
        "by_hops",
        "gold_caveats",
    ):
        assert key in summary, key
    assert summary["n"] == 40
    assert 0.5 <= summary["hits@1"] <= 1.0
    assert summary["linking"] == "gold"
    assert json.loads((pq_run / "report.json").read_text()) == summary
    assert (pq_run / "report.md").read_text().startswith("# pq-2h: evaluation report")
    text = tog("eval", "report", str(pq_run))
    assert text.returncode == 0
    assert "## Metrics" in text.stdout


def test_report_uses_the_selection_sample(pq_run: Path):
    manifest, records = load_run(pq_run)
    assert manifest["sample"] == 40
    ids = [r["id"] for r in sorted(records, key=lambda r: r["index"])]
    assert ids[:3] == ["pq-2h:0", "pq-2h:47", "pq-2h:95"]  # spread over the 1,908 questions


def test_compare_command(pq_run: Path, tmp_path: Path):
    other = tmp_path / "other"
    shutil.copytree(pq_run, other)
    lines = (other / RESULTS).read_text().splitlines()
    first = json.loads(lines[0])
    first["metrics"]["hits@1"] = 1.0 - first["metrics"]["hits@1"]
    (other / RESULTS).write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    done = tog("eval", "compare", str(pq_run), str(other), "--json")
    assert done.returncode == 0, done.stderr
    comparison = json.loads(done.stdout)
    assert [c["id"] for c in comparison["changed"]] == [first["id"]]
    assert comparison["metrics"]["hits@1"]["delta"] == pytest.approx(
        (first["metrics"]["hits@1"] * 2 - 1) / 40, abs=1e-4
    )
    text = tog("eval", "compare", str(pq_run), str(other))
    assert text.returncode == 0
    assert "Hits@1 changed on 1 question(s)" in text.stdout


def test_report_errors_are_one_line(tmp_path: Path):
    done = tog("eval", "report", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == f"tog: error: {tmp_path} is not a run folder: no {MANIFEST}"
    (tmp_path / MANIFEST).write_text("[]")
    done = tog("eval", "compare", str(tmp_path), str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("tog: error: ")


def test_plots_when_matplotlib_is_installed(pq_run: Path):
    write_report(pq_run)
    pngs = sorted(p.name for p in pq_run.glob("*.png"))
    if importlib.util.find_spec("matplotlib") is None:
        assert pngs == []  # skipped silently
    else:
        assert pngs == ["accuracy_by_hop.png", "llm_calls.png"]
