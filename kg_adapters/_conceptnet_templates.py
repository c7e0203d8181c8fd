"""Verbalisation templates for ConceptNet relations: the paper's set, the corrected set, user packs.

A template is a pattern with ``{start}`` and ``{end}`` placeholders, keyed by the relation's
short name (``RelatedTo``, ``dbpedia/genre``). ``paper`` holds the 33 English phrases of Gurgurov
et al. (2025) verbatim, six of them reversed (conceptnet_corpus.md §5, §8); ``corrected`` fixes
those six and adds phrases for the opt-in relations.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "CORRECTED_TEMPLATES",
    "PAPER_RELATIONS",
    "PAPER_TEMPLATES",
    "REVERSED_IN_PAPER",
    "TemplateSet",
    "load_templates",
]

_PAPER_PHRASES: Final[dict[str, str]] = {
    "RelatedTo": "is related to",
    "Synonym": "is a synonym of",
    "FormOf": "is a form of",
    "DerivedFrom": "is derived from",
    "HasContext": "is a word used in the context of",
    "IsA": "is a type of",
    "EtymologicallyRelatedTo": "is etymologically related to",
    "SymbolOf": "symbolically represents",
    "EtymologicallyDerivedFrom": "is etymologically derived from",
    "AtLocation": "is a typical location for",
    "Causes": "causes",
    "UsedFor": "is used for",
    "MotivatedByGoal": "is a step toward accomplishing the goal",
    "HasSubevent": "is a subevent of",
    "Antonym": "is the opposite of",
    "DistinctFrom": "is distinct from",
    "CapableOf": "is capable of",
    "SimilarTo": "is similar to",
    "PartOf": "is a part of",
    "HasPrerequisite": "has prerequisite of",
    "CausesDesire": "makes someone want",
    "Desires": "is a conscious entity that typically wants",
    "HasProperty": "can be described as",
    "HasA": "belongs to",
    "MadeOf": "is made of",
    "HasFirstSubevent": "is an event that begins with subevent",
    "MannerOf": "is a specific way to do",
    "DefinedAs": "is a more explanatory version of",
    "ReceivesAction": "receives action of",
    "ObstructedBy": "is an obstacle in the way of",
    "HasLastSubevent": "is an event that concludes with subevent",
    "CreatedBy": "is a process or agent that creates",
    "LocatedNear": "is typically found near",
}
_FIXES: Final[dict[str, str]] = {
    "AtLocation": "is typically found at",
    "HasSubevent": "includes the subevent",
    "HasA": "has",
    "DefinedAs": "is defined as",
    "ObstructedBy": "can be obstructed by",
    "CreatedBy": "is created by",
}
_OPT_IN_PHRASES: Final[dict[str, str]] = {
    "NotDesires": "does not want",
    "NotUsedFor": "is not used for",
    "InstanceOf": "is an instance of",
    "Entails": "entails",
    "NotCapableOf": "is not capable of",
    "NotHasProperty": "cannot be described as",
    "dbpedia/genre": "has genre",
    "dbpedia/genus": "belongs to genus",
    "dbpedia/influencedBy": "was influenced by",
    "dbpedia/occupation": "has occupation",
    "dbpedia/language": "has language",
    "dbpedia/field": "works in the field of",
    "dbpedia/knownFor": "is known for",
    "dbpedia/product": "makes",
    "dbpedia/capital": "has capital",
    "dbpedia/leader": "is led by",
}

PAPER_RELATIONS: Final[tuple[str, ...]] = tuple(_PAPER_PHRASES)
"""The 33 relations the 2025 paper verbalises (the default relation selection)."""
REVERSED_IN_PAPER: Final[frozenset[str]] = frozenset(_FIXES)
"""The six relations whose paper phrase asserts the inverse fact."""
SYMMETRIC: Final[frozenset[str]] = frozenset(
    {"RelatedTo", "Synonym", "EtymologicallyRelatedTo", "Antonym", "DistinctFrom", "SimilarTo"}
)
"""Symmetric relations (``conceptnet5/relations.py``): both argument orders are true."""


def _pattern(phrase: str) -> str:
    return "{start} " + phrase + " {end}."


PAPER_TEMPLATES: Final[dict[str, str]] = {r: _pattern(p) for r, p in _PAPER_PHRASES.items()}
CORRECTED_TEMPLATES: Final[dict[str, str]] = {
    **{r: _pattern(_FIXES.get(r, p)) for r, p in _PAPER_PHRASES.items()},
    **{r: _pattern(p) for r, p in _OPT_IN_PHRASES.items()},
}


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """Relation -> pattern, with the set's name and the language of its patterns.

    Relations missing from ``templates`` fall back to `CORRECTED_TEMPLATES` (English).
    """

    name: str
    language: str
    templates: Mapping[str, str]

    def pattern(self, relation: str) -> tuple[str, str]:
        """``(pattern, template language)`` for a relation's short name (KeyError if unknown)."""
        found = self.templates.get(relation)
        if found is not None:
            return found, self.language
        return CORRECTED_TEMPLATES[relation], "en"


def load_templates(spec: str | Path) -> TemplateSet:
    """``paper``, ``corrected``, or a user pack (a ``.toml`` or ``.json`` file).

    A pack holds ``language = "<code>"`` and a ``[templates]`` table (relation -> pattern with
    ``{start}`` and ``{end}``), or is a bare relation -> pattern table (language ``und``)::

        language = "mt"
        [templates]
        RelatedTo = "{start} huwa relatat ma' {end}."

    Args:
        spec: A preset name or the path of a pack.

    Returns:
        The template set.

    Raises:
        ValueError: Unknown preset, unreadable pack, or a pattern without both placeholders.
    """
    if isinstance(spec, str) and spec in ("paper", "corrected"):
        chosen = PAPER_TEMPLATES if spec == "paper" else CORRECTED_TEMPLATES
        return TemplateSet(spec, "en", dict(chosen))
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"templates must be 'paper', 'corrected' or a .toml/.json file: {spec!r}")
    try:
        text = path.read_text(encoding="utf-8")
        data: object = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"cannot read the template pack {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"template pack {path}: expected a table of relation -> pattern")
    language = data.get("language", "und")
    table = data.get("templates", data)
    if not isinstance(language, str) or not isinstance(table, dict):
        raise ValueError(f"template pack {path}: 'language' must be a string, 'templates' a table")
    templates: dict[str, str] = {}
    for relation, pattern in table.items():
        if relation == "language":
            continue
        name = relation.removeprefix("/r/")
        if name not in CORRECTED_TEMPLATES:
            raise ValueError(f"template pack {path}: unknown relation {relation!r}")
        if not isinstance(pattern, str) or "{start}" not in pattern or "{end}" not in pattern:
            raise ValueError(
                f"template pack {path}: {relation} needs a pattern with {{start}} and {{end}}"
            )
        if "\n" in pattern or "\r" in pattern:
            raise ValueError(f"template pack {path}: {relation}'s pattern holds a line break")
        templates[name] = pattern
    return TemplateSet(path.name, language, templates)
