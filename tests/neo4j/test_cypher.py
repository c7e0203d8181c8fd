"""The pure Cypher builders: quoting, read-only texts, parameter transport, value typing."""

from __future__ import annotations

import re

import pytest

from kg_adapters._cypher import (
    FALKORDB,
    NEO4J,
    PROBE_VALUE,
    SAFE_NAME,
    Cypher,
    LiteralKeys,
    NodeSpec,
    Param,
    check_name,
    chunked,
    create_index_query,
    dialect_from_probe,
    is_portable_name,
    labels_query,
    literal_from,
    literal_triples_query,
    literals_query,
    merge_nodes_query,
    merge_relationships_query,
    names_query,
    neighbors_query,
    prepare,
    quote_name,
    relations_query,
    request_size,
    schema_queries,
    set_property_query,
    spliced_size,
    triples_query,
)
from kg_adapters.base import LiteralValue

XSD = "http://www.w3.org/2001/XMLSchema#"
SPEC = NodeSpec("id", "name", "Entity")
HOSTILE = [
    "x' OR 1=1",
    '"}) DETACH DELETE n //',
    "a`b",
    "`) DETACH DELETE n //",
    "$param",
    "line\nbreak",
    "back\\slash",
    "\\u0060",
    "'] MATCH (m) DETACH DELETE m //",
    "Ωμέγα 名前",
]
WRITES = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|LOAD|FOREACH|CALL)\b", re.I)


def read_queries(value: str) -> list[Cypher]:
    hop: dict[str, Param] = {"i": 0, "entity": value, "relation": value}
    keys = LiteralKeys((value,), ("id", "name"))
    return [
        relations_query(SPEC, "out", [value], literals=keys),
        relations_query(SPEC, "in", [value], literals=None),
        neighbors_query(SPEC, "out", [hop], types=["directed_by"], limit=3),
        neighbors_query(SPEC, "in", [hop], types=None, limit=None),
        literals_query(SPEC, [hop]),
        labels_query(SPEC, [value]),
        names_query(SPEC, named_only=True),
        triples_query(SPEC, skip=0, limit=10),
        literal_triples_query(SPEC, keys, skip=0, limit=10),
    ]


# -- names ------------------------------------------------------------------------------------


def test_quote_name_doubles_backticks_and_refuses_escapes():
    assert quote_name("film.film.directed_by") == "`film.film.directed_by`"
    assert quote_name("a`b") == "`a``b`"
    for bad in ["", "a\\u0060b", "line\nbreak", "nul\x00"]:
        with pytest.raises(ValueError, match="Cypher name"):
            quote_name(bad)


def test_portable_names_have_no_backtick_backslash_or_control():
    assert is_portable_name("http://example.org/film/directed_by#x")
    assert is_portable_name("Ωμέγα 名前")
    for bad in ["", "a`b", "a\\b", "a\nb", "a\x7fb"]:
        assert not is_portable_name(bad)
    with pytest.raises(ValueError, match="node_label 'a`b' cannot be used"):
        check_name("a`b", "node_label")


def test_safe_name_admits_ids_and_iris_only():
    for good in ["directed_by", "film.film.directed_by", "P57", "http://x.org/a#b?c=1"]:
        assert SAFE_NAME.fullmatch(good)
    for bad in ["", "a b", "a`b", "a\\b", "x" * 513, "a\tb"]:
        assert not SAFE_NAME.fullmatch(bad)


# -- read builders ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_read_builders_never_write_and_never_inline_values(value: str):
    for query in read_queries(value):
        assert not WRITES.search(query.text), query.text
        if value != "directed_by":
            assert value not in query.text
    for query in schema_queries():
        assert re.fullmatch(r"CALL db\.\w+\(\) YIELD \w+ RETURN \w+ AS name", query.text)


def test_names_in_text_are_the_spec_and_the_given_types():
    query = neighbors_query(SPEC, "out", [], types=["a.b", "c"], limit=2)
    assert "(n:`Entity` {`id`: hop.entity})-[r:`a.b`|`c`]->(m:`Entity`)" in query.text
    assert "type(r) = hop.relation" in query.text
    assert "targets[0..$limit]" in query.text
    assert query.params == {"hops": [], "limit": 2}
    untyped = neighbors_query(NodeSpec("id"), "in", [], types=None, limit=None)
    assert "(n {`id`: hop.entity})<-[r]-(m)" in untyped.text
    assert "$limit" not in untyped.text


def test_property_keys_travel_as_parameters():
    hop: dict[str, Param] = {"i": 0, "entity": "Inception", "relation": "release_date"}
    query = literals_query(SPEC, [hop])
    assert "n[hop.relation]" in query.text
    assert "release_date" not in query.text
    keys = LiteralKeys(("release_date",), ("id", "name"))
    rel = relations_query(SPEC, "out", ["Inception"], literals=keys)
    assert rel.params["literal_keys"] == ["release_date"]
    assert rel.params["hidden_keys"] == ["id", "name"]
    assert LiteralKeys(None, ()).params()["literal_keys"] is None


def test_no_name_property_reads_null():
    query = labels_query(NodeSpec("id"), ["a"])
    assert query.text.endswith("RETURN eid, null AS name")


def test_load_builders_quote_names():
    assert create_index_query("Entity", "id").text == "CREATE INDEX FOR (n:`Entity`) ON (n.`id`)"
    nodes = merge_nodes_query(SPEC, [{"id": "a", "name": None}])
    assert nodes.text.endswith("SET n.`name` = coalesce(row.name, n.`name`)")
    edges = merge_relationships_query(SPEC, "http://x.org/p", [{"head": "a", "tail": "b"}])
    assert "MERGE (h)-[:`http://x.org/p`]->(t)" in edges.text
    prop = set_property_query(SPEC, "k", "float", [{"id": "a", "value": [1, -1]}])
    assert "toFloat(row.value[0]) / 10.0 ^ (-row.value[1])" in prop.text
    assert set_property_query(SPEC, "k", "date", []).text.endswith("date(row.value)")


# -- parameter transport ------------------------------------------------------------------------


def test_probe_tells_the_dialects_apart():
    assert dialect_from_probe(PROBE_VALUE) is NEO4J
    assert dialect_from_probe("'") is FALKORDB
    assert dialect_from_probe(None) is FALKORDB


def test_prepare_escapes_strings_only_for_a_splicing_server():
    query = Cypher("RETURN $x", {"x": ["it's", "a\\b", {"k": "'"}], "n": 3, "b": True})
    assert prepare(query, NEO4J) is query
    sent = prepare(query, FALKORDB)
    assert sent.params == {"x": ["it\\'s", "a\\\\b", {"k": "\\'"}], "n": 3, "b": True}
    for bad in [{"x": "nul\x00"}, {"x": float("nan")}, {"x": {"a b": 1}}, {"x": object()}]:
        with pytest.raises(ValueError, match=r"cannot be sent|unsupported"):
            prepare(Cypher("RETURN $x", bad), FALKORDB)  # type: ignore[arg-type]


def test_spliced_size_matches_the_servers_printing():
    # FalkorDB prints NULL, true/false, %d, %f, '<text>', [a, b] and {k: v}.
    cases = {
        None: "NULL",
        True: "true",
        False: "false",
        -42: "-42",
        1.5: "1.500000",
        "Amélie": "'Amélie'",
        ("a", 1): "['a', 1]",
    }
    for value, printed in cases.items():
        assert spliced_size(list(value) if isinstance(value, tuple) else value) == len(
            printed.encode()
        )
    assert spliced_size({"i": 0, "entity": "x"}) == len("{i: 0, entity: 'x'}")
    assert request_size(Cypher("RETURN $x", {"x": 1})) == len("CYPHER x=1 RETURN $x")


def test_chunked_keeps_every_request_under_the_limit_in_order():
    ids = [f"entity number {i:04d} with an apostrophe's tail" for i in range(500)]
    query = labels_query(SPEC, ids)
    requests, dropped = chunked(query, "ids", FALKORDB)
    assert dropped == []
    assert len(requests) > 1
    assert all(request_size(r) <= (FALKORDB.max_request_bytes or 0) for r in requests)
    sent = [i for r in requests for i in r.params["ids"]]  # type: ignore[union-attr]
    assert sent == [i.replace("'", "\\'") for i in ids]
    whole, none_dropped = chunked(query, "ids", NEO4J)
    assert [r.params["ids"] for r in whole] == [ids]
    assert none_dropped == []


def test_chunked_drops_what_cannot_be_sent():
    ids = ["ok", "x" * 5000, "nul\x00", "fine"]
    requests, dropped = chunked(labels_query(SPEC, ids), "ids", FALKORDB)
    assert dropped == ["x" * 5000, "nul\x00"]
    assert [i for r in requests for i in r.params["ids"]] == ["ok", "fine"]  # type: ignore[union-attr]
    assert chunked(labels_query(SPEC, []), "ids", FALKORDB) == ([], [])
    with pytest.raises(ValueError, match="must be a list"):
        chunked(Cypher("RETURN $x", {"x": "abc"}), "x", FALKORDB)


# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (148, None, LiteralValue("148", XSD + "integer")),
        (True, None, LiteralValue("true", XSD + "boolean")),
        (1.5, None, LiteralValue("1.5", XSD + "double")),
        (1e-10, None, LiteralValue("1e-10", XSD + "double")),
        (float("inf"), None, LiteralValue("INF", XSD + "double")),
        ("2010-07-16", None, LiteralValue("2010-07-16")),
        (None, "2010-07-16", LiteralValue("2010-07-16", XSD + "date")),
        (None, "2010-07-16T10:00:00", LiteralValue("2010-07-16T10:00:00", XSD + "dateTime")),
        (None, "2010-07-16T10:00:00Z", LiteralValue("2010-07-16T10:00:00Z", XSD + "dateTime")),
        (None, "10:00:00", LiteralValue("10:00:00", XSD + "time")),
        (None, "P1D", LiteralValue("P1D", XSD + "duration")),
        (None, "PT1H30M", LiteralValue("PT1H30M", XSD + "duration")),
        (None, "nan", LiteralValue("NaN", XSD + "double")),
        (None, "point({x: 1})", LiteralValue("point({x: 1})")),
        (None, None, None),
    ],
)
def test_literal_from_types_values(value: object, text: object, expected: LiteralValue | None):
    assert literal_from(value, text) == expected
