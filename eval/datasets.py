"""Readers for the offline KGQA benchmarks with their own KBs: PathQuestion and MetaQA.

Each reader yields `Question` values; ids are ``<dataset>:<line index>`` so runs join on ids,
never on question text. The files are read from wherever the user keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_BRACKETED = re.compile(r"\[([^\]]+)\]")


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question: text, gold topic entities and gold answers (with aliases)."""

    id: str
    text: str
    topic_entities: tuple[str, ...]
    answers: tuple[str, ...]
    hops: int | None = None


def read_pathquestion(path: str | Path, *, name: str | None = None) -> Iterator[Question]:
    """PathQuestion / PQL lines: ``question<TAB>answer(alt1/alt2/)<TAB>topic#r1#e1#...``.

    The topic entity is the first path element; it appears verbatim in the question.
    """
    path = Path(path)
    dataset = name or path.stem
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            fields = line.strip().split("\t")
            if len(fields) < 3:
                continue
            question, answer, chain = fields[0].strip(), fields[1].strip(), fields[2].strip()
            main, _, rest = answer.partition("(")
            alternatives = [a for a in rest.rstrip(")").split("/") if a]
            golds = tuple(dict.fromkeys([main.strip(), *alternatives]))
            parts = chain.split("#")
            hops = (parts.index("<end>") - 1) // 2 if "<end>" in parts else (len(parts) - 1) // 2
            yield Question(f"{dataset}:{index}", question, (parts[0],), golds, hops)


def read_metaqa(path: str | Path, *, hops: int, name: str | None = None) -> Iterator[Question]:
    """MetaQA lines: ``question with [Topic]<TAB>ans1|ans2``; the brackets are removed."""
    path = Path(path)
    dataset = name or f"metaqa-{hops}hop"
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            question, _, answers = line.rstrip("\n").partition("\t")
            topics = tuple(_BRACKETED.findall(question))
            text = _BRACKETED.sub(lambda m: m.group(1), question).strip()
            yield Question(
                f"{dataset}:{index}", text, topics, tuple(a for a in answers.split("|") if a), hops
            )
