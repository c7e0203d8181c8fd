"""Reports on run folders: metrics, breakdowns, costs and caveats; comparisons of two runs.

`summarize` is pure (manifest and records in, one JSON object out); `write_report` writes
``report.json``, ``report.md`` and, when matplotlib is installed, two PNG plots into the run
folder. The denominator is the run's selected question set: a question without a record scores
0 (tog_spec.md §7.5).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import random
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from eval.metrics import METRICS
from eval.runner import RESULTS, Record, read_manifest, read_results
from tog.trace import JSON

logger = logging.getLogger(__name__)

REPORT_JSON: Final = "report.json"
REPORT_MD: Final = "report.md"

_FREEBASE: Final = ("cwq", "cwq-slice", "webqsp", "grailqa", "simpleqa", "webquestions")
_CAVEATS: Final[Mapping[str, tuple[str, ...]]] = {
    "cwq": (
        "CWQ gold has one answer per question although its SPARQL often returns several: "
        "Hits@1 is fair, set-EM and F1 are pessimistic.",
    ),
    "cwq-slice": (
        "CWQ gold has one answer per question although its SPARQL often returns several: "
        "Hits@1 is fair, set-EM and F1 are pessimistic.",
        "The Freebase slice holds the gold supporting triples only; 75.8% of the answers are "
        "reachable within 4 hops.",
    ),
    "webqsp": (
        "WebQSP EM and F1 are the best over the question's parses; ToG-2's webqsp_test.json "
        "mixes all answers' aliases in one list, where EM and F1 are not meaningful.",
    ),
    "trex": (
        "T-REx alias lists are used as gold aliases (ToG ignored them); they also hold other "
        "valid objects, so scores can only be higher than with ToG's evaluator.",
    ),
    "zsre": (
        "Zero-Shot RE alias lists are used as gold aliases (ToG ignored them); they also hold "
        "other valid objects, so scores can only be higher than with ToG's evaluator.",
    ),
    "creak": ("Creak is claim verification: the answer is true or false; Hits@1 is accuracy.",),
    **{
        f"metaqa-{h}hop": (
            "MetaQA gold is reproducible from the shared rebuilt kb.txt only for part of the "
            "questions (about 96-97% of the official KB; see answerable.json).",
        )
        for h in (1, 2, 3)
    },
}
_GENERAL: Final = (
    "'hit' is lenient (a gold alias anywhere in the output, as whole words): compare it with "
    "RoG / GNN-RAG 'Hit', never with Hits@1.",
    "'tog_compatible' is ToG's evaluator rule with its bugs fixed ('{Yes}' and '{}' are not "
    "answers; containment stops at word boundaries).",
)
_FREEBASE_CAVEATS: Final = (
    "Re-running the gold SPARQL on a local Freebase matched the shipped answers only 81% of the "
    "time; an incomplete dump silently lowers accuracy.",
    "A manual audit of 16 KGQA datasets (WebQSP and CWQ included) found about 57% factual "
    "correctness.",
)


def gold_caveats(dataset: str) -> list[str]:
    """What a report on ``dataset`` must say about its gold answers (tog_spec.md §7.6).

    >>> gold_caveats("creak")[0]
    'Creak is claim verification: the answer is true or false; Hits@1 is accuracy.'
    """
    notes = list(_CAVEATS.get(dataset, ()))
    if dataset in _FREEBASE:
        notes.extend(_FREEBASE_CAVEATS)
    return [*notes, *_GENERAL]


# --- pure summaries ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; 0.0 for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> percentile([5.0], 95)
    5.0
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _number(value: JSON) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _metric(record: Mapping[str, JSON], name: str) -> float:
    metrics = record.get("metrics")
    return _number(metrics.get(name)) if isinstance(metrics, dict) else 0.0


def _usage(record: Mapping[str, JSON], name: str) -> float:
    usage = record.get("usage")
    return _number(usage.get(name)) if isinstance(usage, dict) else 0.0


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _round(value: float) -> float:
    return round(value, 4)


def first_records(records: Iterable[Record], ids: Sequence[str]) -> dict[str, Record]:
    """One record per selected id (the first written), keyed by id, in the selection's order."""
    by_id: dict[str, Record] = {}
    for record in records:
        key = str(record.get("id"))
        by_id.setdefault(key, record)
    return {key: by_id[key] for key in ids if key in by_id}


def _group(records: Sequence[Record], key: str) -> dict[str, JSON]:
    groups: dict[str, list[Record]] = {}
    for record in records:
        value = record.get(key)
        if value is not None:
            groups.setdefault(str(value), []).append(record)
    return {
        name: {
            "n": len(members),
            **{m: _round(_mean([_metric(r, m) for r in members])) for m in METRICS},
        }
        for name, members in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))
    }


def _sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def summarize(manifest: Mapping[str, JSON], records: Iterable[Record]) -> dict[str, JSON]:
    """The report of one run as one JSON object.

    Metrics are means over the run's selected questions (``n``); a missing record counts 0.
    Costs (calls, tokens, latency) are over the questions answered.
    """
    records = list(records)
    raw_ids = manifest.get("question_ids")
    if isinstance(raw_ids, list):
        ids = [str(i) for i in raw_ids]
    else:
        ids = list(dict.fromkeys(str(r.get("id")) for r in records))
    rows = sorted(first_records(records, ids).values(), key=lambda r: _number(r.get("index")))
    n = len(ids)
    calls = [_usage(r, "llm_calls") for r in rows]
    tokens = [_usage(r, "prompt_tokens") + _usage(r, "completion_tokens") for r in rows]
    latency = [_usage(r, "wall_seconds") for r in rows]
    errors = Counter(str(r["error"]).partition(":")[0] for r in rows if r.get("error"))
    search = manifest.get("search")
    search_shown: JSON = None
    if isinstance(search, dict):
        search_shown = {
            k: search.get(k) for k in ("width", "depth", "variant", "prune_tool", "seed")
        }
    dataset = str(manifest.get("dataset", ""))
    summary: dict[str, JSON] = {
        "dataset": dataset,
        "n": n,
        "answered": len(rows),
        "missing": n - len(rows),
        **{m: _round(sum(_metric(r, m) for r in rows) / n) if n else 0.0 for m in METRICS},
        "llm_calls_per_question": _round(_mean(calls)),
        "llm_calls_median": _round(statistics.median(calls)) if calls else 0.0,
        "setup_calls_per_question": _round(_mean([_usage(r, "setup_calls") for r in rows])),
        "tokens_per_question": _round(_mean(tokens)),
        "tokens_median": _round(statistics.median(tokens)) if tokens else 0.0,
        "kg_calls_per_question": _round(_mean([_usage(r, "kg_calls") for r in rows])),
        "latency_p50_s": _round(percentile(latency, 50)),
        "latency_p95_s": _round(percentile(latency, 95)),
        "latency_mean_s": _round(_mean(latency)),
        "by_hops": _group(rows, "hops"),
        "by_qtype": _group(rows, "qtype"),
        "stop_reasons": dict(Counter(str(r.get("stop_reason")) for r in rows).most_common()),
        "errors": dict(errors.most_common()),
        "llm_calls_histogram": {
            str(int(k)): v for k, v in sorted(Counter(calls).items(), key=lambda kv: kv[0])
        },
        "linking": manifest.get("linking"),
        "linking_mode": manifest.get("linking_mode"),
        "kg": manifest.get("kg"),
        "backend": manifest.get("backend"),
        "model": manifest.get("model"),
        "search": search_shown,
        "sample": manifest.get("sample"),
        "limit": manifest.get("limit"),
        "data_sha256": manifest.get("data_sha256"),
        "code_version": manifest.get("code_version"),
        "started_at": manifest.get("started_at"),
        "gold_caveats": list(gold_caveats(dataset)),
    }
    return summary


def _cell(value: JSON) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
    if value is None:
        return "-"
    return str(value).replace("|", "\\|")


def render_markdown(summary: Mapping[str, JSON]) -> str:
    """``report.md``: the summary as Markdown tables."""
    lines = [f"# {summary.get('dataset')}: evaluation report", ""]
    info = (
        ("questions (n)", summary.get("n")),
        ("answered", summary.get("answered")),
        ("missing (scored 0)", summary.get("missing")),
        ("linking", f"{summary.get('linking')} ({summary.get('linking_mode')})"),
        ("knowledge graph", summary.get("kg")),
        ("backend / model", f"{summary.get('backend')} / {summary.get('model') or '-'}"),
        ("search", json.dumps(summary.get("search"))),
        ("sample / limit", f"{_cell(summary.get('sample'))} / {_cell(summary.get('limit'))}"),
        ("code version", json.dumps(summary.get("code_version"))),
        ("started", summary.get("started_at")),
    )
    lines += ["| run | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in info), ""]
    lines += ["## Metrics", "", "| " + " | ".join(METRICS) + " |", "|" + "---|" * len(METRICS)]
    lines += ["| " + " | ".join(_cell(summary.get(m)) for m in METRICS) + " |", ""]
    cost = (
        ("LLM calls / question (mean, median)", "llm_calls_per_question", "llm_calls_median"),
        ("tokens / question (mean, median)", "tokens_per_question", "tokens_median"),
        ("KG calls / question (mean)", "kg_calls_per_question", None),
        ("latency p50 / p95 (s)", "latency_p50_s", "latency_p95_s"),
    )
    lines += ["## Cost", "", "| | |", "|---|---|"]
    for label, first, second in cost:
        value = _cell(summary.get(first))
        if second is not None:
            value += f", {_cell(summary.get(second))}"
        lines.append(f"| {label} | {value} |")
    lines.append("")
    for title, key in (("By hops", "by_hops"), ("By question type", "by_qtype")):
        groups = summary.get(key)
        if not isinstance(groups, dict) or not groups:
            continue
        lines += [f"## {title}", "", "| group | n | " + " | ".join(METRICS) + " |"]
        lines.append("|---|---|" + "---|" * len(METRICS))
        for name, stats in groups.items():
            if isinstance(stats, dict):
                cells = " | ".join(_cell(stats.get(m)) for m in METRICS)
                lines.append(f"| {_cell(name)} | {_cell(stats.get('n'))} | {cells} |")
        lines.append("")
    for title, key in (("Stop reasons", "stop_reasons"), ("Errors", "errors")):
        counts = summary.get(key)
        if isinstance(counts, dict) and counts:
            lines += [f"## {title}", "", "| kind | count |", "|---|---|"]
            lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in counts.items()]
            lines.append("")
    caveats = summary.get("gold_caveats")
    if isinstance(caveats, list) and caveats:
        lines += ["## Gold caveats", "", *(f"- {c}" for c in caveats), ""]
    return "\n".join(lines)


# --- run folders ---------------------------------------------------------------------------------


def load_run(out: str | Path) -> tuple[dict[str, JSON], list[Record]]:
    """A run folder's manifest and records (a torn last line is ignored, not repaired).

    Raises:
        eval.runner.RunError: no ``run.json``, or a damaged record.
    """
    out = Path(out)
    return read_manifest(out), read_results(out / RESULTS)


def write_report(out: str | Path) -> dict[str, JSON]:
    """Summarize a run folder and write ``report.json``, ``report.md`` and plots into it.

    Raises:
        eval.runner.RunError: the folder holds no run.
    """
    out = Path(out)
    manifest, records = load_run(out)
    summary = summarize(manifest, records)
    (out / REPORT_JSON).write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / REPORT_MD).write_text(render_markdown(summary), encoding="utf-8")
    write_plots(out, summary)
    return summary


def write_plots(out: Path, summary: Mapping[str, JSON]) -> list[Path]:
    """Accuracy by hop and an LLM-calls histogram as PNGs, if matplotlib is installed."""
    try:  # an optional dependency, imported by name so type checking does not need it
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return []
    written: list[Path] = []
    hops = summary.get("by_hops")
    if isinstance(hops, dict) and hops:
        figure, axes = plt.subplots(figsize=(4, 3))
        values = [_number(v.get("hits@1")) if isinstance(v, dict) else 0.0 for v in hops.values()]
        axes.bar(list(hops), values)
        axes.set(xlabel="hops", ylabel="Hits@1", ylim=(0, 1), title=str(summary.get("dataset")))
        figure.tight_layout()
        figure.savefig(out / "accuracy_by_hop.png")
        plt.close(figure)
        written.append(out / "accuracy_by_hop.png")
    histogram = summary.get("llm_calls_histogram")
    if isinstance(histogram, dict) and histogram:
        figure, axes = plt.subplots(figsize=(4, 3))
        axes.bar(list(histogram), [_number(v) for v in histogram.values()])
        axes.set(xlabel="LLM calls per question", ylabel="questions")
        figure.tight_layout()
        figure.savefig(out / "llm_calls.png")
        plt.close(figure)
        written.append(out / "llm_calls.png")
    return written


# --- comparing two runs --------------------------------------------------------------------------


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, rounds: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of ``mean(b) - mean(a)`` over paired per-question scores.

    >>> paired_bootstrap([0.0, 1.0, 1.0], [0.0, 1.0, 1.0])
    (0.0, 0.0)
    """
    if len(a) != len(b):
        raise ValueError(f"paired scores differ in length: {len(a)} and {len(b)}")
    if not a:
        return (0.0, 0.0)
    rng = random.Random(seed)
    deltas = [y - x for x, y in zip(a, b, strict=True)]
    means = sorted(statistics.fmean(rng.choices(deltas, k=len(deltas))) for _ in range(rounds))
    return (_round(percentile(means, 2.5)), _round(percentile(means, 97.5)))


def compare(
    first: tuple[Mapping[str, JSON], Sequence[Record]],
    second: tuple[Mapping[str, JSON], Sequence[Record]],
) -> dict[str, JSON]:
    """Per-metric deltas (second minus first) and the questions whose Hits@1 changed.

    Deltas use each run's own summary; the bootstrap intervals and the changed questions use
    the questions both runs answered.
    """
    summary_a, summary_b = summarize(*first), summarize(*second)
    rows_a = {str(r.get("id")): r for r in first[1]}
    rows_b = {str(r.get("id")): r for r in second[1]}
    shared = [key for key in rows_a if key in rows_b]
    shared.sort(key=lambda key: _number(rows_a[key].get("index")))
    metrics: dict[str, JSON] = {}
    for name in (*METRICS, "llm_calls_per_question", "kg_calls_per_question", "latency_p50_s"):
        a, b = _number(summary_a.get(name)), _number(summary_b.get(name))
        entry: dict[str, JSON] = {"a": a, "b": b, "delta": _round(b - a)}
        if name in METRICS:
            low, high = paired_bootstrap(
                [_metric(rows_a[k], name) for k in shared],
                [_metric(rows_b[k], name) for k in shared],
            )
            entry["ci95"] = [low, high]
        metrics[name] = entry
    changed: list[JSON] = []
    for key in shared:
        before, after = _metric(rows_a[key], "hits@1"), _metric(rows_b[key], "hits@1")
        if before != after:
            changed.append(
                {
                    "id": key,
                    "question": rows_a[key].get("question"),
                    "a": before,
                    "b": after,
                    "answers_a": rows_a[key].get("answers"),
                    "answers_b": rows_b[key].get("answers"),
                }
            )
    differs = [
        key
        for key in ("dataset", "kg", "backend", "model", "linking", "search")
        if first[0].get(key) != second[0].get(key)
    ]
    return {
        "a": {"dataset": summary_a.get("dataset"), "n": summary_a.get("n")},
        "b": {"dataset": summary_b.get("dataset"), "n": summary_b.get("n")},
        "shared": len(shared),
        "settings_differ": list(differs),
        "metrics": metrics,
        "improved": sum(1 for c in changed if isinstance(c, dict) and _number(c.get("b")) > 0),
        "regressed": sum(1 for c in changed if isinstance(c, dict) and _number(c.get("a")) > 0),
        "changed": changed,
    }


def render_comparison(comparison: Mapping[str, JSON], *, show: int = 20) -> str:
    """The comparison as text: a metric table, then up to ``show`` changed questions."""
    differ = comparison.get("settings_differ")
    lines = [
        f"shared questions: {comparison.get('shared')}; settings differing: "
        f"{', '.join(map(str, differ)) if isinstance(differ, list) and differ else 'none'}",
        "",
        f"{'metric':24} {'A':>8} {'B':>8} {'delta':>8}  95% CI (paired bootstrap)",
    ]
    metrics = comparison.get("metrics")
    if isinstance(metrics, dict):
        for name, entry in metrics.items():
            if not isinstance(entry, dict):
                continue
            ci = entry.get("ci95")
            interval = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if isinstance(ci, list) else ""
            lines.append(
                f"{name:24} {_number(entry.get('a')):8.4f} {_number(entry.get('b')):8.4f} "
                f"{_number(entry.get('delta')):+8.4f}  {interval}"
            )
    changed = comparison.get("changed")
    if isinstance(changed, list) and changed:
        lines += [
            "",
            f"Hits@1 changed on {len(changed)} question(s): {comparison.get('improved')} "
            f"improved, {comparison.get('regressed')} regressed",
        ]
        for item in changed[:show]:
            if isinstance(item, dict):
                arrow = "+" if _number(item.get("b")) > 0 else "-"
                lines.append(
                    f"  {arrow} {item.get('id')}: {item.get('question')}  "
                    f"A={json.dumps(item.get('answers_a'), ensure_ascii=False)} "
                    f"B={json.dumps(item.get('answers_b'), ensure_ascii=False)}"
                )
        if len(changed) > show:
            lines.append(f"  ... and {len(changed) - show} more (--json lists them all)")
    return "\n".join(lines)
