"""Pictures of a search: the explored subgraph as a networkx graph, and a static drawing of it.

`explored_subgraph` needs only networkx (a core dependency). `draw` needs matplotlib, and
`interactive` also ipywidgets, both from the ``notebooks`` extra:
``pip install 'think-on-graph[notebooks]'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import networkx as nx

from kg_adapters.base import LiteralValue, Node
from tog.parsing import norm_text
from tog.paths import display

if TYPE_CHECKING:
    from ipywidgets import VBox
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from tog.result import ReasoningPath, Result

FORMATS = ("png", "svg", "pdf")
"""Picture formats `draw` writes, chosen by the file's extension."""


class RelationCandidate(NamedTuple):
    """Node key of a relation candidate that reached no entity (most pruned relations)."""

    entity: str
    relation: str
    direction: str


def explored_subgraph(
    result: Result, *, max_depth: int | None = None, highlight: ReasoningPath | None = None
) -> nx.MultiDiGraph:
    """Everything the search looked at, as a `networkx.MultiDiGraph`.

    Nodes are the topic entities, every entity candidate of every depth, and one
    `RelationCandidate` stub per relation candidate that reached no entity (most pruned
    relations). Node attributes: ``label`` (display name), ``kind`` (``"topic"``, ``"entity"``,
    ``"literal"`` or ``"relation"``), ``depth`` (first depth reached; topics 0), ``kept``,
    ``score`` (best score, None for topics), ``answer`` and ``best_answer``.

    Entity edges run in the KG's own direction, keyed by relation id, with ``relation``,
    ``label``, ``depth``, ``score``, ``kept``, ``answer_path`` (the edge lies on a reasoning
    path to the best answer, or to any answer when none reaches the best one) and ``highlight``
    (the edge lies on ``highlight``). Stub edges run from the entity to its `RelationCandidate`.

    Args:
        result: An answered question (its ``depths``, ``paths`` and ``labels`` are read).
        max_depth: Keep only the nodes and edges the search reached by this depth (0: the
            topic entities alone); None keeps everything.
        highlight: A reasoning path (one of ``result.paths``) whose edges get ``highlight``.

    Returns:
        A new `networkx.MultiDiGraph`.
    """
    labels = result.labels
    graph = nx.MultiDiGraph(question=result.question, answer=result.answer)

    def add_node(node: Node, depth: int, kept: bool, score: float | None) -> None:
        if node in graph:
            data = graph.nodes[node]
            data["kept"] = data["kept"] or kept
            data["depth"] = min(data["depth"], depth)
            if score is not None and (data["score"] is None or score > data["score"]):
                data["score"] = score
            return
        kind = "literal" if isinstance(node, LiteralValue) else "entity"
        graph.add_node(
            node,
            label=display(node, labels),
            kind=kind,
            depth=depth,
            kept=kept,
            score=score,
            answer=False,
            best_answer=False,
        )

    def add_edge(
        subject: Node, relation: str, obj: Node, depth: int, kept: bool, score: float | None
    ) -> None:
        if graph.has_edge(subject, obj, key=relation):
            data = graph.edges[subject, obj, relation]
            data["kept"] = data["kept"] or kept
            if score is not None and (data["score"] is None or score > data["score"]):
                data["score"] = score
            return
        graph.add_edge(
            subject,
            obj,
            key=relation,
            relation=relation,
            label=labels.get(relation, relation),
            depth=depth,
            score=score,
            kept=kept,
            answer_path=False,
            highlight=False,
        )

    for topic, label in result.topic_entities.items():
        graph.add_node(
            topic,
            label=label,
            kind="topic",
            depth=0,
            kept=True,
            score=None,
            answer=False,
            best_answer=False,
        )
    for record in result.depths:
        reached = set()
        for ent in record.entities:
            reached.add((ent.via, ent.relation, ent.direction))
            add_node(ent.via, record.depth - 1, True, None)
            add_node(ent.node, record.depth, ent.kept, ent.score)
            if ent.direction == "out":
                add_edge(ent.via, ent.relation, ent.node, record.depth, ent.kept, ent.score)
            else:
                add_edge(ent.node, ent.relation, ent.via, record.depth, ent.kept, ent.score)
        for rel in record.relations:
            if (rel.entity, rel.relation, rel.direction) in reached:
                continue
            stub = RelationCandidate(rel.entity, rel.relation, rel.direction)
            add_node(rel.entity, record.depth - 1, True, None)
            graph.add_node(
                stub,
                label=labels.get(rel.relation, rel.relation),
                kind="relation",
                depth=record.depth,
                kept=rel.kept,
                score=rel.score,
                answer=False,
                best_answer=False,
            )
            graph.add_edge(
                rel.entity,
                stub,
                key=rel.relation,
                relation=rel.relation,
                label=labels.get(rel.relation, rel.relation),
                depth=record.depth,
                score=rel.score,
                kept=rel.kept,
                answer_path=False,
                highlight=False,
            )
    for path in _answer_paths(graph, result):
        _mark_path(graph, path, result, "answer_path")
    if highlight is not None:
        _mark_path(graph, highlight, result, "highlight")
    if max_depth is not None:
        graph.remove_edges_from(
            [(u, v, k) for u, v, k, d in graph.edges(keys=True, data="depth") if d > max_depth]
        )
        graph.remove_nodes_from([n for n, d in graph.nodes(data="depth") if d > max_depth])
    return graph


def _ends(path: ReasoningPath) -> tuple[Node, ...]:
    return path.ends or ((path.end,) if path.end is not None else ())


def _answer_paths(graph: nx.MultiDiGraph, result: Result) -> list[ReasoningPath]:
    """Flag answer nodes; return the reasoning paths to the best answer (else to any answer)."""
    wanted = {norm_text(a) for a in result.answers}
    best = norm_text(result.answer) if result.answer else None
    ids = set(result.answer_ids)
    for node, data in graph.nodes(data=True):
        if data["kind"] == "relation":
            continue
        text = norm_text(data["label"])
        if text in wanted or node in ids:
            data["answer"] = True
            data["best_answer"] = text == best or (
                bool(result.answer_ids) and node == result.answer_ids[0]
            )
    to_best = [
        p for p in result.paths if any(graph.nodes.get(n, {}).get("best_answer") for n in _ends(p))
    ]
    return to_best or [
        p for p in result.paths if any(graph.nodes.get(n, {}).get("answer") for n in _ends(p))
    ]


def _mark_path(graph: nx.MultiDiGraph, path: ReasoningPath, result: Result, flag: str) -> None:
    """Set ``flag`` on the edges of ``path``, adding any of its nodes and edges not yet drawn."""
    depth_of = {node: data["depth"] for node, data in graph.nodes(data=True)}
    for k, triple in enumerate(path.triples, start=1):
        for node in (triple.subject, triple.object):
            if node not in graph:
                graph.add_node(
                    node,
                    label=display(node, result.labels),
                    kind="literal" if isinstance(node, LiteralValue) else "entity",
                    depth=depth_of.get(node, k),
                    kept=True,
                    score=None,
                    answer=False,
                    best_answer=False,
                )
        key = triple.relation
        if not graph.has_edge(triple.subject, triple.object, key=key):
            graph.add_edge(
                triple.subject,
                triple.object,
                key=key,
                relation=key,
                label=result.labels.get(key, key),
                depth=k,
                score=None,
                kept=True,
                answer_path=False,
                highlight=False,
            )
        graph.edges[triple.subject, triple.object, key][flag] = True


def picture_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The picture format for ``path``: ``format`` if given, else from the file's extension.

    Raises:
        ValueError: the format is not one of `FORMATS`.
    """
    chosen = (format or Path(path).suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        shown = f"'.{chosen}'" if chosen else "no extension"
        raise ValueError(
            f"cannot write a picture with {shown}: use " + ", ".join(f".{f}" for f in FORMATS)
        )
    return chosen


def draw(
    result: Result,
    path: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,
    ax: Axes | None = None,
    max_pruned: int = 10,
    label_width: int = 26,
    max_depth: int | None = None,
    highlight: ReasoningPath | None = None,
) -> Figure:
    """Draw the explored subgraph: depth by depth, left to right, the answer path in red.

    Topic entities are blue, kept entities green, answers gold (the best answer with a red
    ring), pruned candidates faded grey; relation candidates that reached no entity are small
    squares. Edges point in the KG's own direction and are labelled with their relation.

    Args:
        result: An answered question.
        path: Write the picture here (``.png``, ``.svg`` or ``.pdf``); nothing is written if None.
        format: The picture format, overriding the extension of ``path``.
        ax: Draw into these matplotlib axes instead of a new figure.
        max_pruned: Most pruned candidates shown per depth (the rest are counted).
        label_width: Labels longer than this are cut with an ellipsis.
        max_depth: Draw only what the search reached by this depth (0: the topic entities).
        highlight: Draw this reasoning path in red instead of the answer path.

    Returns:
        The matplotlib figure (Jupyter displays it).

    Raises:
        ImportError: matplotlib is missing (install the ``notebooks`` extra).
        ValueError: an unsupported picture format.
    """
    fmt = picture_format(path, format) if path is not None else None
    try:
        from tog import _drawing
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "tog.viz.draw needs matplotlib; install the notebooks extra: "
            "pip install 'think-on-graph[notebooks]'"
        ) from exc
    graph = explored_subgraph(result, max_depth=max_depth, highlight=highlight)
    figure = _drawing.draw_graph(
        graph,
        ax=ax,
        max_pruned=max_pruned,
        label_width=label_width,
        title=_title(result, max_depth),
        path_key="answer_path" if highlight is None else "highlight",
        path_label="path to the answer" if highlight is None else "selected reasoning path",
    )
    if path is not None and fmt is not None:
        _drawing.save(figure, path, fmt)
    return figure


def _title(result: Result, max_depth: int | None = None) -> str:
    answer = result.answer or "(no answer)"
    upto = f"   (up to depth {max_depth})" if max_depth is not None else ""
    return f"{result.question}\nanswer: {answer}   [{result.stop_reason}]{upto}"


ANSWER_PATH = -1
"""The `interactive` dropdown's value for "the answer path"; other values index ``paths``."""


def interactive(result: Result, *, max_pruned: int = 10, label_width: int = 26) -> VBox:
    """An ipywidgets view of the search: a depth slider, a path chooser, the path's triples.

    The widget is a ``VBox`` of three children: an ``HBox`` of the depth ``IntSlider``
    (0 to the deepest depth reached; it starts at the deepest) and a ``Dropdown`` choosing the
    path drawn in red (`ANSWER_PATH`, or the index of one of ``result.paths``); an ``Image``
    holding the SVG of `draw` for those settings; and an ``HTML`` panel with the chosen
    path's triples (`tog.display.path_html`). Moving either control redraws the picture.

    Args:
        result: An answered question.
        max_pruned: Most pruned candidates shown per depth (as in `draw`).
        label_width: Labels longer than this are cut with an ellipsis (as in `draw`).

    Returns:
        An ``ipywidgets.VBox`` (Jupyter displays it).

    Raises:
        ImportError: ipywidgets or matplotlib is missing (install the ``notebooks`` extra).
    """
    try:
        import ipywidgets as widgets

        from tog import _drawing
    except ImportError as exc:
        raise ImportError(
            "tog.viz.interactive needs ipywidgets and matplotlib; install the notebooks extra: "
            "pip install 'think-on-graph[notebooks]'"
        ) from exc
    from tog.display import path_html

    full = explored_subgraph(result)
    answer_paths = _answer_paths(full, result)
    deepest = max((int(d) for _, d in full.nodes(data="depth")), default=0)
    slider = widgets.IntSlider(
        value=deepest, min=0, max=deepest, step=1, description="depth", continuous_update=False
    )
    options: list[tuple[str, int]] = [("answer path", ANSWER_PATH)]
    for k, path in enumerate(result.paths):
        walk = " ".join(path.text().splitlines()[:3]).replace(" | ", " ")
        options.append((_drawing.shorten(f"{k + 1}. {walk}", 80), k))
    chooser = widgets.Dropdown(options=options, value=ANSWER_PATH, description="path")
    picture = widgets.Image(format="svg+xml")
    panel = widgets.HTML()

    def redraw(_change: object = None) -> None:
        index = int(chooser.value)
        chosen = None if index == ANSWER_PATH else result.paths[index]
        figure = draw(
            result,
            max_pruned=max_pruned,
            label_width=label_width,
            max_depth=int(slider.value),
            highlight=chosen,
        )
        picture.value = _drawing.svg_bytes(figure)
        shown = answer_paths if chosen is None else [chosen]
        if shown:
            panel.value = "".join(path_html(p) for p in shown)
        else:
            panel.value = '<div class="tog"><i>no reasoning path reaches an answer</i></div>'

    slider.observe(redraw, names="value")
    chooser.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, chooser]), picture, panel])


__all__ = [
    "ANSWER_PATH",
    "FORMATS",
    "RelationCandidate",
    "draw",
    "explored_subgraph",
    "interactive",
    "picture_format",
]
