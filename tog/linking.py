"""Topic-entity linking (tog_spec.md §2.1, extracted mode), as a sans-I/O flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from kg_adapters.base import EntityId, EntityMatch
from tog._flow import FlowState, ask
from tog.config import SearchConfig
from tog.errors import OutputParseError
from tog.llm.base import ExtractEntities
from tog.parsing import parse_mentions
from tog.paths import LinkDecision, Note, ParseRecord
from tog.scoring import TextScorer
from tog.steps import FindMentions, Flow, Mentions, SearchEntities
from tog.templates import PromptSet


@dataclass(frozen=True, slots=True)
class Linking:
    """How topic entities are found when none are given.

    ``use_llm``: ask the model for mentions and link each with ``search_entities``.
    ``search``/``mentions``: whether the adapter offers ``search_entities`` / ``find_mentions``.
    """

    use_llm: bool
    search: bool
    mentions: bool


# --- topic entities -----------------------------------------------------------------------------


def link_topics(
    question: str, *, config: SearchConfig, prompts: PromptSet, linking: Linking
) -> Flow[tuple[list[EntityId], list[LinkDecision], list[Note], list[ParseRecord]]]:
    """Find topic entities for a question (tog_spec.md §2.1, extracted mode).

    With a model: one *setup* call extracts mentions, each is linked with ``search_entities``
    (exact label matches first, fuzzy ones above ``min_link_score``). Without one, or when nothing
    links, the adapter's gazetteer (``find_mentions``) finds exact label mentions in the question.
    At most ``width`` entities are kept.
    """
    chosen: list[EntityId] = []
    decisions: list[LinkDecision] = []
    state = FlowState(question, config, prompts, "bm25", TextScorer())
    if linking.use_llm and linking.search:
        task = ExtractEntities(question, config.width)
        request = state.request(
            task,
            temperature=config.temperature_reasoning,
            question=question,
            max_mentions=str(config.width),
        )
        [reply] = yield from ask([request])
        try:
            mentions = parse_mentions(reply.text, max_mentions=config.width)
            state.parsed("extract_entities")
        except OutputParseError as exc:
            if config.on_parse_error == "raise":
                raise
            state.fallback("extract_entities", "no mentions", exc)
            mentions = []
        if mentions:
            results = yield tuple(SearchEntities(m, limit=5) for m in mentions)
            for mention, result in zip(mentions, results, strict=True):
                matches = cast(list[EntityMatch], result)
                pick = next(
                    (m for m in matches if m.exact or m.score >= config.min_link_score), None
                )
                decisions.append(
                    LinkDecision(
                        mention,
                        tuple((m.id, m.label, m.score) for m in matches),
                        pick.id if pick else None,
                    )
                )
                if pick and pick.id not in chosen:
                    chosen.append(pick.id)
    if not chosen and linking.mentions:
        results = yield (FindMentions(question),)
        found = [(m, matches) for m, matches in cast(Mentions, results[0]) if matches]
        tiers = [_mention_tier(question, mention, matches) for mention, matches in found]
        best = max(tiers, default=0)
        for (mention, matches), tier in zip(found, tiers, strict=True):
            # Same-case matches first: "mike newell" (a tag) is not "Mike Newell" (a person).
            ordered = sorted(matches, key=lambda m: m.label not in question)
            pick_id = ordered[0].id if tier == best else None
            decisions.append(
                LinkDecision(mention, tuple((m.id, m.label, m.score) for m in ordered), pick_id)
            )
            if pick_id is not None and pick_id not in chosen:
                chosen.append(pick_id)
    return chosen[: config.width], decisions, state.notes, state.parses


def _mention_tier(question: str, mention: str, matches: list[EntityMatch]) -> int:
    """How much a gazetteer mention looks like a name (2, 1 or 0).

    2 when a matching label appears in the question as written and is capitalised or several
    words long, 1 when it appears as written, else 0. Only the best tier is linked, so "film" or
    "director" (common words that name tag nodes) give way to "Factotum" or "American Violet" in
    the same question.
    """
    verbatim = [m.label for m in matches if m.label and m.label in question]
    if not verbatim:
        return 0
    named = any(label[0].isupper() or label[0].isdigit() for label in verbatim)
    return 2 if named or len(mention.split()) > 1 else 1
