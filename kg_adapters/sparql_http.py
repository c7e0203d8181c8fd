"""SPARQL over HTTP: `SPARQLEndpoint` and its `AsyncSPARQLEndpoint` twin, read-only, with retries.

Both clients POST ``query`` (and ``default-graph-uri``) as a form and read SPARQL-JSON through
`kg_adapters._sparql.parse_results`. They differ only in I/O: the read-only check, request
building, response checking, error classification, retry delays, pacing and paging are
module-level functions and one small state machine both share.

Virtuoso caps results at ``ResultSetMaxRows`` without an error; only the ``X-SPARQL-MaxRows``
response header tells. A result that reaches that cap raises `KGResultTruncated`; `select_all`
pages with ``LIMIT``/``OFFSET`` instead (environment.md §4).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import httpx

from kg_adapters._sparql import Bindings, Term, parse_results
from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGError,
    KGQueryError,
    KGResultTruncated,
    KGTimeout,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "AsyncSPARQLEndpoint",
    "SPARQLEndpoint",
    "check_read_query",
]

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT: Final = "think-on-graph/0.1 (Python KGQA library; think-on-graph on PyPI)"
"""Sent with every request; public endpoints (Wikidata) block anonymous clients."""

_ADAPTER: Final = "sparql"
_RESULTS_JSON: Final = "application/sparql-results+json"
_MAX_ROWS_HEADER: Final = "X-SPARQL-MaxRows"
_DETAIL_CHARS: Final = 500
_SNIPPET_CHARS: Final = 200
_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")

# --- the read-only check (pure) ----------------------------------------------------------------

# String literals (long forms first), IRI references and comments, in one left-to-right pass, so
# a '#' inside an IRI or a keyword inside a string is never mistaken for syntax.
_LEXEMES = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r'|<[^\x00-\x20<>"{}|^`\\]*>'
    r"|#[^\n\r]*",
    re.DOTALL,
)
_QUERY_FORM = re.compile(
    r"\s*(?:(?:PREFIX\s*[^\s:<]*:\s*<>|BASE\s*<>)\s*)*(SELECT|ASK|CONSTRUCT|DESCRIBE)\b",
    re.IGNORECASE,
)
# Whole words only: not part of a variable (?drop), a prefixed name (ns:film.drop, load:x) or a
# hyphenated local name.
_UPDATE_WORD = re.compile(
    r"(?<![\w?$:.\-])(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY)(?![\w:\-])",
    re.IGNORECASE,
)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_TRAILING_PAGE = re.compile(r"\b(?:LIMIT|OFFSET)\s+\d+\s*$", re.IGNORECASE)


def _skeleton(query: str) -> str:
    """``query`` with strings as ``""``, IRIs as ``<>`` and comments as spaces."""

    def blank(match: re.Match[str]) -> str:
        text = match.group()
        if text.startswith("#"):
            return " "
        return "<>" if text.startswith("<") else '""'

    return _LEXEMES.sub(blank, query)


def check_read_query(query: str) -> str:
    """Return ``query`` if it is a read query (SELECT, ASK, CONSTRUCT, DESCRIBE), else ValueError.

    After its ``PREFIX``/``BASE`` prologue (comments and whitespace ignored) the query must start
    with a query form, and no update keyword (``INSERT``, ``DELETE``, ``LOAD``, ``CLEAR``,
    ``DROP``, ``CREATE``, ``ADD``, ``MOVE``, ``COPY``) may appear as a whole word outside string
    literals and IRIs.

    >>> check_read_query('SELECT ?s WHERE { ?s ?p "DELETE me" } LIMIT 1')
    'SELECT ?s WHERE { ?s ?p "DELETE me" } LIMIT 1'
    >>> check_read_query("DROP ALL")
    Traceback (most recent call last):
    ...
    ValueError: not a read query (SELECT, ASK, CONSTRUCT or DESCRIBE); refusing 'DROP ALL'

    Raises:
        ValueError: The query is not a read query, or contains an update keyword.
    """
    if not isinstance(query, str):
        raise TypeError(f"a SPARQL query must be a str; got {type(query).__name__}")
    skeleton = _skeleton(query)
    if not _QUERY_FORM.match(skeleton):
        raise ValueError(
            f"not a read query (SELECT, ASK, CONSTRUCT or DESCRIBE); refusing {_snippet(query)!r}"
        )
    update = _UPDATE_WORD.search(skeleton)
    if update:
        raise ValueError(
            f"update keyword {update.group().upper()} in a SPARQL query; refusing "
            f"{_snippet(query)!r}"
        )
    return query


def _check_pageable(query: str) -> None:
    """ValueError unless ``query`` has ORDER BY and no LIMIT/OFFSET of its own at the end."""
    skeleton = _skeleton(query)
    if not _ORDER_BY.search(skeleton):
        raise ValueError(f"select_all needs a query with ORDER BY, for stable pages: {query!r}")
    if _TRAILING_PAGE.search(skeleton):
        raise ValueError(f"select_all appends LIMIT/OFFSET itself; remove them from: {query!r}")


def _page_query(query: str, limit: int, offset: int) -> str:
    # A newline, not a space: the query may end in a comment.
    return f"{query.rstrip()}\nLIMIT {limit} OFFSET {offset}"


def _snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """Whitespace collapsed and cut, so messages stay one readable line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- configuration (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    """Everything about an endpoint except the client, validated."""

    endpoint: str
    default_graph: str | None
    headers: Mapping[str, str]
    timeout: float
    max_retries: int
    backoff: float
    max_retry_after: float
    min_interval: float


def _make_settings(
    endpoint: str,
    *,
    default_graph: str | None,
    timeout: float,
    max_retries: int,
    backoff: float,
    max_retry_after: float,
    user_agent: str,
    headers: Mapping[str, str] | None,
    min_interval: float,
) -> _Settings:
    """Validate the constructor arguments both clients share."""
    try:
        url = httpx.URL(endpoint.strip())
    except (httpx.InvalidURL, TypeError, AttributeError) as exc:
        raise ValueError(f"endpoint {endpoint!r} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            "endpoint must be an http(s) URL with a host, like 'http://127.0.0.1:8890/sparql'; "
            f"got {endpoint!r}"
        )
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds; got {timeout!r}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0; got {max_retries!r}")
    if backoff < 0 or max_retry_after < 0 or min_interval < 0:
        raise ValueError(
            "backoff, max_retry_after and min_interval must be >= 0; "
            f"got {backoff!r}, {max_retry_after!r} and {min_interval!r}"
        )
    merged = {"Accept": _RESULTS_JSON, "User-Agent": user_agent}
    merged.update(headers or {})
    return _Settings(
        endpoint=str(url),
        default_graph=default_graph,
        headers=merged,
        timeout=float(timeout),
        max_retries=max_retries,
        backoff=float(backoff),
        max_retry_after=float(max_retry_after),
        min_interval=float(min_interval),
    )


# --- request and response (pure) --------------------------------------------------------------


def _form(query: str, settings: _Settings) -> dict[str, str]:
    """The POST form: ``query``, plus ``default-graph-uri`` when one is configured."""
    form = {"query": query}
    if settings.default_graph is not None:
        form["default-graph-uri"] = settings.default_graph
    return form


@dataclass(frozen=True, slots=True)
class _Failure:
    """One failed attempt: the error to raise, and how the server asked us to wait."""

    error: KGError
    retryable: bool
    retry_after: float | None = None
    cause: BaseException | None = None


def _retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _status_failure(response: httpx.Response, settings: _Settings, query: str) -> _Failure:
    """Classify a non-2xx answer: 429 and 502/503/504 are retried, every other status is final."""
    status = response.status_code
    detail = response.text[:_DETAIL_CHARS]
    endpoint = settings.endpoint
    reason = _snippet(detail) or "(empty body)"
    if status in (401, 403):
        message = f"SPARQL endpoint {endpoint} refused access (HTTP {status}): {reason}"
    elif status == 404:
        message = f"no SPARQL service at {endpoint} (HTTP 404): {reason}"
    elif status == 429:
        message = f"SPARQL endpoint {endpoint} rate-limited the query (HTTP 429): {reason}"
    else:
        message = f"SPARQL endpoint {endpoint} rejected the query with HTTP {status}: {reason}"
    error = KGQueryError(message, adapter=_ADAPTER, query=query, status=status, detail=detail)
    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
    return _Failure(error, retryable=status in _RETRY_STATUSES, retry_after=retry_after)


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure, such as ``connection refused``.

    Prefers the OS error underneath: the async stack wraps it as "All connection attempts failed".
    """
    text = str(exc)
    cause: BaseException | None = exc
    for _ in range(8):  # exception chains are short; the bound only guards against cycles
        if cause is None:
            break
        if isinstance(cause, OSError) and cause.errno is not None:
            text = os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror or cause)
            break
        cause = cause.__cause__ or cause.__context__
    text = _ERRNO_PREFIX.sub("", _snippet(text)) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _transport_failure(exc: httpx.RequestError, settings: _Settings, query: str) -> _Failure:
    """Translate an httpx exception into the most specific `KGError` (raised ``from exc``)."""
    endpoint = settings.endpoint
    error: KGError
    if isinstance(exc, httpx.TimeoutException):
        kind = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
        error = KGTimeout(
            f"SPARQL endpoint {endpoint} did not answer within {settings.timeout:g}s: {kind}",
            adapter=_ADAPTER,
            query=query,
        )
    elif isinstance(exc, httpx.ConnectError):
        error = KGConnectionError(
            f"cannot reach SPARQL endpoint {endpoint}: {_describe(exc)}",
            adapter=_ADAPTER,
            query=query,
        )
    elif isinstance(exc, httpx.TransportError):
        error = KGConnectionError(
            f"connection to SPARQL endpoint {endpoint} failed: {_describe(exc)}",
            adapter=_ADAPTER,
            query=query,
        )
    else:  # DecodingError, TooManyRedirects: the server answered, but not usably.
        error = KGDataError(
            f"unusable response from SPARQL endpoint {endpoint}: {_describe(exc)}",
            adapter=_ADAPTER,
            query=query,
        )
    return _Failure(error, retryable=isinstance(error, KGConnectionError), cause=exc)


def _retry_delay(failure: _Failure, retry: int, settings: _Settings) -> float | None:
    """Seconds to wait before retry number ``retry`` (0-based), or None to give up.

    Connection errors, timeouts, 429 and 502/503/504 are retried with ``backoff * 2**retry``
    seconds, or the server's Retry-After capped at ``max_retry_after``.
    """
    if not failure.retryable or retry >= settings.max_retries:
        return None
    if failure.retry_after is not None:
        return min(failure.retry_after, settings.max_retry_after)
    return settings.backoff * 2.0**retry


def _final(error: KGError, attempts: int) -> KGError:
    """The error to raise after ``attempts`` tries; notes the attempt count when it retried."""
    if attempts > 1:
        error.add_note(f"gave up after {attempts} attempts")
    return error


def _read_bindings(response: httpx.Response, settings: _Settings, query: str) -> Bindings:
    """Parse a 2xx SPARQL-JSON answer; raise `KGResultTruncated` if the server capped it.

    Raises:
        KGDataError: The body is not SPARQL-JSON.
        KGResultTruncated: ``X-SPARQL-MaxRows`` is set and the row count reached it.
    """
    endpoint = settings.endpoint
    try:
        data: object = response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "no content type")
        raise KGDataError(
            f"SPARQL endpoint {endpoint} answered HTTP {response.status_code} with a body that is "
            f"not JSON ({kind}): {_snippet(response.text) or '(empty body)'}",
            adapter=_ADAPTER,
            query=query,
        ) from exc
    try:
        bindings = parse_results(data)
    except KGDataError as exc:
        raise KGDataError(
            f"unreadable SPARQL-JSON from {endpoint}: {exc}", adapter=_ADAPTER, query=query
        ) from exc
    cap = _max_rows(response)
    if cap is not None and len(bindings.rows) >= cap:
        raise KGResultTruncated(
            f"SPARQL endpoint {endpoint} capped the result at {cap} rows ({_MAX_ROWS_HEADER}); "
            "page the query instead (select_all)",
            adapter=_ADAPTER,
            query=query,
            status=response.status_code,
            detail=f"{_MAX_ROWS_HEADER}: {cap}",
        )
    return bindings


def _max_rows(response: httpx.Response) -> int | None:
    value = response.headers.get(_MAX_ROWS_HEADER)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _pace_delay(last_start: float | None, now: float, interval: float) -> float:
    """Seconds to wait so that requests start at least ``interval`` seconds apart."""
    if interval <= 0 or last_start is None:
        return 0.0
    return max(0.0, last_start + interval - now)


def _log_retry(endpoint: str, attempt: int, error: KGError, delay: float) -> None:
    logger.warning(
        "SPARQL %s: attempt %d failed, retrying in %.2fs: %s", endpoint, attempt, delay, error
    )


class _Pager:
    """The paging state of `select_all`, without I/O: which page next, and when to stop."""

    def __init__(self, query: str, *, page_size: int, max_rows: int) -> None:
        check_read_query(query)
        _check_pageable(query)
        if page_size < 1 or max_rows < 1:
            raise ValueError(f"page_size and max_rows must be >= 1; got {page_size}, {max_rows}")
        self.query = query
        self.size = page_size
        self.max_rows = max_rows
        self.offset = 0
        self.rows: list[dict[str, Term]] = []
        self.variables: tuple[str, ...] = ()
        self.done = False
        self._asked = 0

    def next_query(self) -> str | None:
        """The next page's query, or None when every row has been read."""
        if self.done:
            return None
        # One row more than max_rows is enough to know that the cap is exceeded.
        self._asked = min(self.size, self.max_rows + 1 - len(self.rows))
        return _page_query(self.query, self._asked, self.offset)

    def truncated(self, error: KGResultTruncated) -> None:
        """The server capped the last page: halve the page size, or give up at one row."""
        if self._asked <= 1:
            raise error
        self.size = max(1, self._asked // 2)

    def add(self, page: Bindings) -> None:
        """Record one page; stop at a short page.

        Raises:
            KGResultTruncated: More than ``max_rows`` rows exist.
        """
        self.rows.extend(page.rows)
        self.variables = page.variables or self.variables
        self.offset += len(page.rows)
        if len(self.rows) > self.max_rows:
            raise KGResultTruncated(
                f"query has more than max_rows={self.max_rows} rows",
                adapter=_ADAPTER,
                query=self.query,
                detail=f"max_rows={self.max_rows}",
            )
        self.done = len(page.rows) < self._asked

    def result(self) -> Bindings:
        """Every row read."""
        return Bindings(self.rows, self.variables)


# --- clients -----------------------------------------------------------------------------------


class SPARQLEndpoint:
    """Synchronous read-only client of a SPARQL 1.1 endpoint (Virtuoso, Oxigraph, Wikidata).

    Retries connection errors, timeouts, HTTP 429 and 502/503/504 at most ``max_retries`` times
    with exponential backoff (``backoff * 2**k`` seconds, or the server's Retry-After capped at
    ``max_retry_after``); every other failure is raised at once as a typed `KGError`.

    Attributes:
        requests: HTTP requests sent so far, retries included.
        last_query: The query text of the last request (with LIMIT/OFFSET when paging).

    Example:
        >>> with SPARQLEndpoint("http://127.0.0.1:8890/sparql") as sparql:  # doctest: +SKIP
        ...     rows = sparql.select("SELECT ?s WHERE { ?s ?p ?o } LIMIT 3").rows
    """

    def __init__(
        self,
        endpoint: str,
        *,
        default_graph: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        min_interval: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the client; no request is made until the first query.

        Args:
            endpoint: The SPARQL service URL, like ``http://127.0.0.1:8890/sparql``.
            default_graph: Sent as ``default-graph-uri`` with every query.
            client: An httpx client to use; it is not closed by `close`.
            timeout: Seconds per HTTP attempt; applied per request, also to an injected client.
            max_retries: Retries after the first attempt (0 disables retrying).
            backoff: Seconds before the first retry; doubled for each further retry.
            max_retry_after: Upper bound on a server's Retry-After wait, in seconds.
            user_agent: The User-Agent header (public endpoints require a real one).
            headers: Extra headers sent with every request; they override the defaults.
            min_interval: When > 0, polite mode: one request at a time, starting at least this
                many seconds apart (for the public Wikidata endpoint).
            sleep: Called with the seconds to wait (tests inject a fake).
            clock: Monotonic seconds, for polite-mode spacing (tests inject a fake).

        Raises:
            ValueError: ``endpoint`` is not an http(s) URL with a host, or a number is out of range.
        """
        self._settings = _make_settings(
            endpoint,
            default_graph=default_graph,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            user_agent=user_agent,
            headers=headers,
            min_interval=min_interval,
        )
        self._owns_client = client is None
        self._client = httpx.Client(timeout=timeout) if client is None else client
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._last_start: float | None = None
        self.requests = 0
        self.last_query: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        """The SPARQL service URL."""
        return self._settings.endpoint

    def select(self, query: str) -> Bindings:
        """Run one read query and parse its SPARQL-JSON rows.

        Raises:
            ValueError: The query is not a read query (checked before any request).
            KGResultTruncated: The server capped the rows (``X-SPARQL-MaxRows``); use `select_all`.
            KGError: Another subclass saying what failed.
        """
        check_read_query(query)
        polite = self._settings.min_interval > 0
        with self._lock if polite else contextlib.nullcontext():
            return self._send(query)

    def select_all(
        self, query: str, *, page_size: int = 10000, max_rows: int = 1_000_000
    ) -> Bindings:
        """Every row of ``query``, read in ``LIMIT page_size OFFSET k`` pages.

        Args:
            query: A read query with ORDER BY (stable pages) and without LIMIT or OFFSET.
            page_size: Rows per page; halved when the server caps a page.
            max_rows: Most rows accepted.

        Raises:
            ValueError: The query is not a read query, has no ORDER BY, or has LIMIT/OFFSET.
            KGResultTruncated: More than ``max_rows`` rows exist.
            KGError: Another subclass saying what failed.
        """
        pager = _Pager(query, page_size=page_size, max_rows=max_rows)
        while (page_query := pager.next_query()) is not None:
            try:
                page = self.select(page_query)
            except KGResultTruncated as exc:
                pager.truncated(exc)
            else:
                pager.add(page)
        return pager.result()

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, query: str) -> Bindings:
        """POST ``query`` with bounded retries and return the parsed rows."""
        settings = self._settings
        form = _form(query, settings)
        attempt = 0
        while True:
            attempt += 1
            self._pace()
            self.requests += 1
            self.last_query = query
            try:
                response = self._client.post(
                    settings.endpoint, data=form, headers=settings.headers, timeout=settings.timeout
                )
            except httpx.RequestError as exc:
                failure = _transport_failure(exc, settings, query)
            else:
                if response.is_success:
                    return _read_bindings(response, settings, query)
                failure = _status_failure(response, settings, query)
            delay = _retry_delay(failure, attempt - 1, settings)
            if delay is None:
                raise _final(failure.error, attempt) from failure.cause
            _log_retry(settings.endpoint, attempt, failure.error, delay)
            self._sleep(delay)

    def _pace(self) -> None:
        interval = self._settings.min_interval
        if interval <= 0:
            return
        delay = _pace_delay(self._last_start, self._clock(), interval)
        if delay > 0:
            self._sleep(delay)
        self._last_start = self._clock()


class AsyncSPARQLEndpoint:
    """Asynchronous twin of `SPARQLEndpoint`: same arguments and behaviour, awaited.

    ``sleep`` is an async callable (``asyncio.sleep`` by default); ``client`` an
    ``httpx.AsyncClient``. In polite mode an ``asyncio.Lock`` keeps one request in flight.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        default_graph: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        min_interval: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the client; see `SPARQLEndpoint` for the arguments.

        Raises:
            ValueError: ``endpoint`` is not an http(s) URL with a host, or a number is out of range.
        """
        self._settings = _make_settings(
            endpoint,
            default_graph=default_graph,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_after=max_retry_after,
            user_agent=user_agent,
            headers=headers,
            min_interval=min_interval,
        )
        self._owns_client = client is None
        self._client = httpx.AsyncClient(timeout=timeout) if client is None else client
        self._sleep = sleep
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last_start: float | None = None
        self.requests = 0
        self.last_query: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        """The SPARQL service URL."""
        return self._settings.endpoint

    async def select(self, query: str) -> Bindings:
        """Run one read query; see `SPARQLEndpoint.select`.

        Raises:
            ValueError: The query is not a read query (checked before any request).
            KGResultTruncated: The server capped the rows (``X-SPARQL-MaxRows``); use `select_all`.
            KGError: Another subclass saying what failed.
        """
        check_read_query(query)
        if self._settings.min_interval > 0:
            async with self._lock:
                return await self._send(query)
        return await self._send(query)

    async def select_all(
        self, query: str, *, page_size: int = 10000, max_rows: int = 1_000_000
    ) -> Bindings:
        """Every row of ``query``, in pages; see `SPARQLEndpoint.select_all`.

        Raises:
            ValueError: The query is not a read query, has no ORDER BY, or has LIMIT/OFFSET.
            KGResultTruncated: More than ``max_rows`` rows exist.
            KGError: Another subclass saying what failed.
        """
        pager = _Pager(query, page_size=page_size, max_rows=max_rows)
        while (page_query := pager.next_query()) is not None:
            try:
                page = await self.select(page_query)
            except KGResultTruncated as exc:
                pager.truncated(exc)
            else:
                pager.add(page)
        return pager.result()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, query: str) -> Bindings:
        """POST ``query`` with bounded retries and return the parsed rows."""
        settings = self._settings
        form = _form(query, settings)
        attempt = 0
        while True:
            attempt += 1
            await self._pace()
            self.requests += 1
            self.last_query = query
            try:
                response = await self._client.post(
                    settings.endpoint, data=form, headers=settings.headers, timeout=settings.timeout
                )
            except httpx.RequestError as exc:
                failure = _transport_failure(exc, settings, query)
            else:
                if response.is_success:
                    return _read_bindings(response, settings, query)
                failure = _status_failure(response, settings, query)
            delay = _retry_delay(failure, attempt - 1, settings)
            if delay is None:
                raise _final(failure.error, attempt) from failure.cause
            _log_retry(settings.endpoint, attempt, failure.error, delay)
            await self._sleep(delay)

    async def _pace(self) -> None:
        interval = self._settings.min_interval
        if interval <= 0:
            return
        delay = _pace_delay(self._last_start, self._clock(), interval)
        if delay > 0:
            await self._sleep(delay)
        self._last_start = self._clock()
