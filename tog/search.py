"""The Think-on-Graph search, written once, with no I/O.

`answer_flow` is a generator: it yields batches of steps (`tog.steps`) and receives their results
in order, exactly like httpx's ``auth_flow``. Drivers (`tog.drivers`) run the steps against a KG
and an LLM, synchronously or concurrently. The engine has no clock, no logging and no global
randomness; neighbour sampling uses `random.Random` seeded from the config. Every pruning decision
is part of the returned `SearchOutcome`.

ToG (tog_spec.md §2.2) keeps paths of entities; ToG-R (§2.4) keeps relation chains whose end
entities are sampled, not scored. Both respect the call bounds of §3: relation edges are ranked
globally across the beam, at most N relation-prune and N entity-scoring calls per depth, one
reasoning call per depth and at most one answer call.

Shared state and ``yield`` helpers live in `tog._flow`, topic linking in `tog.linking`, and the
LLM-free pruning tools in `tog.prune_tools`. This module stays over 600 lines on purpose: the
steps of one depth (A–E) and the call bound they add up to read best in one place.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from kg_adapters.base import Direction, EntityId, Hop, LiteralValue, Node, RelationId, node_key
from tog._flow import (
    FlowState,
    PruneMode,
    ask,
    explore,
    fetch_labels,
    list_relations,
    neighbors,
)
from tog.config import SearchConfig
from tog.errors import OutputParseError
from tog.linking import Linking, link_topics
from tog.llm.base import (
    ChatRequest,
    GenerateAnswer,
    JudgeSufficiency,
    PathView,
    PruneRelations,
    RelationOption,
    ScoreEntities,
    task_name,
)
from tog.parsing import Scored, norm_text, parse_answer, parse_choices, parse_scores, parse_verdict
from tog.paths import (
    AnswerSource,
    DepthRecord,
    EntityDecision,
    LinkDecision,
    Note,
    ParseRecord,
    Path,
    RelationDecision,
    SearchOutcome,
    StopReason,
    display,
    path_view,
    render_paths,
)
from tog.prune_tools import blend_embeddings, lexical_path_scores, lexical_relation_scores
from tog.scoring import TextScorer, normalize_scores
from tog.steps import Describe, Flow, StopSearch
from tog.templates import PromptSet


def answer_flow(
    question: str,
    topics: Sequence[EntityId] | None,
    *,
    config: SearchConfig,
    prompts: PromptSet,
    prune: PruneMode,
    linking: Linking,
    scorer: TextScorer | None = None,
    describe: bool = False,
    on_depth: Callable[[DepthRecord], None] | None = None,
) -> Flow[SearchOutcome]:
    """The whole question: link topic entities if none are given, then search and answer.

    ``on_depth`` is passed on to `think_on_graph`.
    """
    links: list[LinkDecision] = []
    notes: list[Note] = []
    parses: list[ParseRecord] = []
    stopped: StopSearch | None = None
    if topics is None:
        try:
            linked, links, notes, parses = yield from link_topics(
                question, config=config, prompts=prompts, linking=linking
            )
        except StopSearch as spent:
            # Out of time while linking: no topic, so the answer comes from the model alone.
            linked, stopped = [], spent
            notes = [Note("budget", f"{spent.reason} while linking topic entities: {spent}")]
        topics = linked
    outcome = yield from think_on_graph(
        question,
        topics,
        config=config,
        prompts=prompts,
        prune=prune,
        scorer=scorer,
        describe=describe,
        on_depth=on_depth,
    )
    if links or notes or parses:
        outcome = SearchOutcome(
            answers=outcome.answers,
            rationale=outcome.rationale,
            stop_reason=outcome.stop_reason if stopped is None else stopped.reason,
            answer_source=outcome.answer_source,
            paths=outcome.paths,
            topics=outcome.topics,
            depths=outcome.depths,
            labels=outcome.labels,
            links=tuple(links),
            notes=tuple(notes) + outcome.notes,
            parses=tuple(parses) + outcome.parses,
        )
    return outcome


# --- the search ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Edge:
    """A kept relation edge: the path it extends, the hop, and its score."""

    path_index: int
    hop: Hop
    score: float


def think_on_graph(
    question: str,
    topics: Sequence[EntityId],
    *,
    config: SearchConfig,
    prompts: PromptSet,
    prune: PruneMode,
    scorer: TextScorer | None = None,
    describe: bool = False,
    on_depth: Callable[[DepthRecord], None] | None = None,
) -> Flow[SearchOutcome]:
    """Search the graph from ``topics`` and answer ``question`` (ToG or ToG-R per the config).

    With ``describe`` (the adapter offers ``describe``), unnamed compound nodes such as Freebase
    CVTs are shown by their own facts instead of a bare id (tog_spec.md §6.3). ``on_depth``
    observes each depth's final record as soon as the depth is done (verdict included), before
    the next batch is yielded: the hook `tog.Stepper` pauses on. It must not raise.
    """
    state = FlowState(question, config, prompts, prune, scorer or TextScorer(), describe)
    topics = tuple(dict.fromkeys(topics))
    if not topics:
        answers, rationale = yield from _final_answer(state, ())
        return _outcome(state, answers, rationale, "no_topic_entity", (), (), [])
    beam: list[Path] = [Path(t) for t in topics]
    retained: list[Path] = []
    records: list[DepthRecord] = []
    stop: StopReason = "depth_exhausted"
    depth = 0
    try:
        yield from fetch_labels(state, topics)
        for depth in range(1, config.depth + 1):
            step = yield from _explore(state, beam, depth)
            records.append(step.record)
            if not step.beam:
                stop = "stalled"
                if on_depth is not None:
                    on_depth(records[-1])
                break
            beam = step.beam
            retained.extend(p for p in beam if p not in retained)
            context = tuple(retained) if config.reasoning_context == "all_retained" else tuple(beam)
            verdict = yield from _judge(state, context)
            records[-1] = _with_verdict(records[-1], verdict is not None)
            if on_depth is not None:
                on_depth(records[-1])
            if verdict is not None:
                answers, rationale = verdict
                return _outcome(state, answers, rationale, "sufficient", context, topics, records)
            if all(isinstance(p.tail, LiteralValue) for p in beam):
                stop = "stalled"
                break
    except StopSearch as spent:
        # Graceful degradation: stop exploring and answer from the best paths found so far.
        stop = spent.reason
        state.notes.append(Note("budget", f"{spent.reason} at depth {max(depth, 1)}: {spent}"))
    evidence: tuple[Path, ...] = ()
    if stop != "depth_exhausted" or config.on_depth_exhausted == "answer_from_paths":
        evidence = _evidence(beam if retained else [], retained, config)
    answers, rationale = yield from _final_answer(state, evidence)
    return _outcome(state, answers, rationale, stop, evidence, topics, records)


def _outcome(
    state: FlowState,
    answers: tuple[str, ...],
    rationale: str,
    stop: StopReason,
    evidence: tuple[Path, ...],
    topics: tuple[EntityId, ...],
    records: list[DepthRecord],
) -> SearchOutcome:
    source: AnswerSource = "kg_paths" if evidence else "llm_knowledge"
    # A compound node's description is a display text, never a name to give as an answer; and
    # where the KG tells compound nodes apart (``describe``), an unnamed node's id is no name.
    unnamed = state.unlabelled if state.describe else set()
    answers = tuple(a for a in answers if not a.startswith(COMPOUND_PREFIX) and a not in unnamed)
    return SearchOutcome(
        answers=answers,
        rationale=rationale,
        stop_reason=stop,
        answer_source=source,
        paths=_support_first(evidence, answers, state),
        topics=topics,
        depths=tuple(records),
        labels=dict(state.labels),
        notes=tuple(state.notes),
        parses=tuple(state.parses),
    )


@dataclass(frozen=True, slots=True)
class _Explored:
    beam: list[Path]
    record: DepthRecord


def _explore(state: FlowState, beam: list[Path], depth: int) -> Flow[_Explored]:
    """One depth: relation search and prune, entity search and prune (steps A–D)."""
    config = state.config
    notes_before = len(state.notes)
    if config.variant == "tog-r":
        frontier_of = [
            [cast(EntityId, m.tail) for m in _frontier_members(state, p, depth)] for p in beam
        ]
    else:
        frontier_of = [[p.tail] if not isinstance(p.tail, LiteralValue) else [] for p in beam]
    frontier = list(dict.fromkeys(e for ents in frontier_of for e in ents))
    relations = yield from list_relations(frontier)
    yield from fetch_labels(state, sorted({r for pairs in relations.values() for r, _ in pairs}))

    # A. candidates per source (a path's tail entity in ToG; a chain in ToG-R)
    sources: list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]] = []
    for path, ents in zip(beam, frontier_of, strict=True):
        cands = [
            (e, r, d)
            for e in ents
            for r, d in relations.get(e, [])
            if not _backtracks(path, r, d, config)
        ]
        if config.variant == "tog-r":
            # One candidate per relation of the chain, named after the first member that has it.
            first: dict[tuple[RelationId, Direction], EntityId] = {}
            for e, r, d in cands:
                first.setdefault((r, d), e)
            cands = [(e, r, d) for (r, d), e in first.items()]
        cands = _cap_hub(state, cands)
        sources.append((_source_name(state, path, ents), cands))
    if state.prune == "llm":
        # Several paths may end at one entity: the model scores each entity's candidates once.
        by_entity = yield from _score_relations(state, sources)
        scores = {
            (i, cand): by_entity.get(cand, 0.0)
            for i, (_, cands) in enumerate(sources)
            for cand in cands
        }
    else:
        scores = lexical_path_scores(state, beam, sources)
        if state.prune == "embedding":
            scores = yield from blend_embeddings(state, beam, sources, scores)

    # B. pool (path, relation edge) across the whole beam; keep the global top N.
    pooled: list[tuple[float, int, int, Hop]] = []
    for i, (path, (_, cands)) in enumerate(zip(beam, sources, strict=True)):
        for j, (entity, relation, direction) in enumerate(cands):
            score = scores.get((i, (entity, relation, direction)), 0.0)
            if config.path_score == "cumulative":
                score *= path.score
            if score > 0.0:
                pooled.append((score, i, j, Hop(entity, relation, direction)))
    pooled.sort(key=lambda item: (-item[0], item[1], item[2]))
    edges = [_Edge(i, hop, score) for score, i, _, hop in pooled[: config.width]]
    kept_hops = {(e.hop.entity, e.hop.relation, e.hop.direction) for e in edges}
    relation_log = tuple(
        RelationDecision(e, r, d, scores.get((i, (e, r, d)), 0.0), (e, r, d) in kept_hops)
        for i, (_, cands) in enumerate(sources)
        for e, r, d in cands
    )
    if not edges:
        record = DepthRecord(
            depth, tuple(frontier), relation_log, (), (), None, tuple(state.notes[notes_before:])
        )
        return _Explored([], record)

    # C. entity search
    if config.variant == "tog-r":
        new_beam, entity_log = yield from _extend_chains(state, beam, edges, depth, relations)
    else:
        new_beam, entity_log = yield from _extend_paths(state, beam, edges, depth)
    record = DepthRecord(
        depth,
        tuple(frontier),
        relation_log,
        entity_log,
        tuple(new_beam),
        None,
        tuple(state.notes[notes_before:]),
    )
    return _Explored(new_beam, record)


def _backtracks(
    path: Path, relation: RelationId, direction: Direction, config: SearchConfig
) -> bool:
    """``backtrack_guard="relation"``: the relation the path just used, walked the other way."""
    if config.backtrack_guard != "relation" or not path.hops:
        return False
    last = path.hops[-1]
    return relation == last.relation and direction != last.direction


def _source_name(state: FlowState, path: Path, ents: Sequence[EntityId]) -> str:
    if state.config.variant == "tog-r" and len(ents) > 1:
        shown = ", ".join(state.show(e) for e in ents[:3])
        return "{" + shown + (", ..." if len(ents) > 3 else "") + "}"
    return state.show(ents[0]) if ents else state.show(path.tail)


def _cap_hub(
    state: FlowState, cands: list[tuple[EntityId, RelationId, Direction]]
) -> list[tuple[EntityId, RelationId, Direction]]:
    """Keep at most ``max_relations_in_prompt`` candidates, best lexical matches first."""
    cap = state.config.max_relations_in_prompt
    if len(cands) <= cap:
        return cands
    texts = [state.relation_text(r) for _, r, _ in cands]
    ranked = state.scorer.bm25(state.question, texts)
    order = sorted(range(len(cands)), key=lambda k: (-ranked[k], k))[:cap]
    state.notes.append(
        Note("hub_truncated", f"{state.show(cands[0][0])}: {len(cands)} relations, kept {cap}")
    )
    return [cands[k] for k in sorted(order)]


def _score_relations(
    state: FlowState, sources: list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]]
) -> Flow[dict[tuple[EntityId, RelationId, Direction], float]]:
    """Step B scores: per call (llm) or per entity (lexical), renormalised to sum to 1."""
    # Paths ending at the same entity share one group; two entities that merely share a label
    # do not (the key is the candidates themselves, which carry entity ids).
    groups: dict[tuple[tuple[EntityId, RelationId, Direction], ...], str] = {}
    for name, cands in sources:
        if cands:
            groups.setdefault(tuple(cands), name)
    scores: dict[tuple[EntityId, RelationId, Direction], float] = {}
    prompts = _group_prompts(
        [(name, list(key)) for key, name in groups.items()], state.config.width
    )
    requests: list[ChatRequest] = []
    option_sets: list[list[tuple[EntityId, RelationId, Direction]]] = []
    for members in prompts:
        cands = [c for _, group in members for c in group]
        options = tuple(
            RelationOption(i, name, state.relation_text(r), d)
            for i, (name, (_, r, d)) in enumerate(
                ((n, c) for n, group in members for c in group), start=1
            )
        )
        task = PruneRelations(state.question, options, state.config.width)
        requests.append(
            state.request(
                task,
                temperature=state.config.temperature_exploration,
                question=state.question,
                max_choices=str(state.config.width),
                candidates="\n".join(f"{o.index}. {o.render()}" for o in options),
            )
        )
        option_sets.append(cands)
    replies = yield from explore(state, requests)
    for request, reply, cands in zip(requests, replies, option_sets, strict=True):
        task = cast(PruneRelations, request.task)
        texts = [o.render() for o in task.options]
        relation_names: dict[str, list[int]] = {}
        for o in task.options:
            relation_names.setdefault(norm_text(o.relation), []).append(o.index)
        aliases = {name: idx[0] for name, idx in relation_names.items() if len(idx) == 1}
        try:
            parsed = parse_choices(
                reply.text,
                options=texts,
                max_choices=state.config.width,
                prompt="relation_prune",
                aliases=aliases,
            )
            state.parsed("relation_prune", _dropped(parsed), parsed.rejected)
        except OutputParseError as exc:
            if state.config.on_parse_error == "raise":
                raise
            state.fallback("relation_prune", "lexical ranking", exc)
            lexical = lexical_relation_scores(state, cands)
            top = sorted(range(len(cands)), key=lambda k: (-lexical[k], k))[: state.config.width]
            parsed = Scored({k + 1: lexical[k] for k in top})
        _note_rejected(state, "relation_prune", parsed)
        for index, score in parsed.scores.items():
            scores[cands[index - 1]] = score
    return scores


def _group_prompts(
    groups: list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]], width: int
) -> list[list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]]]:
    """One prompt per source, or sources dealt round-robin into ``width`` prompts."""
    if len(groups) <= width:
        return [[g] for g in groups]
    merged: list[list[tuple[str, list[tuple[EntityId, RelationId, Direction]]]]] = [
        [] for _ in range(width)
    ]
    for k, group in enumerate(groups):
        merged[k % width].append(group)
    return merged


def _dropped(parsed: Scored) -> str:
    parts = []
    if parsed.rejected:
        parts.append(f"{len(parsed.rejected)} name(s) not among the candidates dropped")
    if parsed.uniform_fallback:
        parts.append("all scores 0: uniform")
    return "; ".join(parts)


def _note_rejected(state: FlowState, prompt: str, parsed: Scored) -> None:
    for name in parsed.rejected:
        state.notes.append(Note("rejected_name", f"{prompt}: {name!r} is not a candidate"))
    if parsed.uniform_fallback:
        state.notes.append(Note("uniform_scores", f"{prompt}: all scores were 0"))


def _sample(
    state: FlowState, candidates: list[Node], hop: Hop, depth: int
) -> tuple[list[Node], int]:
    """Reduce a large candidate set (seeded sample or lexical rank); returns kept and dropped."""
    config = state.config
    if len(candidates) < config.entity_sample_threshold:
        return candidates, 0
    size = config.entity_sample_size
    if config.entity_sampling == "rank":
        ranked = state.scorer.bm25(state.question, [state.show(n) for n in candidates])
        keep = sorted(range(len(candidates)), key=lambda k: (-ranked[k], k))[:size]
    else:
        rng = random.Random(f"{config.seed}|{depth}|{hop.entity}|{hop.relation}|{hop.direction}")
        keep = rng.sample(range(len(candidates)), size)
    return [candidates[k] for k in sorted(keep)], len(candidates) - size


def _extend_paths(
    state: FlowState, beam: list[Path], edges: list[_Edge], depth: int
) -> Flow[tuple[list[Path], tuple[EntityDecision, ...]]]:
    """ToG steps C and D: fetch, sample, label and score the entities behind each kept edge."""
    config = state.config
    reached = yield from neighbors([e.hop for e in edges], config.neighbor_limit)
    per_edge: list[list[Node]] = []
    for edge in edges:
        on_path = beam[edge.path_index].nodes()
        cands = [n for n in reached.get(edge.hop, ()) if n not in on_path]
        if config.entity_sampling == "rank" and len(cands) >= config.entity_sample_threshold:
            yield from fetch_labels(state, [n for n in cands if isinstance(n, str)])
        cands, dropped = _sample(state, cands, edge.hop, depth)
        if dropped:
            state.notes.append(
                Note("sampled", f"{_edge_text(state, edge.hop)}: dropped {dropped} candidates")
            )
        per_edge.append(cands)
    yield from fetch_labels(state, [n for cands in per_edge for n in cands if isinstance(n, str)])
    yield from _describe_unnamed(state, [n for cands in per_edge for n in cands])
    entity_scores = yield from _score_entities(state, edges, per_edge)

    pooled: list[tuple[float, int, str, Path]] = []
    for k, (edge, cands, scores) in enumerate(zip(edges, per_edge, entity_scores, strict=True)):
        parent = beam[edge.path_index]
        for node, score in zip(cands, scores, strict=True):
            total = edge.score * score
            pooled.append(
                (
                    total,
                    k,
                    node_key(node),
                    parent.extend(edge.hop.relation, edge.hop.direction, node, total),
                )
            )
    pooled.sort(key=lambda item: (-item[0], item[1], item[2]))
    new_beam = [path for score, _, _, path in pooled if score > 0.0][: config.width]
    kept = {id(p) for p in new_beam}
    log = tuple(
        EntityDecision(
            edges[k].hop.entity,
            edges[k].hop.relation,
            edges[k].hop.direction,
            path.tail,
            score,
            id(path) in kept,
        )
        for score, k, _, path in pooled
    )
    return new_beam, log


COMPOUND_PREFIX = "[compound: "


def _describe_unnamed(state: FlowState, nodes: Sequence[Node]) -> Flow[None]:
    """Give unnamed entity nodes (compound/CVT) a display text made of their own facts.

    ``[compound: office = President; from = 2009-01-20]``: the node keeps its id, so the next
    hop expands the right node; the text is for prompts and scoring only, never an answer name.
    """
    unnamed = tuple(dict.fromkeys(n for n in nodes if isinstance(n, str) and n not in state.labels))
    if not state.describe or not unnamed:
        return None
    results = yield (Describe(unnamed, limit=4),)
    facts = cast(Mapping[EntityId, tuple[tuple[RelationId, Node], ...]], results[0])
    yield from fetch_labels(
        state, [v for pairs in facts.values() for _, v in pairs if isinstance(v, str)]
    )
    for node in unnamed:
        pairs = facts.get(node, ())
        if pairs:
            shown = "; ".join(
                f"{state.relation_text(r).rsplit('.', 1)[-1].replace('_', ' ')} = {state.show(v)}"
                for r, v in pairs
            )
            state.labels[node] = f"{COMPOUND_PREFIX}{shown}]"
    return None


def _edge_text(state: FlowState, hop: Hop) -> str:
    option = RelationOption(
        0, state.show(hop.entity), state.relation_text(hop.relation), hop.direction
    )
    return option.render()


def _score_entities(
    state: FlowState, edges: list[_Edge], per_edge: list[list[Node]]
) -> Flow[list[list[float]]]:
    """Step D scores per edge: LLM calls for edges with ≥ 2 candidates, else lexical / 1.0."""
    results: list[list[float]] = []
    requests: list[ChatRequest] = []
    asked: list[int] = []
    for k, (edge, cands) in enumerate(zip(edges, per_edge, strict=True)):
        if len(cands) <= 1:
            results.append([1.0] * len(cands))
            continue
        labels = [state.show(n) for n in cands]
        if state.prune != "llm":
            results.append(normalize_scores(state.scorer.bm25(state.question, labels)))
            continue
        task = ScoreEntities(state.question, _edge_text(state, edge.hop), tuple(labels))
        requests.append(
            state.request(
                task,
                temperature=state.config.temperature_exploration,
                question=state.question,
                edge=task.edge,
                candidates="\n".join(f"{i}. {label}" for i, label in enumerate(labels, 1)),
            )
        )
        asked.append(k)
        results.append([])
    replies = yield from explore(state, requests)
    for k, request, reply in zip(asked, requests, replies, strict=True):
        task = cast(ScoreEntities, request.task)
        try:
            parsed = parse_scores(reply.text, options=task.options, prompt="entity_score")
            state.parsed("entity_score", _dropped(parsed), parsed.rejected)
        except OutputParseError as exc:
            if state.config.on_parse_error == "raise":
                raise
            state.fallback("entity_score", "uniform scores", exc)
            parsed = Scored({i: 1.0 / len(task.options) for i in range(1, len(task.options) + 1)})
        _note_rejected(state, "entity_score", parsed)
        results[k] = [parsed.scores.get(i, 0.0) for i in range(1, len(task.options) + 1)]
    return results


# --- ToG-R: relation chains ---------------------------------------------------------------------


def _extend_chains(
    state: FlowState,
    beam: list[Path],
    edges: list[_Edge],
    depth: int,
    relations: Mapping[EntityId, list[tuple[RelationId, Direction]]],
) -> Flow[tuple[list[Path], tuple[EntityDecision, ...]]]:
    """ToG-R step C: follow each kept relation from every frontier member of its chain.

    No entity is scored (tog_spec.md §2.4): the chain keeps every node it reaches, and the next
    frontier is a seeded sample of them.
    """
    config = state.config
    hops: list[Hop] = []
    edge_members: list[list[Path]] = []
    for edge in edges:
        # Only members whose entity has this relation (the KG said so) are followed.
        wanted = (edge.hop.relation, edge.hop.direction)
        members = [
            m
            for m in _frontier_members(state, beam[edge.path_index], depth)
            if wanted in relations.get(cast(EntityId, m.tail), ())
        ]
        edge_members.append(members)
        hops.extend(
            Hop(cast(EntityId, m.tail), edge.hop.relation, edge.hop.direction) for m in members
        )
    reached = yield from neighbors(hops, config.neighbor_limit)
    new_beam: list[Path] = []
    log: list[EntityDecision] = []
    for edge, members in zip(edges, edge_members, strict=True):
        extended: dict[Node, Path] = {}
        for member in members:
            hop = Hop(cast(EntityId, member.tail), edge.hop.relation, edge.hop.direction)
            on_path = member.nodes()
            for node in reached.get(hop, ()):
                if node not in on_path and node not in extended:
                    extended[node] = member.extend(hop.relation, hop.direction, node, edge.score)
        if not extended:
            continue
        first = next(iter(extended.values()))
        new_beam.append(Path(first.topic, first.hops, edge.score, tuple(extended.values())))
        log.extend(
            EntityDecision(
                cast(EntityId, p.hops[-2].node if len(p.hops) > 1 else p.topic),
                edge.hop.relation,
                edge.hop.direction,
                p.tail,
                edge.score,
                True,
            )
            for p in list(extended.values())[: config.max_candidates_shown]
        )
    shown = [n for p in new_beam for n in p.ends[: config.max_candidates_shown]]
    yield from fetch_labels(state, [n for n in shown if isinstance(n, str)])
    yield from _describe_unnamed(state, shown)
    return new_beam, tuple(log)


def _frontier_members(state: FlowState, chain: Path, depth: int) -> list[Path]:
    """A chain's next frontier: up to N of its members ending at an entity, seeded sample."""
    members = [m for m in (chain.members or (chain,)) if isinstance(m.tail, str)]
    width = state.config.width
    if len(members) <= width:
        return members
    rng = random.Random(f"{state.config.seed}|r|{depth}|{chain.topic}|{len(chain.hops)}")
    return [members[k] for k in sorted(rng.sample(range(len(members)), width))]


# --- reasoning and answers ----------------------------------------------------------------------


def _views(state: FlowState, paths: Sequence[Path]) -> tuple[PathView, ...]:
    return tuple(
        path_view(p, state.labels, max_ends=state.config.max_candidates_shown) for p in paths
    )


def _judge(state: FlowState, paths: tuple[Path, ...]) -> Flow[tuple[tuple[str, ...], str] | None]:
    """Step E: one reasoning call; the answers if the paths suffice, else None."""
    views = _views(state, paths)
    task = JudgeSufficiency(state.question, views)
    request = state.request(
        task,
        temperature=state.config.temperature_reasoning,
        question=state.question,
        paths=render_paths(views),
    )
    [reply] = yield from explore(state, [request])
    try:
        verdict = parse_verdict(reply.text)
        state.parsed("sufficiency")
    except OutputParseError as exc:
        if state.config.on_parse_error == "raise":
            raise
        state.fallback("sufficiency", "read as insufficient", exc)
        return None
    if verdict.sufficient and verdict.answers:
        return verdict.answers, verdict.rationale
    return None


def _final_answer(state: FlowState, paths: tuple[Path, ...]) -> Flow[tuple[tuple[str, ...], str]]:
    """The single answer call: from the best paths, or from the model's knowledge if none."""
    views = _views(state, paths)
    task = GenerateAnswer(state.question, views)
    values = {"question": state.question}
    if views:
        values["paths"] = render_paths(views)
    request = state.request(task, temperature=state.config.temperature_reasoning, **values)
    try:
        [reply] = yield from ask([request])
    except StopSearch:
        # A budget never cancels the answer call: a driver's stop arriving now changes nothing.
        [reply] = yield from ask([request])
    state.spent([reply])
    try:
        parsed = parse_answer(reply.text, prompt=task_name(task))
        state.parsed(task_name(task))
    except OutputParseError as exc:
        if state.config.on_parse_error == "raise":
            raise
        state.fallback(task_name(task), "no answer", exc)
        return (), ""
    return parsed.answers, parsed.rationale


def _evidence(beam: list[Path], retained: list[Path], config: SearchConfig) -> tuple[Path, ...]:
    """Paths for the final answer call: the last beam first, then earlier depths' best paths."""
    earlier = sorted((p for p in retained if p not in beam), key=lambda p: (-p.score, p.depth))
    limit = config.width * config.depth
    return tuple([*beam, *earlier][:limit])


def _support_first(
    paths: tuple[Path, ...], answers: Sequence[str], state: FlowState
) -> tuple[Path, ...]:
    """Order paths so that those ending at an answer come first (stable otherwise)."""
    wanted = {norm_text(a) for a in answers}

    def supports(path: Path) -> bool:
        ends = path.ends or (path.tail,)
        return any(norm_text(state.show(n)) in wanted for n in ends)

    return tuple(sorted(paths, key=lambda p: not supports(p)))


def _with_verdict(record: DepthRecord, sufficient: bool) -> DepthRecord:
    return DepthRecord(
        record.depth,
        record.frontier,
        record.relations,
        record.entities,
        record.beam,
        sufficient,
        record.notes,
    )


def answer_ids(outcome: SearchOutcome) -> tuple[str, ...]:
    """KG ids of the answers where an answer names a node on the evidence paths."""
    by_text: dict[str, str] = {}
    for path in outcome.paths:
        for node in (*(h.node for h in path.hops), *path.ends):
            if isinstance(node, str):
                by_text.setdefault(norm_text(display(node, outcome.labels)), node)
    ids = [by_text[norm_text(a)] for a in outcome.answers if norm_text(a) in by_text]
    return tuple(dict.fromkeys(ids))
