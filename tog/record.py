"""Record every LLM and KG exchange of a run into a folder, and replay the run with no network.

Recording wraps the backends the run uses; replaying gives stand-ins that answer only from the
recording and raise `ReplayMiss` (one line naming the request) for anything it lacks::

    recording = Recorder("runs/pq-20", info={"kg": "PQ-2H", "llm": "http://127.0.0.1:8000/v1"})
    llm = recording.llm(llm)   # ChatModel or AsyncChatModel; batch backends stay batch backends
    kg = recording.kg(kg)      # KnowledgeGraph or AsyncKnowledgeGraph; capabilities kept
    results = tog.answer_many(questions, kg=kg, llm=llm)

    replay = Replayer("runs/pq-20")
    results = tog.answer_many(questions, kg=replay.kg(), llm=replay.llm())  # no network

The folder holds ``meta.json`` (the LLM's backend, model and structured-output style, the KG's
adapter and capabilities, and the caller's ``info``), ``llm.jsonl`` (one line per LLM exchange:
request key, the request body as sent, the completion or error) and ``kg.jsonl`` (one line per
KG call: method, arguments and the answer or error, via `kg_adapters.codec`). Lines are
appended as exchanges finish, so a crashed run keeps what it did.

Replay looks answers up by request, not by position, so concurrent runs (`tog.answer_many`)
replay in any order. A request made several times gets its recorded answers in recorded order,
and one more time than recorded is a miss: replay never reuses an answer. (Identical requests
made concurrently by different questions may swap answers; with a seeded or greedy model they
are the same answers.) Recorded errors are raised again, as the same class when it comes from
`tog.errors`, `kg_adapters.errors` or the builtins, else as `RecordedError`.

A replayed `tog.Result` serialises exactly like the recorded one except for wall-clock times,
which the drivers measure around each call: `without_timings` drops them (`TIMING_FIELDS`).
Runs with ``time_budget_s`` depend on those times and may replay differently. Embeddings
(``prune_tool="embedding"``) are computed locally and are not recorded.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, cast, overload

from kg_adapters.base import (
    AsyncKnowledgeGraph,
    Direction,
    EntityId,
    EntityMatch,
    Hop,
    KnowledgeGraph,
    Node,
    RelationId,
)
from kg_adapters.codec import METHODS, KGCall, KGResult, decode_result
from tog._recording import (
    CAPABILITIES,
    FORMAT,
    KG_LOG,
    LLM_LOG,
    AsyncRecordingKG,
    AsyncRecordingLLM,
    BatchRecordingLLM,
    Facts,
    Mentions,
    Neighbors,
    RecordingKG,
    RecordingLLM,
    Relations,
    Sink,
    as_object,
    attach_capabilities,
    capabilities,
    decode_error,
    load_meta,
    read_jsonl,
)
from tog.errors import KGReplayMiss, RecordedError, ReplayMiss
from tog.llm.base import (
    AsyncChatModel,
    ChatModel,
    ChatRequest,
    Completion,
    JSONValue,
    SupportsBatchComplete,
    backend_name,
    task_name,
)
from tog.llm.structured import STYLES
from tog.llm.wire import LLMIdentity, completion_from_json, request_key

__all__ = [
    "FORMAT",
    "TIMING_FIELDS",
    "KGReplayMiss",
    "RecordedError",
    "Recorder",
    "ReplayKG",
    "ReplayLLM",
    "ReplayMiss",
    "Replayer",
    "without_timings",
]

TIMING_FIELDS: Final = (
    "usage.kg_seconds",
    "usage.llm_seconds",
    "usage.wall_seconds",
    "trace[].seconds",
)
"""Fields of ``Result.to_json()`` that are wall-clock times: a replay cannot reproduce them."""


class Recorder:
    """Records the LLM and KG exchanges of a run into ``directory``.

    Args:
        directory: The recording folder; created when missing.
        info: JSON data about the run kept in ``meta.json`` (the KG spec, the endpoint, the
            config), for whoever replays it.
        append: Add to a folder that already holds a recording (a resumed run) instead of
            refusing it; its LLM and KG must be the same.

    Raises:
        ValueError: the folder already holds a recording and ``append`` is False.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        info: Mapping[str, JSONValue] | None = None,
        append: bool = False,
    ) -> None:
        self._sink = Sink(Path(directory), info=info, append=append)

    def __repr__(self) -> str:
        return f"Recorder({str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The recording folder."""
        return self._sink.path

    @property
    def meta(self) -> dict[str, JSONValue]:
        """A copy of what ``meta.json`` holds."""
        return self._sink.meta()

    @overload
    def llm(self, llm: ChatModel) -> ChatModel: ...
    @overload
    def llm(self, llm: AsyncChatModel) -> AsyncChatModel: ...
    def llm(self, llm: ChatModel | AsyncChatModel) -> ChatModel | AsyncChatModel:
        """Wrap a backend so that every exchange is recorded; sync stays sync, async async.

        The wrapper has ``complete_batch`` exactly when a sync ``llm`` does, and reports the
        backend's name in results.

        Raises:
            ValueError: the recording already holds exchanges of a different backend.
        """
        name = backend_name(llm)
        self._sink.claim("llm", {"backend": name})
        if inspect.iscoroutinefunction(getattr(llm, "complete", None)):
            return AsyncRecordingLLM(cast(AsyncChatModel, llm), self._sink, name)
        if isinstance(llm, SupportsBatchComplete):
            return BatchRecordingLLM(cast(ChatModel, llm), self._sink, name)
        return RecordingLLM(cast(ChatModel, llm), self._sink, name)

    @overload
    def kg(self, kg: KnowledgeGraph) -> KnowledgeGraph: ...
    @overload
    def kg(self, kg: AsyncKnowledgeGraph) -> AsyncKnowledgeGraph: ...
    def kg(self, kg: KnowledgeGraph | AsyncKnowledgeGraph) -> KnowledgeGraph | AsyncKnowledgeGraph:
        """Wrap an adapter so that every call is recorded; sync stays sync, async async.

        The wrapper has ``search_entities``, ``find_mentions`` and ``describe`` exactly when
        ``kg`` does, so the agent links and describes as it would without it. Wrap the adapter
        the agent is given (outside any `kg_adapters.CachedKG`).

        Raises:
            ValueError: the recording already holds calls of an adapter with other capabilities.
        """
        found: list[JSONValue] = list(capabilities(kg))
        self._sink.claim("kg", {"backend": type(kg).__name__, "capabilities": found})
        if inspect.iscoroutinefunction(getattr(kg, "relations", None)):
            return cast(AsyncKnowledgeGraph, AsyncRecordingKG(kg, self._sink))
        return cast(KnowledgeGraph, RecordingKG(kg, self._sink))


# --- replaying ---------------------------------------------------------------------------------


class _Answers:
    """Recorded answers by key, each key's in recorded order; taken once each, from any thread."""

    def __init__(self, records: Mapping[str, Sequence[dict[str, JSONValue]]]) -> None:
        self._queues = {key: deque(found) for key, found in records.items()}
        self._counts = {key: len(found) for key, found in records.items()}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[dict[str, JSONValue] | None, int]:
        """The next recorded answer for ``key`` (None when there is none) and how many exist."""
        with self._lock:
            queue = self._queues.get(key)
            return (queue.popleft() if queue else None), self._counts.get(key, 0)


class ReplayLLM:
    """A `ChatModel` that answers only from a recording: no network, no HTTP client.

    Build one with `Replayer.llm`. Reports the recorded backend's name and identity.
    """

    def __init__(self, answers: _Answers, identity: LLMIdentity | None, source: Path) -> None:
        self._answers = answers
        self._identity = identity
        self._source = source
        self.backend_name = identity.backend if identity is not None else "ReplayLLM"

    def __repr__(self) -> str:
        return f"ReplayLLM({str(self._source)!r})"

    def identity(self) -> LLMIdentity:
        """The recorded backend's identity.

        Raises:
            ReplayMiss: the recording holds no LLM exchange.
        """
        if self._identity is None:
            raise ReplayMiss(
                f"replay miss: {self._source} recorded no LLM exchange", what="llm identity"
            )
        return self._identity

    def complete(self, request: ChatRequest) -> Completion:
        """The recorded completion of ``request`` (or the recorded error, raised again).

        Raises:
            ReplayMiss: the recording does not hold this request (that many times).
        """
        identity = self.identity()
        key = request_key(request, identity.model, identity.structured_style)
        record, count = self._answers.take(key)
        if record is None:
            what = f"{task_name(request.task)} request {key[:12]}"
            times = f"recorded {count} time(s), asked once more" if count else "never recorded"
            raise ReplayMiss(f"replay miss: LLM {what} ({times}) in {self._source}", what=what)
        if "error" in record:
            raise decode_error(record["error"])
        return completion_from_json(as_object(record.get("completion")))


class ReplayKG:
    """A `KnowledgeGraph` that answers only from a recording: no store, no network.

    Build one with `Replayer.kg`. It has the recorded adapter's optional capabilities
    (``search_entities``, ``find_mentions``, ``describe``), so the agent takes the same paths.
    """

    def __init__(self, answers: _Answers, capabilities: Sequence[str], source: Path) -> None:
        self._answers = answers
        self._source = source
        attach_capabilities(self, [n for n in capabilities if n in CAPABILITIES])

    def __repr__(self) -> str:
        return f"ReplayKG({str(self._source)!r})"

    def _answer(self, call: KGCall) -> KGResult:
        record, count = self._answers.take(call.key())
        if record is None:
            times = f"recorded {count} time(s), asked once more" if count else "never recorded"
            raise KGReplayMiss(
                f"replay miss: KG {call} ({times}) in {self._source}", what=str(call)
            )
        if "error" in record:
            raise decode_error(record["error"])
        return decode_result(call.method, record.get("result"))

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`.

        Raises:
            KGReplayMiss: the recording does not hold this call (that many times).
        """
        call = KGCall.relations(entities, direction=direction, limit=limit)
        return cast(Relations, self._answer(call))

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`; raises `KGReplayMiss` as `relations` does."""
        return cast(Neighbors, self._answer(KGCall.neighbors(hops, limit=limit)))

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`; raises `KGReplayMiss` as `relations` does."""
        return cast(Mapping[str, str], self._answer(KGCall.labels(ids)))

    def _search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        return cast(list[EntityMatch], self._answer(KGCall.search_entities(text, limit=limit)))

    def _find_mentions(self, text: str) -> Mentions:
        return cast(Mentions, self._answer(KGCall.find_mentions(text)))

    def _describe(self, entities: Sequence[EntityId], *, limit: int = 5) -> Facts:
        return cast(Facts, self._answer(KGCall.describe(entities, limit=limit)))


class Replayer:
    """A recording read back: `llm` and `kg` answer from it alone.

    Everything is read when the replayer is built; the folder is not written. Each `llm` and
    `kg` call returns a fresh replay, so one replayer can replay a run several times.

    Args:
        directory: A folder written by `Recorder`.

    Raises:
        FileNotFoundError: the folder holds no ``meta.json``.
        ValueError: a file is not a recording of this format.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory)
        self.meta = load_meta(self.path)
        self._llm_records: dict[str, list[dict[str, JSONValue]]] = {}
        for record in read_jsonl(self.path / LLM_LOG):
            key = record.get("key")
            if not isinstance(key, str):
                raise ValueError(f"{self.path / LLM_LOG}: a line has no request key")
            self._llm_records.setdefault(key, []).append(record)
        self._kg_records: dict[str, list[dict[str, JSONValue]]] = {}
        for record in read_jsonl(self.path / KG_LOG):
            method, args = record.get("method"), record.get("args")
            if method not in METHODS or not isinstance(args, dict):
                raise ValueError(f"{self.path / KG_LOG}: a line has no method and arguments")
            self._kg_records.setdefault(KGCall(method, args).key(), []).append(record)

    def __repr__(self) -> str:
        return f"Replayer({str(self.path)!r})"

    @property
    def info(self) -> dict[str, JSONValue]:
        """The ``info`` the recording was made with (the KG spec, the endpoint, ...)."""
        return as_object(self.meta.get("info"))

    @property
    def counts(self) -> tuple[int, int]:
        """The recorded LLM exchanges and KG calls."""
        return (
            sum(map(len, self._llm_records.values())),
            sum(map(len, self._kg_records.values())),
        )

    def llm(self) -> ReplayLLM | None:
        """A fresh replay of the recorded LLM, or None when the run had none (it ran offline).

        Each call replays the whole recording anew: answers taken by one replay LLM are still
        there for the next.
        """
        data = self.meta.get("llm")
        if not isinstance(data, dict):
            return None
        model, style = data.get("model"), data.get("structured_style")
        backend = data.get("backend")
        identity = None
        if isinstance(model, str):
            identity = LLMIdentity(
                model,
                style if style in STYLES else None,
                backend if isinstance(backend, str) else "",
            )
        return ReplayLLM(_Answers(self._llm_records), identity, self.path)

    def kg(self) -> ReplayKG:
        """A fresh replay of the recorded KG (each call replays the whole recording anew).

        Raises:
            ValueError: the recording holds no KG.
        """
        data = self.meta.get("kg")
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} recorded no KG")
        capabilities = data.get("capabilities")
        names = (
            [c for c in capabilities if isinstance(c, str)]
            if isinstance(capabilities, list)
            else []
        )
        return ReplayKG(_Answers(self._kg_records), names, self.path)


def without_timings(data: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """``Result.to_json()`` output without the wall-clock fields a replay cannot reproduce.

    Drops `TIMING_FIELDS`: ``usage.kg_seconds``, ``usage.llm_seconds``, ``usage.wall_seconds``
    and each trace event's ``seconds``. Everything else of a replayed result equals the
    recorded one.
    """
    out = dict(data)
    usage = out.get("usage")
    if isinstance(usage, dict):
        out["usage"] = {
            k: v for k, v in usage.items() if k not in ("kg_seconds", "llm_seconds", "wall_seconds")
        }
    trace = out.get("trace")
    if isinstance(trace, list):
        out["trace"] = [
            {k: v for k, v in e.items() if k != "seconds"} if isinstance(e, dict) else e
            for e in trace
        ]
    return out
