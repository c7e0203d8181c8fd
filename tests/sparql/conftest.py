"""Session-scoped real SPARQL servers: Virtuoso 7 and Oxigraph, on loopback ports.

A missing binary skips outside CI and fails under ``CI=true`` (docs/environment.md section 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import (
    FREEBASE_GRAPH,
    OxigraphServer,
    Virtuoso,
    need_oxigraph,
    need_virtuoso,
)
from tests.shared_data import DATA, require

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FREEBASE_TINY = FIXTURES / "freebase_tiny.nt"
WIKIDATA_TINY = FIXTURES / "wikidata_tiny.ttl"


@pytest.fixture(scope="session")
def freebase_slice() -> Path:
    """The shared CWQ Freebase slice (skips outside CI when the shared data is missing)."""
    return require(DATA / "freebase_cwq" / "slice.nt")


@pytest.fixture(scope="session")
def virtuoso_freebase(freebase_slice: Path) -> Iterator[Virtuoso]:
    """Virtuoso with slice.nt + freebase_tiny.nt in graph <http://rdf.freebase.com/>."""
    need_virtuoso()
    with Virtuoso(default_graph=FREEBASE_GRAPH) as server:
        server.load(freebase_slice, FREEBASE_GRAPH)
        server.load(FREEBASE_TINY, FREEBASE_GRAPH)
        yield server


@pytest.fixture(scope="session")
def oxigraph_wikidata() -> Iterator[OxigraphServer]:
    """A read-only Oxigraph server over wikidata_tiny.ttl (default graph)."""
    need_oxigraph()
    with OxigraphServer([WIKIDATA_TINY]) as server:
        yield server


@pytest.fixture(scope="session")
def oxigraph_freebase(freebase_slice: Path) -> Iterator[OxigraphServer]:
    """A read-only Oxigraph server over slice.nt (default graph)."""
    need_oxigraph()
    with OxigraphServer([freebase_slice]) as server:
        yield server
