"""The public contract: exported names, result shapes, cheap imports and input validation."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic
import pytest

import kg_adapters
import tog
import tog.llm
from kg_adapters import LiteralValue, NetworkXGraph, Node, Triple
from tog.llm import ScriptedLLM
from tog.llm.base import ChatRequest, PruneRelations, ScoreEntities, task_name

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

FILMS: list[tuple[str, str, Node]] = [
    ("Inception", "directed_by", "Christopher Nolan"),
    ("Interstellar", "directed_by", "Christopher Nolan"),
    ("Titanic", "directed_by", "James Cameron"),
    ("Christopher Nolan", "born_in", "London"),
    ("Inception", "release_year", LiteralValue("2010")),
]
QUESTION = "Which films did Christopher Nolan direct?"


# --- __all__ ------------------------------------------------------------------------------------


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """Ruff's RUF022 "isort-style" order: CONSTANTS, then Classes, then the rest; natural order."""
    if len(name) > 1 and name.isupper():
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    parts: list[int | str] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name) if p]
    return kind, parts


@pytest.mark.parametrize("module", [tog, tog.llm, kg_adapters], ids=lambda m: m.__name__)
def test_dunder_all_is_isort_sorted_unique_and_resolves(module: ModuleType) -> None:
    names = list(module.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None, name
        assert name in dir(module)


def test_ruff_agrees_that_dunder_all_is_sorted() -> None:
    files = [str(Path(m.__file__ or "")) for m in (tog, tog.llm, kg_adapters)]
    command = ["check", "--isolated", "--no-cache", "--select", "RUF022", *files]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_star_imports_resolve_every_exported_name() -> None:
    out = run_python(
        "from tog import *\n"
        "from tog.llm import *\n"
        "from kg_adapters import *\n"
        "import tog, tog.llm, kg_adapters\n"
        "names = [*tog.__all__, *tog.llm.__all__, *kg_adapters.__all__]\n"
        "missing = [n for n in names if n not in globals()]\n"
        "print(missing)\n"
    )
    assert out.strip() == "[]"


def test_unknown_attributes_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = tog.no_such_name
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = kg_adapters.no_such_name


# --- the contract names -------------------------------------------------------------------------


def test_public_contract_names_exist() -> None:
    assert callable(tog.answer)
    assert inspect.iscoroutinefunction(tog.aanswer)
    assert issubclass(tog.SearchConfig, pydantic.BaseModel)
    assert inspect.isclass(tog.llm.OpenAICompatible)
    assert callable(tog.llm.OpenAICompatible.complete)
    assert inspect.isclass(tog.ThinkOnGraph)
    for name in ("from_triples", "from_tsv"):
        method = inspect.getattr_static(kg_adapters.NetworkXGraph, name)
        assert isinstance(method, classmethod), name
    for parameter in ("kg", "llm", "topic_entities", "config"):
        assert parameter in inspect.signature(tog.answer).parameters
        assert parameter in inspect.signature(tog.aanswer).parameters


def test_from_tsv_and_from_triples_build_the_same_graph() -> None:
    path = FIXTURES / "tiny_kg.tsv"
    loaded = NetworkXGraph.from_tsv(path)
    rows = [
        tuple(line.split("\t"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    built = NetworkXGraph.from_triples([(h, r, t) for h, r, t in rows])
    assert len(loaded) == len(built) > 0
    assert sorted(loaded.triples()) == sorted(built.triples())


# --- result shapes ------------------------------------------------------------------------------


def film_reply(request: ChatRequest) -> str:
    task = request.task
    match task_name(task):
        case "relation_prune":
            assert isinstance(task, PruneRelations)
            picks = [
                {"candidate": o.index, "score": 1.0}
                for o in task.options
                if o.relation == "directed_by"
            ]
            return json.dumps({"choices": picks})
        case "entity_score":
            assert isinstance(task, ScoreEntities)
            return json.dumps(
                {
                    "scores": [
                        {"candidate": i, "score": 0.5} for i in range(1, len(task.options) + 1)
                    ]
                }
            )
        case "sufficiency":
            return json.dumps(
                {"sufficient": True, "answers": ["Inception", "Interstellar"], "rationale": "r"}
            )
        case _:
            return json.dumps({"answers": [], "rationale": "r"})


@pytest.fixture
def result() -> tog.Result:
    kg = NetworkXGraph.from_triples(FILMS)
    return tog.answer(
        QUESTION,
        kg=kg,
        llm=ScriptedLLM(film_reply),
        topic_entities=["Christopher Nolan"],
        config=tog.SearchConfig(width=3, depth=2),
    )


def test_answer_fields_have_the_documented_types(result: tog.Result) -> None:
    assert isinstance(result, tog.Result)
    assert isinstance(result.answer, str)
    assert result.answer == "Inception"
    assert isinstance(result.answers, list | tuple)
    assert all(isinstance(a, str) for a in result.answers)
    assert list(result.answers) == ["Inception", "Interstellar"]
    assert result.stop_reason == "sufficient"
    assert result.answer_source == "kg_paths"
    assert result.linking_mode == "oracle"
    assert dict(result.topic_entities) == {"Christopher Nolan": "Christopher Nolan"}
    assert set(result.answer_ids) == {"Inception", "Interstellar"}


def test_paths_compare_equal_to_plain_triples_in_kg_direction(result: tog.Result) -> None:
    assert result.paths
    triples = [list(path) for path in result.paths]
    assert [("Inception", "directed_by", "Christopher Nolan")] in triples
    assert [("Interstellar", "directed_by", "Christopher Nolan")] in triples
    for path in result.paths:
        assert isinstance(path, tog.ReasoningPath)
        for triple in path:
            assert isinstance(triple, Triple)
            assert isinstance(triple, tuple)
            assert triple.object == "Christopher Nolan"  # never reversed
            assert ("Christopher Nolan", "directed_by", triple.subject) != tuple(triple)
    first = result.paths[0]
    assert first[0] == ("Inception", "directed_by", "Christopher Nolan")
    assert first.triples == (("Inception", "directed_by", "Christopher Nolan"),)
    assert first.text() == "Inception | directed_by | Christopher Nolan"


def test_usage_reads_as_attributes_and_as_a_mapping(result: tog.Result) -> None:
    usage = result.usage
    for key in ("llm_calls", "prompt_tokens", "completion_tokens", "kg_calls"):
        assert isinstance(getattr(usage, key), int)
        assert usage[key] == getattr(usage, key)
    assert isinstance(usage, Mapping)
    assert usage["llm_calls"] == 3  # relation prune, entity scoring (2 films), sufficiency
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.kg_calls > 0
    assert dict(usage)["llm_calls"] == 3
    assert dict(usage.calls_by_task) == {"relation_prune": 1, "entity_score": 1, "sufficiency": 1}
    with pytest.raises(KeyError):
        usage["no_such_counter"]


def test_result_is_json_serialisable(result: tog.Result) -> None:
    data = json.loads(json.dumps(result.to_json()))
    assert data["answer"] == "Inception"
    assert data["answers"] == ["Inception", "Interstellar"]
    assert data["paths"][0]["triples"][0]["subject"] == "Inception"
    assert data["paths"][0]["triples"][0]["object"] == "Christopher Nolan"
    assert data["usage"]["llm_calls"] == 3
    assert isinstance(data["trace"], list)


def test_a_literal_answer_path_keeps_the_literal_object() -> None:
    def reply(request: ChatRequest) -> str:
        task = request.task
        if isinstance(task, PruneRelations):
            [pick] = [o.index for o in task.options if o.relation == "release_year"]
            return json.dumps({"choices": [{"candidate": pick, "score": 1.0}]})
        return json.dumps({"sufficient": True, "answers": ["2010"], "rationale": "r"})

    kg = NetworkXGraph.from_triples(FILMS)
    result = tog.answer(
        "When was Inception released?",
        kg=kg,
        llm=ScriptedLLM(reply),
        topic_entities=["Inception"],
    )
    assert result.answer == "2010"
    assert list(result.paths[0]) == [("Inception", "release_year", LiteralValue("2010"))]
    json.dumps(result.to_json())


# --- cheap imports and layering -----------------------------------------------------------------


def run_python(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


HEAVY = ("pydantic", "httpx", "rdflib", "networkx", "numpy", "bm25s")


def test_importing_tog_loads_no_heavy_dependency() -> None:
    out = run_python(
        "import sys, tog, tog.llm\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    assert out.strip() == "[]"


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_rejected(question: str) -> None:
    kg = NetworkXGraph.from_triples(FILMS)
    with pytest.raises(ValueError, match="question"):
        tog.answer(question, kg=kg)


@pytest.mark.anyio
async def test_an_empty_question_is_rejected_by_aanswer() -> None:
    kg = NetworkXGraph.from_triples(FILMS)
    with pytest.raises(ValueError, match="question"):
        await tog.aanswer("", kg=kg)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "settings",
    [{"width": 0}, {"depth": 0}, {"width": -1}, {"bogus": 1}, {"variant": "tog-x"}],
    ids=["width=0", "depth=0", "width=-1", "bogus", "variant"],
)
def test_invalid_search_config_is_rejected(settings: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        tog.SearchConfig(**settings)


def test_search_config_is_frozen_and_call_bounds_follow_the_spec() -> None:
    config = tog.SearchConfig()
    with pytest.raises(pydantic.ValidationError):
        config.width = 5  # type: ignore[misc]
    assert (config.width, config.depth) == (3, 3)
    assert config.call_bound(prune_tool="llm") == 22
    assert config.model_copy(update={"variant": "tog-r"}).call_bound(prune_tool="llm") == 13
    assert config.call_bound(prune_tool="bm25") == 4
