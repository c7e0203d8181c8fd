"""ConceptNetGraph.from_dump: the SQLite index of an assertions dump, on the shared sample."""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from kg_adapters import (
    ConceptNetGraph,
    EntityMatch,
    Hop,
    KGLoadError,
    Triple,
    build_conceptnet_index,
)
from kg_adapters._conceptnet_uri import (
    check_concept_id,
    concept_label,
    expand_languages,
    relation_label,
    standardize_text,
    term_of,
)
from kg_adapters.conceptnet import EdgeRecord
from tests.conceptnet_api import dump_line
from tests.shared_data import DATA, require

SAMPLE = DATA / "conceptnet" / "assertions.csv"


def language(uri: str) -> str:
    return uri.split("/")[2]


def independent_rows(languages: set[str] | None = None) -> list[tuple[str, str, str, dict]]:
    """The sample's edges kept under a filter, read with csv + json (not the adapter's parser)."""
    rows = []
    with require(SAMPLE).open(encoding="utf-8", newline="") as stream:
        for uri, rel, start, end, info in csv.reader(
            stream, delimiter="\t", quoting=csv.QUOTE_NONE
        ):
            assert uri.startswith("/a/[")
            if not (start.startswith("/c/") and end.startswith("/c/")):
                continue
            if languages is not None and not {language(start), language(end)} <= languages:
                continue
            rows.append((rel, start, end, json.loads(info)))
    return rows


@pytest.fixture(scope="module")
def sample_kg(tmp_path_factory: pytest.TempPathFactory):
    index = tmp_path_factory.mktemp("cn") / "sample.db"
    with ConceptNetGraph.from_dump(require(SAMPLE), index_path=index) as kg:
        yield kg


# -- URIs and labels (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "term", "label"),
    [
        ("/c/en/test", "/c/en/test", "test"),
        ("/c/en/test/n/wikt/en_1", "/c/en/test", "test"),
        ("/c/fr/test/v/wikt/fr_1", "/c/fr/test", "test"),
        ("/c/eu/azterketa/n/wp/ebaluazioa", "/c/eu/azterketa", "azterketa"),
        ("/c/en/ice_cream/n", "/c/en/ice_cream", "ice cream"),
        ("/c/en/Christopher_Nolan", "/c/en/Christopher_Nolan", "Christopher Nolan"),
    ],
)
def test_term_and_label_never_use_the_last_segment(uri: str, term: str, label: str) -> None:
    assert term_of(uri) == term
    assert concept_label(uri) == label


@pytest.mark.parametrize(
    ("relation", "label"),
    [
        ("/r/CapableOf", "capable of"),
        ("/r/IsA", "is a"),
        ("/r/HasA", "has a"),
        ("/r/dbpedia/genre", "genre"),
        ("/r/dbpedia/influencedBy", "influenced by"),
        ("/r/EtymologicallyRelatedTo", "etymologically related to"),
        ("/r/directed_by", "directed by"),
    ],
)
def test_relation_labels_split_camel_case(relation: str, label: str) -> None:
    assert relation_label(relation) == label


def test_language_aliases_expand_both_ways() -> None:
    assert expand_languages(["ms"]) == {"ms", "id", "zsm"}
    assert expand_languages(["id"]) == {"ms", "id", "zsm"}
    assert expand_languages(["en", "ug"]) == {"en", "ug"}
    for bad in (["EN"], ["english"], [""], "en", []):
        with pytest.raises(ValueError, match="language"):
            expand_languages(bad)


def test_standardize_text() -> None:
    assert standardize_text("Ice Cream") == "ice_cream"
    assert standardize_text(" a/b ") == "a_b"
    assert standardize_text("  ?! ") == ""


@pytest.mark.parametrize(
    "uri",
    ["/c/en/../../admin", "/c/en/./x", "/c//dog", "/c/en/", "/c/EN/dog", "/c/en/a b", "/c/en/a\\b"],
)
def test_malformed_concept_ids_are_rejected(uri: str) -> None:
    with pytest.raises(ValueError, match="concept URI"):
        check_concept_id(uri)


# -- the shared sample: counts against an independent reading --------------------------------------


def test_sample_counts_match_an_independent_count(sample_kg: ConceptNetGraph) -> None:
    rows = independent_rows()
    stats = sample_kg.stats
    assert stats.lines == 764
    assert stats.edges_kept == len(sample_kg) == len(rows) == 682
    assert stats.dropped == {"malformed": 0, "not_concept": 764 - 682, "language": 0}
    assert stats.relations == dict(sorted(Counter(rel for rel, *_ in rows).items()))
    languages: Counter[str] = Counter()
    for _, start, end, _ in rows:
        languages.update({language(start), language(end)})
    assert stats.languages == dict(sorted(languages.items()))
    assert stats.nodes == len({node for _, start, end, _ in rows for node in (start, end)})
    triples = list(sample_kg.triples())
    assert triples == [Triple(start, rel, end) for rel, start, end, _ in rows]
    assert list(sample_kg.triples(limit=5)) == triples[:5]


def test_relations_and_neighbours_match_the_csv(sample_kg: ConceptNetGraph) -> None:
    rows = independent_rows()
    out: dict[str, set[str]] = {}
    tails: dict[tuple[str, str], set[str]] = {}
    for rel, start, end, _ in rows:
        out.setdefault(start, set()).add(rel)
        tails.setdefault((start, rel), set()).add(end)
    busiest = sorted(out, key=lambda node: (-len(out[node]), node))[:20]
    got = sample_kg.relations(busiest, direction="out")
    assert got == {node: tuple(sorted(out[node])) for node in busiest}
    hops = [Hop(node, rel, "out") for node in busiest for rel in sorted(out[node])]
    neighbours = sample_kg.neighbors(hops)
    assert neighbours == {hop: tuple(sorted(tails[hop.entity, hop.relation])) for hop in hops}


def test_language_filter_keeps_edges_with_both_ends_in_it(tmp_path: Path) -> None:
    english = independent_rows({"en"})
    assert len(english) == 96  # the README's English-English count
    with ConceptNetGraph.from_dump(
        require(SAMPLE), languages=("en",), index_path=tmp_path / "en.db"
    ) as kg:
        assert kg.languages == ("en",)
        assert len(kg) == 96
        assert kg.stats.dropped["language"] == 682 - 96
        assert set(kg.triples()) == {Triple(s, r, e) for r, s, e, _ in english}
        # A concept outside the filter is unknown, not an error.
        assert kg.relations(["/c/ja/テスト"], direction="in") == {"/c/ja/テスト": ()}
        assert kg.labels(["/c/ja/テスト", "/c/en/test"]) == {"/c/en/test": "test"}


def test_a_language_filter_matches_alias_codes(tmp_path: Path) -> None:
    malay = independent_rows({"ms", "id", "zsm"})
    with ConceptNetGraph.from_dump(
        require(SAMPLE), languages=("ms",), index_path=tmp_path / "ms.db"
    ) as kg:
        assert len(kg) == len(malay)
        assert {t.subject for t in kg.triples()} == {s for _, s, _, _ in malay}


def test_sense_tagged_uris_are_nodes_labelled_by_their_term(sample_kg: ConceptNetGraph) -> None:
    sense = "/c/en/test/n/wikt/en_1"
    rows = independent_rows()
    for node in (sense, "/c/en/test"):  # the bare term is another node, with its own edges
        expected = tuple(sorted({rel for rel, start, _, _ in rows if start == node}))
        assert sample_kg.relations([node], direction="out")[node] == expected
    antonyms = Hop(sense, "/r/Antonym", "out")
    assert sample_kg.neighbors([antonyms])[antonyms] == ("/c/en/breeze", "/c/en/recess")
    bare = Hop("/c/en/test", "/r/Antonym", "out")
    assert sample_kg.neighbors([bare])[bare] == ()
    assert sample_kg.labels([sense, "/c/en/test", "/c/en/test/n"]) == {
        sense: "test",
        "/c/en/test": "test",
        "/c/en/test/n": "test",
    }
    matches = sample_kg.search_entities("Test", limit=50)
    exact = [m for m in matches if m.exact]
    assert exact[0] == EntityMatch("/c/en/test", "test", 1.0, exact=True)
    assert {"/c/en/test/n", sense, "/c/fr/test"} <= {m.id for m in exact}
    # English first (prefer_languages), bare terms before senses, then by id.
    order = sorted(exact, key=lambda m: (not m.id.startswith("/c/en/"), m.id.count("/"), m.id))
    assert exact == order
    assert [m.id for m in exact[:2]] == ["/c/en/test", "/c/en/test/n"]
    assert all(m.label == "test" for m in exact)


def test_weights_and_surface_texts_are_kept(sample_kg: ConceptNetGraph) -> None:
    hop = Hop("/c/en/test", "/r/AtLocation", "in")
    (record,) = sample_kg.edges([hop])[hop]
    assert record == EdgeRecord(
        "/c/en/hard_questions",
        1.0,
        "*Something you find on [[a test]] is [[hard questions]]",
        "/a/[/r/AtLocation/,/c/en/hard_questions/,/c/en/test/]",
        "/d/conceptnet/4/en",
    )
    wheat = Hop("/c/en/wheat", "/r/AtLocation", "out")
    assert [(r.node, r.weight) for r in sample_kg.edges([wheat])[wheat]] == [("/c/en/field", 2.0)]
    assert sample_kg.labels(["/r/AtLocation", "/r/NoSuchRelation"]) == {
        "/r/AtLocation": "at location"
    }


def test_unknown_and_foreign_ids_are_empty(sample_kg: ConceptNetGraph) -> None:
    ids = ["x", "", "/c/en/no_such_thing", "http://dbpedia.org/resource/Test", "/c/en/../x"]
    assert sample_kg.relations(ids, direction="out") == dict.fromkeys(ids, ())
    assert sample_kg.labels(ids) == {}
    hop = Hop("/c/en/test", "/r/NoSuch", "out")
    assert sample_kg.neighbors([hop]) == {hop: ()}
    assert sample_kg.edges([hop]) == {hop: ()}


def test_find_mentions_by_ngram_lookups(sample_kg: ConceptNetGraph) -> None:
    mentions = sample_kg.find_mentions("Is a test drive a kind of test?")
    assert [key for key, _ in mentions] == ["test drive", "test"]
    assert mentions[0][1] == [EntityMatch("/c/en/test_drive", "test drive", 1.0, exact=True)]


def test_fuzzy_search_ranks_below_exact(sample_kg: ConceptNetGraph) -> None:
    matches = sample_kg.search_entities("test case study", limit=5)
    assert matches
    assert not matches[0].exact
    assert matches[0].id == "/c/en/test_case"
    assert all(0 < m.score < 1 for m in matches)


def test_threads_share_one_graph(sample_kg: ConceptNetGraph) -> None:
    expected = sample_kg.relations(["/c/en/test"], direction="in")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert sample_kg.relations(["/c/en/test"], direction="in") == expected
                sample_kg.search_entities("test")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# -- building, reuse and failures ------------------------------------------------------------------


def test_index_is_built_once_and_rebuilt_when_the_dump_changes(tmp_path: Path) -> None:
    dump = shutil.copy(require(SAMPLE), tmp_path / "assertions.csv")
    calls: list[tuple[int, int]] = []
    with ConceptNetGraph.from_dump(dump, progress=lambda done, total: calls.append((done, total))):
        pass
    index = tmp_path / "assertions.csv.all.sqlite"  # beside the dump by default
    assert index.is_file()
    assert calls[-1] == (SAMPLE.stat().st_size, SAMPLE.stat().st_size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    built = index.stat().st_mtime_ns
    calls.clear()
    with ConceptNetGraph.from_dump(dump) as kg:
        assert len(kg) == 682
    assert calls == []  # reused
    assert index.stat().st_mtime_ns == built
    with ConceptNetGraph.from_dump(dump, languages=["en"]) as kg:  # another filter, another file
        assert len(kg) == 96
    assert (tmp_path / "assertions.csv.en.sqlite").is_file()
    with Path(dump).open("a", encoding="utf-8") as stream:
        stream.write(dump_line("/r/IsA", "/c/en/quiz", "/c/en/test") + "\n")
    with ConceptNetGraph.from_dump(
        dump, progress=lambda done, total: calls.append((done, total))
    ) as kg:
        assert len(kg) == 683
    assert calls
    # An index file opens directly, read-only: queries leave it untouched.
    rebuilt = index.stat().st_mtime_ns
    with ConceptNetGraph.from_dump(index) as kg:
        assert len(kg) == 683
        assert kg.relations(["/c/en/quiz"], direction="out") == {"/c/en/quiz": ("/r/IsA",)}
    assert index.stat().st_mtime_ns == rebuilt
    with pytest.raises(ValueError, match="built for languages"):
        ConceptNetGraph(index, languages=["en"])


def test_gzip_dump_gives_the_same_index(tmp_path: Path) -> None:
    packed = tmp_path / "assertions.csv.gz"
    with gzip.open(packed, "wb") as stream:
        stream.write(require(SAMPLE).read_bytes())
    sizes: list[int] = []
    stats = build_conceptnet_index(
        packed, tmp_path / "gz.db", progress=lambda done, total: sizes.append(total)
    )
    assert sizes[-1] == packed.stat().st_size
    assert (stats.lines, stats.edges_kept, stats.nodes) == (764, 682, 570)
    with ConceptNetGraph.from_dump(tmp_path / "gz.db") as kg:
        assert (
            kg.stats.relations
            == stats.relations
            == dict(sorted(Counter(rel for rel, *_ in independent_rows()).items()))
        )


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    good = dump_line("/r/IsA", "/c/en/dog", "/c/en/pet", weight=2.0)
    lines = [
        good,
        "not a dump line",
        "/a/[x]\t/r/IsA\t/c/en/a\t/c/en/b",  # 4 columns
        dump_line("/r/IsA", "/c/en/cat", "/c/en/pet").replace('"weight": 1.0', '"weight": "x"'),
        "/a/[/r/IsA/,/c/en/a/,/c/en/b/]\t/r/IsA\t/c/en/a\t/c/en/b\t{not json",
        dump_line("/r/ExternalURL", "/c/en/dog", "http://dbpedia.org/resource/Dog"),
        "",
        dump_line("/r/IsA", "/c/en/puppy", "/c/en/dog"),
    ]
    dump = tmp_path / "mixed.csv"
    dump.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe broken utf-8\n")
    stats = build_conceptnet_index(dump, tmp_path / "mixed.db")
    assert stats.lines == len(lines) + 1
    assert stats.edges_kept == 2
    assert stats.dropped == {"malformed": 6, "not_concept": 1, "language": 0}


@pytest.mark.parametrize(
    "content",
    [b"subject\tpredicate\tobject\n" * 5, b'{"edges": []}', b"\x00\x01\x02 binary"],
)
def test_a_file_that_is_not_a_dump_is_a_load_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.csv"
    path.write_bytes(content)
    with pytest.raises(KGLoadError, match="not a ConceptNet assertions dump"):
        ConceptNetGraph.from_dump(path, index_path=tmp_path / "x.db")
    assert not list(tmp_path.glob("x.db*"))  # no half-built index left behind


def test_missing_files_and_read_only_folders(tmp_path: Path) -> None:
    with pytest.raises(KGLoadError, match="no such"):
        ConceptNetGraph.from_dump(tmp_path / "nope.csv")
    if os.geteuid() != 0:  # root writes anywhere
        folder = tmp_path / "ro"
        folder.mkdir()
        dump = shutil.copy(require(SAMPLE), folder / "assertions.csv")
        folder.chmod(0o555)
        try:
            with pytest.raises(KGLoadError, match="index_path"):
                ConceptNetGraph.from_dump(dump)
        finally:
            folder.chmod(0o755)
    not_index = tmp_path / "fake.db"
    not_index.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(KGLoadError):
        ConceptNetGraph(not_index)


def test_a_closed_graph_refuses_calls(tmp_path: Path) -> None:
    kg = ConceptNetGraph.from_dump(require(SAMPLE), index_path=tmp_path / "c.db")
    kg.close()
    kg.close()
    with pytest.raises(ValueError, match="closed"):
        kg.relations(["/c/en/test"], direction="out")


def test_conceptnet_modules_never_import_tog() -> None:
    code = (
        "import sys, kg_adapters\n"
        "kg_adapters.ConceptNetGraph, kg_adapters.ConceptNetAPIGraph\n"
        "kg_adapters.build_conceptnet_index\n"
        "print(sorted(m for m in sys.modules if m == 'tog' or m.startswith('tog.')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
