"""Matplotlib drawing of an explored subgraph; imported by `tog.viz.draw` only (needs matplotlib).

Figures are built without pyplot, on the Agg canvas, so drawing never picks or changes a GUI
backend and works in scripts, servers and notebooks alike.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import networkx as nx
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

TOPIC = "#3b7dd8"
KEPT = "#9fd8a8"
ANSWER = "#f5c518"
OTHER_ANSWER = "#fbe7a1"
PRUNED = "#d9d9d9"
PATH = "#d62728"
EDGE = "#4d4d4d"
FADED = "#b3b3b3"
TEXT = "#1f1f1f"


class Picture(Figure):
    """A figure that Jupyter shows as PNG even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight", facecolor="white")
        return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class _Style:
    face: str
    edge: str
    size: float
    width: float
    alpha: float
    marker: str = "o"


def _style(data: dict[str, object]) -> _Style:
    if data.get("best_answer"):
        return _Style(ANSWER, PATH, 460, 2.8, 1.0)
    if data.get("answer"):
        return _Style(OTHER_ANSWER, "#c98a00", 320, 1.6, 1.0)
    if data["kind"] == "topic":
        return _Style(TOPIC, "#1c4587", 460, 1.6, 1.0)
    if data["kind"] == "relation":
        face = KEPT if data["kept"] else PRUNED
        return _Style(face, FADED, 70, 0.8, 0.7 if data["kept"] else 0.45, "s")
    if data["kept"]:
        return _Style(KEPT, "#2e7d32", 260, 1.2, 1.0)
    return _Style(PRUNED, FADED, 130, 0.8, 0.55)


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters; dotted ids keep their informative tail."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    if "." in text and " " not in text:
        return "…" + text[-(width - 1) :]
    return text[: width - 1].rstrip() + "…"


def _visible(graph: nx.MultiDiGraph, max_pruned: int) -> tuple[set[Hashable], Counter[int]]:
    """The nodes to draw, and per depth how many pruned candidates were left out."""
    pruned: dict[int, list[tuple[float, str, Hashable]]] = defaultdict(list)
    shown: set[Hashable] = set()
    for node, data in graph.nodes(data=True):
        if data["kept"] or data["answer"] or data["kind"] == "topic":
            shown.add(node)
        else:
            pruned[data["depth"]].append((-(data["score"] or 0.0), data["label"], node))
    hidden: Counter[int] = Counter()
    for depth, items in pruned.items():
        items.sort(key=lambda item: (item[0], item[1]))
        shown.update(node for _, _, node in items[:max_pruned])
        if len(items) > max_pruned:
            hidden[depth] = len(items) - max_pruned
    return shown, hidden


def _layers(graph: nx.MultiDiGraph, shown: set[Hashable]) -> dict[int, list[Hashable]]:
    """Nodes per depth, each ordered by the mean rank of its neighbours one depth up."""
    by_depth: dict[int, list[Hashable]] = defaultdict(list)
    for node, data in graph.nodes(data=True):
        if node in shown:
            by_depth[data["depth"]].append(node)
    rank: dict[Hashable, float] = {}
    layers: dict[int, list[Hashable]] = {}
    for depth in sorted(by_depth):
        nodes = by_depth[depth]

        def key(node: Hashable, depth: int = depth) -> tuple[float, int, float, str]:
            data = graph.nodes[node]
            near = [
                rank[other]
                for other in (*graph.predecessors(node), *graph.successors(node))
                if other in rank and graph.nodes[other]["depth"] < depth
            ]
            centre = sum(near) / len(near) if near else float("inf")
            group = 0 if data["kept"] or data["answer"] else 1
            group += 2 if data["kind"] == "relation" else 0
            return (centre, group, -(data["score"] or 0.0), str(data["label"]))

        ordered = sorted(nodes, key=key)
        for k, node in enumerate(ordered):
            rank[node] = k - (len(ordered) - 1) / 2
        layers[depth] = ordered
    return layers


def draw_graph(
    graph: nx.MultiDiGraph,
    *,
    ax: Axes | None,
    max_pruned: int,
    label_width: int,
    title: str,
    path_key: str = "answer_path",
    path_label: str = "path to the answer",
) -> Figure:
    """Draw ``graph`` (from `tog.viz.explored_subgraph`) and return its figure.

    Edges whose ``path_key`` attribute is true are drawn in red, named ``path_label`` in the
    legend.
    """
    shown, hidden = _visible(graph, max_pruned)
    layers = _layers(graph, shown)
    display = nx.MultiDiGraph()
    subsets: dict[int, list[Hashable]] = {}
    for depth, nodes in layers.items():
        extra = [("more", depth)] if hidden.get(depth) else []
        subsets[depth] = list(reversed(nodes + extra))  # multipartite_layout fills bottom-up
        display.add_nodes_from(subsets[depth])
    if len(display):
        raw = nx.multipartite_layout(display, subset_key=subsets, align="vertical")
        pos = {node: (float(xy[0]), float(xy[1])) for node, xy in raw.items()}
    else:
        pos = {}
    tallest = max((len(nodes) for nodes in subsets.values()), default=1)
    if ax is None:
        figure: Figure = Picture(
            figsize=(max(6.0, 1.6 + 3.4 * max(len(subsets), 1)), max(4.0, 1.8 + 0.62 * tallest))
        )
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
    else:
        root = ax.get_figure(root=True)
        assert isinstance(root, Figure)
        figure = root
    ax.set_axis_off()
    ax.set_title(shorten_lines(title, 110), fontsize=10, loc="left")
    _draw_edges(ax, graph, pos, label_width, path_key)
    _draw_nodes(ax, graph, pos, label_width)
    for depth, count in hidden.items():
        x, y = pos[("more", depth)]
        ax.text(x, y, f"+{count} more pruned", ha="center", va="center", fontsize=7,
                color="#808080", style="italic", parse_math=False)  # fmt: skip
    if pos:
        xs = [x for x, _ in pos.values()]
        ys = [y for _, y in pos.values()]
        step = (max(ys) - min(ys)) / max(tallest - 1, 1) if tallest > 1 else 0.5
        ax.set_xlim(min(xs) - 0.35 * _gap(xs), max(xs) + 0.35 * _gap(xs))
        ax.set_ylim(min(ys) - 0.6 * step, max(ys) + 1.1 * step)
        top = max(ys) + 0.85 * step
        for depth in subsets:
            x = pos[subsets[depth][0]][0]
            name = "topic" if depth == 0 else f"depth {depth}"
            ax.text(x, top, name, ha="center", va="bottom", fontsize=9, color="#595959",
                    weight="bold", parse_math=False)  # fmt: skip
    ax.legend(
        handles=_legend(path_label),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    return figure


def _gap(xs: Sequence[float]) -> float:
    distinct = sorted(set(xs))
    return distinct[1] - distinct[0] if len(distinct) > 1 else 1.0


def shorten_lines(text: str, width: int) -> str:
    """`shorten` applied to each line."""
    return "\n".join(shorten(line, width) for line in text.splitlines())


def _draw_edges(
    ax: Axes,
    graph: nx.MultiDiGraph,
    pos: dict[Hashable, tuple[float, float]],
    label_width: int,
    path_key: str,
) -> None:
    pairs: Counter[frozenset[Hashable]] = Counter()
    for u, v, data in graph.edges(data=True):
        if u not in pos or v not in pos:
            continue
        stub = graph.nodes[v]["kind"] == "relation"
        pair = frozenset((u, v))
        bend = 0.18 * ((pairs[pair] + 1) // 2) * (1 if pairs[pair] % 2 else -1)
        pairs[pair] += 1
        on_path = bool(data.get(path_key))
        if on_path:
            color, width, style, alpha, zorder = PATH, 3.0, "solid", 1.0, 3
        elif data["kept"]:
            color, width, style, alpha, zorder = EDGE, 1.4, "solid", 0.9, 2
        else:
            color, width, style, alpha, zorder = FADED, 0.9, "dashed", 0.7, 1
        arrow = FancyArrowPatch(
            posA=pos[u],
            posB=pos[v],
            arrowstyle="-" if stub else "-|>",
            mutation_scale=10 + 2 * width,
            shrinkA=_radius(graph.nodes[u]) + 1,
            shrinkB=_radius(graph.nodes[v]) + 2,
            connectionstyle=f"arc3,rad={bend}",
            color=color,
            linewidth=width,
            linestyle=style,
            alpha=alpha,
            zorder=zorder,
        )
        ax.add_patch(arrow)
        if stub:
            continue  # the stub node itself is labelled with the relation
        (x0, y0), (x1, y1) = pos[u], pos[v]
        # Edges fan out from the shallower node: labels sit nearer the deeper end, where the
        # fanned edges are further apart.
        t = 0.62 if graph.nodes[u]["depth"] <= graph.nodes[v]["depth"] else 0.38
        mid_x = x0 + t * (x1 - x0)
        mid_y = y0 + t * (y1 - y0) + bend * 0.25 * (x1 - x0)
        strong = on_path or data["kept"]
        ax.text(
            mid_x,
            mid_y,
            shorten(data["label"], min(label_width, 22)),
            ha="center",
            va="center",
            fontsize=7 if strong else 6,
            color=PATH if on_path else ("#333333" if strong else "#9a9a9a"),
            style="normal" if strong else "italic",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            zorder=4 if strong else 1.5,
            parse_math=False,
        )


def _radius(data: dict[str, object]) -> float:
    size: float = _style(data).size
    return float(size**0.5 / 2)


def _draw_nodes(
    ax: Axes,
    graph: nx.MultiDiGraph,
    pos: dict[Hashable, tuple[float, float]],
    label_width: int,
) -> None:
    for node, data in graph.nodes(data=True):
        if node not in pos:
            continue
        style = _style(data)
        x, y = pos[node]
        ax.scatter(
            [x],
            [y],
            s=style.size,
            c=style.face,
            edgecolors=style.edge,
            linewidths=style.width,
            alpha=style.alpha,
            marker=style.marker,
            zorder=5,
        )
        strong = data["kept"] or data["answer"] or data["kind"] == "topic"
        relation = data["kind"] == "relation"
        ax.annotate(
            shorten(data["label"], label_width),
            xy=(x, y),
            xytext=(0, _radius(data) + 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8 if strong and not relation else 7,
            color=TEXT if strong else "#8c8c8c",
            weight="bold" if data["answer"] or data["kind"] == "topic" else "normal",
            style="italic" if relation else "normal",
            bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.75},
            zorder=6,
            parse_math=False,
        )


def _legend(path_label: str) -> list[Line2D]:
    def dot(face: str, edge: str, label: str, marker: str = "o", size: float = 9) -> Line2D:
        return Line2D(
            [],
            [],
            linestyle="none",
            marker=marker,
            markersize=size,
            markerfacecolor=face,
            markeredgecolor=edge,
            label=label,
        )

    return [
        dot(TOPIC, "#1c4587", "topic entity"),
        dot(KEPT, "#2e7d32", "kept entity"),
        dot(PRUNED, FADED, "pruned entity"),
        dot(PRUNED, FADED, "relation candidate (no entity)", "s", 6),
        dot(ANSWER, PATH, "answer"),
        dot(OTHER_ANSWER, "#c98a00", "other answer candidate"),
        Line2D([], [], color=PATH, linewidth=3, label=path_label),
        Line2D(
            [], [], color=EDGE, linewidth=1.4, marker=">", markersize=5, label="kept (KG direction)"
        ),
        Line2D([], [], color=FADED, linewidth=1, linestyle="dashed", label="pruned edge"),
    ]


def save(figure: Figure, path: str | os.PathLike[str] | io.BytesIO, fmt: str) -> None:
    """Write ``figure`` as ``fmt``; SVG text stays text (searchable, selectable)."""
    with rc_context({"svg.fonttype": "none"}):
        figure.savefig(path, format=fmt, dpi=150, bbox_inches="tight", facecolor="white")


def svg_bytes(figure: Figure) -> bytes:
    """``figure`` as SVG (text stays text), for an ``ipywidgets.Image``."""
    buffer = io.BytesIO()
    save(figure, buffer, "svg")
    return buffer.getvalue()
