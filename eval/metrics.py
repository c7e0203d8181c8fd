"""Answer normalisation and the KGQA metrics (tog_spec.md §7.3-§7.5). Pure functions.

A gold answer is a string or the sequence of its aliases (`Gold`); a prediction list is ranked.
Strict metrics (`hits_at_1`, `exact_match`, `answer_f1`) compare SQuAD-normalised strings;
`hit` looks for gold aliases in the whole output; `tog_compatible` is the reference evaluator's
rule with its bugs fixed. `score_question` computes all of them for one question and result.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

if TYPE_CHECKING:
    from eval.datasets import Question
    from tog.result import Result

Gold: TypeAlias = str | Sequence[str]
"""One gold answer: a string, or its aliases (any of them counts as that answer)."""

METRICS: Final = ("hits@1", "em", "f1", "hit", "tog_compatible")
"""The metric names `score_question` returns, in report order."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”«»–—")
_BRACES = re.compile(r"\{([^{}]*)\}")
_TOG_TOKENS = re.compile(r"\w+|[^\w\s]")
_YES_NO: Final = frozenset({"yes", "no"})


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: NFKC, lowercase, no punctuation or articles, single spaces.

    Underscores (PathQuestion's entity names) count as spaces. Diacritics are kept.

    >>> normalize_answer("The_United  Kingdom.")
    'united kingdom'
    >>> normalize_answer("Amélie")
    'amélie'
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("_", " ")
    text = text.translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def alias_groups(golds: Iterable[Gold]) -> list[frozenset[str]]:
    """Each gold answer as its set of normalised aliases; empty aliases and groups are dropped.

    >>> [sorted(group) for group in alias_groups(["The UK", ("USA", "United States"), "..."])]
    [['uk'], ['united states', 'usa']]
    """
    groups: list[frozenset[str]] = []
    for gold in golds:
        aliases = (gold,) if isinstance(gold, str) else gold
        group = frozenset(n for n in (normalize_answer(a) for a in aliases) if n)
        if group and group not in groups:
            groups.append(group)
    return groups


def gold_set(golds: Iterable[Gold]) -> set[str]:
    """Every normalised gold alias; strings that normalise to empty are dropped (never match).

    >>> sorted(gold_set(["London", ("Paris", "Paris, France"), ""]))
    ['london', 'paris', 'paris france']
    """
    return {alias for group in alias_groups(golds) for alias in group}


def normalize_predictions(predictions: Iterable[str]) -> list[str]:
    """Predictions normalised, in rank order, deduplicated; empty ones dropped (tog_spec §7.4).

    >>> normalize_predictions(["The Beatles", "beatles", "", "Wings"])
    ['beatles', 'wings']
    """
    return list(dict.fromkeys(n for n in (normalize_answer(p) for p in predictions) if n))


def hits_at_1(predictions: Sequence[str], golds: Iterable[Gold]) -> float:
    """1.0 if the first prediction matches a gold alias after normalisation, else 0.0.

    The headline metric: what ToG and PoG tables call "exact match".

    >>> hits_at_1(["London", "Paris"], ["london"])
    1.0
    >>> hits_at_1(["Paris", "London"], ["london"])
    0.0
    >>> hits_at_1([], ["london"])
    0.0
    >>> hits_at_1([""], [""])
    0.0
    """
    ranked = normalize_predictions(predictions)
    return 1.0 if ranked and ranked[0] in gold_set(golds) else 0.0


def exact_match(predictions: Sequence[str], golds: Iterable[Gold]) -> float:
    """Set exact match: every gold answer is predicted and every prediction is a gold answer.

    A gold answer counts as predicted when any of its aliases is; a prediction counts as gold when
    it is an alias of some gold answer. Equals `hits_at_1` for one gold and one prediction.

    >>> exact_match(["Paris", "London"], ["london", ("Paris", "City of Light")])
    1.0
    >>> exact_match(["Paris"], ["london", "paris"])
    0.0
    >>> exact_match(["Paris", "Rome"], ["paris"])
    0.0
    >>> exact_match([], [])
    0.0
    """
    ranked, groups = normalize_predictions(predictions), alias_groups(golds)
    if not ranked or not groups:
        return 0.0
    every_gold = all(group & set(ranked) for group in groups)
    every_prediction = all(any(p in group for group in groups) for p in ranked)
    return 1.0 if every_gold and every_prediction else 0.0


def answer_f1(predictions: Sequence[str], golds: Iterable[Gold]) -> float:
    """Answer-set F1: precision over predictions, recall over gold answers; 0.0 without either.

    >>> answer_f1(["Paris", "Rome"], ["paris", "london"])
    0.5
    >>> round(answer_f1(["Paris"], ["paris", "london"]), 4)
    0.6667
    >>> answer_f1([], ["paris"])
    0.0
    """
    ranked, groups = normalize_predictions(predictions), alias_groups(golds)
    if not ranked or not groups:
        return 0.0
    precision = sum(any(p in g for g in groups) for p in ranked) / len(ranked)
    recall = sum(bool(g & set(ranked)) for g in groups) / len(groups)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def hit(output: str | Sequence[str], golds: Iterable[Gold]) -> float:
    """Lenient Hit: some gold alias occurs in the normalised output, as whole words.

    ``output`` is the full model output (answers plus rationale) or a list of its parts. This is
    RoG's / GNN-RAG's "Hit", except that matches must start and end at word boundaries (gold "UK"
    is not found in "Ukraine"). Never report it as Hits@1.

    >>> hit("The capital is Paris, I think.", ["paris"])
    1.0
    >>> hit(["Kyiv", "it is in Ukraine"], ["UK"])
    0.0
    """
    parts = [output] if isinstance(output, str) else output
    text = f" {' '.join(normalize_answer(p) for p in parts)} "
    return 1.0 if any(f" {alias} " in text for alias in gold_set(golds)) else 0.0


def extract_legacy_answer(text: str) -> tuple[str, Literal["braces", "full_text"]]:
    """The answer in raw model text (tog_spec §7.4), and how it was found.

    The first ``{...}`` whose content is not empty, ``yes`` or ``no``; else the whole text.
    ToG's evaluator took the first braces, so it scored "{Yes}" (the sufficiency verdict) and
    "{}" as answers.

    >>> extract_legacy_answer("{Yes}. Based on the triplets, the answer is {Harry Potter}.")
    ('Harry Potter', 'braces')
    >>> extract_legacy_answer("{} The answer is Paris")
    ('{} The answer is Paris', 'full_text')
    """
    for content in _BRACES.findall(text):
        stripped = content.strip()
        if stripped and stripped.strip(" .!").lower() not in _YES_NO:
            return stripped, "braces"
    return text, "full_text"


def _tog_tokens(text: str) -> list[str]:
    """ToG's normalisation (lowercase, whitespace ignored) but kept as word and symbol tokens."""
    return _TOG_TOKENS.findall(unicodedata.normalize("NFKC", text).lower().strip())


def _tog_contains(haystack: list[str], needle: list[str]) -> bool:
    """Whether ``needle`` (spaces removed) equals the spaces-removed text of a run of tokens."""
    target = "".join(needle)
    for start in range(len(haystack)):
        joined = ""
        for token in haystack[start:]:
            joined += token
            if len(joined) >= len(target):
                if joined == target:
                    return True
                break
    return False


def tog_compatible(prediction: str, golds: Iterable[Gold]) -> float:
    """ToG's accuracy rule with its bugs fixed (tog_spec §5 items 31-33, §7.5).

    As in ToG, case and whitespace are ignored and the prediction may contain a gold string or be
    contained in one. Fixed: both must contain a letter or digit (so "{}" and "" never match),
    and containment must start and end at word or symbol boundaries (gold "UK" is not in
    "Ukraine"). Pass our joined ``answers``, or `extract_legacy_answer` of raw text (never
    "{Yes}").

    >>> tog_compatible("Barack Obama, Michelle Obama", ["michelle  obama"])
    1.0
    >>> tog_compatible("NewYork", ["New York"])
    1.0
    >>> tog_compatible("Ukraine", ["UK"])
    0.0
    >>> tog_compatible("{}", ["Paris"])
    0.0
    """
    pred = _tog_tokens(prediction)
    if not any(any(c.isalnum() for c in t) for t in pred):
        return 0.0
    for gold in golds:
        for alias in (gold,) if isinstance(gold, str) else gold:
            tokens = _tog_tokens(alias)
            if not any(any(c.isalnum() for c in t) for t in tokens):
                continue
            if _tog_contains(pred, tokens) or _tog_contains(tokens, pred):
                return 1.0
    return 0.0


def score_answers(
    answers: Sequence[str], golds: Sequence[Gold], *, rationale: str = ""
) -> dict[str, float]:
    """Every metric of `METRICS` for one ranked answer list against one question's gold answers.

    Args:
        answers: The predicted answers, best first.
        golds: The gold answers, each a string or its aliases.
        rationale: The rest of the model output; only the lenient `hit` reads it.

    Returns:
        ``{"hits@1": ..., "em": ..., "f1": ..., "hit": ..., "tog_compatible": ...}``.

    >>> score_answers(["Paris", "Lyon"], ["paris"])
    {'hits@1': 1.0, 'em': 0.0, 'f1': 0.6666666666666666, 'hit': 1.0, 'tog_compatible': 1.0}
    """
    return {
        "hits@1": hits_at_1(answers, golds),
        "em": exact_match(answers, golds),
        "f1": answer_f1(answers, golds),
        "hit": hit([*answers, rationale], golds),
        "tog_compatible": tog_compatible(", ".join(answers), golds),
    }


def question_golds(question: Question) -> list[Gold]:
    """A question's gold answers, each with the aliases its dataset ships (A(g) of §7.5)."""
    return list(question.gold_aliases())


def _parse_golds(question: Question) -> list[list[str]]:
    """WebQSP's gold answers per parse (``metadata["parse_answers"]``), or none."""
    parses = question.metadata.get("parse_answers")
    if not isinstance(parses, list):
        return []
    return [
        [a for a in parse if isinstance(a, str)]
        for parse in parses
        if isinstance(parse, list) and parse
    ]


def score_question(question: Question, result: Result) -> dict[str, float]:
    """Every metric of `METRICS` for a `Result` against its `Question` (see `score_answers`).

    For WebQSP, whose questions carry several gold parses (``metadata["parse_answers"]``), EM and
    F1 are the maximum over the parses, as in the WebQSP evaluation; Hits@1, Hit and the
    ToG-compatible rule use the union of all parses' answers.
    """
    scores = score_answers(result.answers, question_golds(question), rationale=result.rationale)
    parses = _parse_golds(question)
    if parses:
        scores["em"] = max(exact_match(result.answers, parse) for parse in parses)
        scores["f1"] = max(answer_f1(result.answers, parse) for parse in parses)
    return scores
