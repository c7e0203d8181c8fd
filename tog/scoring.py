"""Lexical scoring with no model: tokenising KG names, BM25 over candidates, ranking whole paths.

Relation ids are split on ``.``, ``_``, ``/``, ``-`` and camelCase before scoring (the reference
code kept ``people.person.nationality`` as one token, which made BM25 close to random). Words are
Snowball-stemmed and expanded through a small lexicon of relation vocabulary
(``tog/data/relation_lexicon.tsv``), so "who directed" meets ``directed_by`` and "wife" meets
``spouse``. Everything here is pure and deterministic.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Protocol, cast

from tog.llm.base import PathView

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LOCATIVE = frozenset({"in", "at", "located", "location", "place", "where"})

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "done",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "s",
        "t",
        "name",
        "names",
        "give",
        "tell",
        "list",
    ]
)
"""English function words ignored when matching; "when", "where" and "why" are kept on purpose."""


def split_name(name: str) -> list[str]:
    """Split a KG name or question into lowercase words.

    >>> split_name("people.person.placeOfBirth")
    ['people', 'person', 'place', 'of', 'birth']
    >>> split_name("Who directed_by Inception?")
    ['who', 'directed', 'by', 'inception']
    """
    text = unicodedata.normalize("NFKC", name)
    text = _CAMEL.sub(" ", text)
    return [w.casefold() for w in _WORD.findall(text)]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


class _Stemmer(Protocol):
    def stemWord(self, word: str) -> str: ...


_local = threading.local()


def _stemmer() -> _Stemmer:
    # One stemmer per thread: a snowball stemmer keeps its word in itself, and the stand-in
    # server's handler threads stem concurrently (a shared one raised IndexError).
    stemmer: _Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.stemmer = cast(_Stemmer, snowballstemmer.stemmer("english"))
    return stemmer


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Stem → concept expansions: a word also counts as the relation concept it names."""

    expansions: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Lexicon:
        """Parse ``concept<TAB>word word ...`` lines; ``#`` starts a comment line."""
        table: dict[str, set[str]] = {}
        for line in lines:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            concept, _, words = line.rstrip("\n").partition("\t")
            tag = "~" + _stem(concept.strip().casefold())
            for word in [concept, *words.split()]:
                table.setdefault(_stem(word.casefold()), set()).add(tag)
        return cls({stem: tuple(sorted(tags)) for stem, tags in table.items()})

    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        """Load a lexicon file; the shipped one when ``path`` is None."""
        if path is None:
            text = resources.files("tog").joinpath("data/relation_lexicon.tsv").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.from_lines(text.splitlines())

    @classmethod
    def empty(cls) -> Lexicon:
        """No expansions: plain stemmed BM25."""
        return cls({})


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The shipped lexicon, loaded once."""
    return Lexicon.load()


class TextScorer:
    """Turns text into matchable terms and scores candidates against a query.

    Args:
        lexicon: Concept expansions; `default_lexicon()` when None, `Lexicon.empty()` for none.
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = default_lexicon() if lexicon is None else lexicon
        self._terms: dict[str, tuple[str, ...]] = {}

    def terms(self, text: str) -> tuple[str, ...]:
        """Content terms of ``text``: stems of non-stopwords plus their lexicon concepts.

        >>> TextScorer().terms("Who directed Inception?")
        ('direct', '~direct', 'incept')
        """
        cached = self._terms.get(text)
        if cached is not None:
            return cached
        out: list[str] = []
        for word in split_name(text):
            if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
                continue
            stem = _stem(word)
            out.append(stem)
            out.extend(self.lexicon.expansions.get(stem, ()))
        result = tuple(dict.fromkeys(out))
        if len(self._terms) < 100_000:
            self._terms[text] = result
        return result

    def relation_terms(self, relation: str) -> set[str]:
        """Terms of a relation name; a locative preposition (``born_in``) also means *place*.

        >>> sorted(TextScorer().relation_terms("born_in"))
        ['born', '~birth', '~place']
        """
        terms = set(self.terms(relation))
        if _LOCATIVE.intersection(split_name(relation)):
            terms.add("~place")
        return terms

    def bm25(
        self, query: str, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75
    ) -> list[float]:
        """BM25 of each document against ``query``, with the documents as the corpus.

        Written out rather than delegated to ``bm25s``: the corpora here are a handful of
        candidates scored once, where building an index costs more than scoring.
        """
        return self.bm25_terms(
            set(self.terms(query)), [self.terms(d) for d in documents], k1=k1, b=b
        )

    @staticmethod
    def bm25_terms(
        query_terms: set[str] | frozenset[str] | Mapping[str, float],
        documents: Sequence[Iterable[str]],
        *,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> list[float]:
        """`bm25` over already tokenised query terms (optionally weighted) and documents."""
        weights = (
            query_terms if isinstance(query_terms, Mapping) else dict.fromkeys(query_terms, 1.0)
        )
        if not documents:
            return []
        docs = [Counter(doc) for doc in documents]
        n_docs = len(docs)
        avg_len = sum(sum(d.values()) for d in docs) / n_docs or 1.0
        doc_freq: Counter[str] = Counter()
        for doc in docs:
            doc_freq.update(t for t in doc if t in query_terms)
        scores = []
        for doc in docs:
            length = sum(doc.values())
            score = 0.0
            for term in query_terms:
                tf = doc.get(term, 0)
                if tf:
                    idf = math.log(1.0 + (n_docs - doc_freq[term] + 0.5) / (doc_freq[term] + 0.5))
                    saturation = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
                    score += weights[term] * idf * saturation
            scores.append(score)
        return scores


def normalize_scores(scores: Sequence[float]) -> list[float]:
    """Scale non-negative scores to sum to 1; all zero (or empty) becomes uniform.

    >>> normalize_scores([2.0, 2.0, 0.0])
    [0.5, 0.5, 0.0]
    >>> normalize_scores([0.0, 0.0])
    [0.5, 0.5]
    """
    clipped = [max(0.0, s) if math.isfinite(s) else 0.0 for s in scores]
    total = sum(clipped)
    if not clipped:
        return []
    if total <= 0.0:
        return [1.0 / len(clipped)] * len(clipped)
    return [s / total for s in clipped]


SIBLING_CUES = frozenset({"same", "share", "shared", "also", "other", "similar", "co", "together"})
"""Words that explain walking a relation back to a sibling (films sharing a director, co-stars)."""


@dataclass(frozen=True, slots=True)
class PathScore:
    """How well a path explains a question: the total and its parts (for traces and notebooks).

    ``complete`` means every hop is explained by a distinct question word and every content word
    of the question is explained by some hop.
    """

    total: float
    matched_hops: int
    hops: int
    coverage: float
    complete: bool


Cue = tuple[str, frozenset[str]]


def question_cues(
    scorer: TextScorer, question: str, labels: Iterable[str] = (), *, topic: str | None = None
) -> list[Cue]:
    """The question's content words with their terms, minus words of entities it mentions.

    A label counts as mentioned when all its terms occur in the question (the topic entity).
    With ``topic`` given and found in the question, cues come in *hop order*, the order English
    possessive and "of" chains name hops: the words after the topic left to right ("X 's mother
    's nationality"), then the words before it right to left ("the capital of the country of X").
    """
    question_terms = set(scorer.terms(question))
    mentioned: set[str] = set()
    for label in labels:
        label_terms = set(scorer.terms(label))
        if label_terms and label_terms <= question_terms:
            mentioned.update(label_terms)
    words = split_name(question)
    if topic is not None:
        words = _hop_order(words, split_name(topic))
    cues: list[Cue] = []
    seen: set[str] = set()
    for word in words:
        if (word in STOPWORDS and word not in SIBLING_CUES) or len(word) < 2 or word in seen:
            continue
        terms = frozenset(scorer.terms(word)) or frozenset({word})
        if terms and not terms <= mentioned:
            cues.append((word, terms))
            seen.add(word)
    return cues


def _hop_order(words: list[str], topic: list[str]) -> list[str]:
    """Words after the topic mention (in order), then those before it (reversed)."""
    size = len(topic)
    if not size:
        return words
    for start in range(len(words) - size + 1):
        if words[start : start + size] == topic:
            return words[start + size :] + words[:start][::-1]
    return words


TYPE_NOUNS = frozenset(
    [
        "movie",
        "movies",
        "film",
        "films",
        "person",
        "people",
        "persons",
        "city",
        "cities",
        "country",
        "countries",
        "place",
        "places",
        "thing",
        "things",
        "kind",
        "sort",
        "type",
        "year",
        "years",
    ]
)
"""Class nouns naming the answer's type ("which *films*", "in which *country*"): they may explain
a hop and must be explained for a path to be complete, but an unexplained one costs nothing."""

OPTIONAL_CUES = frozenset({"where", "when", "how", "why"}) | TYPE_NOUNS
"""Words that may explain a hop (``where`` → a place) but never demand a hop of their own."""


def _hop_options(scorer: TextScorer, cues: list[Cue], relations: Sequence[str]) -> list[list[str]]:
    """For each hop, the cue words that could explain it."""
    options: list[list[str]] = []
    for k, relation in enumerate(relations):
        terms = scorer.relation_terms(relation)
        words = [w for w, t in cues if t & terms]
        # "films that share a *director*": walking back is explained only when the relation
        # walked back is itself one the question names.
        if k and relation == relations[k - 1] and words:
            words += [w for w, _ in cues if w in SIBLING_CUES]
        options.append(words)
    return options


@dataclass(frozen=True, slots=True)
class _Explanation:
    required: dict[str, int]  # content word -> hop it explains
    optional: dict[str, int]  # question word ("where") -> hop it explains
    explained: frozenset[str]  # content words sharing a term with some hop


def _explain(scorer: TextScorer, cues: list[Cue], relations: Sequence[str]) -> _Explanation:
    """Match hops to content words first (maximum matching), then to optional question words."""
    options = _hop_options(scorer, cues, relations)
    required = _matching([[w for w in opts if w not in OPTIONAL_CUES] for opts in options])
    taken = set(required.values())
    optional: dict[str, int] = {}
    for hop, opts in enumerate(options):
        if hop in taken:
            continue
        word = next((w for w in opts if w in OPTIONAL_CUES and w not in optional), None)
        if word is not None:
            optional[word] = hop
    explained = frozenset(w for opts in options for w in opts if w not in OPTIONAL_CUES)
    return _Explanation(required, optional, explained)


def residual_cues(scorer: TextScorer, cues: list[Cue], relations: Sequence[str]) -> list[Cue]:
    """The cues a path's relations have not used up."""
    explanation = _explain(scorer, cues, relations)
    used = explanation.required.keys() | explanation.optional.keys()
    return [(w, t) for w, t in cues if w not in used]


def score_path(scorer: TextScorer, question: str, path: PathView) -> PathScore:
    """Score one reasoning path against the question, with no model.

    The question's content words, minus those of entities the question names, are *cues*. Hops
    are matched to distinct cues: a hop is explained by a cue that shares a term (stem or lexicon
    concept) with its relation, or, when it walks the previous relation back, by a sibling cue
    ("same", "share", "other"...). Question words such as "where" may explain a hop but are
    never required. The score rewards hops explained by content words and the share of content
    words explained; a hop nothing explains costs, unless some content word is still unexplained
    (the lexicon may simply not know the word), in which case it earns a little.
    """
    relations = [t.relation for t in path.triples] or [
        part.strip().removesuffix(" (reverse)") for part in path.chain.split("->")[1:]
    ]
    if not relations:
        return PathScore(0.0, 0, 0, 0.0, False)
    labels = [label for t in path.triples for label in (t.subject, t.object)]
    if path.chain:  # ToG-R: the chain starts at the topic ("Inception -> directed by -> ...")
        labels.append(path.chain.split(" -> ")[0])
    cues = question_cues(scorer, question, labels)
    explanation = _explain(scorer, cues, relations)
    content = [w for w, _ in cues if w not in OPTIONAL_CUES]
    hops = len(relations)
    matched = len(explanation.required)
    unexplained_words = len(content) - len(explanation.explained)
    loose = hops - matched - len(explanation.optional)
    guessed = min(loose, unexplained_words)
    coverage = len(explanation.explained) / len(content) if content else 1.0
    total = matched + 0.4 * guessed - 0.6 * (loose - guessed) + coverage - 0.05 * hops
    types_explained = all(
        any(t & scorer.relation_terms(r) for r in relations) for w, t in cues if w in TYPE_NOUNS
    )
    complete = loose == 0 and matched == len(content) and types_explained
    return PathScore(total, matched, hops, coverage, complete)


def _matching(options: list[list[str]]) -> dict[str, int]:
    """A maximum matching of hops to distinct cue words, as word → hop (augmenting paths)."""
    owner: dict[str, int] = {}

    def assign(hop: int, seen: set[str]) -> bool:
        for word in options[hop]:
            if word in seen:
                continue
            seen.add(word)
            if word not in owner or assign(owner[word], seen):
                owner[word] = hop
                return True
        return False

    for hop in range(len(options)):
        assign(hop, set())
    return owner
