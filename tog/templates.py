"""Prompt templates: one file per task, in a wheel (``tog/prompts``) or a checkout (``prompts/``).

A template file is a chat transcript. Lines ``### system``, ``### user`` and ``### assistant`` start
messages; everything up to the next such line is that message's text. Few-shot examples are
user/assistant pairs; the last user message carries the live question. Placeholders use
`string.Template` syntax (``$question``) so literal JSON braces in examples need no escaping; a
literal dollar sign is written ``$$``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from tog.errors import PromptError
from tog.llm.base import Message, Role, TaskName

PROMPT_NAMES: tuple[TaskName, ...] = (
    "extract_entities",
    "relation_prune",
    "entity_score",
    "sufficiency",
    "answer",
    "direct_answer",
)

_HEADER = re.compile(r"^### (system|user|assistant)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Prompt:
    """A parsed template: its name and its messages as `string.Template` objects."""

    name: str
    parts: tuple[tuple[Role, string.Template], ...]

    @classmethod
    def parse(cls, name: str, text: str) -> Prompt:
        """Parse a template file's text; raise `PromptError` if it is malformed."""
        headers = list(_HEADER.finditer(text))
        if not headers:
            raise PromptError(f"prompt {name!r} has no '### system' / '### user' header")
        if text[: headers[0].start()].strip():
            raise PromptError(f"prompt {name!r} has text before its first '### ' header")
        parts: list[tuple[Role, string.Template]] = []
        for i, match in enumerate(headers):
            end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
            body = text[match.end() : end].strip("\n")
            role: Role = match.group(1)  # type: ignore[assignment]
            template = string.Template(body)
            if not template.is_valid():
                raise PromptError(f"prompt {name!r} has an invalid placeholder in a {role} part")
            parts.append((role, template))
        if parts[-1][0] != "user":
            raise PromptError(f"prompt {name!r} must end with a '### user' message")
        return cls(name, tuple(parts))

    @property
    def placeholders(self) -> frozenset[str]:
        """Every ``$name`` the template uses."""
        names: set[str] = set()
        for _, template in self.parts:
            names.update(template.get_identifiers())
        return frozenset(names)

    def render(self, **values: str) -> tuple[Message, ...]:
        """Fill the placeholders; a missing or unexpected name raises `PromptError`."""
        expected = self.placeholders
        missing = expected - values.keys()
        unexpected = values.keys() - expected
        if missing or unexpected:
            raise PromptError(
                f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
            )
        return tuple(Message(role, template.substitute(values)) for role, template in self.parts)


@dataclass(frozen=True, slots=True)
class PromptSet:
    """The prompts of every task, by name."""

    prompts: Mapping[str, Prompt]

    def __getitem__(self, name: str) -> Prompt:
        try:
            return self.prompts[name]
        except KeyError:
            raise PromptError(f"no prompt named {name!r}") from None


def default_prompt_dir() -> Traversable:
    """Shipped prompts: ``tog/prompts`` in an installed wheel, else the checkout's ``prompts/``."""
    packaged = resources.files("tog") / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


def load_prompts(directory: str | Path | Traversable | None = None) -> PromptSet:
    """Load every task's template from ``directory`` (the shipped prompts by default).

    Raises:
        PromptError: a template file is missing or malformed.
    """
    folder: Traversable = default_prompt_dir() if directory is None else _as_traversable(directory)
    prompts: dict[str, Prompt] = {}
    for name in PROMPT_NAMES:
        file = folder / f"{name}.txt"
        if not file.is_file():
            raise PromptError(f"prompt file {name}.txt not found in {folder}")
        prompts[name] = Prompt.parse(name, file.read_text(encoding="utf-8"))
    return PromptSet(prompts)


def _as_traversable(directory: str | Path | Traversable) -> Traversable:
    return Path(directory) if isinstance(directory, str) else directory
