"""Layering: kg_adapters never imports tog, and importing it does not load the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kg_adapters_never_imports_tog() -> None:
    out = run_python(
        "import sys, kg_adapters\n"
        "kg_adapters.NetworkXGraph, kg_adapters.RDFLibGraph, kg_adapters.load_graph\n"
        "kg_adapters.CachedKG, kg_adapters.to_async\n"
        "import kg_adapters.rdf_graph, kg_adapters.nx_graph, kg_adapters.wrappers\n"
        "import kg_adapters.loading, kg_adapters._label_index, kg_adapters.codec\n"
        "print(sorted(m for m in sys.modules if m == 'tog' or m.startswith('tog.')))\n"
    )
    assert out.strip() == "[]"


def test_importing_kg_adapters_is_light() -> None:
    out = run_python(
        "import sys, kg_adapters\n"
        "print(sorted({'networkx', 'rdflib', 'bm25s', 'numpy', 'anyio'} & set(sys.modules)))\n"
        "kg_adapters.NetworkXGraph\n"
        "print(sorted({'networkx', 'rdflib', 'bm25s'} & set(sys.modules)))\n"
    )
    assert out.splitlines() == ["[]", "['networkx']"]


def test_lazy_names_are_listed() -> None:
    import kg_adapters

    for name in ("NetworkXGraph", "RDFLibGraph", "load_graph", "CachedKG", "to_async"):
        assert name in kg_adapters.__all__
        assert name in dir(kg_adapters)
    assert kg_adapters.__all__ == sorted(kg_adapters.__all__)
    assert all(getattr(kg_adapters, name) is not None for name in kg_adapters.__all__)
