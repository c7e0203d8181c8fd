"""An in-memory entity-linking index over labels and aliases: exact lookups plus BM25 search.

Built once from ``(entity_id, label, aliases)`` records; a query is a few dict lookups (exact) or
one sparse BM25 scoring pass (fuzzy), never a scan over the labels.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from kg_adapters.base import EntityId, EntityMatch

if TYPE_CHECKING:
    import bm25s

__all__ = ["STOPWORDS", "LabelIndex", "longest_mentions", "mention_spans", "normalize"]

_STOPWORD_TEXT = """
a about after all also am an and any are as at be been before being between both but by can
could did do does doing during each for from had has have having he her hers him his how i if
in into is it its me my no nor not of off on once only or other our ours out over own s same
she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom whose why
will with would you your yours
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
"""English function words that never form a one-word mention in `LabelIndex.find_mentions`."""

# Punctuation and symbols become spaces; the callback keeps combining marks, which `\w` misses.
_NON_WORD = re.compile(r"[^\w\s-]|_")
# A hyphen survives only between two word characters ("gordon-levitt", "spider-man").
_LOOSE_HYPHEN = re.compile(r"(?<!\w)-|-(?!\w)")
_UNICODE_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-"})
_ALMOST_ONE = 0.999_999


def _blank_non_word(match: re.Match[str]) -> str:
    char = match.group()
    return char if unicodedata.category(char).startswith("M") else " "


def normalize(text: str) -> str:
    """Normalise a label, alias or query for matching.

    Steps: Unicode NFKC; case folding; ``_`` to space; every punctuation or symbol character to a
    space, except a hyphen between two letters or digits, which is kept (``Gordon-Levitt``); runs of
    whitespace collapsed to one space; ends stripped. Apostrophes become spaces, so ``Nolan's``
    gives the tokens ``nolan s`` and still contains the mention ``nolan``; ``O'Donnell`` becomes
    ``o donnell`` on both sides of a comparison. Accents are kept.

    >>> normalize("  The_Dark-Knight: Rises!  ")
    'the dark-knight rises'
    >>> normalize("Chris O'Donnell's -film-")
    'chris o donnell s film'

    Args:
        text: Any text.

    Returns:
        The normalised text; empty when ``text`` holds no letters or digits.
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_UNICODE_HYPHENS)
    text = _NON_WORD.sub(_blank_non_word, text)
    text = _LOOSE_HYPHEN.sub(" ", text)
    return " ".join(text.split())


def mention_spans(words: Sequence[str], longest: int) -> list[tuple[int, int, str]]:
    """Every span of at most ``longest`` words that may name an entity, as ``(start, end, key)``.

    A one-word span never qualifies when it is in `STOPWORDS` or shorter than two characters;
    longer spans may consist of stopwords, since real titles do ("Being There", "How to Be").

    >>> mention_spans(["the", "dark", "knight"], 2)
    [(0, 2, 'the dark'), (1, 3, 'dark knight'), (1, 2, 'dark'), (2, 3, 'knight')]

    Args:
        words: The normalised words of a text.
        longest: The longest span, in words.

    Returns:
        Spans, longest first, then left to right.
    """
    spans = [
        (start, start + size, " ".join(words[start : start + size]))
        for size in range(min(longest, len(words)), 0, -1)
        for start in range(len(words) - size + 1)
    ]
    return [span for span in spans if span[1] - span[0] > 1 or _may_link_word(span[2])]


def longest_mentions(found: Iterable[tuple[int, int, str]]) -> list[str]:
    """The longest non-overlapping spans among ``found``, left to right, as their keys.

    >>> longest_mentions([(1, 3, "dark knight"), (2, 3, "knight"), (4, 5, "nolan")])
    ['dark knight', 'nolan']
    """
    ordered = sorted(found, key=lambda span: (span[0] - span[1], span[0]))
    taken: set[int] = set()
    chosen: list[tuple[int, str]] = []
    for start, end, key in ordered:
        if taken.isdisjoint(range(start, end)):
            taken.update(range(start, end))
            chosen.append((start, key))
    chosen.sort()
    return [key for _, key in chosen]


def _may_link_word(word: str) -> bool:
    return len(word) >= 2 and word not in STOPWORDS


class LabelIndex:
    """Exact and fuzzy lookup of entities by label or alias.

    Exact matching compares `normalize`-d strings through one dict. Fuzzy matching uses a BM25 index
    (``bm25s``) over the word tokens of every label and alias, built on the first fuzzy query.
    The index is immutable after construction and safe to share between threads.

    >>> index = LabelIndex([("Q1", "Christopher Nolan", ["Chris Nolan"]), ("Q2", "Inception", [])])
    >>> [m.id for m in index.search("chris nolan")]
    ['Q1']
    >>> index.find_mentions("Who directed Inception?")[0][0]
    'inception'
    """

    __slots__ = (
        "_bm25",
        "_doc_entities",
        "_doc_tokens",
        "_exact",
        "_labels",
        "_lock",
        "_max_words",
    )

    def __init__(self, records: Iterable[tuple[EntityId, str | None, Sequence[str]]]) -> None:
        """Index entity names.

        Args:
            records: ``(entity_id, label, aliases)`` triples. ``label`` may be ``None`` for an
                entity known only by aliases; an entity that appears twice has its names merged.
        """
        labels: dict[EntityId, str] = {}
        # normalised name -> {entity id: matched through its label (True) or an alias (False)}
        exact: dict[str, dict[EntityId, bool]] = {}
        doc_entities: list[EntityId] = []
        doc_tokens: list[list[str]] = []
        for entity, label, aliases in records:
            names = [] if label is None else [label]
            names.extend(aliases)
            if label is not None:
                labels.setdefault(entity, label)
            for position, name in enumerate(names):
                key = normalize(name)
                if not key:
                    continue
                if label is None and entity not in labels:
                    labels[entity] = name
                via_label = label is not None and position == 0
                holders = exact.setdefault(key, {})
                holders[entity] = holders.get(entity, False) or via_label
                doc_entities.append(entity)
                doc_tokens.append(key.replace("-", " ").split())
        self._labels = labels
        self._exact: dict[str, tuple[EntityMatch, ...]] = {
            key: tuple(
                EntityMatch(entity, labels[entity], 1.0, exact=True)
                for entity, _ in sorted(holders.items(), key=lambda item: (not item[1], item[0]))
            )
            for key, holders in exact.items()
        }
        self._max_words = max((key.count(" ") + 1 for key in self._exact), default=0)
        self._doc_entities = doc_entities
        self._doc_tokens: list[list[str]] | None = doc_tokens
        self._bm25: bm25s.BM25 | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of indexed entities."""
        return len(self._labels)

    def __repr__(self) -> str:
        return f"LabelIndex(entities={len(self._labels)}, names={len(self._exact)})"

    def exact(self, text: str) -> list[EntityMatch]:
        """Entities whose normalised label or alias equals the normalised ``text``.

        Args:
            text: A mention.

        Returns:
            Matches with score 1.0: label matches before alias matches, then by id.
        """
        return list(self._exact.get(normalize(text), ()))

    def search(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities for a mention: exact matches first, then BM25 matches over label words.

        Fuzzy scores are ``s / (1 + s)`` for the BM25 score ``s`` (best alias of the entity): in
        (0, 1), strictly below the exact score 1.0, and comparable only within one index. Ties go
        by entity id.

        Args:
            text: A mention such as ``"chris nolan"``.
            limit: At most this many matches.

        Returns:
            Up to ``limit`` matches, best first; ``[]`` for blank text.

        Raises:
            ValueError: If ``limit`` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        key = normalize(text)
        if not key or limit == 0:
            return []
        matches = list(self._exact.get(key, ()))[:limit]
        if len(matches) < limit:
            matches.extend(self._fuzzy(key, limit - len(matches), {m.id for m in matches}))
        return matches

    def find_mentions(
        self, text: str, *, max_tokens: int = 10
    ) -> list[tuple[str, list[EntityMatch]]]:
        """Gazetteer linking: spans of a question that exactly name an indexed entity.

        Every word n-gram of the normalised ``text`` (up to ``max_tokens`` words) is looked up; the
        longest matching spans win, and shorter spans overlapping a chosen one are dropped. A
        one-word span never links when it is in `STOPWORDS` or shorter than two characters; longer
        spans may consist of stopwords, since real titles do ("Being There", "How to Be").

        Args:
            text: A question or sentence.
            max_tokens: The longest span considered, in words.

        Returns:
            ``(normalised mention, exact matches)`` pairs, left to right.
        """
        words = normalize(text).split()
        spans = mention_spans(words, min(max_tokens, self._max_words))
        found = [span for span in spans if span[2] in self._exact]
        return [(key, list(self._exact[key])) for key in longest_mentions(found)]

    def _fuzzy(self, key: str, limit: int, skip: set[EntityId]) -> list[EntityMatch]:
        # Hyphenated words are split so that "spider man" meets "Spider-Man".
        tokens = key.replace("-", " ").split()
        bm25 = self._bm25_index()
        if bm25 is None:
            return []
        known = [token for token in tokens if token in bm25.vocab_dict]
        if not known:
            return []
        import numpy as np

        scores = bm25.get_scores(known)
        hits = np.flatnonzero(scores > 0)
        # Several names per entity and the skipped ids compete for places: keep a margin.
        wanted = 4 * (limit + len(skip)) + 50
        if hits.size > wanted:
            hits = hits[np.argpartition(-scores[hits], wanted)[:wanted]]
        ranked = sorted(
            ((float(scores[doc]), self._doc_entities[doc]) for doc in hits.tolist()),
            key=lambda item: (-item[0], item[1]),
        )
        matches: list[EntityMatch] = []
        seen = set(skip)
        for score, entity in ranked:
            if entity in seen:
                continue
            seen.add(entity)
            scaled = min(score / (1.0 + score), _ALMOST_ONE)
            matches.append(EntityMatch(entity, self._labels[entity], scaled, exact=False))
            if len(matches) == limit:
                break
        return matches

    def _bm25_index(self) -> bm25s.BM25 | None:
        with self._lock:
            if self._bm25 is None and self._doc_tokens:
                import bm25s

                bm25 = bm25s.BM25()
                bm25.index(self._doc_tokens, show_progress=False)
                self._bm25 = bm25
                self._doc_tokens = None  # bm25s keeps its own copy of what it needs
            return self._bm25
