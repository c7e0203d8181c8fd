"""Rich HTML views of results, traces, paths and depth records, for Jupyter's ``_repr_html_``.

Every text that comes from a graph, a question or a model is escaped with `html.escape`; the
markup is self-contained (inline CSS, no scripts, nothing fetched).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kg_adapters.base import Node, Triple
from tog.paths import DepthRecord, Path, display

if TYPE_CHECKING:
    from tog.result import ReasoningPath, Result
    from tog.stepper import Stepper
    from tog.trace import JSON, Trace, TraceEvent

MAX_ROWS = 40
"""Candidate tables show at most this many rows (kept ones first, then by score)."""

_CSS = """<style>
.tog{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:13px;line-height:1.45}
.tog table{border-collapse:collapse;margin:4px 0 8px 0}
.tog th,.tog td{border:1px solid #d0d7de;padding:2px 6px;text-align:left;vertical-align:top}
.tog th{background:#f6f8fa}
.tog tr.kept td{background:#dafbe1;font-weight:600}
.tog tr.pruned td{color:#6e7781}
.tog .answer{font-size:1.15em;font-weight:700;color:#1a7f37}
.tog .muted{color:#6e7781}
.tog .bad{color:#cf222e;font-weight:600}
.tog .ok{color:#1a7f37}
.tog .head{font-weight:700;margin:10px 0 2px 0}
.tog pre{white-space:pre-wrap;word-break:break-word;max-height:22em;overflow:auto;
background:#f6f8fa;color:#1f2328;padding:4px 6px;margin:2px 0 6px 0;font-size:12px}
.tog details{margin:2px 0 2px 0}
.tog summary{cursor:pointer}
.tog .role{font-weight:600;font-size:11px;text-transform:uppercase;color:#57606a}
.tog ol{margin:2px 0;padding-left:1.6em}
</style>"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _rel(relation: str, labels: Mapping[str, str]) -> str:
    return labels.get(relation, relation)


def _wrap(kind: str, body: str) -> str:
    return f'<div class="tog {kind}">{_CSS}{body}</div>'


# --- paths ---------------------------------------------------------------------------------------


def walk_html(topic: Node, triples: Sequence[Triple], labels: Mapping[str, str]) -> str:
    """A path as it was walked from its topic: ``A —r→ B ←s— C`` (arrows in KG direction).

    Args:
        topic: Where the walk starts.
        triples: The path's triples, in the KG's own direction.
        labels: Display names of entity and relation ids.

    Returns:
        Escaped HTML.
    """
    parts = [f"<b>{_e(display(topic, labels))}</b>"]
    previous: Node = topic
    for triple in triples:
        relation = _e(_rel(triple.relation, labels))
        if triple.subject == previous:
            parts.append(f" —{relation}→ ")
            previous = triple.object
        else:
            parts.append(f" ←{relation}— ")
            previous = triple.subject
        parts.append(_e(display(previous, labels)))
    return "".join(parts)


def _path_line(path: ReasoningPath, *, supporting: bool = False) -> str:
    mark = '<span title="supports the answer">★</span> ' if supporting else ""
    ends = ""
    if path.ends:
        shown = ", ".join(_e(display(n, path.labels)) for n in path.ends[:10])
        more = f" (+{len(path.ends) - 10})" if len(path.ends) > 10 else ""
        ends = f' <span class="muted">ends: {shown}{more}</span>'
    walk = walk_html(path.topic, path.triples, path.labels)
    return f'{mark}{walk} <span class="muted">score {_score(path.score)}</span>{ends}'


def path_html(path: ReasoningPath) -> str:
    """One reasoning path: its walk from the topic entity, its score and its triples."""
    rows = "".join(
        f"<tr><td>{_e(display(t.subject, path.labels))}</td>"
        f"<td>{_e(_rel(t.relation, path.labels))}</td>"
        f"<td>{_e(display(t.object, path.labels))}</td></tr>"
        for t in path.triples
    )
    table = (
        f"<table><tr><th>subject</th><th>relation</th><th>object</th></tr>{rows}</table>"
        if rows
        else ""
    )
    return _wrap("tog-path", f"<div>{_path_line(path)}</div>{table}")


def _engine_path_line(path: Path, labels: Mapping[str, str]) -> str:
    walk = walk_html(path.topic, path.triples(), labels)
    ends = ""
    if path.members:
        shown = ", ".join(_e(display(n, labels)) for n in path.ends[:10])
        ends = f' <span class="muted">ends: {shown}</span>'
    return f'{walk} <span class="muted">score {_score(path.score)}</span>{ends}'


def beam_html(beam: Iterable[Path], labels: Mapping[str, str]) -> str:
    """The beam (engine paths) as an ordered list, best first as the engine ranked them."""
    items = "".join(f"<li>{_engine_path_line(p, labels)}</li>" for p in beam)
    return f"<ol>{items}</ol>" if items else '<div class="muted">(empty beam)</div>'


# --- depth records -------------------------------------------------------------------------------


def _rows(
    rows: list[tuple[bool, float, str]], header: str, empty: str, max_rows: int = MAX_ROWS
) -> str:
    if not rows:
        return f'<div class="muted">{_e(empty)}</div>'
    rows.sort(key=lambda r: (not r[0], -r[1]))
    shown = "".join(
        f'<tr class="{"kept" if kept else "pruned"}">{cells}</tr>'
        for kept, _, cells in rows[:max_rows]
    )
    more = ""
    if len(rows) > max_rows:
        more = f'<tr class="pruned"><td colspan="5">… {len(rows) - max_rows} more</td></tr>'
    return f"<table>{header}{shown}{more}</table>"


def depth_html(
    record: DepthRecord, labels: Mapping[str, str], *, open_: bool = False, max_rows: int = MAX_ROWS
) -> str:
    """One depth of the search: relation and entity candidates with scores, kept ones highlighted.

    Args:
        record: What the search decided at this depth.
        labels: Display names of entity and relation ids.
        open_: Render the ``<details>`` block expanded.
        max_rows: Most rows per candidate table.

    Returns:
        A ``<details>`` block (escaped HTML, no CSS: embed it in a ``.tog`` element).
    """
    arrow = {"out": "→", "in": "←"}
    relations = [
        (
            d.kept,
            d.score,
            f"<td>{_e(display(d.entity, labels))}</td><td>{arrow[d.direction]}</td>"
            f"<td>{_e(_rel(d.relation, labels))}</td><td>{_score(d.score)}</td>"
            f"<td>{'kept' if d.kept else 'pruned'}</td>",
        )
        for d in record.relations
    ]
    entities = [
        (
            d.kept,
            d.score,
            f"<td>{_e(display(d.via, labels))}</td>"
            f"<td>{arrow[d.direction]} {_e(_rel(d.relation, labels))}</td>"
            f"<td>{_e(display(d.node, labels))}</td><td>{_score(d.score)}</td>"
            f"<td>{'kept' if d.kept else 'pruned'}</td>",
        )
        for d in record.entities
    ]
    kept_r = sum(d.kept for d in record.relations)
    kept_e = sum(d.kept for d in record.entities)
    verdict = {None: "not judged", True: "sufficient", False: "not sufficient"}[record.sufficient]
    frontier = ", ".join(display(e, labels) for e in record.frontier[:8])
    if len(record.frontier) > 8:
        frontier += f", … (+{len(record.frontier) - 8})"
    summary = (
        f"<b>Depth {record.depth}</b> — from {_e(frontier)} — relations "
        f"{kept_r}/{len(record.relations)} kept, entities {kept_e}/{len(record.entities)} kept "
        f"— {verdict}"
    )
    notes = "".join(f"<li>{_e(n.kind)}: {_e(n.detail)}</li>" for n in record.notes)
    body = (
        '<div class="head">Relation candidates</div>'
        + _rows(
            relations,
            "<tr><th>from</th><th></th><th>relation</th><th>score</th><th></th></tr>",
            "no relation candidates",
            max_rows,
        )
        + '<div class="head">Entity candidates</div>'
        + _rows(
            entities,
            "<tr><th>via</th><th>relation</th><th>entity</th><th>score</th><th></th></tr>",
            "no entity candidates",
            max_rows,
        )
        + '<div class="head">Beam after this depth</div>'
        + beam_html(record.beam, labels)
        + (f'<div class="head">Notes</div><ul>{notes}</ul>' if notes else "")
    )
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>{body}</details>"


def depth_record_html(record: DepthRecord, labels: Mapping[str, str] | None = None) -> str:
    """A whole, styled view of one depth record (expanded)."""
    return _wrap("tog-depth", depth_html(record, labels or {}, open_=True))


# --- traces --------------------------------------------------------------------------------------


def _short_json(value: JSON, limit: int = 240) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, dict) else {}


def _parse_text(parse: JSON) -> str:
    info = _mapping(parse)
    if not info:
        return '<span class="muted">parse: —</span>'
    ok = bool(info.get("ok"))
    detail = str(info.get("detail") or "")
    rejected = info.get("rejected") or []
    text = '<span class="ok">parsed</span>' if ok else '<span class="bad">parse fallback</span>'
    if detail:
        text += f" — {_e(detail)}"
    if isinstance(rejected, list) and rejected:
        text += " — rejected: " + ", ".join(_e(r) for r in rejected)
    return text


def llm_call_html(event: TraceEvent, index: int) -> str:
    """One LLM call as a ``<details>`` block: its prompt messages, raw reply and parse outcome."""
    request = _mapping(event.request)
    response = _mapping(event.response)
    info = _mapping(event.parse)
    status = ""
    if event.error:
        status = ' <span class="bad">error</span>'
    elif info and not info.get("ok"):
        status = ' <span class="bad">parse fallback</span>'
    tokens = (
        f"{event.prompt_tokens}+{event.completion_tokens} tokens"
        if event.prompt_tokens or event.completion_tokens
        else "tokens n/a"
    )
    summary = (
        f"#{index} <b>{_e(event.task or 'llm')}</b>{status} "
        f'<span class="muted">{tokens}, {event.seconds:.3f} s'
        f"{', constrained' if event.constrained else ''}</span>"
    )
    messages = request.get("messages")
    shown: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        fields = _mapping(message)
        shown.append(
            f'<div class="role">{_e(fields.get("role", "?"))}</div>'
            f"<pre>{_e(fields.get('content', ''))}</pre>"
        )
    reply = (
        f"<pre>{_e(response.get('text', ''))}</pre>"
        f'<div class="muted">finish: {_e(response.get("finish_reason"))}, '
        f"model: {_e(response.get('model'))}</div>"
        if response
        else '<div class="muted">(no reply)</div>'
    )
    error = f'<div class="bad">{_e(event.error)}</div>' if event.error else ""
    body = (
        f'<div class="head">Prompt ({len(shown)} messages)</div>{"".join(shown)}'
        f'<div class="head">Raw reply</div>{reply}{error}'
        f"<div>{_parse_text(event.parse)}</div>"
    )
    return f"<details><summary>{summary}</summary>{body}</details>"


def _kg_size(event: TraceEvent) -> str:
    response = event.response
    if event.kind == "neighbors":
        counts = _mapping(_mapping(response).get("counts"))
        return f"{sum(int(v) for v in counts.values() if isinstance(v, int))} nodes"
    if isinstance(response, dict | list):
        return f"{len(response)} items"
    return ""


def trace_body_html(trace: Trace) -> str:
    """The trace without its wrapper: a summary line, LLM calls, then a table of KG queries."""
    llm = [(k, e) for k, e in enumerate(trace.events) if e.kind == "llm"]
    other = [(k, e) for k, e in enumerate(trace.events) if e.kind != "llm"]
    seconds = sum(e.seconds for e in trace.events)
    errors = sum(1 for e in trace.events if e.error)
    line = (
        f"{len(trace.events)} events: {len(llm)} LLM calls, {len(other)} KG/embedding calls, "
        f"{seconds:.3f} s in calls"
        + (f', <span class="bad">{errors} errors</span>' if errors else "")
    )
    calls = "".join(llm_call_html(e, k) for k, e in llm)
    rows = "".join(
        f"<tr><td>{k}</td><td>{_e(e.kind)}</td><td><code>{_e(_short_json(e.request))}</code></td>"
        f"<td>{_e(_kg_size(e))}</td><td>{e.seconds:.3f}</td>"
        f'<td class="bad">{_e(e.error or "")}</td></tr>'
        for k, e in other
    )
    table = (
        f"<details><summary>KG queries ({len(other)})</summary><table><tr><th>#</th>"
        f"<th>kind</th><th>request</th><th>result</th><th>s</th><th>error</th></tr>{rows}"
        "</table></details>"
        if other
        else ""
    )
    return f"<div>{line}</div>{calls}{table}"


def trace_html(trace: Trace) -> str:
    """A trace: every LLM call (prompt messages, raw reply, parse) and every KG query."""
    return _wrap("tog-trace", trace_body_html(trace))


# --- results -------------------------------------------------------------------------------------


def _usage_html(result: Result) -> str:
    usage = result.usage
    cells = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(usage[name])}</td></tr>"
        for name in usage
        if usage[name] or name in ("llm_calls", "kg_calls", "wall_seconds")
    )
    tasks = ", ".join(f"{_e(t)}: {n}" for t, n in usage.calls_by_task.items())
    if tasks:
        cells += f"<tr><td>calls by task</td><td>{tasks}</td></tr>"
    return f"<table>{cells}</table>"


def result_html(result: Result) -> str:
    """A result: question, answer, reasoning paths, each depth's candidates, usage and trace."""
    answer = (
        f'<span class="answer">{_e(result.answer)}</span>'
        if result.answer
        else '<span class="bad">(no answer)</span>'
    )
    others = ""
    if len(result.answers) > 1:
        others = ' <span class="muted">other candidates: ' + ", ".join(
            _e(a) for a in result.answers[1:]
        )
        others += "</span>"
    meta = " · ".join(
        _e(x)
        for x in (
            f"stop: {result.stop_reason}",
            f"source: {result.answer_source}",
            f"linking: {result.linking_mode}",
            f"variant: {result.variant}",
            f"pruning: {result.prune_tool}" if result.prune_tool else "",
            f"llm: {result.llm_backend}" if result.llm_backend else "",
        )
        if x
    )
    parts = [
        f"<div><b>Question:</b> {_e(result.question)}"
        + (f' <span class="muted">({_e(result.question_id)})</span>' if result.question_id else "")
        + "</div>",
        f"<div><b>Answer:</b> {answer}{others}</div>",
        f'<div class="muted">{meta}</div>',
    ]
    if result.error:
        parts.append(f'<div class="bad">{_e(result.error)}</div>')
    if result.rationale:
        parts.append(f'<div class="muted">rationale: {_e(result.rationale)}</div>')
    if result.topic_entities:
        topics = ", ".join(
            _e(label) + (f' <span class="muted">({_e(key)})</span>' if label != key else "")
            for key, label in result.topic_entities.items()
        )
        parts.append(f'<div class="head">Topic entities</div><div>{topics}</div>')
    if result.paths:
        supporting = {id(p) for p in result.supporting_paths()} if result.answers else set()
        items = "".join(
            f"<li>{_path_line(p, supporting=id(p) in supporting)}</li>" for p in result.paths
        )
        parts.append(f'<div class="head">Reasoning paths</div><ol>{items}</ol>')
    if result.depths:
        labels = dict(result.labels)
        depths = "".join(depth_html(d, labels) for d in result.depths)
        parts.append(f'<div class="head">Search, depth by depth</div>{depths}')
    if result.links:
        rows = "".join(
            f"<tr><td>{_e(link.mention)}</td><td>"
            + ", ".join(f"{_e(label)} ({score:.2f})" for _, label, score in link.candidates[:5])
            + f"</td><td>{_e(link.chosen or '—')}</td></tr>"
            for link in result.links
        )
        parts.append(
            '<div class="head">Entity linking</div><table><tr><th>mention</th>'
            f"<th>candidates</th><th>chosen</th></tr>{rows}</table>"
        )
    if result.notes:
        notes = "".join(f"<li>{_e(n.kind)}: {_e(n.detail)}</li>" for n in result.notes)
        parts.append(f'<div class="head">Notes</div><ul>{notes}</ul>')
    parts.append(f'<div class="head">Usage</div>{_usage_html(result)}')
    parts.append(
        f"<details><summary><b>Trace</b> ({len(result.trace)} events)</summary>"
        f"{trace_body_html(result.trace)}</details>"
    )
    return _wrap("tog-result", "".join(parts))


def stepper_html(stepper: Stepper) -> str:
    """A step-through search: its state, the last completed depth and the current beam."""
    if stepper.done:
        state = f'done — answer: <span class="answer">{_e(stepper.answer or "(none)")}</span>'
    else:
        state = f"paused after {len(stepper.depths)} depth(s)"
    parts = [f"<div><b>Question:</b> {_e(stepper.question)}</div><div>{state}</div>"]
    labels = stepper.labels
    if stepper.depths:
        parts.append(depth_html(stepper.depths[-1], labels, open_=True))
    else:
        parts.append('<div class="muted">no depth explored yet: call step()</div>')
    return _wrap("tog-stepper", "".join(parts))


__all__ = [
    "MAX_ROWS",
    "beam_html",
    "depth_html",
    "depth_record_html",
    "llm_call_html",
    "path_html",
    "result_html",
    "stepper_html",
    "trace_body_html",
    "trace_html",
    "walk_html",
]
