"""FalkorDB servers for the Neo4j adapter tests: one per dataset (Bolt serves one graph only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.neo4j.tiny import tiny_server
from tests.services import FalkorDB, need_falkordb


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def props_server() -> Iterator[tuple[FalkorDB, Any]]:
    """tiny_kg as a property graph, and a session driver on it."""
    with tiny_server("props") as pair:
        yield pair


@pytest.fixture(scope="session")
def tsv_server() -> Iterator[tuple[FalkorDB, Any]]:
    """tiny_kg.tsv loaded by `load_triples`, and a session driver on it."""
    with tiny_server("tsv") as pair:
        yield pair


@pytest.fixture
def empty_server() -> Iterator[tuple[FalkorDB, Any]]:
    """A fresh, empty FalkorDB and a driver on it (for loads and writes)."""
    need_falkordb()
    with FalkorDB() as server:
        driver = server.driver()
        try:
            yield server, driver
        finally:
            driver.close()
