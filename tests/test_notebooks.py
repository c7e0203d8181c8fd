"""The notebooks in notebooks/ run top to bottom (nbclient, the venv's python3 kernel)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DATA = ROOT.parent / "shared" / "data"
NEEDS_DATA = {"03_evaluation_analysis.ipynb", "04_conceptnet_corpus.ipynb"}


def _tools() -> tuple[object, object]:
    try:
        import nbclient
        import nbformat
    except ImportError as exc:  # CI installs them with the dev extra: there, this must fail
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"notebook tools not installed: {exc}")
    return nbclient, nbformat


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_explore_a_trace.ipynb"} <= names
    assert len(names) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    book = json.loads(path.read_text(encoding="utf-8"))
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a cell has outputs"
            assert cell.get("execution_count") is None


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path):
    nbclient, nbformat = _tools()
    if path.name in NEEDS_DATA and not DATA.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data not found: {DATA}")
        pytest.skip(f"shared data not found: {DATA}")
    book = nbformat.read(path, as_version=4)  # type: ignore[attr-defined]
    client = nbclient.NotebookClient(  # type: ignore[attr-defined]
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    html = [
        output
        for cell in book.cells
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]
    images = [
        output
        for cell in book.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    if path.name in {"01_quickstart.ipynb", "02_explore_a_trace.ipynb"}:
        assert html, "the result's rich display was not shown"
    if path.name == "02_explore_a_trace.ipynb":
        assert images, "the picture was not shown"
