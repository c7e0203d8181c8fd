"""The corpus builder on a hand-written dump fixture covering every URI form (§9.13, §11).

Every expected value below was worked out by hand from ``tests/fixtures/conceptnet_uri_forms.csv``
(27 lines): no library helper computes an expectation. Line numbers in comments are fixture lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg_adapters.conceptnet_corpus import build_corpus

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "conceptnet_uri_forms.csv"
SPLITS = ("train", "validation", "test")

# Maltese (mt): lines 1-17. start-only: 1, 2, 6, 9, 10, 15, 16; end-only: 5, 14, 17;
# both: 3, 4, 8, 11, 12, 13; line 7 is ExternalURL.
MT_CORRECTED = {
    "kelb is related to dog.",  # 1 bare /c/mt/kelb (9 duplicates it)
    "kelb is a synonym of dog.",  # 2 POS /c/mt/kelb/n (10 duplicates it)
    "klieb is a form of kelb.",  # 3 sense /c/mt/klieb/n/wikt/en_1
    "ħobża is typically found at forn.",  # 4 AtLocation, both in mt
    "house has bieb.",  # 5 HasA, end-only
    "ġelat tal frawli is a type of ice cream.",  # 6 multiword on both ends
    "sikkina is typically found at mejda.",  # 11 AtLocation with a '*' surfaceText
    "qattus is capable of jiekol.",  # 12 CapableOf with a plain surfaceText
    "eating includes the subevent tomgħod.",  # 14 HasSubevent, end-only
    "ċavetta is derived from chiave.",  # 15 NFC (16 is the same term in NFD)
    "bread is related to ħobż.",  # 17 end-only
}
MT_PAPER = (
    MT_CORRECTED
    - {
        "ħobża is typically found at forn.",
        "sikkina is typically found at mejda.",
        "house has bieb.",
        "eating includes the subevent tomgħod.",
    }
) | {
    "ħobża is a typical location for forn.",
    "sikkina is a typical location for mejda.",
    "house belongs to bieb.",
    "eating is a subevent of tomgħod.",
}
START_ONLY = {
    "kelb is related to dog.",
    "kelb is a synonym of dog.",
    "ġelat tal frawli is a type of ice cream.",
    "ċavetta is derived from chiave.",
}
END_ONLY = {"house has bieb.", "eating includes the subevent tomgħod.", "bread is related to ħobż."}
BOTH = {
    "klieb is a form of kelb.",
    "ħobża is typically found at forn.",
    "sikkina is typically found at mejda.",
    "qattus is capable of jiekol.",
}
# mode -> (edges_read, dropped: external, filter, relation, self_loop; edges_kept, duplicates,
# sentences). Drops are counted in order: external, filter, relation, self-loop (line 13 is
# NotDesires, line 8 /c/mt/x/n -> /c/mt/x); duplicates: lines 9, 10, 16 (all start-only).
MT_COUNTS = {
    "either": (17, 1, 0, 1, 1, 14, 3, 11),
    "start": (17, 1, 3, 1, 1, 11, 3, 8),
    "end": (17, 1, 7, 1, 1, 7, 0, 7),
    "both": (17, 1, 10, 1, 1, 4, 0, 4),
}
MT_SENTENCES = {
    "either": MT_CORRECTED,
    "start": START_ONLY | BOTH,
    "end": END_ONLY | BOTH,
    "both": BOTH,
}
# Concept-to-concept edges touching mt (16 of them) per filter mode.
MT_MODES = {"start": 13, "end": 9, "either": 16, "both": 6}


def _texts(folder: Path) -> list[str]:
    lines: list[str] = []
    for split in SPLITS:
        lines += (folder / f"{split}.txt").read_text(encoding="utf-8").splitlines()
    return lines


def _records(folder: Path) -> list[dict[str, object]]:
    records = []
    for split in SPLITS:
        with (folder / f"{split}.jsonl").open(encoding="utf-8") as stream:
            records += [json.loads(line) for line in stream]
    return records


def test_fixture_is_the_hand_written_dump_format():
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 27
    for line in lines:
        uri, rel, start, end, info = line.split("\t")
        assert uri == f"/a/[{rel}/,{start}/,{end}/]"
        assert json.loads(info)["license"] == "cc:by-sa/4.0"
    assert "/c/mt/c\u0307avetta" in lines[15]  # decomposed (NFD) on purpose


@pytest.mark.parametrize("mode", ["either", "start", "end", "both"])
def test_maltese_counts_and_sentences_per_filter_mode(tmp_path, mode):
    stats = build_corpus(FIXTURE, ["mt"], tmp_path, filter=mode)
    read, external, filtered, relation, self_loop, kept, duplicates, sentences = MT_COUNTS[mode]
    mt = stats.languages["mt"]
    assert stats.lines_read == 27
    assert stats.malformed == 0
    assert mt.edges_read == read
    assert mt.dropped == {
        "external": external,
        "filter": filtered,
        "relation": relation,
        "other_language": 0,
        "weight": 0,
        "dataset": 0,
        "label": 0,
        "self_loop": self_loop,
    }
    assert (mt.edges_kept, mt.duplicates, mt.sentences) == (kept, duplicates, sentences)
    # all four modes are counted in the same pass, whichever one filters
    assert mt.filter_modes == MT_MODES
    assert dict(mt.raw_codes) == {"mt": 17}
    written = _texts(tmp_path / "mt")
    assert len(written) == sentences
    assert set(written) == MT_SENTENCES[mode]
    saved = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))["languages"]["mt"]
    assert saved["duplicates_removed"] == duplicates
    assert saved["filter_modes"] == MT_MODES


def test_relations_and_other_end_languages_are_counted(tmp_path):
    mt = build_corpus(FIXTURE, ["mt"], tmp_path).languages["mt"]
    assert dict(mt.relations) == {
        "RelatedTo": 3,  # 1, 9, 17
        "Synonym": 2,  # 2, 10
        "FormOf": 1,
        "AtLocation": 2,  # 4, 11
        "HasA": 1,
        "IsA": 1,
        "CapableOf": 1,
        "HasSubevent": 1,
        "DerivedFrom": 2,  # 15, 16
    }
    assert dict(mt.other_end_languages) == {"en": 8, "mt": 4, "it": 2}


def test_other_end_allow_list(tmp_path):
    mt = build_corpus(FIXTURE, ["mt"], tmp_path, other_end_languages=["en"]).languages["mt"]
    # lines 15 and 16 link to Italian; mt-mt edges are always allowed
    assert mt.dropped["other_language"] == 2
    assert (mt.edges_kept, mt.duplicates, mt.sentences) == (12, 2, 10)
    assert set(_texts(tmp_path / "mt")) == MT_CORRECTED - {"ċavetta is derived from chiave."}


def test_no_dedupe_keeps_every_kept_edge(tmp_path):
    mt = build_corpus(FIXTURE, ["mt"], tmp_path, dedupe=False).languages["mt"]
    assert (mt.edges_kept, mt.duplicates, mt.sentences) == (14, 0, 14)
    written = _texts(tmp_path / "mt")
    assert written.count("kelb is related to dog.") == 2
    assert written.count("kelb is a synonym of dog.") == 2
    assert written.count("ċavetta is derived from chiave.") == 2  # NFC and NFD spellings
    assert "c\u0307avetta" not in "".join(written)


@pytest.mark.parametrize(
    ("templates", "expected"), [("paper", MT_PAPER), ("corrected", MT_CORRECTED)]
)
def test_paper_and_corrected_templates(tmp_path, templates, expected):
    build_corpus(FIXTURE, ["mt"], tmp_path, templates=templates, format="jsonl")
    records = _records(tmp_path / "mt")
    assert {r["text"] for r in records} == expected
    assert {r["template_set"] for r in records} == {templates}
    by_uri = {r["edge_uri"]: r["text"] for r in records}
    # direction differs: the paper phrase asserts the inverse of AtLocation, HasA, HasSubevent
    reversed_edges = {
        "/a/[/r/AtLocation/,/c/mt/ħobża/n/,/c/mt/forn/]": (
            "ħobża is a typical location for forn.",
            "ħobża is typically found at forn.",
        ),
        "/a/[/r/HasA/,/c/en/house/,/c/mt/bieb/n/]": ("house belongs to bieb.", "house has bieb."),
        "/a/[/r/HasSubevent/,/c/en/eating/,/c/mt/tomgħod/v/]": (
            "eating is a subevent of tomgħod.",
            "eating includes the subevent tomgħod.",
        ),
    }
    for uri, (paper, corrected) in reversed_edges.items():
        assert by_uri[uri] == (paper if templates == "paper" else corrected)
    # unaffected relations read the same in both sets
    assert by_uri["/a/[/r/FormOf/,/c/mt/klieb/n/wikt/en_1/,/c/mt/kelb/n/]"] == (
        "klieb is a form of kelb."
    )


def test_labels_are_the_third_segment_never_the_suffix(tmp_path):
    build_corpus(FIXTURE, ["mt"], tmp_path, format="jsonl", dedupe=False)
    labels = {
        "/a/[/r/RelatedTo/,/c/mt/kelb/,/c/en/dog/]": ("kelb", "dog"),
        "/a/[/r/Synonym/,/c/mt/kelb/n/,/c/en/dog/n/]": ("kelb", "dog"),
        "/a/[/r/FormOf/,/c/mt/klieb/n/wikt/en_1/,/c/mt/kelb/n/]": ("klieb", "kelb"),
        "/a/[/r/AtLocation/,/c/mt/ħobża/n/,/c/mt/forn/]": ("ħobża", "forn"),
        "/a/[/r/HasA/,/c/en/house/,/c/mt/bieb/n/]": ("house", "bieb"),
        "/a/[/r/IsA/,/c/mt/ġelat_tal_frawli/n/,/c/en/ice_cream/n/]": (
            "ġelat tal frawli",
            "ice cream",
        ),
        "/a/[/r/RelatedTo/,/c/mt/kelb/n/,/c/en/dog/n/wn/animal/]": ("kelb", "dog"),
        "/a/[/r/Synonym/,/c/mt/kelb/n/wikt/en_1/,/c/en/dog/]": ("kelb", "dog"),
        "/a/[/r/AtLocation/,/c/mt/sikkina/n/,/c/mt/mejda/n/]": ("sikkina", "mejda"),
        "/a/[/r/CapableOf/,/c/mt/qattus/,/c/mt/jiekol/]": ("qattus", "jiekol"),
        "/a/[/r/HasSubevent/,/c/en/eating/,/c/mt/tomgħod/v/]": ("eating", "tomgħod"),
        "/a/[/r/DerivedFrom/,/c/mt/ċavetta/n/,/c/it/chiave/]": ("ċavetta", "chiave"),
        "/a/[/r/DerivedFrom/,/c/mt/c\u0307avetta/,/c/it/chiave/n/]": ("ċavetta", "chiave"),
        "/a/[/r/RelatedTo/,/c/en/bread/,/c/mt/ħobż/]": ("bread", "ħobż"),
    }
    records = _records(tmp_path / "mt")
    assert len(records) == len(labels) == 14
    for record in records:
        text, spans = str(record["text"]), record["spans"]
        assert isinstance(spans, dict)
        got = (text[slice(*spans["start"])], text[slice(*spans["end"])])
        assert got == labels[str(record["edge_uri"])]
        for suffix in ("/n", "wikt", "en_1", "wn", "animal"):
            assert suffix not in text
    spans = {r["text"]: r["spans"] for r in records}
    assert spans["klieb is a form of kelb."] == {"start": [0, 5], "end": [19, 23]}
    assert spans["ġelat tal frawli is a type of ice cream."] == {
        "start": [0, 16],
        "end": [30, 39],
    }


def test_surface_text_and_star_swap(tmp_path):
    stats = build_corpus(FIXTURE, ["mt"], tmp_path, format="jsonl", use_surface_text=True)
    assert stats.languages["mt"].surface_sentences == 2
    by_uri = {r["edge_uri"]: r for r in _records(tmp_path / "mt")}
    # line 11: "*Fuq [[il-mejda]] issib [[sikkina]]": the leading '*' puts the END first
    star = by_uri["/a/[/r/AtLocation/,/c/mt/sikkina/n/,/c/mt/mejda/n/]"]
    assert star["text"] == "Fuq il-mejda issib sikkina"
    assert star["spans"] == {"start": [19, 26], "end": [4, 12]}
    assert star["template_set"] == "surfaceText"
    # line 12: "[[qattus]] jista' [[jiekol]]": no '*', spans in start, end order
    plain = by_uri["/a/[/r/CapableOf/,/c/mt/qattus/,/c/mt/jiekol/]"]
    assert plain["text"] == "qattus jista' jiekol"
    assert plain["spans"] == {"start": [0, 6], "end": [14, 20]}
    # edges without surfaceText keep their template
    texts = {r["text"] for r in by_uri.values()}
    assert texts == (
        MT_CORRECTED - {"sikkina is typically found at mejda.", "qattus is capable of jiekol."}
        | {"Fuq il-mejda issib sikkina", "qattus jista' jiekol"}
    )


@pytest.mark.parametrize("code", ["ms", "id", "zsm"])
def test_alias_codes_expand_to_one_group(tmp_path, code):
    stats = build_corpus(FIXTURE, [code], tmp_path)
    lang = stats.languages[code]
    # lines 19-24: 19 ms, 20 id, 21 zsm->id (label "kucing" both ends: self-loop), 22 en->zsm,
    # 23 id->ms (both), 24 id ExternalURL
    assert lang.edges_read == 6
    assert dict(lang.raw_codes) == {"ms": 2, "id": 4, "zsm": 2}
    assert lang.filter_modes == {"start": 4, "end": 3, "either": 5, "both": 2}
    assert lang.dropped["external"] == 1
    assert lang.dropped["self_loop"] == 1
    assert (lang.edges_kept, lang.duplicates, lang.sentences) == (4, 0, 4)
    assert sorted(_texts(tmp_path / code)) == [
        "anjing is a synonym of dog.",
        "anjing is related to dog.",
        "cat is related to kucing.",
        "panas is the opposite of sejuk.",
    ]


def test_uyghur_and_several_languages_in_one_pass(tmp_path):
    stats = build_corpus(FIXTURE, ["mt", "ms", "ug"], tmp_path)
    assert stats.lines_read == 27
    ug = stats.languages["ug"]
    assert ug.edges_read == 3
    assert ug.filter_modes == {"start": 2, "end": 2, "either": 3, "both": 1}
    assert (ug.edges_kept, ug.sentences) == (3, 3)
    assert set(_texts(tmp_path / "ug")) == {
        "جاڭگال is related to forest.",
        "ئورمان is a synonym of جاڭگال.",
        "jungle is related to جاڭگال.",
    }
    assert stats.languages["mt"].sentences == 11
    assert stats.languages["ms"].sentences == 4
    assert set(_texts(tmp_path / "mt")) == MT_CORRECTED


@pytest.mark.parametrize("method", ["hash", "shuffle"])
def test_same_seed_gives_byte_identical_split_files(tmp_path, method):
    def build(name: str) -> dict[str, bytes]:
        out = tmp_path / name
        build_corpus(FIXTURE, ["mt"], out, format="txt,csv,jsonl", split_method=method, seed=7)
        return {p.name: p.read_bytes() for p in sorted((out / "mt").iterdir()) if p.is_file()}

    first, second = build("a"), build("b")
    assert len(first) == 9  # 3 splits x txt, csv, jsonl
    assert first == second
    assert set(_texts(tmp_path / "a" / "mt")) == MT_CORRECTED
