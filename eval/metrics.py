"""Answer normalisation and the strict metrics (tog_spec.md §7.3, §7.5). Pure functions."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”«»–—")


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


def gold_set(golds: Iterable[str]) -> set[str]:
    """Normalised gold aliases; strings that normalise to empty are dropped (they never match)."""
    return {n for n in (normalize_answer(g) for g in golds) if n}


def hits_at_1(predictions: Sequence[str], golds: Iterable[str]) -> float:
    """1.0 if the first prediction matches a gold alias after normalisation, else 0.0.

    >>> hits_at_1(["London", "Paris"], ["london"])
    1.0
    >>> hits_at_1([], ["london"])
    0.0
    >>> hits_at_1([""], [""])
    0.0
    """
    if not predictions:
        return 0.0
    first = normalize_answer(predictions[0])
    return 1.0 if first and first in gold_set(golds) else 0.0
