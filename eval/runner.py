"""Run a benchmark: questions in, one durable JSON line per answered question out; resumable.

A run folder holds ``run.json`` (the manifest: configuration, dataset file hash, graph, model,
linking mode, code version, start time, the selected question ids) and ``results.jsonl`` (one
record per question, appended, flushed and fsynced as each question finishes, in completion
order). ``--resume`` reads the records back, drops a torn last line, and answers only the
questions without one, so a run killed at any moment loses at most the questions in flight and
never writes a question twice.

`run` takes the graph and the model as optional arguments: recording and replaying a run
(issue 5) will wrap them (`kg_adapters.RecordingKG`, a replaying chat model) without touching
the loop here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from eval.config import RunConfig
from eval.datasets import DATASETS, DatasetSpec, Question, load_questions, resolve_kb
from eval.metrics import METRICS, score_question
from kg_adapters.base import (
    KnowledgeGraph,
    SupportsAsyncEntitySearch,
    SupportsEntitySearch,
    SupportsMentions,
)
from tog.agent import ThinkOnGraph
from tog.errors import ReplayMiss
from tog.llm.base import ChatModel
from tog.record import Recorder, Replayer
from tog.result import Result
from tog.trace import JSON, to_json

if TYPE_CHECKING:
    from tog.llm.openai_compat import OpenAICompatible

logger = logging.getLogger(__name__)

RESULTS: Final = "results.jsonl"
MANIFEST: Final = "run.json"
FORMAT: Final = "tog-eval-run/1"

RESUME_KEYS: Final = (
    "dataset",
    "data_sha256",
    "kg",
    "backend",
    "model",
    "linking",
    "limit",
    "sample",
    "search",
    "question_ids",
)
"""Manifest fields that change a run's results: `run` refuses to resume when one differs."""

Record = dict[str, JSON]


class RunError(Exception):
    """A run that cannot start or continue; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run is: questions done (including earlier sessions), of how many, how well."""

    done: int
    total: int
    correct: float
    errors: int
    answered_now: int
    seconds: float

    @property
    def accuracy(self) -> float:
        """Hits@1 over the questions done so far."""
        return self.correct / self.done if self.done else 0.0


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What `run` did: questions in the run, found done, answered now, and the time taken."""

    out: Path
    total: int
    skipped: int
    answered: int
    seconds: float


# --- selection and manifest (pure) --------------------------------------------------------------


def spread(items: Sequence[Question], n: int) -> list[Question]:
    """``n`` items evenly spaced over ``items`` (all of them when ``n`` is not smaller).

    >>> [q.id for q in spread([Question(str(k), "?", (), ()) for k in range(10)], 3)]
    ['0', '3', '6']
    """
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def select(
    questions: Sequence[Question], *, limit: int | None, sample: int | None
) -> list[Question]:
    """The questions a run answers: ``sample`` spread over the file, then the first ``limit``."""
    chosen = spread(questions, sample) if sample is not None else list(questions)
    return chosen[:limit] if limit is not None else chosen


def linking_mode(linking: str) -> str:
    """The spec's name for a linking mode: ``gold`` is ``oracle``, ``linked`` is ``extracted``."""
    return "oracle" if linking == "gold" else "extracted"


def differences(before: Mapping[str, JSON], now: Mapping[str, JSON]) -> list[str]:
    """The `RESUME_KEYS` whose values differ between two manifests.

    >>> differences({"limit": 300, "kg": "a"}, {"limit": 200, "kg": "a"})
    ['limit']
    """
    return [key for key in RESUME_KEYS if before.get(key) != now.get(key)]


# --- the run folder --------------------------------------------------------------------------


def read_results(path: Path, *, repair: bool = False) -> list[Record]:
    """The records of ``results.jsonl``; a torn last line (no newline) is skipped or cut off.

    Args:
        path: The results file; a missing file has no records.
        repair: Truncate the file after its last complete line (before appending to it).

    Raises:
        RunError: a complete line is not a JSON object (the file is damaged, not torn).
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        logger.warning("%s: dropping a torn last line (%d bytes)", path, len(data) - end)
        if repair:
            with path.open("r+b") as file:
                file.truncate(end)
                file.flush()
                os.fsync(file.fileno())
    records: list[Record] = []
    for number, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise RunError(f"{path}:{number}: damaged record ({exc})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise RunError(f"{path}:{number}: a record must be a JSON object with an 'id'")
        records.append(record)
    return records


def read_manifest(out: Path) -> Record:
    """``run.json`` of a run folder.

    Raises:
        RunError: it is missing or not a JSON object.
    """
    path = out / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunError(f"{out} is not a run folder: no {MANIFEST}") from exc
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RunError(f"{path} is not a JSON object")
    return data


def write_manifest(out: Path, manifest: Mapping[str, JSON]) -> None:
    """Replace ``run.json`` atomically (a crash leaves the old or the new one, never half)."""
    path = out / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    with tmp.open("w", encoding="utf-8") as file:
        json.dump(manifest, file, ensure_ascii=False, indent=2)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class ResultWriter:
    """Appends records to ``results.jsonl``, each flushed and fsynced; safe across threads."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("ab")
        self._lock = threading.Lock()

    def write(self, record: Record) -> None:
        """Append one record as one line, durable when this returns."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line.encode("utf-8"))
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def code_version() -> dict[str, JSON]:
    """The package version and, in a git checkout, the commit (else ``"unknown"``)."""
    import tog

    commit = "unknown"
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(tog.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            commit = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"package": tog.__version__, "git_commit": commit}


def questions_file(spec: DatasetSpec, data: Path) -> Path:
    """The file `load_questions` reads for ``spec`` from ``data`` (a file, or a folder)."""
    if data.is_file():
        return data
    for name in spec.default_files:
        if (data / name).is_file():
            return data / name
    return data


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- opening the graph and the model -------------------------------------------------------------


def kg_spec(config: RunConfig, dataset: str, data: Path) -> str:
    """The graph a run uses: ``--kg`` (files made absolute), else the dataset's own KB.

    Raises:
        RunError: no ``--kg`` and the dataset ships no KB next to its questions.
    """
    from kg_adapters.opening import is_graph_spec

    if config.kg is not None:
        if is_graph_spec(config.kg):
            return config.kg
        return str(Path(config.kg).resolve())
    kb = resolve_kb(dataset, data)
    if kb is None:
        raise RunError(
            f"{dataset} has no KB file in {data}; pass --kg (a file or a store, "
            "e.g. sparql+freebase:http://127.0.0.1:8890/sparql)"
        )
    return str(kb.resolve())


def open_kg(spec: str) -> KnowledgeGraph:
    """Open ``spec`` with `kg_adapters.opening.open_graph` (``|``-separated MetaQA is sniffed)."""
    from kg_adapters.opening import open_graph

    return open_graph(spec)


def open_llm(config: RunConfig, *, api_key: str | None = None) -> OpenAICompatible | None:
    """An `OpenAICompatible` client for ``config.llm``, or None (the offline scorer)."""
    if config.llm is None:
        return None
    from tog.llm.openai_compat import OpenAICompatible

    return OpenAICompatible(
        list(config.llm.url),
        config.llm.model,
        api_key=api_key,
        timeout=config.llm.timeout,
        structured_outputs=config.llm.structured_outputs,
    )


def build_manifest(
    config: RunConfig, spec: DatasetSpec, questions: Sequence[Question], *, kg: str, file: Path
) -> Record:
    """The ``run.json`` content of a new run of dataset ``spec``, read from ``file``."""
    llm: JSON = None
    if config.llm is not None:
        llm = to_json(config.llm.model_dump(mode="json"))
    return {
        "format": FORMAT,
        "dataset": spec.name,
        "task": spec.task,
        "data": str(Path(config.data or file).resolve()),
        "questions_file": str(file.resolve()),
        "data_sha256": sha256(file) if file.is_file() else None,
        "kg": kg,
        "kg_profile": spec.kg_profile,
        "llm": llm,
        "backend": "offline" if config.llm is None else "openai-compatible",
        "model": None if config.llm is None else config.llm.model,
        "linking": config.linking,
        "linking_mode": linking_mode(config.linking),
        "concurrency": config.concurrency,
        "limit": config.limit,
        "sample": config.sample,
        "search": to_json(config.search.model_dump(mode="json")),
        "n_questions": len(questions),
        "question_ids": [q.id for q in questions],
        "code_version": code_version(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "resumed_at": [],
        "record": None,  # reserved: --record DIR (issue 5)
        "replay": None,  # reserved: --replay DIR (issue 5)
    }


# --- records ------------------------------------------------------------------------------------


def _question_fields(question: Question, index: int, linking: str) -> Record:
    return {
        "id": question.id,
        "index": index,
        "question": question.text,
        "qtype": question.qtype,
        "hops": question.hops,
        "topic_entities": list(question.topic_entities) if linking == "gold" else [],
        "gold": [list(aliases) for aliases in question.gold_aliases()],
    }


def result_record(question: Question, index: int, linking: str, result: Result) -> Record:
    """The ``results.jsonl`` line of one answered (or failed) question."""
    return {
        **_question_fields(question, index, linking),
        "answers": list(result.answers),
        "metrics": to_json(score_question(question, result)),
        "stop_reason": result.stop_reason,
        "answer_source": result.answer_source,
        "linking_mode": result.linking_mode,
        "usage": to_json(result.usage),
        "error": result.error,
        "result": result.to_json(),
    }


def error_record(question: Question, index: int, linking: str, error: BaseException) -> Record:
    """The line of a question the agent rejected before searching (scored as wrong)."""
    return {
        **_question_fields(question, index, linking),
        "answers": [],
        "metrics": dict.fromkeys(METRICS, 0.0),
        "stop_reason": "error",
        "answer_source": None,
        "linking_mode": linking_mode(linking),
        "usage": {},
        "error": f"{type(error).__name__}: {error}",
        "result": None,
    }


def _metric(record: Mapping[str, JSON], name: str) -> float:
    metrics = record.get("metrics")
    value = metrics.get(name) if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0


# --- the run ------------------------------------------------------------------------------------


def prepare(config: RunConfig, out: Path, *, resume: bool) -> tuple[list[Question], Record, str]:
    """Load the questions, check the run folder, and return what is left to do.

    Returns:
        The selected questions, the manifest (new, or the old one updated for this session),
        and the graph spec.

    Raises:
        RunError: a missing dataset or data path, a non-empty folder without ``resume``, or a
            folder whose run differs from this one in a way that changes results.
        eval.datasets.DatasetError: the dataset cannot be read.
    """
    if config.dataset is None:
        raise RunError("no dataset given (DATASET argument or 'dataset' in --config)")
    if config.dataset not in DATASETS:
        raise RunError(f"unknown dataset {config.dataset!r}; known: {', '.join(DATASETS)}")
    if config.data is None:
        raise RunError("no data given: pass --data (the dataset's file or folder)")
    spec = DATASETS[config.dataset]
    wanted = "gold" if config.linking == "gold" else "extracted"
    if wanted not in spec.linking_modes:
        raise RunError(f"{config.dataset} does not support --linking {config.linking}")
    questions = select(
        load_questions(config.dataset, config.data), limit=config.limit, sample=config.sample
    )
    kg = kg_spec(config, config.dataset, config.data)
    file = questions_file(spec, config.data)
    manifest = build_manifest(config, spec, questions, kg=kg, file=file)
    has_files = out.is_dir() and any(out.iterdir())
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    if not has_files:
        return questions, manifest, kg
    if not resume:
        raise RunError(
            f"--out {out} is not empty; pass --resume to continue its run, or choose a new folder"
        )
    before = read_manifest(out)
    changed = differences(before, manifest)
    if changed:
        key = changed[0]
        raise RunError(
            f"cannot resume {out}: {key} differs from its {MANIFEST} "
            f"({_short(before.get(key))} there, {_short(manifest.get(key))} now); "
            "use the same options or a new --out"
        )
    stamps = before.get("resumed_at")
    resumed = [*(stamps if isinstance(stamps, list) else []), manifest["started_at"]]
    updated: Record = {
        **before,
        "concurrency": config.concurrency,
        "llm": manifest["llm"],
        "resumed_at": resumed,
    }
    if before.get("code_version") != manifest["code_version"]:
        logger.warning("resuming %s with another code version than it started with", out)
        updated["code_version_resumed"] = manifest["code_version"]
    return questions, updated, kg


def _short(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def run(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    kg: KnowledgeGraph | None = None,
    llm: ChatModel | None = None,
    api_key: str | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    chunk_size: int | None = None,
    record: str | Path | None = None,
    replay: str | Path | None = None,
) -> RunOutcome:
    """Answer a benchmark's questions and append one record per question to ``out``.

    Args:
        config: What to run (dataset, data, graph, model, linking, concurrency, search).
        out: The run folder; created when missing. It must be empty unless ``resume``.
        resume: Continue the run in ``out``: skip questions with a record, answer the rest.
        kg: The graph to use instead of opening ``config.kg`` (or the dataset's KB); not closed.
        llm: The model to use instead of ``config.llm``; not closed.
        api_key: The endpoint's API key, when ``config.llm`` is opened here.
        on_progress: Called after each question with the run's progress.
        chunk_size: Questions handed to the agent at a time (bounds memory; default
            ``max(64, 8 * concurrency)``).
        record: A folder to record every LLM and KG exchange into (`tog.record.Recorder`;
            appended to on ``resume``).
        replay: A recording to answer from instead of the graph and the model: nothing is
            opened and nothing goes over the network; a request the recording lacks stops the
            run with `tog.errors.ReplayMiss`.

    Returns:
        What was done.

    Raises:
        RunError: see `prepare`; also a linking mode the graph cannot serve, or both
            ``record`` and ``replay``.
        tog.errors.ReplayMiss: replaying met a request that was never recorded.
        eval.datasets.DatasetError: the dataset cannot be read.
        kg_adapters.errors.KGError: the graph cannot be opened.
    """
    if record is not None and replay is not None:
        raise RunError("--record and --replay exclude each other")
    out = Path(out)
    questions, manifest, spec = prepare(config, out, resume=resume)
    out.mkdir(parents=True, exist_ok=True)
    records = read_results(out / RESULTS, repair=True) if resume else []
    wanted = {q.id for q in questions}
    done = {str(r["id"]) for r in records if r.get("id") in wanted}
    correct = sum(_metric(r, "hits@1") for r in records if r.get("id") in wanted)
    errors = sum(1 for r in records if r.get("id") in wanted and r.get("error"))
    write_manifest(out, manifest)
    index_of = {q.id: k for k, q in enumerate(questions)}
    pending = [q for q in questions if q.id not in done]
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if replay is not None:
            replayer = Replayer(replay)
            kg, llm = replayer.kg(), replayer.llm()
        if kg is None:
            kg = open_kg(spec)
            close = getattr(kg, "close", None)
            if callable(close):
                stack.callback(close)
        if llm is None and replay is None:
            client = open_llm(config, api_key=api_key)
            if client is not None:
                stack.callback(client.close)
            llm = client
        if record is not None:
            recorder = Recorder(record, info={"dataset": config.dataset}, append=resume)
            kg = recorder.kg(kg)
            llm = recorder.llm(llm) if llm is not None else None
        if config.linking == "linked" and not isinstance(
            kg, SupportsEntitySearch | SupportsAsyncEntitySearch | SupportsMentions
        ):
            raise RunError(
                f"--linking linked needs a graph that can search entities; "
                f"{type(kg).__name__} cannot (use --linking gold)"
            )
        agent = ThinkOnGraph(kg, llm, config=config.search)
        writer = ResultWriter(out / RESULTS)
        stack.callback(writer.close)
        state = _State(len(done), correct, errors)
        lock = threading.Lock()

        def finish(record: Record) -> None:
            writer.write(record)
            with lock:
                state.done += 1
                state.correct += _metric(record, "hits@1")
                state.errors += bool(record.get("error"))
                state.now += 1
                snapshot = RunProgress(
                    state.done,
                    len(questions),
                    state.correct,
                    state.errors,
                    state.now,
                    time.perf_counter() - start,
                )
            if on_progress is not None:
                on_progress(snapshot)

        if on_progress is not None:
            on_progress(RunProgress(len(done), len(questions), correct, errors, 0, 0.0))
        size = chunk_size or max(64, 8 * config.concurrency)
        for chunk in _chunks(pending, size):
            _run_chunk(agent, chunk, config, index_of, finish)
    return RunOutcome(
        out, len(questions), len(done), len(pending), round(time.perf_counter() - start, 3)
    )


@dataclass(slots=True)
class _State:
    done: int
    correct: float
    errors: int
    now: int = 0


def _chunks(items: Sequence[Question], size: int) -> Iterator[Sequence[Question]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run_chunk(
    agent: ThinkOnGraph,
    chunk: Sequence[Question],
    config: RunConfig,
    index_of: Mapping[str, int],
    finish: Callable[[Record], None],
) -> None:
    """Answer ``chunk`` together; a question the agent rejects up front is retried alone."""
    written: set[str] = set()

    def on_result(position: int, result: Result) -> None:
        if isinstance(result.exception, ReplayMiss):
            raise result.exception  # a replay answers everything or stops: never a silent error
        question = chunk[position]
        if question.id not in written:
            written.add(question.id)
            finish(result_record(question, index_of[question.id], config.linking, result))

    def item(question: Question) -> tuple[str, Sequence[str] | Mapping[str, str] | None]:
        if config.linking == "linked":
            return question.text, None
        if question.topic_names:
            return question.text, dict(
                zip(question.topic_entities, question.topic_names, strict=True)
            )
        return question.text, list(question.topic_entities)

    try:
        results = agent.run_many(
            [item(q) for q in chunk],
            concurrency=config.concurrency,
            errors="return",
            on_result=on_result,
            question_ids=[q.id for q in chunk],
        )
    except (ValueError, TypeError):
        # `run_many` checks every question before any runs: find the bad ones one at a time.
        for question in chunk:
            if question.id in written:
                continue
            try:
                [result] = agent.run_many([item(question)], question_ids=[question.id])
            except (ValueError, TypeError) as exc:
                written.add(question.id)
                finish(error_record(question, index_of[question.id], config.linking, exc))
            else:
                on_result(chunk.index(question), result)
        return
    for position, result in enumerate(results):
        on_result(position, result)
