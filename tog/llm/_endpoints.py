"""Where the next attempt goes when one client serves several data-parallel endpoints (internal).

`EndpointPool` keeps score: requests in flight per endpoint, consecutive failures, and until when
a failed endpoint is skipped. A `Plan` makes the retry and failover decisions of one logical
request. Neither does I/O: `tog.llm.openai_compat` sends the requests and reports each outcome.
A single lock guards the pool and is never held across I/O, so one pool serves threads and
asyncio tasks alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tog.errors import LLMConnectionError, LLMError, LLMStatusError

__all__ = ["Endpoint", "EndpointPool", "EndpointStatus", "Outcome", "Plan", "is_failover"]

logger = logging.getLogger(__name__)

Outcome = Literal["ok", "failed"]


@dataclass(frozen=True, slots=True)
class EndpointStatus:
    """A snapshot of one endpoint.

    Attributes:
        base_url: The endpoint's API root.
        in_flight: Requests sent to it and not yet answered.
        failures: Consecutive failed attempts (connection error, timeout, 5xx); 0 when healthy.
        cooldown: Seconds left before it is tried again; 0 when it takes requests.
    """

    base_url: str
    in_flight: int
    failures: int
    cooldown: float


@dataclass(slots=True, eq=False)
class Endpoint:
    """One endpoint's mutable state; changed only under the pool's lock."""

    base_url: str
    position: int
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0


class EndpointPool:
    """Least-in-flight balancing with round-robin ties and an exponential, capped cooldown.

    A failed endpoint is skipped for ``cooldown * 2**(failures - 1)`` seconds (at most
    ``max_cooldown``). When that has passed it is half-open: it gets one probe request at a time
    until an answer resets it. When every endpoint is cooling down, the one due back first is
    probed anyway; the caller's retry policy bounds how often that happens.
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        cooldown: float,
        max_cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Track ``base_urls`` (distinct, in order), all healthy.

        Raises:
            ValueError: no URL, a repeated URL, or a negative cooldown.
        """
        if not base_urls:
            raise ValueError("base_url must name at least one endpoint")
        repeated = sorted({url for url in base_urls if list(base_urls).count(url) > 1})
        if repeated:
            raise ValueError(f"base_url lists the endpoint {repeated[0]!r} more than once")
        if cooldown < 0 or max_cooldown < cooldown:
            raise ValueError(
                f"need 0 <= cooldown <= max_cooldown; got {cooldown!r} and {max_cooldown!r}"
            )
        self.endpoints = tuple(Endpoint(url, k) for k, url in enumerate(base_urls))
        self._cooldown = float(cooldown)
        self._max_cooldown = float(max_cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    def acquire(
        self, skip: Collection[Endpoint] = (), *, only: Endpoint | None = None
    ) -> Endpoint | None:
        """Choose the endpoint for the next attempt and count it in flight.

        Args:
            skip: Endpoints that already failed this round; never chosen.
            only: Pin the choice to this endpoint (model discovery asks each one).

        Returns:
            The endpoint, or None when every endpoint not in ``skip`` is cooling down and
            ``skip`` is not empty: the round is over and the retry policy decides.
        """
        with self._lock:
            now = self._clock()
            if only is not None:
                chosen = None if only in skip else only
            else:
                chosen = self._choose(skip, now)
            if chosen is not None:
                chosen.in_flight += 1
            return chosen

    def release(self, endpoint: Endpoint, outcome: Outcome | None) -> float:
        """Count ``endpoint``'s attempt as over; returns the cooldown it now has (seconds).

        ``"ok"`` means the endpoint answered (any status but 5xx) and resets it; ``"failed"``
        (connection error, timeout, 5xx) starts or lengthens its cooldown; None (the attempt was
        cancelled) leaves its health as it was.
        """
        with self._lock:
            endpoint.in_flight -= 1
            if outcome is None:
                return max(0.0, endpoint.down_until - self._clock()) if endpoint.failures else 0.0
            if outcome == "ok":
                endpoint.failures = 0
                endpoint.down_until = 0.0
                return 0.0
            endpoint.failures += 1
            pause = min(self._cooldown * 2.0 ** (endpoint.failures - 1), self._max_cooldown)
            endpoint.down_until = self._clock() + pause
            return pause

    def status(self) -> list[EndpointStatus]:
        """A snapshot of every endpoint, in the order given."""
        with self._lock:
            now = self._clock()
            return [
                EndpointStatus(
                    e.base_url,
                    e.in_flight,
                    e.failures,
                    max(0.0, e.down_until - now) if e.failures else 0.0,
                )
                for e in self.endpoints
            ]

    def _choose(self, skip: Collection[Endpoint], now: float) -> Endpoint | None:
        ready = [e for e in self.endpoints if e not in skip and self._is_ready(e, now)]
        if not ready:
            if skip:
                return None
            # Every endpoint is cooling down: probe the one due back first.
            return min(self.endpoints, key=lambda e: (e.down_until, e.position))
        fewest = min(e.in_flight for e in ready)
        size = len(self.endpoints)
        chosen = min(
            (e for e in ready if e.in_flight == fewest),
            key=lambda e: (e.position - self._next) % size,
        )
        self._next = (chosen.position + 1) % size
        return chosen

    @staticmethod
    def _is_ready(endpoint: Endpoint, now: float) -> bool:
        """Healthy, or half-open: cooled down and not already serving its probe."""
        if endpoint.failures == 0:
            return True
        return now >= endpoint.down_until and endpoint.in_flight == 0


# --- one logical request ----------------------------------------------------------------------


def is_failover(error: LLMError) -> bool:
    """Whether ``error`` says the endpoint is unwell (unreachable, timed out, 5xx).

    Such an endpoint is skipped for a cooldown and the attempt moves to another one; any other
    error is the request's own and goes to the retry policy (429) or is raised (4xx).
    """
    if isinstance(error, LLMStatusError):
        return error.status_code >= 500
    return isinstance(error, LLMConnectionError)


def describe_endpoints(pool: EndpointPool, tried: Mapping[str, str]) -> str:
    """``tried A (connection refused), B (HTTP 503); cooling down, not tried: C``."""
    parts = [f"tried {', '.join(f'{url} ({why})' for url, why in tried.items())}"]
    untried = [e.base_url for e in pool.endpoints if e.base_url not in tried]
    if untried:
        parts.append(f"cooling down, not tried: {', '.join(untried)}")
    return "; ".join(parts)


@dataclass(slots=True)
class Plan:
    """The retry and failover decisions of one logical request.

    An attempt failing with a connection error, timeout or 5xx marks its endpoint down and moves
    to another endpoint at once. When none is left this round (or the error was a 429), the
    bounded retry policy decides whether to wait and start a new round or to give up.

    Attributes:
        pool: The endpoints.
        retry_delay: ``(error, retry number) -> seconds``, or None to give up on that error.
        max_retries: Rounds after the first.
        label: What is being sent, for log lines (``"POST chat/completions"``).
        only: Pin every attempt to this endpoint (model discovery asks each one).
    """

    pool: EndpointPool
    retry_delay: Callable[[LLMError, int], float | None]
    max_retries: int
    label: str
    only: Endpoint | None = None
    attempts: int = 0
    retries: int = 0
    skip: set[Endpoint] = field(default_factory=set)
    tried: dict[str, str] = field(default_factory=dict)
    error: LLMError | None = None
    cause: BaseException | None = None
    round_over: bool = False

    def next(self) -> Endpoint | float:
        """The endpoint to try now, or seconds to wait before asking again.

        Raises:
            LLMError: the last attempt's error, when the retry policy gives up.
        """
        endpoint = None if self.round_over else self.pool.acquire(self.skip, only=self.only)
        if endpoint is not None:
            self.attempts += 1
            return endpoint
        error = self.error
        assert error is not None  # the first round always yields an endpoint
        delay = self.retry_delay(error, self.retries) if self.retries < self.max_retries else None
        if delay is None:
            raise self._final(error) from self.cause
        logger.warning(
            "%s: attempt %d failed, retrying in %.2fs: %s", self.label, self.attempts, delay, error
        )
        self.retries += 1
        self.skip.clear()
        self.round_over = False
        return delay

    def succeeded(self, endpoint: Endpoint) -> None:
        """The attempt at ``endpoint`` got a 2xx answer."""
        self.pool.release(endpoint, "ok")

    def failed(
        self, endpoint: Endpoint, error: LLMError, reason: str, cause: BaseException | None = None
    ) -> None:
        """The attempt at ``endpoint`` failed with ``error`` (``reason``: a few words on why)."""
        self.error, self.cause = error, cause
        self.tried[endpoint.base_url] = reason
        if not is_failover(error):
            self.pool.release(endpoint, "ok")  # it answered: alive, the request is at fault
            self.round_over = True
            return
        pause = self.pool.release(endpoint, "failed")
        self.skip.add(endpoint)
        if len(self.pool) > 1:
            logger.warning(
                "%s at %s failed, skipping that endpoint for %.1fs: %s",
                self.label,
                endpoint.base_url,
                pause,
                error,
            )

    def abandoned(self, endpoint: Endpoint) -> None:
        """The attempt at ``endpoint`` was interrupted (cancelled); its outcome is unknown."""
        self.pool.release(endpoint, None)

    def _final(self, error: LLMError) -> LLMError:
        if self.attempts > 1:
            error.add_note(f"gave up after {self.attempts} attempts")
        if len(self.pool) > 1 and self.only is None and is_failover(error):
            # str(error) is what traces and the CLI show: name every endpoint there.
            error.args = (f"{error} [{describe_endpoints(self.pool, self.tried)}]",)
        return error
