"""Notebook views: HTML reprs (escaped), the explored-subgraph picture, step-through, `--graph`."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

import tog
from kg_adapters import LiteralValue, NetworkXGraph
from tog.display import depth_record_html
from tog.viz import RelationCandidate, draw, explored_subgraph, picture_format

HOSTILE = "<script>alert('x')</script>"
FILMS = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("Inception", "starring", "Leonardo DiCaprio"),
    ("Inception", "starring", HOSTILE),
    ("Inception", HOSTILE, "Leonardo DiCaprio"),
    ("Inception", "release_year", LiteralValue("2010")),
    ("Inception", "budget", LiteralValue("$160 million")),
    ("Christopher Nolan", "born_in", "London"),
    ("London", "capital_of", "United Kingdom"),
]
QUESTION = "Where was the director of Inception born?"


@pytest.fixture(scope="module")
def kg() -> NetworkXGraph:
    return NetworkXGraph.from_triples(FILMS)


@pytest.fixture(scope="module")
def result(kg: NetworkXGraph) -> tog.Result:
    return tog.answer(QUESTION, kg=kg, topic_entities=["Inception"])


# --- HTML ----------------------------------------------------------------------------------------


def test_result_html_shows_question_answer_paths_depths_calls_and_usage(result: tog.Result):
    page = result._repr_html_()
    assert result.answer == "London"
    assert html.escape(QUESTION) in page
    assert '<span class="answer">London</span>' in page
    assert "—directed_by→ Christopher Nolan" in page  # a path, walked from its topic
    assert "Depth 1" in page
    assert "Depth 2" in page
    assert '<tr class="kept">' in page
    assert '<tr class="pruned">' in page
    assert page.count("<details><summary>#") == len(result.trace.llm_events())
    assert "Raw reply" in page
    assert "parsed" in page
    assert "llm_calls" in page


def test_every_text_is_escaped(result: tog.Result):
    for page in (result._repr_html_(), result.trace._repr_html_()):
        assert "<script" not in page
        assert "alert(" not in page or "&lt;script&gt;alert(&#x27;x&#x27;)" in page
    # the hostile relation was a candidate, so it is shown, escaped
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in result._repr_html_()


def test_hostile_question_and_reply_are_escaped(kg: NetworkXGraph):
    question = f"Who directed Inception? {HOSTILE}"
    llm = tog.llm.ScriptedLLM(
        replies=lambda request: (
            '{"sufficient": true, "answers": ["<img src=x onerror=1>"]}'
            if "sufficient" in request.messages[0].content
            else "[1]"
        )
    )
    found = tog.answer(question, kg=kg, llm=llm, topic_entities=["Inception"])
    page = found._repr_html_()
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;" in page


def test_no_external_fetches(result: tog.Result):
    page = result._repr_html_()
    assert not re.search(r"(src|href)\s*=", page)
    assert "@import" not in page
    assert "url(" not in page


def test_trace_html_has_prompts_replies_parse_and_kg_queries(result: tog.Result):
    page = result.trace._repr_html_()
    event = result.trace.llm_events()[0]
    assert isinstance(event.request, dict)
    messages = event.request["messages"]
    assert isinstance(messages, list)
    first = messages[-1]
    assert isinstance(first, dict)
    assert html.escape(str(first["content"])) in page
    assert "KG queries" in page
    assert ">relations<" in page


def test_reasoning_path_and_depth_record_html(result: tog.Result):
    path = result.paths[0]
    page = path._repr_html_()
    assert "<table>" in page
    assert "Inception" in page
    record = depth_record_html(result.depths[0], result.labels)
    assert "<details open>" in record


# --- the picture ---------------------------------------------------------------------------------


def test_explored_subgraph_marks_topics_kept_pruned_and_the_answer_path(result: tog.Result):
    graph = explored_subgraph(result)
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.nodes["Inception"]["kind"] == "topic"
    assert graph.nodes["London"]["best_answer"]
    assert graph.nodes["London"]["answer"]
    assert graph.nodes["Christopher Nolan"]["kept"]
    assert any(data["label"] == HOSTILE for *_, data in graph.edges(data=True))
    assert graph.edges["Inception", "Christopher Nolan", "directed_by"]["answer_path"]
    assert graph.edges["Christopher Nolan", "London", "born_in"]["answer_path"]
    assert not graph.edges["Inception", "Leonardo DiCaprio", HOSTILE]["answer_path"]
    pruned = [n for n, d in graph.nodes(data=True) if not d["kept"]]
    assert pruned
    stubs = [n for n in graph if isinstance(n, RelationCandidate)]
    assert all(graph.nodes[s]["kind"] == "relation" for s in stubs)
    depths = {d["depth"] for _, d in graph.nodes(data=True)}
    assert depths >= {0, 1, 2}


def test_draw_writes_png_and_svg(result: tog.Result, tmp_path: Path):
    png = tmp_path / "graph.png"
    svg = tmp_path / "graph.svg"
    figure = draw(result, png)
    assert png.read_bytes().startswith(b"\x89PNG")
    draw(result, svg)
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith(("<?xml", "<svg"))
    assert "London" in text  # text stays text in SVG
    assert "<script>alert" not in text  # labels are escaped by the SVG writer
    assert figure._repr_png_().startswith(b"\x89PNG")  # type: ignore[attr-defined]


def test_draw_into_given_axes_and_rejects_unknown_formats(result: tog.Result, tmp_path: Path):
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    assert draw(result, ax=ax) is figure
    with pytest.raises(ValueError, match=r"\.gif"):
        draw(result, tmp_path / "graph.gif")
    assert picture_format("x.SVG") == "svg"
    assert picture_format("x", "pdf") == "pdf"
    assert not (tmp_path / "graph.gif").exists()


def test_draw_without_any_depth(kg: NetworkXGraph, tmp_path: Path):
    config = tog.SearchConfig(depth=1)
    empty = tog.answer("Who is Nobody?", kg=kg, topic_entities=["United Kingdom"], config=config)
    draw(empty, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").stat().st_size > 0


# --- step-through --------------------------------------------------------------------------------


def test_stepper_pauses_after_each_depth_and_ends_like_run(kg: NetworkXGraph):
    stepper = tog.Stepper(kg, question=QUESTION, topic_entities=["Inception"])
    assert not stepper.done
    assert stepper.beam == ()
    assert "call step()" in stepper._repr_html_()
    first = stepper.step()
    assert first is not None
    assert first.depth == 1
    assert not stepper.done
    assert stepper.beam[0].text().startswith("Inception | directed_by")
    assert all(isinstance(p.score, float) for p in stepper.beam)
    assert "Depth 1" in stepper._repr_html_()
    records = [first]
    while (record := stepper.step()) is not None:
        records.append(record)
    assert stepper.done
    assert stepper.step() is None
    expected = tog.answer(QUESTION, kg=kg, topic_entities=["Inception"])
    assert stepper.result is not None
    assert stepper.result.answers == expected.answers
    assert tuple(records) == stepper.result.depths == expected.depths
    assert [e.request for e in stepper.trace] == [e.request for e in expected.trace]
    assert "done" in stepper._repr_html_()


def test_stepper_run_and_errors(kg: NetworkXGraph):
    stepper = tog.Stepper(kg, question=QUESTION, topic_entities=["Inception"])
    assert stepper.run().answer == "London"
    assert stepper.answer == "London"

    class Broken(NetworkXGraph):
        def neighbors(self, hops, *, limit=None):
            raise RuntimeError("store down")

    broken = Broken.from_triples(FILMS)
    failing = tog.Stepper(broken, question=QUESTION, topic_entities=["Inception"])
    with pytest.raises(RuntimeError, match="store down"):
        failing.step()
    with pytest.raises(RuntimeError, match="start a new Stepper"):
        failing.step()


def test_default_graph_is_the_embedded_one():
    kg = tog.default_graph()
    assert tog.answer("Who directed Inception?", kg=kg).answer == "Christopher Nolan"


# --- tog ask --graph -----------------------------------------------------------------------------


def _tog(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("tog", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "tog.cli"]
    env = {**os.environ, "MPLBACKEND": "module://not-a-backend"}  # drawing must not need one
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_cli_graph_writes_the_picture(tmp_path: Path):
    out = tmp_path / "inception.svg"
    done = _tog("ask", "Where was the director of Inception born?", "--graph", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer: London")
    assert "London" in out.read_text(encoding="utf-8")


def test_cli_graph_unknown_extension_is_one_line(tmp_path: Path):
    done = _tog("ask", "Who directed Inception?", "--graph", str(tmp_path / "x.gif"))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "tog: error: cannot write a picture with '.gif': use .png, .svg, .pdf"
    ]


# --- the interactive view ------------------------------------------------------------------------


def test_explored_subgraph_up_to_a_depth(result: tog.Result):
    full = explored_subgraph(result)
    assert explored_subgraph(result, max_depth=None).number_of_nodes() == full.number_of_nodes()
    sizes = []
    for depth in range(3):
        graph = explored_subgraph(result, max_depth=depth)
        assert all(d <= depth for _, d in graph.nodes(data="depth"))
        assert all(d <= depth for *_, d in graph.edges(data="depth"))
        sizes.append(graph.number_of_nodes())
    assert sizes[0] == len(result.topic_entities)
    assert sizes[0] < sizes[1] < sizes[2] == full.number_of_nodes()
    assert "London" not in explored_subgraph(result, max_depth=1)


def _parts(widget):
    slider, chooser = widget.children[0].children
    picture, panel = widget.children[1:]
    return slider, chooser, picture, panel


def _drawn_nodes(picture) -> int:
    # one scatter (a PathCollection in the SVG) per drawn node
    return bytes(picture.value).count(b'id="PathCollection_')


def test_interactive_slider_redraws_up_to_the_chosen_depth(result: tog.Result):
    pytest.importorskip("ipywidgets")
    from tog.viz import ANSWER_PATH, interactive

    widget = interactive(result)
    slider, chooser, picture, panel = _parts(widget)
    assert (slider.min, slider.max, slider.value) == (0, 2, 2)
    assert chooser.value == ANSWER_PATH
    deepest = _drawn_nodes(picture)
    assert deepest == explored_subgraph(result).number_of_nodes()
    assert "—born_in→ London" in panel.value  # the answer path's triples
    slider.value = 1
    shallow = _drawn_nodes(picture)
    assert 0 < shallow < deepest
    assert b"up to depth 1" in bytes(picture.value)
    slider.value = 0
    assert _drawn_nodes(picture) == len(result.topic_entities)


def test_interactive_dropdown_highlights_one_path(kg: NetworkXGraph):
    pytest.importorskip("ipywidgets")
    from tog.viz import ANSWER_PATH, interactive

    found = tog.answer("What do you know about Inception?", kg=kg, topic_entities=["Inception"])
    budget = next(k for k, p in enumerate(found.paths) if p.triples[0].relation == "budget")
    widget = interactive(found)
    _, chooser, picture, panel = _parts(widget)
    assert [value for _, value in chooser.options] == [
        ANSWER_PATH,
        *range(len(found.paths)),
    ]
    before = panel.value
    assert b"path to the answer" in bytes(picture.value)  # the legend names the red path
    chooser.value = budget
    assert "<td>budget</td><td>$160 million</td>" in panel.value
    assert "born_in" not in panel.value
    assert b"selected reasoning path" in bytes(picture.value)
    assert b"path to the answer" not in bytes(picture.value)
    chooser.value = ANSWER_PATH
    assert panel.value == before
    assert b"path to the answer" in bytes(picture.value)
    assert "<script" not in panel.value


def test_interactive_without_ipywidgets_names_the_extra(
    result: tog.Result, monkeypatch: pytest.MonkeyPatch
):
    from tog.viz import interactive

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"think-on-graph\[notebooks\]"):
        interactive(result)
