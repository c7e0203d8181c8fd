"""LabelIndex: normalisation, exact-then-fuzzy search, gazetteer mention finding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kg_adapters import EntityMatch
from kg_adapters._label_index import STOPWORDS, LabelIndex, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The_Dark_Knight", "the dark knight"),
        ("  Joseph   Gordon-Levitt ", "joseph gordon-levitt"),
        ("Spider-Man: Homecoming!", "spider-man homecoming"),
        ("-dash- and -- double", "dash and double"),
        ("Chris O'Donnell's film", "chris o donnell s film"),
        ("Amélie’s ＡＢＣ", "amélie s abc"),  # curly apostrophe; NFKC folds full-width letters
        ("STRASSE Straße", "strasse strasse"),
        ("Law & Order: SVU (1999)", "law order svu 1999"),
        ("James B. Schwartz", "james b schwartz"),
        (
            "frederica_of_mecklenburg-strelitz 's couple ?",
            "frederica of mecklenburg-strelitz s couple",
        ),
        ("non\u2011breaking hyphen", "non-breaking hyphen"),
        ("?!...", ""),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@given(st.text())
def test_normalize_is_idempotent_and_tidy(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert "_" not in once


def make_index() -> LabelIndex:
    return LabelIndex(
        [
            ("m.nolan", "Christopher Nolan", ["Chris Nolan"]),
            ("m.jnolan", "Jonathan Nolan", []),
            ("m.tdk", "The Dark Knight", []),
            ("m.tdkr", "The Dark Knight Rises", []),
            ("m.knight", "Knight", []),
            ("m.who", "The Who", []),
            ("m.x", "X", []),
            ("m.it", "It", []),
            ("m.up", "Up", ["UP!"]),
            ("m.ed", "Ed", []),
            ("m.chris", "Chris Nolan", []),  # another entity whose *label* is the alias above
            ("m.alias_only", None, ["Nolan Brothers"]),
            ("m.unnamed", None, []),
            ("m.dup", "Knight", ["Sir Knight"]),
        ]
    )


def test_exact_matches_label_before_alias_then_by_id() -> None:
    index = make_index()
    matches = index.search("chris nolan")
    assert matches[:2] == [
        EntityMatch("m.chris", "Chris Nolan", 1.0, exact=True),  # via its label
        EntityMatch("m.nolan", "Christopher Nolan", 1.0, exact=True),  # via an alias
    ]
    assert [m.id for m in matches[2:]] == ["m.alias_only", "m.jnolan"]  # equal scores: by id
    assert all(not m.exact for m in matches[2:])
    assert [m.id for m in index.exact("KNIGHT")] == ["m.dup", "m.knight"]


def test_fuzzy_scores_are_below_one_sorted_and_limited() -> None:
    index = make_index()
    matches = index.search("nolan", limit=10)
    assert {m.id for m in matches} == {"m.nolan", "m.jnolan", "m.chris", "m.alias_only"}
    assert all(not m.exact and 0 < m.score < 1 for m in matches)
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)
    ties = [m for m in matches if m.score == matches[0].score]
    assert [m.id for m in ties] == sorted(m.id for m in ties)
    assert index.search("nolan", limit=2) == matches[:2]


def test_alias_only_entity_is_labelled_by_its_alias() -> None:
    assert make_index().search("nolan brothers")[0] == EntityMatch(
        "m.alias_only", "Nolan Brothers", 1.0, exact=True
    )


def test_search_edge_cases() -> None:
    index = make_index()
    assert index.search("") == []
    assert index.search("   ") == []
    assert index.search("unknownword") == []
    assert index.search("knight", limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        index.search("knight", limit=-1)
    assert LabelIndex([]).search("anything") == []
    assert LabelIndex([]).find_mentions("anything at all") == []


def test_hyphenated_words_meet_spaced_ones() -> None:
    index = LabelIndex([("q", "Spider-Man", [])])
    assert index.search("spider-man")[0].exact
    fuzzy = index.search("spider man")
    assert fuzzy[0].id == "q"
    assert not fuzzy[0].exact


def test_find_mentions_longest_span_wins() -> None:
    index = make_index()
    mentions = index.find_mentions("Who wrote The Dark Knight Rises with Christopher Nolan?")
    assert [(text, [m.id for m in found]) for text, found in mentions] == [
        ("the dark knight rises", ["m.tdkr"]),
        ("christopher nolan", ["m.nolan"]),
    ]


def test_find_mentions_skips_single_stopwords_and_single_letters() -> None:
    index = make_index()
    assert index.find_mentions("who is it up to x with ed") == [("ed", index.exact("ed"))]
    assert {"the", "who", "in", "it", "up"} <= STOPWORDS
    # Longer spans may be all stopwords: "Being There", "How to Be" and "The Who" are real names.
    assert index.find_mentions("is the who it") == [("the who", index.exact("the who"))]


def test_find_mentions_handles_case_punctuation_and_possessives() -> None:
    index = make_index()
    mentions = index.find_mentions("What is CHRIS NOLAN's best film, after knight?")
    assert [text for text, _ in mentions] == ["chris nolan", "knight"]
    assert [m.id for m in mentions[0][1]] == ["m.chris", "m.nolan"]


def test_find_mentions_max_tokens() -> None:
    index = make_index()
    assert [t for t, _ in index.find_mentions("the dark knight rises", max_tokens=2)] == ["knight"]


def test_find_mentions_on_a_large_index() -> None:
    words = [f"w{i}" for i in range(2_000)]
    records: list[tuple[str, str | None, list[str]]] = [
        (f"e{i}", f"{words[i % 2000]} {words[(i * 7) % 2000]} {i}", []) for i in range(100_000)
    ]
    index = LabelIndex(records)
    question = " ".join(["who", "acted", "in", "w5", "w35", "5", "and", *words[100:120]])
    mentions = index.find_mentions(question)
    assert mentions == [("w5 w35 5", index.exact("w5 w35 5"))]
