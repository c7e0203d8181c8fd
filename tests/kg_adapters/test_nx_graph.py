"""NetworkXGraph specifics: loaders (TSV, MetaQA, PathQuestion, RDF, gz), sniffing, construction."""

from __future__ import annotations

import gzip
import itertools
import re
import shutil
from pathlib import Path

import networkx as nx
import pytest

from kg_adapters import Hop, KGLoadError, LiteralValue, NetworkXGraph, load_graph
from kg_adapters.loading import sniff_separator
from tests.shared_data import DATA, require

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
METAQA_KB = DATA / "metaqa" / "kb.txt"
PQ_2H_KB = DATA / "pathquestion" / "PathQuestion" / "2H-kb.txt"
PQ_2H_QA = DATA / "pathquestion" / "PathQuestion" / "PQ-2H.txt"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- from_tsv --------------------------------------------------------------------------------------


def test_tsv_skips_comments_and_blank_lines_and_strips_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.tsv", "# header\n\n a \t r\t b \n   \nb\tr\tc\n# done\n")
    kg = NetworkXGraph.from_tsv(path)
    assert len(kg) == 2
    assert kg.neighbors([Hop("a", "r", "out")]) == {Hop("a", "r", "out"): ("b",)}
    assert kg.labels(["a", "r"]) == {"a": "a"}


def test_tsv_comment_none_keeps_hash_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.tsv", "#a\tr\tb\n")
    assert len(NetworkXGraph.from_tsv(path, comment=None)) == 1
    assert next(NetworkXGraph.from_tsv(path, comment=None).triples()).subject == "#a"


@pytest.mark.parametrize(
    ("line", "count"),
    [("a\tb", 2), ("a\tb\tc\td", 4), ("a", 1), ("a\t\tc", 3), ("a\tb\t ", 3)],
)
def test_tsv_bad_line_names_file_and_line(tmp_path: Path, line: str, count: int) -> None:
    path = write(tmp_path / "kb.tsv", f"# header\nx\tr\ty\n{line}\n")
    with pytest.raises(KGLoadError, match=re.escape(f"{path}:3: expected 3 non-empty fields")) as e:
        NetworkXGraph.from_tsv(path)
    assert f"got {count}" in str(e.value)


def test_tsv_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tsv"
    with pytest.raises(KGLoadError, match=re.escape(f"no such file: {missing}")):
        NetworkXGraph.from_tsv(missing)
    with pytest.raises(KGLoadError, match=re.escape(f"no such file: {missing}")):
        load_graph(missing)


def test_tsv_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.tsv"
    path.write_bytes(b"a\tr\t\xff\xfe\n")
    with pytest.raises(KGLoadError, match="cannot read"):
        NetworkXGraph.from_tsv(path)


def test_tsv_gz(tmp_path: Path) -> None:
    path = tmp_path / "kb.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as stream:
        stream.write("Kismet\tdirected_by\tWilliam Dieterle\n")
    for kg in (NetworkXGraph.from_tsv(path), load_graph(path)):
        assert kg.relations(["Kismet"], direction="out") == {"Kismet": ("directed_by",)}


def test_duplicate_triples_count_once(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.tsv", "a\tr\tb\na\tr\tb\na\ts\tb\n")
    kg = NetworkXGraph.from_tsv(path)
    assert len(kg) == 2
    assert kg.relations(["a"], direction="out") == {"a": ("r", "s")}


# -- MetaQA and PathQuestion, read in place --------------------------------------------------------


def test_metaqa_pipe_separator(tmp_path: Path) -> None:
    with require(METAQA_KB).open(encoding="utf-8") as stream:
        lines = list(itertools.islice(stream, 12))
    path = write(tmp_path / "kb.txt", "".join(lines))
    kg = load_graph(path)  # separator sniffed
    assert len(kg) == len({line.strip() for line in lines})
    head, relation, tail = lines[0].strip().split("|")
    assert tail in kg.neighbors([Hop(head, relation, "out")])[Hop(head, relation, "out")]
    assert head in kg.neighbors([Hop(tail, relation, "in")])[Hop(tail, relation, "in")]
    assert kg.labels([head]) == {head: head}
    assert load_graph(path, sep="|").relations([head], direction="out") == kg.relations(
        [head], direction="out"
    )


def test_pathquestion_2h_kb() -> None:
    kg = load_graph(require(PQ_2H_KB))
    assert len(kg) == 1211
    question, _, path = PQ_2H_QA.read_text(encoding="utf-8").splitlines()[0].split("\t")
    topic, r1, e1, r2, answer = path.split("#")[:5]
    assert kg.neighbors([Hop(topic, r1, "out")])[Hop(topic, r1, "out")] == (e1,)
    assert answer in kg.neighbors([Hop(e1, r2, "out")])[Hop(e1, r2, "out")]
    assert kg.labels([topic]) == {topic: topic}
    mentions = kg.find_mentions(question)
    assert topic in [m.id for _, matches in mentions for m in matches]


# -- sniffing and load_graph -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "sep"),
    [
        ("kb.tsv", "a\tb\tc\nd\te\tf\n", "\t"),
        ("kb.txt", "# c\nA, B|r|c\nd|e|f\n", "|"),
        ("kb.csv", "a,b,c\n\nd,e,f\n", ","),
    ],
)
def test_sniff_separator(tmp_path: Path, name: str, text: str, sep: str) -> None:
    path = write(tmp_path / name, text)
    assert sniff_separator(path) == sep
    assert len(load_graph(path)) == 2


def test_sniff_failures(tmp_path: Path) -> None:
    with pytest.raises(KGLoadError, match="cannot detect the separator"):
        load_graph(write(tmp_path / "kb.txt", "a b c\n"))
    with pytest.raises(KGLoadError, match="no triple lines"):
        load_graph(write(tmp_path / "empty.tsv", "# nothing\n\n"))


def test_explicit_separator_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.txt", "a|b\tr\tc\n")
    assert next(load_graph(path, sep="\t").triples()).subject == "a|b"


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "kb.parquet", "")
    with pytest.raises(KGLoadError, match=r"unknown KG file extension '\.parquet'.*\.tsv.*\.ttl"):
        load_graph(path)


# -- from_rdf --------------------------------------------------------------------------------------


def test_from_rdf_and_load_graph_agree(tmp_path: Path) -> None:
    direct = NetworkXGraph.from_rdf(FIXTURES / "tiny_kg.ttl")
    gz = tmp_path / "tiny_kg.ttl.gz"
    with (FIXTURES / "tiny_kg.ttl").open("rb") as source, gzip.open(gz, "wb") as target:
        shutil.copyfileobj(source, target)
    for kg in (load_graph(FIXTURES / "tiny_kg.ttl"), load_graph(gz)):
        assert len(kg) == len(direct) == 27
        assert kg.num_entities == direct.num_entities


def test_from_rdf_other_syntaxes(tmp_path: Path) -> None:
    nt = write(
        tmp_path / "kb.nt",
        '<http://e/a> <http://e/p> <http://e/b> .\n<http://e/a> <http://e/q> "x"@de .\n',
    )
    kg = NetworkXGraph.from_rdf(nt)
    hop = Hop("http://e/a", "http://e/q", "out")
    assert kg.neighbors([hop]) == {hop: (LiteralValue("x", None, "de"),)}
    assert load_graph(write(tmp_path / "kb.data", nt.read_text()), format="nt").labels(
        ["http://e/b"]
    ) == {"http://e/b": "b"}
    jsonld = write(
        tmp_path / "kb.jsonld",
        '{"@id": "http://e/a", "http://e/p": {"@id": "http://e/b"},'
        ' "http://www.w3.org/2000/01/rdf-schema#label": "Alpha"}',
    )
    assert NetworkXGraph.from_rdf(jsonld).labels(["http://e/a"]) == {"http://e/a": "Alpha"}
    xml = write(
        tmp_path / "kb.rdf",
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns:e="http://e/"><rdf:Description rdf:about="http://e/a">'
        '<e:p rdf:resource="http://e/b"/></rdf:Description></rdf:RDF>',
    )
    assert len(NetworkXGraph.from_rdf(xml)) == 1


def test_from_rdf_errors(tmp_path: Path) -> None:
    with pytest.raises(KGLoadError, match="no such file"):
        NetworkXGraph.from_rdf(tmp_path / "nope.ttl")
    with pytest.raises(KGLoadError, match=r"unknown RDF file extension '\.zzz'.*\.nt.*\.ttl"):
        NetworkXGraph.from_rdf(write(tmp_path / "kb.zzz", ""))
    bad = write(tmp_path / "bad.ttl", "@prefix ex: <http://e/> .\nex:a ex:p .\n")
    with pytest.raises(KGLoadError, match=re.escape(f"cannot parse {bad} as turtle")) as error:
        NetworkXGraph.from_rdf(bad)
    assert error.value.__cause__ is not None


def test_from_rdf_language_preference(tmp_path: Path) -> None:
    path = write(
        tmp_path / "kb.ttl",
        "@prefix e: <http://e/> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        'e:a e:p e:b ; rdfs:label "Munich"@en-GB, "München"@de .\n'
        'e:b rdfs:label "B" .\n',
    )
    assert NetworkXGraph.from_rdf(path).labels(["http://e/a"]) == {"http://e/a": "Munich"}
    german = NetworkXGraph.from_rdf(path, language="de")
    assert german.labels(["http://e/a", "http://e/b"]) == {
        "http://e/a": "München",
        "http://e/b": "B",
    }
    assert german.search_entities("munich")[0].id == "http://e/a"


# -- construction ----------------------------------------------------------------------------------


def test_constructor_validates_nodes() -> None:
    graph = nx.MultiDiGraph()
    graph.add_edge("a", 3, key="r")
    with pytest.raises(TypeError, match="str or LiteralValue"):
        NetworkXGraph(graph)
    graph = nx.MultiDiGraph()
    graph.add_edge(LiteralValue("1"), "a", key="r")
    with pytest.raises(ValueError, match="literal cannot have outgoing edges"):
        NetworkXGraph(graph)
    with pytest.raises(TypeError, match="MultiDiGraph"):
        NetworkXGraph(nx.DiGraph())
    with pytest.raises(TypeError, match="head must be a str"):
        NetworkXGraph.from_triples([("a", "r", 3)])  # type: ignore[list-item]


def test_wrapping_a_graph_with_attributes() -> None:
    graph = nx.MultiDiGraph()
    graph.add_node("m.1", label="Inception", aliases=("Origen",))
    graph.add_edge("m.1", "m.2", key="film.directed_by")
    graph.add_edge("m.1", LiteralValue("2010", "xsd:gYear"), key="film.year")
    graph.add_edge("m.1", "m.1b", key="owl:sameAs")
    kg = NetworkXGraph(
        graph, hidden_relations={"owl:sameAs"}, relation_labels={"film.directed_by": "directed by"}
    )
    assert kg.labels(["m.1", "m.2", "film.directed_by", "film.year"]) == {
        "m.1": "Inception",
        "film.directed_by": "directed by",
    }
    assert kg.relations(["m.1"], direction="out") == {"m.1": ("film.directed_by", "film.year")}
    assert kg.neighbors([Hop("m.1", "owl:sameAs", "out")]) == {Hop("m.1", "owl:sameAs", "out"): ()}
    assert kg.relations(["m.1b"], direction="in") == {"m.1b": ()}
    assert kg.search_entities("origen")[0].id == "m.1"
    assert kg.search_entities("m.2") == []  # unnamed ids are not searchable
    assert len(kg) == 2
    assert kg.num_entities == 3
    assert repr(kg) == "NetworkXGraph(triples=2, entities=3, literals=1, relations=2)"
    assert kg.graph is graph


def test_from_triples_labels_and_names_from_ids() -> None:
    kg = NetworkXGraph.from_triples(
        [("m.1", "r", "m.2")], labels={"m.1": "One", "m.9": "ignored"}, names_from_ids=False
    )
    assert kg.labels(["m.1", "m.2", "m.9"]) == {"m.1": "One"}
    assert kg.num_entities == 2


def test_neighbour_order_is_canonical() -> None:
    # Insertion order does not leak: neighbours come sorted by `node_key`, as in every store.
    triples = [("f", "starred", actor) for actor in ("zed", "amy", "mo")]
    triples += [(film, "starred", "amy") for film in ("f3", "f1", "f2")]
    triples += [("f", "starred", LiteralValue("0")), ("f", "starred", "a")]
    kg = NetworkXGraph.from_triples(triples)
    out = Hop("f", "starred", "out")
    assert kg.neighbors([out])[out] == ("a", "amy", "mo", "zed", LiteralValue("0"))
    into = Hop("amy", "starred", "in")
    assert kg.neighbors([into])[into] == ("f", "f1", "f2", "f3")
