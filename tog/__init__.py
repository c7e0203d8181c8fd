"""Think-on-Graph: a language model answers questions by beam search over a knowledge graph.

>>> import tog
>>> from kg_adapters import NetworkXGraph
>>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
>>> tog.answer("Who directed Inception?", kg=kg).answer
'Christopher Nolan'

Importing `tog` is cheap: names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tog import errors, llm
    from tog.agent import ThinkOnGraph, aanswer, aanswer_many, answer, answer_many
    from tog.config import SearchConfig
    from tog.drivers import adrive, drive
    from tog.embedded import default_graph
    from tog.result import ReasoningPath, Result, Usage
    from tog.stepper import Stepper
    from tog.templates import load_prompts
    from tog.trace import Trace

__version__ = "0.1.0"

_LAZY = {
    "ReasoningPath": "tog.result",
    "Result": "tog.result",
    "SearchConfig": "tog.config",
    "Stepper": "tog.stepper",
    "ThinkOnGraph": "tog.agent",
    "Trace": "tog.trace",
    "Usage": "tog.result",
    "aanswer": "tog.agent",
    "aanswer_many": "tog.agent",
    "adrive": "tog.drivers",
    "answer": "tog.agent",
    "answer_many": "tog.agent",
    "default_graph": "tog.embedded",
    "drive": "tog.drivers",
    "load_prompts": "tog.templates",
}
_SUBMODULES = ("errors", "llm")

__all__ = [
    "ReasoningPath",
    "Result",
    "SearchConfig",
    "Stepper",
    "ThinkOnGraph",
    "Trace",
    "Usage",
    "__version__",
    "aanswer",
    "aanswer_many",
    "adrive",
    "answer",
    "answer_many",
    "default_graph",
    "drive",
    "errors",
    "llm",
    "load_prompts",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"tog.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tog' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
