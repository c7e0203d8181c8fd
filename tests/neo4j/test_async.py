"""AsyncNeo4jGraph answers exactly what Neo4jGraph answers (they share every flow)."""

from __future__ import annotations

from typing import Any

import neo4j
import pytest

from kg_adapters import AsyncNeo4jGraph, Hop, KGConnectionError, Neo4jGraph
from tests.services import FalkorDB, free_port

pytestmark = [pytest.mark.server, pytest.mark.anyio]

ENTITIES = ["Inception", "Christopher Nolan", "Titanic at the 70th Academy Awards", "x", "148"]
HOPS = [
    Hop(entity, relation, direction)
    for entity in ENTITIES
    for relation in ("directed_by", "written_by", "release_date", "ceremony_year", "award")
    for direction in ("out", "in")
]


@pytest.mark.parametrize("dataset", ["tsv_server", "props_server"])
async def test_async_equals_sync(request: pytest.FixtureRequest, dataset: str):
    server, driver = request.getfixturevalue(dataset)
    options: dict[str, Any] = {"node_label": "Entity", "literal_properties": "all"}
    sync = Neo4jGraph(driver=driver, **options)
    server.poke()
    async with AsyncNeo4jGraph(
        server.bolt_uri, auth=None, connection_acquisition_timeout=1, **options
    ) as kg:
        for direction in ("out", "in"):
            assert await kg.relations(ENTITIES, direction=direction) == sync.relations(
                ENTITIES, direction=direction
            )
        assert await kg.relations(ENTITIES, direction="out", limit=2) == sync.relations(
            ENTITIES, direction="out", limit=2
        )
        assert await kg.neighbors(HOPS) == sync.neighbors(HOPS)
        assert await kg.neighbors(HOPS, limit=1) == sync.neighbors(HOPS, limit=1)
        assert await kg.labels(ENTITIES) == sync.labels(ENTITIES)
        assert await kg.search_entities("chris nolan") == sync.search_entities("chris nolan")
        question = "Who directed Inception?"
        assert await kg.find_mentions(question) == sync.find_mentions(question)
        assert [t async for t in kg.triples()] == list(sync.triples())
        assert [t async for t in kg.triples(limit=5)] == list(sync.triples(limit=5))
        assert (await kg.refresh_schema()).relationship_types == sync.schema().relationship_types
        assert kg.dialect == "falkordb"
        with pytest.raises(ValueError, match="direction"):
            await kg.relations(["x"], direction="up")  # type: ignore[arg-type]
    server.poke()  # our driver said GOODBYE: take FalkorDB's stalled next handshake


async def test_a_given_async_driver_is_not_closed(props_server: tuple[FalkorDB, Any]):
    server, _ = props_server
    server.poke()
    driver = neo4j.AsyncGraphDatabase.driver(
        server.bolt_uri, auth=None, connection_acquisition_timeout=1
    )
    try:
        async with AsyncNeo4jGraph(driver=driver) as kg:
            assert await kg.labels(["Titanic"]) == {"Titanic": "Titanic"}
        assert await AsyncNeo4jGraph(driver=driver).labels(["Inception"]) == {
            "Inception": "Inception"
        }
    finally:
        await driver.close()
    server.poke()


async def test_async_unreachable_is_a_connection_error():
    uri = f"bolt://127.0.0.1:{free_port()}"
    async with AsyncNeo4jGraph(uri, connection_timeout=1, max_transaction_retry_time=0) as kg:
        with pytest.raises(KGConnectionError):
            await kg.labels(["x"])
