"""The metrics of tog_spec.md §7.5, including the reference evaluator's failure cases."""

from __future__ import annotations

import doctest
from types import SimpleNamespace
from typing import Any, cast

import pytest

import eval.metrics
from eval.datasets import Question
from eval.metrics import (
    METRICS,
    alias_groups,
    answer_f1,
    exact_match,
    extract_legacy_answer,
    hit,
    hits_at_1,
    normalize_answer,
    question_golds,
    score_answers,
    score_question,
    tog_compatible,
)


def test_doctests_pass():
    # pytest does not collect doctests here (no --doctest-modules), so run them explicitly.
    outcome = doctest.testmod(eval.metrics)
    assert outcome.attempted >= 20
    assert outcome.failed == 0


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The_United  Kingdom.", "united kingdom"),
        ("ＡＢＣ", "abc"),  # NFKC
        ("An Apple a day", "apple day"),
        ("Théâtre", "théâtre"),  # diacritics kept
        ("“Quoted” — text", "quoted text"),
        ("...", ""),
    ],
)
def test_normalize_answer(text, normal):
    assert normalize_answer(text) == normal


def test_empty_gold_and_prediction_never_match():
    assert hits_at_1([""], [""]) == 0.0
    assert exact_match(["."], ["!"]) == 0.0
    assert answer_f1([""], [""]) == 0.0
    assert hit("", [""]) == 0.0
    assert tog_compatible("", [""]) == 0.0
    assert alias_groups(["", ("", "...")]) == []


def test_hits_at_1_uses_aliases_and_rank():
    golds = [("United Kingdom", "UK", "Britain")]
    assert hits_at_1(["the U.K."], golds) == 1.0
    assert hits_at_1(["France", "UK"], golds) == 0.0
    # a prediction that normalises to empty is dropped, so the next one is first
    assert hits_at_1(["", "Britain"], golds) == 1.0


def test_exact_match_is_set_equality_over_alias_groups():
    golds = ["Paris", ("London", "Londres")]
    assert exact_match(["Londres", "paris"], golds) == 1.0
    assert exact_match(["Londres", "London", "paris"], golds) == 1.0  # aliases of one answer
    assert exact_match(["Paris"], golds) == 0.0
    assert exact_match(["Paris", "London", "Rome"], golds) == 0.0
    # one gold, one prediction: EM == Hits@1
    assert exact_match(["Paris"], ["paris"]) == hits_at_1(["Paris"], ["paris"]) == 1.0


def test_f1():
    assert answer_f1(["a1", "b2", "c3", "d4"], ["a1", "b2"]) == pytest.approx(2 / 3)
    assert answer_f1(["x"], ["a", "b"]) == 0.0
    assert answer_f1(["a", "b"], ["a", "b"]) == 1.0
    assert answer_f1(["a"], []) == 0.0


def test_hit_is_lenient_but_respects_word_boundaries():
    assert hit(["Rome", "because Paris is the capital"], ["Paris"]) == 1.0
    assert hit("Ukraine", ["UK"]) == 0.0
    assert hit("Kyiv is in the UK apparently", ["UK"]) == 1.0


class TestToGCompatibleFixesReferenceBugs:
    def test_yes_braces_are_not_the_answer(self):
        raw = "{Yes}. Based on the given knowledge triplets, the answer is {Joe Biden}."
        prediction, how = extract_legacy_answer(raw)
        assert (prediction, how) == ("Joe Biden", "braces")
        assert tog_compatible(prediction, ["Joe Biden"]) == 1.0
        # the reference scored "Yes": against a gold containing "yes" it was counted correct
        assert tog_compatible(prediction, ["Yes Minister"]) == 0.0

    def test_yes_without_other_braces_falls_back_to_the_text(self):
        raw = "{Yes}. The answer is Joe Biden."
        prediction, how = extract_legacy_answer(raw)
        assert how == "full_text"
        assert tog_compatible(prediction, ["Joe Biden"]) == 1.0
        assert extract_legacy_answer("{No}")[1] == "full_text"

    def test_empty_braces_are_never_correct(self):
        # the reference: "" is a substring of every gold, so "{}" matched every question
        prediction, _ = extract_legacy_answer("{}")
        assert tog_compatible(prediction, ["Paris"]) == 0.0
        assert tog_compatible("", ["Paris"]) == 0.0
        assert tog_compatible("{ }", ["Paris"]) == 0.0
        assert tog_compatible("Paris", ["", "{}"]) == 0.0

    def test_substrings_inside_words_do_not_count(self):
        assert tog_compatible("Ukraine", ["UK"]) == 0.0
        assert tog_compatible("The country is Ukraine, next to Russia.", ["UK"]) == 0.0
        assert tog_compatible("UK", ["Ukraine"]) == 0.0
        assert tog_compatible("Paris Hilton", ["Pari"]) == 0.0

    def test_tog_rule_otherwise_kept(self):
        # case and whitespace are ignored; containment both ways, as in ToG
        assert tog_compatible("the answer is United Kingdom.", ["united  kingdom"]) == 1.0
        assert tog_compatible("Obama", ["Barack Obama"]) == 1.0
        assert tog_compatible("NewYork", ["New York"]) == 1.0
        assert tog_compatible("UK", ["UK", "Britain"]) == 1.0
        assert tog_compatible("Britain", [("United Kingdom", "Britain")]) == 1.0


def test_score_answers_keys():
    scores = score_answers(["Paris"], ["Paris"], rationale="Paris is the capital.")
    assert tuple(scores) == METRICS
    assert all(v == 1.0 for v in scores.values())
    assert score_answers([], ["Paris"]) == dict.fromkeys(METRICS, 0.0)


def test_score_question_uses_aliases_and_rationale():
    question = Question("q:0", "?", (), ("United Kingdom",), answer_aliases=(("UK", "Britain"),))
    result = SimpleNamespace(answers=("Britain",), rationale="")
    assert question_golds(question) == [("United Kingdom", "UK", "Britain")]
    scores = score_question(question, cast(Any, result))
    assert scores["hits@1"] == scores["em"] == scores["tog_compatible"] == 1.0
    plain = Question("q:1", "?", (), ("Paris", "Lyon"))
    wrong = SimpleNamespace(answers=("Rome",), rationale="not Paris")
    scores = score_question(plain, cast(Any, wrong))
    assert scores == {"hits@1": 0.0, "em": 0.0, "f1": 0.0, "hit": 1.0, "tog_compatible": 0.0}


def test_webqsp_em_and_f1_take_the_best_parse():
    question = Question(
        "WebQTest-1",
        "?",
        (),
        ("X", "Y", "Z"),
        metadata={"parse_answers": [["X", "Y"], ["Z"]]},
    )
    result = SimpleNamespace(answers=("Z",), rationale="")
    scores = score_question(question, cast(Any, result))
    assert scores["em"] == 1.0
    assert scores["f1"] == 1.0
    assert scores["hits@1"] == 1.0
    # against the union of the parses one answer of three gets F1 0.5
    assert answer_f1(["Z"], ["X", "Y", "Z"]) == 0.5
