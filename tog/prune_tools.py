"""The ``bm25`` and ``embedding`` pruning tools: relation scores with no LLM (tog_spec.md §2.5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from kg_adapters.base import Direction, EntityId, RelationId
from tog._flow import FlowState
from tog.embeddings import Vector, cosine
from tog.paths import Path
from tog.scoring import SIBLING_CUES, normalize_scores, question_cues, residual_cues
from tog.steps import Embed, Flow

# Share of a lexical relation score spread uniformly, so unmatched relations can still fill
# empty beam slots (in stable order) instead of the beam shrinking to the lexical matches.
_LEXICAL_SMOOTHING = 0.1
_NEXT_CUE_WEIGHT = 2.0
# Cosine similarities of short texts crowd together (0.2-0.6); a power spreads them apart.
_EMBEDDING_SHARPNESS = 4


def lexical_path_scores(
    state: FlowState,
    beam: list[Path],
    sources: list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]],
) -> dict[tuple[int, tuple[EntityId, RelationId, Direction]], float]:
    """Lexical step B, per path: BM25 of each relation against what the path leaves unexplained.

    The question's cue words already matched by the path's own relations are set aside, so a
    path that has explained "director" looks for "born" next. Walking the last relation back
    (to a sibling) scores only when the question has a sibling cue ("same", "share", ...).
    Scores are normalised per path, with a little uniform smoothing so unmatched relations can
    still fill free beam slots.
    """
    scorer = state.scorer
    scores: dict[tuple[int, tuple[EntityId, RelationId, Direction]], float] = {}
    for i, (path, (_, cands)) in enumerate(zip(beam, sources, strict=True)):
        if not cands:
            continue
        residual = unexplained_cues(state, path)
        # The next cue in hop order counts double: "X 's mother 's son" asks for mother first.
        query: dict[str, float] = {}
        for k, (_, terms) in enumerate(residual):
            for term in terms:
                query[term] = max(query.get(term, 0.0), _NEXT_CUE_WEIGHT if k == 0 else 1.0)
        docs = [scorer.relation_terms(state.relation_text(r)) for _, r, _ in cands]
        base = normalize_scores(scorer.bm25_terms(query, docs))
        last = path.hops[-1] if path.hops else None
        named = last is not None and any(
            terms & scorer.relation_terms(state.relation_text(last.relation))
            for _, terms in question_cues(scorer, state.question)
        )
        sibling = named and any(word in SIBLING_CUES for word, _ in residual)
        uniform = _LEXICAL_SMOOTHING / len(cands)
        for cand, score in zip(cands, base, strict=True):
            walks_back = last is not None and cand[1] == last.relation and cand[2] != last.direction
            if walks_back and not sibling:
                scores[(i, cand)] = 0.0
            elif walks_back:
                scores[(i, cand)] = max(base) * (1 - _LEXICAL_SMOOTHING) + uniform
            else:
                scores[(i, cand)] = (1 - _LEXICAL_SMOOTHING) * score + uniform
    return scores


def unexplained_cues(state: FlowState, path: Path) -> list[tuple[str, frozenset[str]]]:
    """The question's cue words (in hop order) that the path's relations have not explained."""
    labels = [state.show(n) for n in path.nodes()]
    taken = [state.relation_text(h.relation) for h in path.hops]
    cues = question_cues(state.scorer, state.question, labels, topic=state.show(path.topic))
    return residual_cues(state.scorer, cues, taken)


def blend_embeddings(
    state: FlowState,
    beam: list[Path],
    sources: list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]],
    lexical: dict[tuple[int, tuple[EntityId, RelationId, Direction]], float],
) -> Flow[dict[tuple[int, tuple[EntityId, RelationId, Direction]], float]]:
    """The ``embedding`` tool: mix lexical scores with sentence-embedding similarity.

    Per path, the relation texts are compared with the next unexplained cue word and with all
    of them (the question when none is left); the similarities, sharpened and normalised per
    path, are averaged with the lexical scores. A candidate the lexical rules exclude (walking
    back without a sibling cue) stays excluded. All texts go to the embedder in one step.
    """
    queries: list[tuple[str, str]] = []
    for path in beam:
        residual = unexplained_cues(state, path)
        words = [w for w, _ in residual]
        queries.append((words[0] if words else state.question, " ".join(words) or state.question))
    relation_texts = [state.relation_text(r) for _, cands in sources for _, r, _ in cands]
    texts = tuple(dict.fromkeys([q for pair in queries for q in pair] + relation_texts))
    if not texts:
        return lexical
    results = yield (Embed(texts),)
    vectors = dict(zip(texts, cast(list[Vector], results[0]), strict=True))
    blended = dict(lexical)
    for i, ((next_cue, all_cues), (_, cands)) in enumerate(zip(queries, sources, strict=True)):
        if not cands:
            continue
        sims = [
            0.6 * cosine(vectors[next_cue], vectors[state.relation_text(r)])
            + 0.4 * cosine(vectors[all_cues], vectors[state.relation_text(r)])
            for _, r, _ in cands
        ]
        sharp = normalize_scores([max(0.0, s) ** _EMBEDDING_SHARPNESS for s in sims])
        for cand, sim in zip(cands, sharp, strict=True):
            if lexical.get((i, cand), 0.0) > 0.0:
                blended[(i, cand)] = 0.5 * lexical[(i, cand)] + 0.5 * sim
    return blended


def lexical_relation_scores(
    state: FlowState, cands: Sequence[tuple[EntityId, RelationId, Direction]]
) -> list[float]:
    """BM25 of each relation against the whole question, smoothed (the llm prune's fallback)."""
    texts = [state.relation_text(r) for _, r, _ in cands]
    base = normalize_scores(state.scorer.bm25(state.question, texts))
    uniform = 1.0 / len(cands) if cands else 0.0
    return [(1 - _LEXICAL_SMOOTHING) * s + _LEXICAL_SMOOTHING * uniform for s in base]
