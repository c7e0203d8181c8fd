"""The recording side of `tog.record`: the folder's files, the error codec, the wrappers.

`Sink` owns a recording folder (``meta.json``, ``llm.jsonl``, ``kg.jsonl``); the wrappers pass
each exchange of the backend they wrap to it. The sync and async twins differ only in ``await``.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import inspect
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, TypeAlias, cast

from kg_adapters import errors as kg_errors
from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, Node, RelationId
from kg_adapters.codec import KGCall, encode_result
from tog import errors as tog_errors
from tog.errors import RecordedError
from tog.llm.base import (
    AsyncChatModel,
    ChatModel,
    ChatRequest,
    Completion,
    JSONValue,
    SupportsBatchComplete,
    task_name,
)
from tog.llm.wire import (
    LLMIdentity,
    aidentity_of,
    canonical_json,
    completion_to_json,
    identity_of,
    request_body,
    request_key,
)

FORMAT: Final = "tog-recording/1"
"""The ``format`` written into ``meta.json``."""

META: Final = "meta.json"
LLM_LOG: Final = "llm.jsonl"
KG_LOG: Final = "kg.jsonl"
CAPABILITIES: Final = ("search_entities", "find_mentions", "describe")
_ERROR_MODULES: Final = {
    "builtins": builtins,
    "tog.errors": tog_errors,
    "kg_adapters.errors": kg_errors,
}

Relations: TypeAlias = Mapping[EntityId, tuple[RelationId, ...]]
Neighbors: TypeAlias = Mapping[Hop, tuple[Node, ...]]
Mentions: TypeAlias = list[tuple[str, list[EntityMatch]]]
Facts: TypeAlias = Mapping[EntityId, tuple[tuple[RelationId, Node], ...]]


def dumps(record: Mapping[str, JSONValue]) -> str:
    """``record`` as one line of canonical JSON."""
    return canonical_json(dict(record))


def encode_error(error: BaseException) -> JSONValue:
    """An exception as ``{"type": "module.Class", "args": [...], "attrs": {...}}``."""
    simple = (str, int, float, bool, type(None))
    attrs: dict[str, JSONValue] = {
        name: value
        for name, value in getattr(error, "__dict__", {}).items()
        if isinstance(value, simple) and not name.startswith("_")
    }
    args: list[JSONValue] = [a if isinstance(a, simple) else str(a) for a in error.args]
    kind = type(error)
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "args": args, "attrs": attrs}


def decode_error(data: JSONValue) -> Exception:
    """Rebuild a recorded exception: its own class when that is safe to import, else ours."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return RecordedError(f"unreadable recorded error: {data!r}")
    module, _, name = cast(str, data["type"]).rpartition(".")
    args = data.get("args") if isinstance(data.get("args"), list) else []
    found = getattr(_ERROR_MODULES.get(module), name, None)
    if not (isinstance(found, type) and issubclass(found, Exception)):
        message = ", ".join(str(a) for a in cast(list[JSONValue], args))
        return RecordedError(f"{module}.{name}: {message}")
    error = found.__new__(found)
    Exception.__init__(error, *cast(list[JSONValue], args))
    attrs = data.get("attrs")
    for key, value in (attrs if isinstance(attrs, dict) else {}).items():
        with contextlib.suppress(AttributeError, TypeError):
            setattr(error, key, value)
    return error


class Log:
    """One JSONL file, appended to line by line from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, JSONValue]) -> None:
        """Write ``record`` as one line (the file is opened per line: nothing to close)."""
        line = dumps(record) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)


def read_jsonl(path: Path) -> list[dict[str, JSONValue]]:
    """Every JSON object line of ``path`` (none when it is missing).

    Raises:
        ValueError: a line is not a JSON object; the message names the file and line.
    """
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line: {exc}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            records.append(record)
    return records


def capabilities(kg: object) -> list[str]:
    """The optional capabilities (`CAPABILITIES`) an adapter offers."""
    return [name for name in CAPABILITIES if callable(getattr(kg, name, None))]


def as_object(value: JSONValue | None) -> dict[str, JSONValue]:
    """``value`` when it is a JSON object.

    Raises:
        ValueError: it is not.
    """
    if isinstance(value, dict):
        return value
    raise ValueError(f"expected a JSON object, got {value!r}")


def load_meta(path: Path) -> dict[str, JSONValue]:
    """The ``meta.json`` of a recording folder.

    Raises:
        FileNotFoundError: there is none.
        ValueError: it is not a recording's.
    """
    file = path / META
    if not file.exists():
        raise FileNotFoundError(f"{path} is not a recording: it has no {META}")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{file} is not JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{file} is not a recording of format {FORMAT!r}")
    return meta


class Sink:
    """Where a recording goes: ``meta.json`` and the two JSONL logs of one folder (thread-safe).

    Raises:
        ValueError: the folder already holds a recording and ``append`` is False.
    """

    def __init__(
        self,
        directory: Path,
        *,
        info: Mapping[str, JSONValue] | None = None,
        append: bool = False,
    ) -> None:
        self.path = directory
        self._lock = threading.Lock()
        meta_path = self.path / META
        if meta_path.exists():
            if not append:
                raise ValueError(
                    f"{self.path} already holds a recording; pass append=True to add to it, "
                    "or record into an empty folder"
                )
            self._meta = load_meta(self.path)
            if info:
                self._meta["info"] = {**as_object(self._meta.get("info")), **info}
        else:
            self._meta = {"format": FORMAT, "llm": None, "kg": None, "info": dict(info or {})}
        self.path.mkdir(parents=True, exist_ok=True)
        self._llm_log = Log(self.path / LLM_LOG)
        self._kg_log = Log(self.path / KG_LOG)
        self._llm_log.path.touch()
        self._kg_log.path.touch()
        self.write_meta()

    def meta(self) -> dict[str, JSONValue]:
        """A copy of what ``meta.json`` holds."""
        with self._lock:
            return copy.deepcopy(self._meta)

    def claim(self, part: str, value: dict[str, JSONValue]) -> None:
        """Note the backend of ``part`` in meta.json; a recording holds one of each."""
        with self._lock:
            known = self._meta.get(part)
            if isinstance(known, dict):
                mismatch = {k: v for k, v in value.items() if known.get(k, v) != v}
                if mismatch:
                    raise ValueError(
                        f"{self.path} records a {part} with {dumps(known)}; cannot add one "
                        f"with {dumps(value)}"
                    )
                value = {**known, **value}
            self._meta[part] = value
        self.write_meta()

    def note_identity(self, identity: LLMIdentity) -> None:
        """Note the LLM's model and structured-output style, once known."""
        self.claim("llm", {"model": identity.model, "structured_style": identity.structured_style})

    def write_meta(self) -> None:
        """Replace ``meta.json`` (atomically) with the current metadata."""
        with self._lock:
            text = json.dumps(self._meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
            temporary = self.path / f".{META}.tmp"
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(self.path / META)

    def record_llm(
        self,
        key: str,
        request: ChatRequest,
        identity: LLMIdentity,
        reply: Completion | None,
        error: BaseException | None,
    ) -> None:
        """Append one LLM exchange to ``llm.jsonl``."""
        record: dict[str, JSONValue] = {
            "key": key,
            "task": task_name(request.task),
            "request": request_body(request, identity.model, identity.structured_style),
        }
        if error is not None:
            record["error"] = encode_error(error)
        elif reply is not None:
            record["completion"] = completion_to_json(reply)
        self._llm_log.append(record)

    def record_kg(self, call: KGCall, result: object, error: BaseException | None) -> None:
        """Append one KG call to ``kg.jsonl``."""
        record: dict[str, JSONValue] = {"method": call.method, "args": dict(call.args)}
        if error is not None:
            record["error"] = encode_error(error)
        else:
            record["result"] = encode_result(call.method, result)
        self._kg_log.append(record)


class RecordingLLM:
    """A `ChatModel` recording each exchange of the wrapped one."""

    def __init__(self, llm: ChatModel, sink: Sink, name: str) -> None:
        self._llm = llm
        self._sink = sink
        self._identity: LLMIdentity | None = None
        self.backend_name = name

    def __repr__(self) -> str:
        return f"Recorder({str(self._sink.path)!r}).llm({self._llm!r})"

    def identity(self) -> LLMIdentity:
        """The wrapped backend's identity (asked once; noted in meta.json)."""
        if self._identity is None:
            self._identity = identity_of(self._llm)
            self._sink.note_identity(self._identity)
        return self._identity

    def complete(self, request: ChatRequest) -> Completion:
        """Send ``request`` to the wrapped backend and record the exchange."""
        identity = self.identity()
        key = request_key(request, identity.model, identity.structured_style)
        try:
            reply = self._llm.complete(request)
        except Exception as exc:
            self._sink.record_llm(key, request, identity, None, exc)
            raise
        self._sink.record_llm(key, request, identity, reply, None)
        return reply


class BatchRecordingLLM(RecordingLLM):
    """`RecordingLLM` over a batch backend."""

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Send the batch to the wrapped backend in one call and record each exchange."""
        identity = self.identity()
        keys = [request_key(r, identity.model, identity.structured_style) for r in requests]
        try:
            replies = cast(SupportsBatchComplete, self._llm).complete_batch(requests)
        except Exception as exc:
            for key, request in zip(keys, requests, strict=True):
                self._sink.record_llm(key, request, identity, None, exc)
            raise
        if len(replies) == len(requests):
            for key, request, reply in zip(keys, requests, replies, strict=True):
                self._sink.record_llm(key, request, identity, reply, None)
        return replies


class AsyncRecordingLLM:
    """An `AsyncChatModel` recording each exchange of the wrapped one."""

    def __init__(self, llm: AsyncChatModel, sink: Sink, name: str) -> None:
        self._llm = llm
        self._sink = sink
        self._identity: LLMIdentity | None = None
        self.backend_name = name

    def __repr__(self) -> str:
        return f"Recorder({str(self._sink.path)!r}).llm({self._llm!r})"

    async def identity(self) -> LLMIdentity:
        """The wrapped backend's identity (asked once; noted in meta.json)."""
        if self._identity is None:
            self._identity = await aidentity_of(self._llm)
            self._sink.note_identity(self._identity)
        return self._identity

    async def complete(self, request: ChatRequest) -> Completion:
        """Send ``request`` to the wrapped backend and record the exchange."""
        identity = await self.identity()
        key = request_key(request, identity.model, identity.structured_style)
        try:
            reply = await self._llm.complete(request)
        except Exception as exc:
            self._sink.record_llm(key, request, identity, None, exc)
            raise
        self._sink.record_llm(key, request, identity, reply, None)
        return reply

    async def aclose(self) -> None:
        """Close the wrapped backend (`tog.answer_many` closes async backends when done)."""
        close = getattr(self._llm, "aclose", None)
        if callable(close):
            await close()


class RecordingKG:
    """A `KnowledgeGraph` recording each call of the wrapped one (capabilities kept)."""

    def __init__(self, kg: object, sink: Sink) -> None:
        self._kg = kg
        self._sink = sink
        attach_capabilities(self, capabilities(kg))

    def __repr__(self) -> str:
        return f"Recorder({str(self._sink.path)!r}).kg({self._kg!r})"

    def _run(self, call: KGCall, *args: object, **kwargs: object) -> object:
        try:
            result: object = getattr(self._kg, call.method)(*args, **kwargs)
        except Exception as exc:
            self._sink.record_kg(call, None, exc)
            raise
        self._sink.record_kg(call, result, None)
        return result

    def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`."""
        call = KGCall.relations(entities, direction=direction, limit=limit)
        return cast(Relations, self._run(call, entities, direction=direction, limit=limit))

    def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`."""
        return cast(Neighbors, self._run(KGCall.neighbors(hops, limit=limit), hops, limit=limit))

    def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`."""
        return cast(Mapping[str, str], self._run(KGCall.labels(ids), ids))

    def _search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        call = KGCall.search_entities(text, limit=limit)
        return cast(list[EntityMatch], self._run(call, text, limit=limit))

    def _find_mentions(self, text: str) -> Mentions:
        return cast(Mentions, self._run(KGCall.find_mentions(text), text))

    def _describe(self, entities: Sequence[EntityId], *, limit: int = 5) -> Facts:
        call = KGCall.describe(entities, limit=limit)
        return cast(Facts, self._run(call, entities, limit=limit))


class AsyncRecordingKG:
    """An `AsyncKnowledgeGraph` recording each call of the wrapped one (capabilities kept).

    ``find_mentions`` and ``describe`` stay sync or async as the wrapped adapter's are.
    """

    def __init__(self, kg: object, sink: Sink) -> None:
        self._kg = kg
        self._sink = sink
        found = capabilities(kg)
        attach_capabilities(self, [n for n in found if n == "search_entities"])
        for name in found:
            if name != "search_entities":
                is_async = inspect.iscoroutinefunction(getattr(kg, name))
                setattr(self, name, getattr(self, f"_{name}_async" if is_async else f"_{name}"))

    def __repr__(self) -> str:
        return f"Recorder({str(self._sink.path)!r}).kg({self._kg!r})"

    def _run(self, call: KGCall, *args: object, **kwargs: object) -> object:
        try:
            result: object = getattr(self._kg, call.method)(*args, **kwargs)
        except Exception as exc:
            self._sink.record_kg(call, None, exc)
            raise
        self._sink.record_kg(call, result, None)
        return result

    async def _arun(self, call: KGCall, *args: object, **kwargs: object) -> object:
        try:
            result: object = await getattr(self._kg, call.method)(*args, **kwargs)
        except Exception as exc:
            self._sink.record_kg(call, None, exc)
            raise
        self._sink.record_kg(call, result, None)
        return result

    async def relations(
        self, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> Mapping[EntityId, tuple[RelationId, ...]]:
        """See `KnowledgeGraph.relations`."""
        call = KGCall.relations(entities, direction=direction, limit=limit)
        return cast(Relations, await self._arun(call, entities, direction=direction, limit=limit))

    async def neighbors(
        self, hops: Sequence[Hop], *, limit: int | None = None
    ) -> Mapping[Hop, tuple[Node, ...]]:
        """See `KnowledgeGraph.neighbors`."""
        call = KGCall.neighbors(hops, limit=limit)
        return cast(Neighbors, await self._arun(call, hops, limit=limit))

    async def labels(self, ids: Sequence[str]) -> Mapping[str, str]:
        """See `KnowledgeGraph.labels`."""
        return cast(Mapping[str, str], await self._arun(KGCall.labels(ids), ids))

    async def _search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        call = KGCall.search_entities(text, limit=limit)
        return cast(list[EntityMatch], await self._arun(call, text, limit=limit))

    def _find_mentions(self, text: str) -> Mentions:
        return cast(Mentions, self._run(KGCall.find_mentions(text), text))

    async def _find_mentions_async(self, text: str) -> Mentions:
        return cast(Mentions, await self._arun(KGCall.find_mentions(text), text))

    def _describe(self, entities: Sequence[EntityId], *, limit: int = 5) -> Facts:
        call = KGCall.describe(entities, limit=limit)
        return cast(Facts, self._run(call, entities, limit=limit))

    async def _describe_async(self, entities: Sequence[EntityId], *, limit: int = 5) -> Facts:
        call = KGCall.describe(entities, limit=limit)
        return cast(Facts, await self._arun(call, entities, limit=limit))

    async def aclose(self) -> None:
        """Close the wrapped adapter, if it can be (`tog.answer_many` closes async adapters)."""
        close = getattr(self._kg, "aclose", None)
        if callable(close):
            await close()


def attach_capabilities(wrapper: object, names: Sequence[str]) -> None:
    """Expose ``wrapper._<name>`` as ``wrapper.<name>``, so ``isinstance`` checks see it."""
    for name in names:
        setattr(wrapper, name, getattr(wrapper, f"_{name}"))
