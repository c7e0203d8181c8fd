"""`SearchConfig`: every knob of the Think-on-Graph search, validated and frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

PruneTool = Literal["auto", "llm", "bm25", "embedding"]
Variant = Literal["tog", "tog-r"]


class SearchConfig(BaseModel):
    """How the beam search explores the graph (names follow tog_spec.md §2.6).

    Make variants with ``config.model_copy(update={...})``; unknown fields are rejected.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(3, ge=1, le=64, description="Beam width N: paths kept after each prune.")
    depth: int = Field(3, ge=1, le=16, description="Maximum depth D (hops from a topic entity).")
    variant: Variant = Field("tog", description="`tog` (paths of entities) or `tog-r` (relations).")
    prune_tool: PruneTool = Field(
        "auto",
        description="`llm`, `bm25` or `embedding`; `auto` is `llm` with a model, `bm25` without.",
    )
    seed: int = Field(0, description="Drives neighbour sampling; sent as the LLM request seed.")
    temperature_exploration: float = Field(0.4, ge=0.0, le=2.0)
    temperature_reasoning: float = Field(0.0, ge=0.0, le=2.0)
    neighbor_limit: int = Field(
        200, ge=1, description="Most neighbours fetched from the KG for one (entity, relation)."
    )
    entity_sample_threshold: int = Field(
        20, ge=1, description="With at least this many candidates on an edge, reduce them..."
    )
    entity_sample_size: int = Field(10, ge=1, description="...to this many.")
    entity_sampling: Literal["random", "rank"] = Field(
        "random", description="Seeded random sample, or the best by lexical score."
    )
    max_relations_in_prompt: int = Field(
        40, ge=1, description="Hub guard: relation candidates per entity shown to the model."
    )
    backtrack_guard: Literal["edge", "relation"] = Field(
        "edge",
        description="`edge`: a path never returns to a node it visited, but may walk its last "
        "relation back to reach siblings (films sharing a director, co-stars); `relation`: the "
        "last relation walked the other way is not offered at all.",
    )
    path_score: Literal["local", "cumulative"] = "local"
    reasoning_context: Literal["paths", "all_retained"] = "paths"
    on_depth_exhausted: Literal["answer_from_paths", "llm_only"] = "answer_from_paths"
    max_candidates_shown: int = Field(10, ge=1, description="ToG-R: end entities shown per chain.")
    min_link_score: float = Field(0.5, ge=0.0, le=1.0, description="Fuzzy linking threshold.")
    on_parse_error: Literal["fallback", "raise"] = Field(
        "fallback",
        description="`fallback`: lexical ranking / uniform scores, logged; `raise`: stop.",
    )
    max_tokens: dict[str, int] = Field(
        default_factory=dict, description="Per-prompt `max_tokens` overrides, by prompt name."
    )
    sampling_extra: dict[str, JsonValue] = Field(
        default_factory=dict, description="Vendor fields passed through on every LLM request."
    )
    max_llm_calls: int | None = Field(
        None,
        ge=1,
        description="Budget: logical LLM calls per question, the answer call included (setup "
        "excluded). Exploration stops when the next batch would leave no call for the answer.",
    )
    max_tokens_total: int | None = Field(
        None,
        ge=1,
        description="Budget: prompt + completion tokens per question, as the backend reports them. "
        "Exploration stops once they are spent; the answer call is still made.",
    )
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="Budget: wall seconds per question, enforced by the driver (the engine has no "
        "clock). Exploration stops when it runs out; the answer call is still made.",
    )

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        if self.entity_sample_size > self.entity_sample_threshold:
            raise ValueError(
                f"entity_sample_size ({self.entity_sample_size}) must not exceed "
                f"entity_sample_threshold ({self.entity_sample_threshold})"
            )
        return self

    def resolved_prune_tool(self, *, has_llm: bool) -> Literal["llm", "bm25", "embedding"]:
        """The pruning tool actually used, given whether a language model is available."""
        if self.prune_tool == "auto":
            return "llm" if has_llm else "bm25"
        if self.prune_tool == "llm" and not has_llm:
            raise ValueError("prune_tool='llm' needs an LLM; pass llm=... or use 'bm25'")
        return self.prune_tool

    def call_bound(self, *, prune_tool: Literal["llm", "bm25", "embedding"]) -> int:
        """Upper bound on logical LLM calls of one search (tog_spec.md §3), setup excluded.

        ``max_llm_calls``, when set and smaller, is the bound: the search never exceeds it.
        """
        n, d = self.width, self.depth
        if prune_tool != "llm":
            bound = d + 1
        elif self.variant == "tog-r":
            bound = n * d + d + 1
        else:
            bound = 2 * n * d + d + 1
        return bound if self.max_llm_calls is None else min(bound, self.max_llm_calls)
