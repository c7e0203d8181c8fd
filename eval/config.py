"""`RunConfig`: what one evaluation run does, from a TOML file and command-line flags.

The only place of the project that reads a file of settings or the environment (the API key).

.. code-block:: toml

    dataset = "pq-2h"
    data = "../shared/data/pathquestion/PathQuestion"
    kg = "kb.txt"            # optional: the dataset's own KB when it ships one
    linking = "gold"         # or "linked"
    concurrency = 8
    limit = 300

    [llm]                    # optional: without it the offline scorer runs (no model)
    url = ["http://127.0.0.1:8000/v1"]
    model = "Qwen/Qwen2.5-7B-Instruct"

    [search]                 # any `tog.SearchConfig` field
    width = 3
    depth = 3
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tog.config import SearchConfig

Linking: TypeAlias = Literal["gold", "linked"]
"""``gold``: the dataset's topic entities (ToG's oracle linking); ``linked``: found in the text."""

API_KEY_VARIABLE = "TOG_LLM_API_KEY"


class ConfigError(ValueError):
    """A run configuration that cannot be read or validated; the message is one line."""


class LLMSettings(BaseModel):
    """An OpenAI-compatible endpoint (``vllm serve``); its replicas share one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: tuple[str, ...] = Field(min_length=1, description="Base URLs, e.g. http://host:8000/v1.")
    model: str | None = Field(None, description="Served model name; None: the only one served.")
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    structured_outputs: bool = Field(False, description="Ask for schema-constrained replies.")

    @field_validator("url", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(u.strip() for u in value.split(",") if u.strip())
        return value


class RunConfig(BaseModel):
    """One evaluation run: dataset, graph, model, linking, concurrency and search settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str | None = Field(None, description="A key of `eval.datasets.DATASETS`.")
    data: Path | None = Field(None, description="The dataset's file, or the folder holding it.")
    kg: str | None = Field(None, description="`open_graph` spec; None: the dataset's own KB.")
    llm: LLMSettings | None = Field(None, description="None: the offline scorer, no model.")
    linking: Linking = "gold"
    concurrency: int = Field(8, ge=1, description="LLM requests in flight / questions a round.")
    limit: int | None = Field(None, ge=1, description="Only the first N questions.")
    sample: int | None = Field(None, ge=1, description="N questions spread over the file.")
    search: SearchConfig = Field(default_factory=SearchConfig)


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def load_run_config(path: str | Path) -> RunConfig:
    """Read a TOML run configuration; relative ``data`` / ``kg`` paths are the file's neighbours.

    Raises:
        ConfigError: the file is missing, not TOML, or not a valid `RunConfig`.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    data, kg = raw.get("data"), raw.get("kg")
    if isinstance(data, str) and not Path(data).is_absolute():
        raw["data"] = str(path.parent / data)
    if isinstance(kg, str) and _is_relative_file(kg):
        raw["kg"] = str(path.parent / kg)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_one_line(exc)}") from exc


def _is_relative_file(spec: str) -> bool:
    from kg_adapters.opening import is_graph_spec

    return not is_graph_spec(spec) and not Path(spec).is_absolute()


def merge(
    config: RunConfig,
    overrides: Mapping[str, object],
    search: Mapping[str, object] | None = None,
) -> RunConfig:
    """``config`` with the given fields replaced; None values leave a field as it is.

    Args:
        config: The base configuration (from a file, or the defaults).
        overrides: Top-level fields (``dataset``, ``llm`` as a mapping, ...).
        search: `SearchConfig` fields.

    Raises:
        ConfigError: a value is invalid (the message names the field).
    """
    data = config.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["search"] = {
        **config.search.model_dump(exclude_unset=True),
        **{k: v for k, v in (search or {}).items() if v is not None},
    }
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from exc


def api_key_from_environment() -> str | None:
    """The LLM API key from ``TOG_LLM_API_KEY`` (never written to run records)."""
    return os.environ.get(API_KEY_VARIABLE) or None
