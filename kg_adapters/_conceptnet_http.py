"""The pure half of the ConceptNet API client: response parsing, request paths, retry rules.

No I/O here: `kg_adapters.conceptnet_api.ConceptNetAPIGraph` sends the requests and calls these
functions on what comes back, so each rule is testable with a literal.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

from kg_adapters._conceptnet_uri import check_concept_id, relation_id
from kg_adapters.base import RelationId
from kg_adapters.errors import KGConnectionError, KGDataError, KGError, KGQueryError, KGTimeout
from kg_adapters.sparql_http import _Failure as Failure
from kg_adapters.sparql_http import _retry_after_seconds

__all__ = [
    "ApiEdge",
    "Failure",
    "Page",
    "concept_path",
    "parse_page",
    "query_string",
    "status_failure",
    "transport_failure",
]

ADAPTER: Final = "conceptnet-api"
_DETAIL_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class ApiEdge:
    """One edge of an API response, in ConceptNet's direction."""

    relation: RelationId
    start: str
    end: str
    weight: float
    surface_text: str | None
    dataset: str | None
    uri: str


@dataclass(frozen=True, slots=True)
class Page:
    """One page of edges; ``found`` is False when the API says the node does not exist."""

    edges: tuple[ApiEdge, ...]
    next_page: str | None
    found: bool = True


# --- response parsing (pure) -------------------------------------------------------------------


def _node_id(value: object) -> str | None:
    """A node's URI: the API gives ``{"@id": ...}`` objects; flattened dumps give strings."""
    if isinstance(value, dict):
        value = value.get("@id")
    return value if isinstance(value, str) and value else None


def parse_page(data: object) -> Page:
    """Read one API response: its edges and ``view.nextPage``.

    Relations given by short name (``RelatedTo``, as in flattened exports) get the ``/r/``
    prefix. An ``error`` object with status 404 (the API's "not a node" answer, sent with HTTP
    200) is an empty page with ``found=False``.

    Raises:
        KGDataError: The response is not an API answer (no ``edges`` list, malformed edge), or
            carries another error.
    """
    if not isinstance(data, dict):
        raise KGDataError("the answer is not a JSON object", adapter=ADAPTER)
    error = data.get("error")
    if isinstance(error, dict):
        if error.get("status") == 404:
            return Page((), None, found=False)
        raise KGQueryError(
            f"the API answered with an error: {error.get('details', error)}",
            adapter=ADAPTER,
            status=error.get("status") if isinstance(error.get("status"), int) else None,
            detail=str(error)[:_DETAIL_CHARS],
        )
    raw_edges = data.get("edges")
    if not isinstance(raw_edges, list):
        raise KGDataError("the answer has no 'edges' list", adapter=ADAPTER)
    edges = tuple(_parse_edge(item) for item in raw_edges)
    view = data.get("view")
    next_page = view.get("nextPage") if isinstance(view, dict) else None
    return Page(edges, next_page if isinstance(next_page, str) and next_page else None)


def _parse_edge(item: object) -> ApiEdge:
    if not isinstance(item, dict):
        raise KGDataError(f"an edge is not an object: {str(item)[:80]!r}", adapter=ADAPTER)
    rel = item.get("rel")
    rel_name = rel.get("@id") if isinstance(rel, dict) else rel
    start, end = _node_id(item.get("start")), _node_id(item.get("end"))
    if not isinstance(rel_name, str) or not rel_name or start is None or end is None:
        raise KGDataError(
            f"an edge lacks rel, start or end: {str(item)[:_DETAIL_CHARS]!r}", adapter=ADAPTER
        )
    weight = item.get("weight", 1.0)
    surface = item.get("surfaceText")
    dataset = item.get("dataset")
    uri = item.get("@id", item.get("uri"))
    relation = relation_id(rel_name)
    return ApiEdge(
        relation=relation,
        start=start,
        end=end,
        weight=float(weight) if isinstance(weight, int | float) else 1.0,
        surface_text=surface if isinstance(surface, str) and surface else None,
        dataset=dataset if isinstance(dataset, str) else None,
        uri=uri if isinstance(uri, str) else f"/a/[{relation}/,{start}/,{end}/]",
    )


def concept_path(uri: str) -> str:
    """The request path of a concept: each segment percent-encoded (checked first).

    >>> concept_path("/c/fr/été")
    '/c/fr/%C3%A9t%C3%A9'

    Raises:
        ValueError: ``uri`` is not a well-formed concept URI.
    """
    check_concept_id(uri)
    return "/" + "/".join(urllib.parse.quote(part, safe="") for part in uri[1:].split("/"))


def query_string(params: Mapping[str, str | int]) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="/")


# --- retries (pure) ----------------------------------------------------------------------------


def _unreachable(base: str, reason: str) -> str:
    return (
        f"ConceptNet API at {base} is unreachable: {reason}. The public service is often down; "
        "ConceptNetGraph.from_dump(<assertions dump>) works offline"
    )


def status_failure(response: httpx.Response, base: str, url: str) -> Failure:
    status = response.status_code
    detail = " ".join(response.text[:_DETAIL_CHARS].split())
    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429:
        error: KGError = KGQueryError(
            f"ConceptNet API at {base} rate-limited the request (HTTP 429): {detail}",
            adapter=ADAPTER,
            query=url,
            status=status,
            detail=detail,
        )
        return Failure(error, retryable=True, retry_after=retry_after)
    if status >= 500:
        error = KGConnectionError(
            _unreachable(base, f"HTTP {status} {detail}".strip()), adapter=ADAPTER, query=url
        )
        return Failure(error, retryable=True, retry_after=retry_after)
    error = KGQueryError(
        f"ConceptNet API at {base} rejected GET {url} with HTTP {status}: {detail}",
        adapter=ADAPTER,
        query=url,
        status=status,
        detail=detail,
    )
    return Failure(error, retryable=False)


def transport_failure(exc: httpx.RequestError, base: str, url: str, timeout: float) -> Failure:
    error: KGError
    if isinstance(exc, httpx.TimeoutException):
        error = KGTimeout(
            _unreachable(base, f"no answer within {timeout:g}s"), adapter=ADAPTER, query=url
        )
    elif isinstance(exc, httpx.TransportError):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        error = KGConnectionError(_unreachable(base, reason), adapter=ADAPTER, query=url)
    else:  # DecodingError, TooManyRedirects: the server answered, but not usably
        error = KGDataError(f"unusable answer from {base}: {exc}", adapter=ADAPTER, query=url)
    return Failure(error, retryable=isinstance(error, KGConnectionError), cause=exc)
