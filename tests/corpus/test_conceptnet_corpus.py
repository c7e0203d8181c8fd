"""The ConceptNet corpus builder on the shared samples, checked against counts made here."""

from __future__ import annotations

import csv
import gzip
import json
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from kg_adapters._conceptnet_templates import PAPER_RELATIONS, REVERSED_IN_PAPER
from kg_adapters.conceptnet_corpus import build_corpus
from tests.optional import import_optional
from tests.shared_data import DATA, require

DUMP = DATA / "conceptnet" / "assertions.csv"
UG_JSON = DATA / "conceptnet" / "cn_data_ug.json"
TOG = Path(sys.executable).with_name("tog")
ALIASES = {"ms": {"ms", "id", "zsm"}}


def _lang(uri: str) -> str:
    return uri.split("/")[2] if uri.startswith("/c/") else ""


def _label(uri: str) -> str:
    return " ".join(unicodedata.normalize("NFC", uri.split("/")[3].replace("_", " ")).split())


def _dump_edges() -> list[tuple[str, str, str]]:
    with require(DUMP).open(encoding="utf-8", newline="") as stream:
        return [(row[1][3:], row[2], row[3]) for row in csv.reader(stream, delimiter="\t")]


def _json_edges() -> list[tuple[str, str, str]]:
    data = json.loads(require(UG_JSON).read_text(encoding="utf-8"))
    edges = {}
    for items in data.values():
        for edge in items:
            edges[edge["uri"]] = (edge["rel"], edge["start"], edge["end"])
    return list(edges.values())


def expected(edges: list[tuple[str, str, str]], lang: str, mode: str) -> tuple[int, int]:
    """(edges kept, distinct sentences) computed independently of the builder."""
    group = ALIASES.get(lang, {lang})
    kept = []
    for rel, start, end in edges:
        s_in, e_in = _lang(start) in group, _lang(end) in group
        if not (s_in or e_in) or not end.startswith("/c/") or rel not in PAPER_RELATIONS:
            continue
        if {"start": s_in, "end": e_in, "either": True, "both": s_in and e_in}[mode] is False:
            continue
        if _label(start) == _label(end):
            continue
        kept.append((rel, _label(start), _label(end)))
    return len(kept), len(set(kept))


def _read(folder: Path, split: str, suffix: str = "txt") -> list[str]:
    return (folder / f"{split}.{suffix}").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("mode", ["start", "end", "either", "both"])
@pytest.mark.parametrize("lang", ["fr", "en", "ms", "ja"])
def test_dump_counts_match_an_independent_count(tmp_path, lang, mode):
    stats = build_corpus(require(DUMP), [lang], tmp_path, filter=mode)
    edges_kept, sentences = expected(_dump_edges(), lang, mode)
    assert stats.languages[lang].edges_kept == edges_kept
    assert stats.languages[lang].sentences == sentences
    assert stats.languages[lang].duplicates == edges_kept - sentences
    written = sum(len(_read(tmp_path / lang, split)) for split in ("train", "validation", "test"))
    assert written == sentences
    saved = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))["languages"][lang]
    assert (saved["edges_kept"], saved["sentences"]) == (edges_kept, sentences)


@pytest.mark.parametrize("mode", ["start", "either"])
def test_api_json_counts_match_an_independent_count(tmp_path, mode):
    stats = build_corpus(require(UG_JSON), ["ug"], tmp_path, filter=mode)
    assert (stats.languages["ug"].edges_kept, stats.languages["ug"].sentences) == expected(
        _json_edges(), "ug", mode
    )


def test_filter_modes_nest_and_are_all_counted_in_one_pass(tmp_path):
    kept = {}
    for mode in ("start", "end", "either", "both"):
        stats = build_corpus(require(UG_JSON), ["ug"], tmp_path / mode, filter=mode)
        kept[mode] = stats.languages["ug"].edges_kept
        modes = stats.languages["ug"].filter_modes
    assert kept["both"] <= kept["start"] < kept["either"]
    assert kept["start"] + kept["end"] - kept["both"] == kept["either"]
    assert modes["either"] == modes["start"] + modes["end"] - modes["both"]


def test_paper_and_corrected_differ_exactly_on_the_reversed_relations(tmp_path):
    texts = {}
    for name in ("paper", "corrected"):
        build_corpus(require(DUMP), ["en"], tmp_path / name, format="jsonl", templates=name)
        texts[name] = {
            record["edge_uri"]: (record["rel"][3:], record["text"])
            for split in ("train", "validation", "test")
            for record in map(json.loads, _read(tmp_path / name / "en", split, "jsonl"))
        }
    assert texts["paper"].keys() == texts["corrected"].keys()
    differing = {
        rel for uri, (rel, text) in texts["paper"].items() if texts["corrected"][uri][1] != text
    }
    present = {rel for rel, _ in texts["paper"].values()}
    assert differing == REVERSED_IN_PAPER & present
    assert "AtLocation" in differing
    paper = dict(texts["paper"].values())
    assert "is a typical location for" in paper["AtLocation"]


def test_labels_drop_pos_and_sense_suffixes(tmp_path):
    build_corpus(require(DUMP), ["en", "fr"], tmp_path, format="jsonl")
    records = [
        json.loads(line)
        for lang in ("en", "fr")
        for split in ("train", "validation", "test")
        for line in _read(tmp_path / lang, split, "jsonl")
    ]
    assert any(r["start"].count("/") > 3 for r in records)  # suffixed URIs were verbalised
    for record in records:
        start, end = record["spans"]["start"], record["spans"]["end"]
        assert record["text"][start[0] : start[1]] == _label(record["start"])
        assert record["text"][end[0] : end[1]] == _label(record["end"])
        assert "en_1" not in record["text"]


def test_same_seed_same_files_other_seed_other_split(tmp_path):
    outputs = {}
    for name, seed in (("a", 42), ("b", 42), ("c", 7)):
        build_corpus(require(UG_JSON), ["ug"], tmp_path / name, seed=seed)
        outputs[name] = [_read(tmp_path / name / "ug", s) for s in ("train", "validation", "test")]
    assert outputs["a"] == outputs["b"]
    assert outputs["a"] != outputs["c"]
    assert sorted(x for split in outputs["a"] for x in split) == sorted(
        x for split in outputs["c"] for x in split
    )


@pytest.mark.parametrize("method", ["hash", "shuffle"])
def test_split_does_not_depend_on_dump_order(tmp_path, method):
    lines = require(DUMP).read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(1).shuffle(lines)
    shuffled = tmp_path / "shuffled.csv.gz"
    with gzip.open(shuffled, "wt", encoding="utf-8") as stream:
        stream.writelines(lines)
    for name, source in (("plain", require(DUMP)), ("shuffled", shuffled)):
        build_corpus(source, ["en"], tmp_path / name, split_method=method, dedupe=False)
    for split in ("train", "validation", "test"):
        plain = _read(tmp_path / "plain" / "en", split)
        other = _read(tmp_path / "shuffled" / "en", split)
        assert sorted(plain) == sorted(other)
        if method == "shuffle":
            assert plain == other


def test_sqlite_index_source_gives_the_dump_corpus(tmp_path):
    from kg_adapters import build_conceptnet_index

    index = tmp_path / "cn.db"
    build_conceptnet_index(require(DUMP), index)
    from_dump = build_corpus(require(DUMP), ["fr"], tmp_path / "dump")
    from_index = build_corpus(index, ["fr"], tmp_path / "index")
    assert from_index.languages["fr"].sentences == from_dump.languages["fr"].sentences
    for split in ("train", "validation", "test"):
        assert _read(tmp_path / "dump" / "fr", split) == _read(tmp_path / "index" / "fr", split)


def test_surface_text_and_star_swap(tmp_path):
    build_corpus(require(DUMP), ["en"], tmp_path, format="jsonl", use_surface_text=True)
    records = [
        json.loads(line)
        for split in ("train", "validation", "test")
        for line in _read(tmp_path / "en", split, "jsonl")
    ]
    (swapped,) = [r for r in records if r["edge_uri"].startswith("/a/[/r/AtLocation/,/c/en/hard_")]
    assert swapped["text"] == "Something you find on a test is hard questions"
    start, end = swapped["spans"]["start"], swapped["spans"]["end"]
    assert swapped["text"][start[0] : start[1]] == "hard questions"
    assert swapped["text"][end[0] : end[1]] == "a test"
    assert swapped["template_set"] == "surfaceText"


def test_template_pack_csv_names_and_relation_selection(tmp_path):
    pack = tmp_path / "ug.toml"
    pack.write_text('language = "ug"\n[templates]\nRelatedTo = "{end} ← {start}"\n', "utf-8")
    stats = build_corpus(
        require(UG_JSON),
        ["ug"],
        tmp_path / "out",
        format="jsonl,csv",
        templates=pack,
        relations=["RelatedTo", "Synonym"],
        paper_csv_names=True,
    )
    assert set(stats.languages["ug"].relations) == {"RelatedTo", "Synonym"}
    records = [json.loads(x) for x in _read(tmp_path / "out" / "ug", "train", "jsonl")]
    langs = {r["rel"]: r["template_lang"] for r in records}
    assert langs == {"/r/RelatedTo": "ug", "/r/Synonym": "en"}
    with (tmp_path / "out" / "ug" / "val_cn_ug.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows
    assert list(rows[0]) == ["text"]


def test_min_weight_and_stats_rendering(tmp_path):
    stats = build_corpus(require(DUMP), ["en"], tmp_path, min_weight=1.5)
    assert stats.languages["en"].dropped["weight"] > 0
    assert "<table>" in stats._repr_html_()
    assert stats.to_markdown().splitlines()[2].startswith("| en | ")


def test_hf_layout_loads_with_datasets(tmp_path, monkeypatch):
    datasets = import_optional("datasets", "pip install 'think-on-graph[adapters]'")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    stats = build_corpus(require(UG_JSON), ["ug"], tmp_path / "out", format="hf")
    loaded = datasets.load_dataset(str(tmp_path / "out"), "ug", cache_dir=str(tmp_path / "c"))
    assert {s: loaded[s].num_rows for s in loaded} == {
        s: stats.languages["ug"].splits[s]["sentences"] for s in ("train", "validation", "test")
    }
    assert "edge_uri" in loaded["train"].column_names


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"languages": ["UG"]}, "2 or 3 lowercase"),
        ({"filter": "middle"}, "filter must be"),
        ({"relations": ["ExternalURL"]}, "unknown or unverbalisable"),
        ({"format": "parquet"}, "format must be"),
        ({"split": (0.5, 0.1, 0.1)}, "split must be"),
    ],
)
def test_bad_options_raise_value_error(tmp_path, options, message):
    kwargs = {"languages": ["ug"], **options}
    with pytest.raises(ValueError, match=message):
        build_corpus(require(UG_JSON), out_dir=tmp_path, **kwargs)


def test_cli_builds_and_writes_stats(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            *(str(TOG), "corpus", "conceptnet", "--source", str(require(DUMP)), "--lang", "fr,en"),
            *("--out", str(out), "--format", "csv", "--templates", "paper", "--filter", "start"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    for lang in ("fr", "en"):
        assert stats["languages"][lang]["edges_kept"] == expected(_dump_edges(), lang, "start")[0]
        assert stats["languages"][lang]["sentences"] > 0
        assert (out / lang / "train.csv").read_text(encoding="utf-8").startswith("text\n")
    assert "fr" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--source", "/no/such/file", "--lang", "ug"],
        ["--source", "UG_JSON", "--lang", "Ug"],
        ["--source", "UG_JSON", "--lang", "ug", "--format", "parquet"],
        ["--source", "UG_JSON", "--lang", "ug", "--templates", "klingon"],
        ["--source", "UG_JSON", "--lang", "ug", "--split", "0.8,0.2"],
        ["--source", "NOT_A_DUMP", "--lang", "ug"],
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args):
    not_a_dump = tmp_path / "x.csv"
    not_a_dump.write_text("just\ttext\nnothing else\n", encoding="utf-8")
    replace = {"UG_JSON": str(require(UG_JSON)), "NOT_A_DUMP": str(not_a_dump)}
    args = [replace.get(a, a) for a in args]
    done = subprocess.run(
        [str(TOG), "corpus", "conceptnet", *args, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tog: error: ")
