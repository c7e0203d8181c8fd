"""Errors raised by knowledge-graph adapters.

```
KGError                 .adapter, .query
├── KGConnectionError   the store could not be reached (refused, handshake, DNS)
│   └── KGTimeout       the store did not answer in time
├── KGQueryError        .status, .detail: the store rejected the query
│   └── KGResultTruncated   the store silently capped the rows
├── KGDataError         the store answered something we cannot read
└── KGLoadError         a KG file could not be read (missing, unknown format, malformed)
```

Absence is never an error: an unknown entity has no relations, a missing label is a missing key.
"""

from __future__ import annotations


class KGError(Exception):
    """Base class of every adapter failure; carries the adapter name and the query, if any."""

    def __init__(self, message: str, *, adapter: str = "", query: str | None = None) -> None:
        super().__init__(message)
        self.adapter = adapter
        self.query = query


class KGConnectionError(KGError):
    """The store could not be reached."""


class KGTimeout(KGConnectionError):
    """The store did not answer within the timeout."""


class KGQueryError(KGError):
    """The store rejected the query (syntax, permissions, resource limits)."""

    def __init__(
        self,
        message: str,
        *,
        adapter: str = "",
        query: str | None = None,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message, adapter=adapter, query=query)
        self.status = status
        self.detail = detail


class KGResultTruncated(KGQueryError):
    """The store returned fewer rows than exist because of a server-side row cap."""


class KGDataError(KGError):
    """The store's answer could not be parsed."""


class KGLoadError(KGError):
    """A knowledge-graph file could not be loaded: missing, unknown format or malformed."""
