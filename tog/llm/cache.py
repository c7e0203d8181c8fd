"""A persistent response cache: `CachedLLM` / `AsyncCachedLLM` over one SQLite file.

The key is `tog.llm.wire.request_key`: the hash of the request body as the backend would send it
(model, messages, sampling with its seed, structured-output schema). A hit returns the stored
`Completion` and touches no network, so rerunning an evaluation costs nothing. Requests with
``temperature > 0`` are cached too: the cache is for reproducibility, not for sampling afresh;
change the seed (it is part of the key) or use another file to draw new samples. Failed calls are
not cached.

    >>> import tempfile, pathlib
    >>> from tog.llm.base import ChatRequest, ExtractEntities, Message, Sampling
    >>> from tog.llm.scripted import ScriptedLLM
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "llm.sqlite"
    >>> request = ChatRequest(ExtractEntities("q", 1), (Message("user", "q"),), Sampling())
    >>> with CachedLLM(ScriptedLLM(["a reply"]), path) as llm:  # one reply scripted
    ...     first, second = llm.complete(request), llm.complete(request)
    ...     (first == second, llm.cache_info())
    (True, CacheInfo(hits=1, misses=1, size=1))
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self, cast

from tog.llm.base import (
    AsyncChatModel,
    ChatModel,
    ChatRequest,
    Completion,
    JSONValue,
    SupportsBatchComplete,
    task_name,
)
from tog.llm.base import backend_name as base_backend_name
from tog.llm.wire import (
    LLMIdentity,
    aidentity_of,
    canonical_json,
    identity_of,
    request_body,
    request_key,
)

__all__ = ["AsyncCachedLLM", "CacheInfo", "CachedLLM", "ResponseCache"]

_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT,
    model TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    constrained INTEGER NOT NULL
)
"""
_COLUMNS: Final = (
    "text, prompt_tokens, completion_tokens, finish_reason, model, attempts, constrained"
)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of a `CachedLLM`.

    Attributes:
        hits: Requests answered from the cache.
        misses: Requests sent to the wrapped backend.
        size: Completions stored in the cache file.
    """

    hits: int
    misses: int
    size: int


class ResponseCache:
    """Completions by request key in one SQLite file (WAL mode); safe to share between threads.

    Each row keeps the request body as sent (canonical JSON, for inspection) and every
    `Completion` field. Several `CachedLLM` wrappers, and several processes, may share a file.

    Args:
        path: The database file; created, with its folder, when missing.

    Raises:
        ValueError: the file is a cache of a newer format.
        sqlite3.DatabaseError: the file is not a SQLite database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection for all threads, serialised by the lock; autocommit statements.
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version > _SCHEMA_VERSION:
                raise ValueError(
                    f"{self._path} is a response cache of format {version}; this version of tog "
                    f"reads format {_SCHEMA_VERSION}"
                )
            self._db.execute(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"ResponseCache({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def get(self, key: str) -> Completion | None:
        """The completion stored under ``key``, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        text, prompt, completion, finish, model, attempts, constrained = row
        return Completion(text, prompt, completion, finish, model, attempts, bool(constrained))

    def put(
        self,
        key: str,
        completion: Completion,
        *,
        task: str = "",
        request: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """Store ``completion`` under ``key``; a key already stored keeps its first completion.

        Args:
            key: The request key (`tog.llm.wire.request_key`).
            completion: The reply.
            task: The task name, for inspection.
            request: The request body as sent, for inspection.
        """
        c = completion
        values = (
            key,
            task,
            canonical_json(dict(request or {})),
            c.text,
            c.prompt_tokens,
            c.completion_tokens,
            c.finish_reason,
            c.model,
            c.attempts,
            int(c.constrained),
        )
        with self._lock:
            self._db.execute(
                f"INSERT OR IGNORE INTO completions (key, task, request, {_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM completions").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database connection; safe to call twice."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Counters:
    """Hit and miss counts, the cache, and the backend's identity, shared by both wrappers."""

    __slots__ = ("cache", "hits", "identity", "lock", "misses", "owns_cache")

    def __init__(self, cache: ResponseCache | str | os.PathLike[str]) -> None:
        self.owns_cache = not isinstance(cache, ResponseCache)
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.hits = self.misses = 0
        self.identity: LLMIdentity | None = None
        self.lock = threading.Lock()

    def key(self, request: ChatRequest, identity: LLMIdentity) -> str:
        return request_key(request, identity.model, identity.structured_style)

    def lookup(self, key: str) -> Completion | None:
        found = self.cache.get(key)
        with self.lock:
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return found

    def store(
        self, key: str, request: ChatRequest, identity: LLMIdentity, reply: Completion
    ) -> None:
        body = request_body(request, identity.model, identity.structured_style)
        self.cache.put(key, reply, task=task_name(request.task), request=body)

    def info(self) -> CacheInfo:
        with self.lock:
            hits, misses = self.hits, self.misses
        return CacheInfo(hits, misses, len(self.cache))

    def close(self) -> None:
        if self.owns_cache:
            self.cache.close()


class CachedLLM:
    """A `ChatModel` that answers repeated requests from a persistent `ResponseCache`.

    ``CachedLLM(llm, cache)`` also has ``complete_batch`` exactly when ``llm`` supports
    `SupportsBatchComplete` (only the misses go to the backend, in one call), so
    `tog.answer_many` still batches. Results name the wrapped backend (``backend_name``).

    Args:
        llm: The backend; its ``identity()`` (`tog.llm.wire.SupportsIdentity`) gives the model
            and structured-output style in the key, else its ``model`` attribute.
        cache: A `ResponseCache` (shared, left open by `close`) or a path to open one at.
    """

    def __new__(cls, llm: ChatModel, cache: ResponseCache | str | os.PathLike[str]) -> CachedLLM:
        """Pick the variant with ``complete_batch`` when ``llm`` has one."""
        if cls is CachedLLM and isinstance(llm, SupportsBatchComplete):
            return super().__new__(_BatchCachedLLM)
        return super().__new__(cls)

    def __init__(self, llm: ChatModel, cache: ResponseCache | str | os.PathLike[str]) -> None:
        self._llm = llm
        self._state = _Counters(cache)

    def __repr__(self) -> str:
        return f"CachedLLM({self._llm!r}, {self._state.cache!r})"

    @property
    def inner(self) -> ChatModel:
        """The wrapped backend."""
        return self._llm

    @property
    def cache(self) -> ResponseCache:
        """The response cache."""
        return self._state.cache

    @property
    def backend_name(self) -> str:
        """The wrapped backend's name, reported in results."""
        return base_backend_name(self._llm)

    def identity(self) -> LLMIdentity:
        """The wrapped backend's identity (asked once, then remembered)."""
        state = self._state
        if state.identity is None:
            state.identity = identity_of(self._llm)
        return state.identity

    def cache_info(self) -> CacheInfo:
        """Hit and miss counters and the number of stored completions."""
        return self._state.info()

    def complete(self, request: ChatRequest) -> Completion:
        """The stored completion of ``request``, or the backend's, stored for next time.

        Raises:
            LLMError: the backend failed (nothing is stored).
        """
        identity = self.identity()
        key = self._state.key(request, identity)
        found = self._state.lookup(key)
        if found is not None:
            return found
        reply = self._llm.complete(request)
        self._state.store(key, request, identity, reply)
        return reply

    def close(self) -> None:
        """Close the cache file if this wrapper opened it (never the backend)."""
        self._state.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _BatchCachedLLM(CachedLLM):
    """A `CachedLLM` over a batch backend: the misses of a batch go out in one call."""

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer every request, in order; the misses in one ``complete_batch`` call."""
        identity = self.identity()
        keys = [self._state.key(request, identity) for request in requests]
        replies = [self._state.lookup(key) for key in keys]
        missing = [k for k, reply in enumerate(replies) if reply is None]
        if missing:
            batch = cast(SupportsBatchComplete, self._llm)
            fresh = batch.complete_batch([requests[k] for k in missing])
            if len(fresh) != len(missing):
                return fresh  # the driver reports the mismatch; nothing is stored
            for k, reply in zip(missing, fresh, strict=True):
                self._state.store(keys[k], requests[k], identity, reply)
                replies[k] = reply
        return cast(list[Completion], replies)


class AsyncCachedLLM:
    """An `AsyncChatModel` twin of `CachedLLM`: same arguments and behaviour.

    The cache file is read and written in the event loop's thread: each access is a local
    SQLite statement, far shorter than any request it saves.
    """

    def __init__(self, llm: AsyncChatModel, cache: ResponseCache | str | os.PathLike[str]) -> None:
        """Wrap an async backend; see `CachedLLM` for the arguments."""
        self._llm = llm
        self._state = _Counters(cache)

    def __repr__(self) -> str:
        return f"AsyncCachedLLM({self._llm!r}, {self._state.cache!r})"

    @property
    def inner(self) -> AsyncChatModel:
        """The wrapped backend."""
        return self._llm

    @property
    def cache(self) -> ResponseCache:
        """The response cache."""
        return self._state.cache

    @property
    def backend_name(self) -> str:
        """The wrapped backend's name, reported in results."""
        return base_backend_name(self._llm)

    async def identity(self) -> LLMIdentity:
        """The wrapped backend's identity (asked once, then remembered)."""
        state = self._state
        if state.identity is None:
            state.identity = await aidentity_of(self._llm)
        return state.identity

    def cache_info(self) -> CacheInfo:
        """Hit and miss counters and the number of stored completions."""
        return self._state.info()

    async def complete(self, request: ChatRequest) -> Completion:
        """See `CachedLLM.complete`."""
        identity = await self.identity()
        key = self._state.key(request, identity)
        found = self._state.lookup(key)
        if found is not None:
            return found
        reply = await self._llm.complete(request)
        self._state.store(key, request, identity, reply)
        return reply

    async def aclose(self) -> None:
        """Close the cache file if this wrapper opened it; also the backend's ``aclose``.

        `tog.answer_many` closes an async backend when its private event loop ends; closing
        the wrapped client here keeps that promise for the client inside.
        """
        self._state.close()
        close = getattr(self._llm, "aclose", None)
        if callable(close):
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
