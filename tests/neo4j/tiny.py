"""tiny_kg on FalkorDB's Bolt port, two ways: loaded from the TSV by `load_triples`, and built as a
property graph with Cypher (dates and numbers as node properties, not nodes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kg_adapters.neo4j_load import load_triples
from tests.services import FalkorDB, need_falkordb

TSV = Path(__file__).resolve().parent.parent / "fixtures" / "tiny_kg.tsv"

# TSV relations that become node properties in the property graph, with their Cypher conversion.
PROPERTY_RELATIONS = {
    "release_date": "date($value)",
    "runtime_minutes": "toInteger($value)",
    "ceremony_year": "toInteger($value)",
}


def tsv_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            head, relation, tail = line.split("\t")
            rows.append((head, relation, tail))
    return rows


def build_property_graph(server: FalkorDB) -> None:
    """Write tiny_kg as a property graph over the Redis protocol (not through our loader)."""
    rows = tsv_rows()
    edges = [(h, r, t) for h, r, t in rows if r not in PROPERTY_RELATIONS]
    entities = sorted({h for h, _, _ in rows} | {t for _, _, t in edges})
    server.redis_query("CREATE INDEX FOR (n:Entity) ON (n.id)")
    server.redis_query(
        "UNWIND $ids AS eid CREATE (:Entity {id: eid, name: eid})", {"ids": entities}
    )
    for relation in sorted({r for _, r, _ in edges}):
        pairs = [[h, t] for h, r, t in edges if r == relation]
        server.redis_query(
            "UNWIND $pairs AS p MATCH (h:Entity {id: p[0]}) MATCH (t:Entity {id: p[1]}) "
            f"CREATE (h)-[:`{relation}`]->(t)",
            {"pairs": pairs},
        )
    for head, relation, tail in rows:
        if relation in PROPERTY_RELATIONS:
            server.redis_query(
                f"MATCH (n:Entity {{id: $id}}) SET n.`{relation}` = {PROPERTY_RELATIONS[relation]}",
                {"id": head, "value": tail},
            )


@contextmanager
def tiny_server(kind: str) -> Iterator[tuple[FalkorDB, Any]]:
    """A FalkorDB holding tiny_kg (``"tsv"`` or ``"props"``) and a driver on its Bolt port."""
    need_falkordb()
    with FalkorDB() as server:
        driver = server.driver()
        try:
            if kind == "tsv":
                load_triples(driver, TSV)
            else:
                build_property_graph(server)
            yield server, driver
        finally:
            driver.close()


class RecordingDriver:
    """Wraps a ``neo4j.Driver``: records each session's access mode and every query it reads."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.modes: list[object] = []
        self.queries: list[Any] = []

    def session(self, **config: Any) -> RecordingSession:
        self.modes.append(config.get("default_access_mode"))
        return RecordingSession(self.driver.session(**config), self)

    def close(self) -> None:
        raise AssertionError("the adapter must not close a driver it was given")


class RecordingSession:
    """A session whose reads are recorded; it has no write method at all."""

    def __init__(self, session: Any, recorder: RecordingDriver) -> None:
        self._session = session
        self._recorder = recorder

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def close(self) -> None:
        self._session.close()

    def execute_read(self, work: Any, query: Any) -> Any:
        self._recorder.queries.append(query)
        return self._session.execute_read(work, query)
