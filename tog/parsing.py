"""Parsers for model replies: one per prompt, each a typed value or `OutputParseError`.

Replies are read as JSON when they contain any (code fences, "Answer:" prefixes and chat end tokens
are stripped first); otherwise a tolerant line reader accepts the forms small models emit: numbered
or bulleted lists, ``{name (Score: 0.5)}``, ``score:0.5``, integer scores, bare yes/no. Choices are
always *indices into the candidate list*: a name that matches no candidate exactly (after
normalisation) is reported in ``rejected`` and never used.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tog.errors import OutputParseError

_END_TOKENS = re.compile(
    r"<\|(?:im_end|eot_id|endoftext|end|eom_id|assistant|im_start)\|>|</s>|<s>|\[/?INST\]|<eos>",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[a-zA-Z]*")
_PREFIX = re.compile(
    r"^\s*(?:final\s+answer|answer|answers|a|output|response|reply|json|entities|entity|mentions)"
    r"\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)])\s+")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_SCORE = re.compile(rf"score\s*[:=]?\s*[\(\[]?\s*({_NUMBER})", re.IGNORECASE)
_LEAD_INDEX = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:candidate\s*)?[\[#(]?\s*(\d{1,4})\s*(?:[\].):\-]|$|\s)"
)
_CANDIDATE_INDEX = re.compile(r"candidate\s*(?:number|no\.?|#)?\s*[:=]?\s*(\d{1,4})", re.IGNORECASE)
_ANY_NUMBER = re.compile(_NUMBER)
_YES = re.compile(r"^\W*(yes|true|sufficient)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|false|insufficient|not\s+sufficient)\b", re.IGNORECASE)
_BRACES = re.compile(r"\{([^{}]*)\}")
_ANSWER_IS = re.compile(r"(?:answer\s+is|answers\s+are|answer:)\s*(.+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Scored:
    """Scores by candidate index (1-based) plus what could not be matched to any candidate."""

    scores: dict[int, float]
    rejected: tuple[str, ...] = ()
    uniform_fallback: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The sufficiency check's decision."""

    sufficient: bool
    answers: tuple[str, ...]
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class AnswerReply:
    """The final answer call's answers, best first."""

    answers: tuple[str, ...]
    rationale: str = ""


def clean_reply(raw: str) -> str:
    r"""Strip chat end tokens and code fences.

    >>> clean_reply('```json\n{"a": 1}\n```<|im_end|>')
    '{"a": 1}'
    """
    text = _END_TOKENS.sub("", raw)
    text = _FENCE.sub("", text)
    return text.strip()


def norm_text(text: str) -> str:
    """Case-fold, NFKC, turn ``_`` into spaces, drop quotes and surrounding punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("_", " ")
    text = re.sub(r"\s+", " ", text)
    return text.strip(" \t\n\"'`.,;:!?*")


def find_json(text: str) -> object | None:
    """The first JSON object or array in ``text`` (the whole text preferred), else None.

    Candidates are the outermost balanced ``{...}`` / ``[...]`` spans (brackets inside JSON
    strings ignored), found in one pass, so a reply full of braces costs linear time.
    """
    text = _PREFIX.sub("", text, count=1).strip()
    for candidate in (text, *(text[a:b] for a, b in _outer_spans(text))):
        parsed = _loads(candidate)
        if parsed is not _NOTHING:
            return parsed
    return None


_NOTHING = object()
_CLOSERS = {"{": "}", "[": "]"}
_MAX_SPANS = 50


def _loads(text: str) -> object:
    for attempt in (text, _repair(text)):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
            pass
    return _NOTHING


def _outer_spans(text: str) -> list[tuple[int, int]]:
    """Outermost balanced bracket spans, in order (at most ``_MAX_SPANS``)."""
    spans: list[tuple[int, int]] = []
    stack: list[str] = []
    start = 0
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"' and stack:
            in_string = True
        elif char in _CLOSERS:
            if not stack:
                start = i
            stack.append(_CLOSERS[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                spans.append((start, i + 1))
                if len(spans) >= _MAX_SPANS:
                    break
        elif char in "}]":
            stack.clear()  # unbalanced: start again at the next opener
    return spans


def _repair(text: str) -> str:
    """Common near-JSON: single quotes, trailing commas, Python booleans."""
    text = re.sub(r",\s*([}\]])", r"\1", text)
    text = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", text))
    if "'" in text and '"' not in text:
        text = text.replace("'", '"')
    return text


def _as_score(value: object) -> float | None:
    """A raw non-negative score (``"40%"`` is 0.4); the scale is settled by `_rescale`."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            score = float(value)
        elif isinstance(value, str):
            text = value.strip()
            score = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(score):
        return None
    return max(0.0, score)


def _rescale(scores: dict[int, float]) -> dict[int, float]:
    """Read 0-10 and 0-100 scales as such, all scores alike, so their order is kept."""
    top = max(scores.values(), default=0.0)
    if top <= 1.0:
        return scores
    divisor = 10.0 if top <= 10.0 else 100.0 if top <= 100.0 else 1.0  # beyond: just clip
    return {i: min(1.0, s / divisor) for i, s in scores.items()}


def _as_index(value: object, n_options: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        value = int(value)
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= n_options:
        return value
    return None


def _index_by_text(
    text: str, options: Sequence[str], aliases: Mapping[str, int] | None = None
) -> int | None:
    wanted = norm_text(text)
    if not wanted:
        return None
    for i, option in enumerate(options, start=1):
        if norm_text(option) == wanted:
            return i
    if aliases:
        return aliases.get(wanted)
    return None


def _scores_from_json(
    data: object, key: str, options: Sequence[str], aliases: Mapping[str, int] | None = None
) -> tuple[dict[int, float], list[str]] | None:
    items: object = data
    if isinstance(data, dict):
        items = data.get(key, data.get("choices", data.get("scores", data.get("candidates"))))
        if items is None and data and all(isinstance(k, str) for k in data):
            items = [{"candidate": k, "score": v} for k, v in data.items()]
    if not isinstance(items, list):
        return None
    scores: dict[int, float] = {}
    rejected: list[str] = []
    for item in items:
        index: int | None
        score: float | None = 1.0
        name = ""
        if isinstance(item, dict):
            raw_index = item.get("candidate", item.get("index", item.get("id")))
            name = str(item.get("relation", item.get("entity", item.get("name", ""))))
            index = _as_index(raw_index, len(options))
            if index is None and isinstance(raw_index, str):
                name = name or raw_index
            if index is None and name:
                index = _index_by_text(name, options, aliases)
            score = _as_score(item.get("score", 1.0))
        elif isinstance(item, list | tuple) and len(item) == 2:
            index = _as_index(item[0], len(options))
            score = _as_score(item[1])
        else:
            index = _as_index(item, len(options))
            if index is None and isinstance(item, str):
                name = item
                index = _index_by_text(item, options, aliases)
        if index is None:
            rejected.append(name or json.dumps(item, ensure_ascii=False)[:200])
            continue
        if score is not None:
            scores[index] = max(scores.get(index, 0.0), score)
    return scores, rejected


def _scores_from_lines(
    text: str, options: Sequence[str], aliases: Mapping[str, int] | None = None
) -> tuple[dict[int, float], list[str]]:
    scores: dict[int, float] = {}
    rejected: list[str] = []
    pieces = _BRACES.findall(text) or text.splitlines()
    for piece in pieces:
        line = piece.strip()
        if not line:
            continue
        score_match = _SCORE.search(line)
        score = _as_score(score_match.group(1)) if score_match else None
        index: int | None = None
        match = _CANDIDATE_INDEX.search(line) or _LEAD_INDEX.match(line)
        if match:
            index = _as_index(int(match.group(1)), len(options))
        name = line
        if score_match:
            name = line[: score_match.start()]
        name = re.sub(r"^\s*(?:[-*•]\s*)?(?:\d{1,4}\s*[.):\]]\s*)?", "", name)
        name = name.strip(" \t([{}]):-")
        if index is None:
            index = _index_by_text(name, options, aliases)
        if index is None:
            if score_match and name:
                rejected.append(name[:200])
            continue
        if score is None:
            numbers = _ANY_NUMBER.findall(line[match.end() :] if match else line)
            score = _as_score(numbers[-1]) if numbers else 1.0
        if score is not None:
            scores[index] = max(scores.get(index, 0.0), score)
    return scores, rejected


def parse_choices(
    raw: str,
    *,
    options: Sequence[str],
    max_choices: int,
    prompt: str,
    aliases: Mapping[str, int] | None = None,
) -> Scored:
    """Read a relation-prune reply: at most ``max_choices`` candidates, scores summing to 1.

    Args:
        raw: The model's reply.
        options: The candidates' texts, in prompt order (index 1 is ``options[0]``).
        max_choices: How many to keep at most (the highest scores win).
        prompt: The prompt name, for the error.
        aliases: Other exact names of candidates (normalised text → index), e.g. a relation
            name that only one candidate carries.

    Raises:
        OutputParseError: no candidate could be read from the reply.
    """
    text = clean_reply(raw)
    data = find_json(text)
    parsed = _scores_from_json(data, "choices", options, aliases) if data is not None else None
    if parsed is None or not parsed[0]:
        from_lines = _scores_from_lines(text, options, aliases)
        if from_lines[0] or parsed is None:
            parsed = (from_lines[0], (parsed[1] if parsed else []) + from_lines[1])
    scores, rejected = parsed
    if not scores:
        what = "only names that are not candidates" if rejected else "no candidate number"
        raise OutputParseError(
            f"{prompt}: {what} in the reply", prompt=prompt, raw=raw, rejected=tuple(rejected)
        )
    scores = _rescale(scores)
    kept = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:max_choices]
    total = sum(score for _, score in kept)
    if total <= 0.0:
        return Scored({i: 1.0 / len(kept) for i, _ in kept}, tuple(rejected), uniform_fallback=True)
    return Scored({i: s / total for i, s in kept}, tuple(rejected))


def parse_scores(raw: str, *, options: Sequence[str], prompt: str) -> Scored:
    """Read an entity-scoring reply: a score per candidate index, missing ones 0, summing to 1.

    All-zero scores become uniform, flagged in ``uniform_fallback``. A bare list of numbers is read
    by position only when it has exactly one number per candidate.

    Raises:
        OutputParseError: nothing in the reply refers to a candidate.
    """
    text = clean_reply(raw)
    data = find_json(text)
    positional = data.get("scores") if isinstance(data, dict) else data
    if (
        isinstance(positional, list)
        and len(positional) == len(options)
        and all(_is_number(v) and _as_score(v) is not None for v in positional)
    ):
        # A bare list of numbers, one per candidate, is read by position.
        scores = {i: _as_score(v) or 0.0 for i, v in enumerate(positional, start=1)}
        rejected: list[str] = []
    else:
        parsed = _scores_from_json(data, "scores", options) if data is not None else None
        if parsed is None or not parsed[0]:
            numbers = _ANY_NUMBER.findall(text)
            if parsed is None and len(numbers) == len(options) and "\n" not in text.strip():
                parsed = ({i: _as_score(v) or 0.0 for i, v in enumerate(numbers, 1)}, [])
            else:
                from_lines = _scores_from_lines(text, options)
                if from_lines[0] or parsed is None:
                    parsed = (from_lines[0], (parsed[1] if parsed else []) + from_lines[1])
        scores, rejected = parsed
    if not scores:
        what = "only names that are not candidates" if rejected else "no candidate score"
        raise OutputParseError(
            f"{prompt}: {what} in the reply", prompt=prompt, raw=raw, rejected=tuple(rejected)
        )
    scores = _rescale(scores)
    full = {i: scores.get(i, 0.0) for i in range(1, len(options) + 1)}
    total = sum(full.values())
    if total <= 0.0:
        uniform = 1.0 / len(options)
        return Scored({i: uniform for i in full}, tuple(rejected), uniform_fallback=True)
    return Scored({i: s / total for i, s in full.items()}, tuple(rejected))


def _text(value: object) -> str:
    """A rationale as text: ``None`` (JSON null) is empty, not ``"None"``."""
    return "" if value is None else str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    out: list[str] = []
    for item in value:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item).strip()
            if text and norm_text(text) not in {"", "yes", "no", "none", "unknown", "n/a"}:
                out.append(text)
    return tuple(dict.fromkeys(out))


def parse_verdict(raw: str, *, prompt: str = "sufficiency") -> Verdict:
    """Read a sufficiency reply: JSON ``{sufficient, answers, rationale}`` or a yes/no text.

    A "sufficient" verdict without any answer is read as insufficient.

    Raises:
        OutputParseError: the reply says neither yes nor no.
    """
    text = clean_reply(raw)
    data = find_json(text)
    if isinstance(data, dict):
        flag = data.get("sufficient", data.get("enough", data.get("answerable")))
        if isinstance(flag, str):
            flag = {"yes": True, "true": True, "no": False, "false": False}.get(norm_text(flag))
        elif _is_number(flag) and flag in (0, 1):
            flag = bool(flag)
        if not isinstance(flag, bool):
            raise OutputParseError(
                f"{prompt}: JSON reply without a yes/no 'sufficient'", prompt=prompt, raw=raw
            )
        answers = _string_list(data.get("answers", data.get("answer", [])))
        rationale = _text(data.get("rationale", data.get("reason")))
        return Verdict(flag and bool(answers), answers if flag else (), rationale)
    body = _PREFIX.sub("", text, count=1)
    if _YES.match(body) or _YES.match(body.lstrip("{[")):
        answers = tuple(
            a.strip() for a in _BRACES.findall(body) if norm_text(a) not in {"yes", "no", ""}
        )
        if not answers:
            match = _ANSWER_IS.search(body)
            if match:
                answers = (match.group(1).strip().strip(".{}\"' "),)
        answers = tuple(a for a in answers if a)
        return Verdict(bool(answers), answers, body[:500])
    if _NO.match(body) or _NO.match(body.lstrip("{[")):
        return Verdict(False, (), body[:500])
    raise OutputParseError(f"{prompt}: reply says neither yes nor no", prompt=prompt, raw=raw)


def parse_answer(raw: str, *, prompt: str = "answer") -> AnswerReply:
    """Read an answer reply: JSON ``{answers, rationale}``, ``{Answer}`` braces, or plain text.

    Raises:
        OutputParseError: the reply holds no answer at all.
    """
    text = clean_reply(raw)
    data = find_json(text)
    if isinstance(data, dict) and ("answers" in data or "answer" in data):
        # A well-formed reply with no answer is the model saying it does not know.
        answers = _string_list(data.get("answers", data.get("answer", [])))
        return AnswerReply(answers, _text(data.get("rationale", data.get("reason"))))
    if isinstance(data, dict):
        raise OutputParseError(f"{prompt}: JSON reply without 'answers'", prompt=prompt, raw=raw)
    if isinstance(data, list) and _string_list(data):
        return AnswerReply(_string_list(data))
    braces = [b.strip() for b in _BRACES.findall(text) if norm_text(b) not in {"yes", "no", ""}]
    if braces:
        return AnswerReply(tuple(dict.fromkeys(braces)), text[:500])
    items = [ln for ln in text.splitlines() if ln.strip()]
    if len(items) > 1 and all(_LIST_MARKER.match(ln) for ln in items):
        listed = _string_list(
            [_LIST_MARKER.sub("", ln, count=1).strip().rstrip(".") for ln in items]
        )
        if listed:
            return AnswerReply(listed, text[:500])
    match = _ANSWER_IS.search(text)
    line = match.group(1) if match else next((ln for ln in text.splitlines() if ln.strip()), "")
    line = _PREFIX.sub("", _LIST_MARKER.sub("", line, count=1), count=1)
    line = line.strip().strip("\"'`*").rstrip(".").strip()
    if not line or norm_text(line).strip("{}[]() ") in {"", "yes", "no"}:
        raise OutputParseError(f"{prompt}: no answer in the reply", prompt=prompt, raw=raw)
    return AnswerReply((line[:300],), text[:500])


def parse_mentions(raw: str, *, max_mentions: int, prompt: str = "extract_entities") -> list[str]:
    """Read an entity-extraction reply: a JSON list, ``{"entities": [...]}``, or one per line.

    Raises:
        OutputParseError: no mention could be read.
    """
    text = clean_reply(raw)
    data = find_json(text)
    mentions: tuple[str, ...] = ()
    if isinstance(data, dict):
        mentions = _string_list(data.get("entities", data.get("mentions", [])))
    elif isinstance(data, list):
        mentions = _string_list(data)
    elif isinstance(data, str) or _is_number(data):
        mentions = _string_list([str(data)])
    if not mentions and data is None:
        body = _PREFIX.sub("", text, count=1)
        lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln) for ln in body.splitlines()]
        if len(lines) == 1:
            lines = lines[0].split(",")
        mentions = _string_list([ln.strip().strip("\"'") for ln in lines])
    if not mentions:
        raise OutputParseError(f"{prompt}: no entity in the reply", prompt=prompt, raw=raw)
    return list(mentions[:max_mentions])
