"""`OfflineScorer`: a backend that is *not* a language model, for running with no LLM at all.

It answers each task from its structured fields with lexical scoring (`tog.scoring`) and replies in
the JSON the parsers read, so parsing, tracing and batching keep one code path. It prunes by BM25,
declares the evidence sufficient only when a path explains every part of the question (each hop
matched by a distinct question word, each content word matched by a hop), and answers by ranking
whole paths against the question and naming the best path's end. With no paths it has nothing to
say.

`reply_to_messages` rebuilds a task from our own rendered prompts; the local stand-in server
(`tog.llm.standin`) uses it to answer over HTTP like an endpoint would. `text_reply_to_messages`
gives the same decisions as free text instead of JSON (numbered lines, ``{braces}``, yes/no), the
way a small model that ignores the requested format writes, to exercise the tolerant parsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from tog.llm.base import (
    ChatRequest,
    Completion,
    ExtractEntities,
    GenerateAnswer,
    JudgeSufficiency,
    LLMTask,
    Message,
    PathView,
    PruneRelations,
    RelationOption,
    ScoreEntities,
    TripleView,
)
from tog.scoring import TextScorer, normalize_scores, score_path

_CAPITALISED = re.compile(
    r"\b(?:[A-Z][\w'’.-]*)(?:\s+(?:of|the|de|von|van|and|&)?\s*[A-Z][\w'’.-]*)*"
)
_QUOTED = re.compile(r"[\"“«]([^\"”»]{2,80})[\"”»]")


class OfflineScorer:
    """Answers every `LLMTask` with lexical scoring; deterministic, no network, no model.

    Args:
        scorer: The text scorer (tokeniser, stemmer and lexicon) to use.
        max_answers: How many answers to give, from the best-ranked paths.
    """

    name = "offline"

    def __init__(self, scorer: TextScorer | None = None, *, max_answers: int = 5) -> None:
        self.scorer = scorer or TextScorer()
        self.max_answers = max_answers

    def complete(self, request: ChatRequest) -> Completion:
        """Answer one request from its task."""
        text = self.reply(request.task)
        return Completion(text=text, model="offline-scorer", finish_reason="stop")

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer many requests, in order."""
        return [self.complete(r) for r in requests]

    def reply(self, task: LLMTask) -> str:
        """The JSON reply for a task."""
        match task:
            case ExtractEntities(question=question, max_mentions=limit):
                return json.dumps({"entities": guess_mentions(question)[:limit]})
            case PruneRelations(question=question, options=options, max_choices=limit):
                scores = normalize_scores(self.scorer.bm25(question, [o.relation for o in options]))
                ranked = sorted(range(len(options)), key=lambda k: (-scores[k], k))[:limit]
                if all(scores[k] == scores[ranked[0]] for k in ranked):
                    choices = [{"candidate": k + 1, "score": 1.0} for k in ranked]
                else:
                    choices = [
                        {"candidate": k + 1, "score": round(scores[k], 4)}
                        for k in ranked
                        if scores[k] > 0
                    ]
                return json.dumps({"choices": choices})
            case ScoreEntities(question=question, options=options):
                scores = normalize_scores(self.scorer.bm25(question, list(options)))
                return json.dumps(
                    {
                        "scores": [
                            {"candidate": i, "score": round(s, 4)} for i, s in enumerate(scores, 1)
                        ]
                    }
                )
            case JudgeSufficiency(question=question, paths=paths):
                complete = [p for p in paths if score_path(self.scorer, question, p).complete]
                if not complete:
                    return json.dumps(
                        {
                            "sufficient": False,
                            "answers": [],
                            "rationale": "No path explains every part of the question yet.",
                        }
                    )
                answers, why = self.rank_answers(question, complete)
                return json.dumps(
                    {"sufficient": True, "answers": answers, "rationale": why}, ensure_ascii=False
                )
            case GenerateAnswer(question=question, paths=paths):
                answers, why = self.rank_answers(question, paths)
                return json.dumps({"answers": answers, "rationale": why}, ensure_ascii=False)

    def rank_answers(self, question: str, paths: Sequence[PathView]) -> tuple[list[str], str]:
        """Answers from the paths that best explain the question, best first."""
        if not paths:
            return [], "No paths, and the offline scorer has no knowledge of its own."
        scored = [(score_path(self.scorer, question, p), -i, p) for i, p in enumerate(paths)]
        scored.sort(key=lambda item: (item[0].total, item[1]), reverse=True)
        answers: list[str] = []
        for _, _, path in scored:
            for end in path.ends:
                if end not in answers:
                    answers.append(end)
        best = scored[0][0]
        why = (
            f"Best path explains {best.matched_hops} of {best.hops} hops and "
            f"{best.coverage:.0%} of the question's cue words (lexical scoring, no model)."
        )
        return answers[: self.max_answers], why


def guess_mentions(question: str) -> list[str]:
    """Entity mentions guessed from surface form: quoted spans, then capitalised word runs."""
    found = [m.strip() for m in _QUOTED.findall(question)]
    for match in _CAPITALISED.finditer(question):
        text = match.group(0).strip(" .?!,")
        if match.start() == 0 and " " not in text:
            continue  # a capitalised first word is usually just the sentence start
        if text and text not in found:
            found.append(text)
    return found


# --- rebuilding a task from our rendered prompts (for the stand-in server) ---------------------

_QUESTION = re.compile(r"^Question:\s*(.*)$", re.MULTILINE)
_AT_MOST = re.compile(r"^(?:Choose at most|At most)\s+(\d+)\.?\s*$", re.MULTILINE)
_RELATION = re.compile(r"^Relation:\s*(.*)$", re.MULTILINE)
_OPTION = re.compile(r"^\s*(\d+)\.\s(.*)$")
_PATH_HEAD = re.compile(r"^Path \d+ \(ends at: (.*)\)\s*$")


def task_from_messages(messages: Sequence[Message]) -> LLMTask:
    """Rebuild the task behind one of our rendered prompts (the last user message holds it).

    Raises:
        ValueError: the messages are not one of our prompts.
    """
    users = [m for m in messages if m.role == "user"]
    if not users:
        raise ValueError("no user message")
    live = users[-1].content
    system = next((m.content for m in messages if m.role == "system"), "")
    question_match = _QUESTION.search(live)
    if question_match is None:
        raise ValueError("the last user message has no 'Question:' line")
    question = question_match.group(1).strip()
    body = live[question_match.end() :]
    candidates = _section(body, "Candidates:")
    at_most = _AT_MOST.search(body)
    if candidates is not None and _RELATION.search(body):
        edge = _RELATION.search(body).group(1).strip()  # type: ignore[union-attr]
        labels = tuple(text for _, text in _options(candidates))
        return ScoreEntities(question, edge, labels)
    if candidates is not None:
        options = tuple(_relation_option(i, text) for i, text in _options(candidates))
        return PruneRelations(question, options, int(at_most.group(1)) if at_most else 3)
    paths_block = _section(body, "Paths:")
    if paths_block is not None:
        paths = _paths(paths_block)
        if "sufficient" in system:
            return JudgeSufficiency(question, paths)
        return GenerateAnswer(question, paths)
    if at_most is not None:
        return ExtractEntities(question, int(at_most.group(1)))
    return GenerateAnswer(question, ())


def reply_to_messages(messages: Sequence[Message]) -> str:
    """The offline scorer's reply to one of our rendered prompts (the stand-in's policy)."""
    return OfflineScorer().reply(task_from_messages(messages))


def text_reply_to_messages(messages: Sequence[Message]) -> str:
    """The offline scorer's decision on one of our prompts, written as free text, not JSON."""
    task = task_from_messages(messages)
    return as_text(task, json.loads(OfflineScorer().reply(task)))


def as_text(task: LLMTask, reply: dict[str, object]) -> str:
    """Rewrite the offline scorer's JSON ``reply`` to ``task`` as free text a tolerant parser reads.

    >>> as_text(GenerateAnswer("q", ()), {"answers": ["Paris", "Lyon"]})
    'The answer is {Paris}, {Lyon}.'
    """
    match task:
        case ExtractEntities():
            return ", ".join(str(m) for m in _items(reply, "entities")) or "None."
        case PruneRelations(options=options):
            chosen = [c for c in _items(reply, "choices") if isinstance(c, dict)]
            return "\n".join(
                f"{c['candidate']}. {options[int(c['candidate']) - 1].render()} "
                f"(score: {c['score']})"
                for c in chosen
            )
        case ScoreEntities(options=options):
            scored = [c for c in _items(reply, "scores") if isinstance(c, dict)]
            return "\n".join(
                f"{c['candidate']}. {options[int(c['candidate']) - 1]} (score: {c['score']})"
                for c in scored
            )
        case JudgeSufficiency():
            if not reply.get("sufficient"):
                return f"No. {reply.get('rationale', '')}".strip()
            found = ", ".join(f"{{{a}}}" for a in _items(reply, "answers"))
            return f"Yes. The answer is {found}. {reply.get('rationale', '')}".strip()
        case GenerateAnswer():
            found = ", ".join(f"{{{a}}}" for a in _items(reply, "answers"))
            return f"The answer is {found}." if found else "I cannot tell from these paths."


def _items(reply: dict[str, object], key: str) -> list[object]:
    value = reply.get(key)
    return value if isinstance(value, list) else []


def _section(body: str, header: str) -> list[str] | None:
    lines = body.splitlines()
    for k, line in enumerate(lines):
        if line.strip() == header:
            return lines[k + 1 :]
    return None


def _options(lines: list[str]) -> list[tuple[int, str]]:
    found = []
    for line in lines:
        match = _OPTION.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2).strip()))
    return found


def _relation_option(index: int, text: str) -> RelationOption:
    parts = [p.strip() for p in text.split(" | ")]
    if len(parts) == 3 and parts[0] == "?":
        return RelationOption(index, parts[2], parts[1], "in")
    if len(parts) == 3:
        return RelationOption(index, parts[0], parts[1], "out")
    return RelationOption(index, "", text, "out")


def _paths(lines: list[str]) -> tuple[PathView, ...]:
    views: list[PathView] = []
    ends = ""
    body: list[str] = []

    def flush() -> None:
        if not ends and not body:
            return
        triples = [ln.split(" | ") for ln in body if ln.count(" | ") == 2]
        if triples:
            views.append(PathView(triples=tuple(TripleView(*t) for t in triples), ends=(ends,)))
        elif body:
            views.append(PathView(chain=body[0], ends=tuple(ends.split("; "))))

    for raw in lines:
        head = _PATH_HEAD.match(raw.strip())
        if head:
            flush()
            ends, body = head.group(1), []
        elif raw.strip():
            body.append(raw.strip())
    flush()
    return tuple(views)
