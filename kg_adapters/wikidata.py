"""`WikidataGraph`: Wikidata over SPARQL (a local copy, or the public endpoint, politely)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit

import httpx

from kg_adapters.base import EntityMatch
from kg_adapters.errors import KGConnectionError, KGDataError, KGError, KGQueryError, KGTimeout
from kg_adapters.sparql import WIKIDATA, SPARQLGraph, _printable
from kg_adapters.sparql_http import (
    DEFAULT_USER_AGENT,
    SPARQLEndpoint,
    _retry_after_seconds,
    _snippet,
)

__all__ = ["DEFAULT_API_URL", "PUBLIC_HOSTS", "SCHEMA_DESCRIPTION", "WikidataGraph"]

logger = logging.getLogger(__name__)

PUBLIC_HOSTS = frozenset({"query.wikidata.org"})
DEFAULT_API_URL: Final = "https://www.wikidata.org/w/api.php"
"""The Wikibase API of public Wikidata (``wbsearchentities``)."""
SCHEMA_DESCRIPTION: Final = "http://schema.org/description"

_ADAPTER: Final = "wikidata"
_API_MAX_LIMIT: Final = 50  # wbsearchentities refuses more for anonymous clients
_API_BACKOFF: Final = 0.5
_API_MAX_RETRY_AFTER: Final = 30.0
_API_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})


class WikidataGraph(SPARQLGraph):
    """Wikidata: ``Q`` ids, truthy ``wdt:P…`` relations, labels in a chosen language.

    Relations are filtered by property type (external identifiers, URLs and media are dropped)
    and by meta labels ("Wikimedia …", "Commons category", "image"); "country", "country of
    citizenship", "inception" and "instance of" are kept. Property labels come from the property
    entities (``wd:P57 rdfs:label "director"``). Against the public endpoint the graph is polite:
    one request at a time, at most one per second, and 429 ``Retry-After`` is honoured.

    Entity search against public Wikidata uses the Wikibase search API (``wbsearchentities``),
    which ranks labels and aliases by prefix and popularity the way the Wikidata search box
    does; a plain SPARQL label match there would be slow and exact only. Any other endpoint
    (a local copy) is searched with SPARQL on labels and aliases, exact up to case.

    Args:
        endpoint: The SPARQL URL of a local copy, or ``https://query.wikidata.org/sparql``.
        language: Preferred label language (fallback: untagged, then any).
        client: An httpx client to reuse; the graph owns one it creates.
        timeout: Seconds per query (and per search API request).
        max_retries: Retries on connection errors, timeouts, 429 and 5xx (SPARQL and API).
        min_interval: Seconds between requests; default 1.0 for the public endpoint, else 0.
        headers: Extra HTTP headers (a ``User-Agent`` here is also sent to the search API).
        batch_size: Ids per ``VALUES`` block.
        neighbor_limit: Neighbours per hop when the caller gives no limit.
        search_api: Whether `search_entities` asks the Wikibase search API: ``None`` (default)
            only when ``endpoint`` is the public ``query.wikidata.org``; ``True`` or ``False``
            force it on or off (``False`` keeps the SPARQL label/alias search everywhere).
        api_url: The Wikibase ``api.php`` URL used when ``search_api`` is on.
        api_client: An httpx client for the search API (not closed by `close`); by default
            the SPARQL client is reused.
        sleep: Called with the seconds to wait between retries and polite requests (tests
            inject a fake).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        language: str = "en",
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        min_interval: float | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        neighbor_limit: int = 200,
        search_api: bool | None = None,
        api_url: str = DEFAULT_API_URL,
        api_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        api = urlsplit(api_url)
        if api.scheme not in ("http", "https") or not api.hostname:
            raise ValueError(f"api_url must be an http(s) URL with a host; got {api_url!r}")
        public = urlsplit(endpoint).hostname in PUBLIC_HOSTS
        interval = (1.0 if public else 0.0) if min_interval is None else min_interval
        # One User-Agent for SPARQL and the search API, whatever the case of the header name.
        extra = dict(headers or {})
        user_agent = DEFAULT_USER_AGENT
        for key in [k for k in extra if k.lower() == "user-agent"]:
            user_agent = extra.pop(key)
        # The graph owns the client it creates, so the search API can share its connections.
        shared = client if client is not None else httpx.Client(timeout=timeout)
        self._owned_client = shared if client is None else None
        try:
            self.endpoint = SPARQLEndpoint(
                endpoint,
                client=shared,
                timeout=timeout,
                max_retries=max_retries,
                user_agent=user_agent,
                headers=extra,
                min_interval=interval,
                sleep=sleep,
            )
            super().__init__(
                self.endpoint,
                WIKIDATA,
                batch_size=batch_size,
                neighbor_limit=neighbor_limit,
                language=language,
            )
        except BaseException:
            self.close()
            raise
        self.search_api: bool = public if search_api is None else bool(search_api)
        self.api_url = api_url
        self._api_client = api_client if api_client is not None else shared
        self._api_timeout = float(timeout)
        self._api_retries = max_retries
        self._sleep = sleep
        self._api_headers = {"Accept": "application/json", "User-Agent": user_agent}

    # --- descriptions -----------------------------------------------------------------------

    def descriptions(self, ids: Sequence[str]) -> Mapping[str, str]:
        """``schema:description`` of entity (or property) ids, in the preferred language.

        Batched like `labels`, with the same language fallback; invalid ids are never sent, ids
        without a description are absent.
        """
        return self.text_values(ids, (SCHEMA_DESCRIPTION,))

    # --- entity search ----------------------------------------------------------------------

    def search_entities(self, text: str, *, limit: int = 10) -> list[EntityMatch]:
        """Entities for a mention: the Wikibase search API when `search_api`, else SPARQL.

        From the API, matches keep the API's order; ``exact`` means the matched label or alias
        equals ``text`` up to case (score 1.0), other matches score 0.9, 0.8, … (at least 0.1).
        Ids that are not Wikidata item ids are dropped.

        Raises:
            KGConnectionError: The API could not be reached (`KGTimeout` when it did not answer).
            KGQueryError: The API answered an HTTP error or an ``error`` object.
            KGDataError: The API answered something that is not a search result.
        """
        if not self.search_api:
            return super().search_entities(text, limit=limit)
        text = _printable(text).strip()
        if not text or limit <= 0:
            return []
        data = self._api_get(
            {
                "action": "wbsearchentities",
                "search": text,
                "language": self._api_language(),
                "uselang": self._api_language(),
                "type": "item",
                "limit": str(min(limit, _API_MAX_LIMIT)),
                "format": "json",
            },
            text,
        )
        return self._api_matches(data, text)[:limit]

    def _api_language(self) -> str:
        return next((lang for lang in self.languages if lang), "en")

    def _api_matches(self, data: object, text: str) -> list[EntityMatch]:
        if not isinstance(data, Mapping):
            raise self._api_data_error("the answer is not a JSON object", text)
        error = data.get("error")
        if error is not None:
            code = info = ""
            if isinstance(error, Mapping):
                code, info = str(error.get("code", "")), str(error.get("info", ""))
            raise KGQueryError(
                f"Wikidata search API {self.api_url} refused the search: "
                f"{_snippet(f'{code}: {info}' if code else info or str(error))}",
                adapter=_ADAPTER,
                query=text,
                detail=str(error)[:500],
            )
        items = data.get("search")
        if not isinstance(items, list):
            raise self._api_data_error("the answer has no 'search' list", text)
        pattern = self.profile.entity_id
        wanted = text.casefold()
        matches: list[EntityMatch] = []
        seen: set[str] = set()
        fuzzy = 0
        for item in items:
            if not isinstance(item, Mapping):
                continue
            ident = item.get("id")
            if (
                not isinstance(ident, str)
                or pattern is None
                or not pattern.fullmatch(ident)
                or ident in seen
            ):
                continue
            seen.add(ident)
            match = item.get("match")
            matched = match.get("text") if isinstance(match, Mapping) else None
            label = item.get("label")
            if not isinstance(label, str) or not label:
                label = matched if isinstance(matched, str) and matched else ident
            exact = isinstance(matched, str) and matched.casefold() == wanted
            if exact:
                score = 1.0
            else:
                score = max(round(0.9 - 0.1 * fuzzy, 2), 0.1)
                fuzzy += 1
            matches.append(EntityMatch(ident, label, score, exact=exact))
        return matches

    def _api_get(self, params: Mapping[str, str], text: str) -> object:
        """GET the API with bounded retries (429 Retry-After honoured); the parsed JSON."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            error: KGError
            try:
                response = self._api_client.get(
                    self.api_url,
                    params=dict(params),
                    headers=self._api_headers,
                    timeout=self._api_timeout,
                )
            except httpx.TimeoutException as exc:
                error = KGTimeout(
                    f"Wikidata search API {self.api_url} did not answer within "
                    f"{self._api_timeout:g}s",
                    adapter=_ADAPTER,
                    query=text,
                )
                cause: BaseException | None = exc
                retryable = True
            except httpx.RequestError as exc:
                error = KGConnectionError(
                    f"cannot reach Wikidata search API {self.api_url}: "
                    f"{_snippet(str(exc)) or type(exc).__name__}",
                    adapter=_ADAPTER,
                    query=text,
                )
                cause = exc
                retryable = True
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as exc:
                        kind = response.headers.get("Content-Type", "no content type")
                        raise self._api_data_error(
                            f"HTTP {response.status_code} with a body that is not JSON ({kind}): "
                            f"{_snippet(response.text) or '(empty body)'}",
                            text,
                        ) from exc
                status = response.status_code
                error = KGQueryError(
                    f"Wikidata search API {self.api_url} answered HTTP {status}: "
                    f"{_snippet(response.text) or '(empty body)'}",
                    adapter=_ADAPTER,
                    query=text,
                    status=status,
                    detail=response.text[:500],
                )
                cause = None
                retryable = status in _API_RETRY_STATUSES
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if not retryable or attempt > self._api_retries:
                if attempt > 1:
                    error.add_note(f"gave up after {attempt} attempts")
                raise error from cause
            delay = (
                min(retry_after, _API_MAX_RETRY_AFTER)
                if retry_after is not None
                else _API_BACKOFF * 2.0 ** (attempt - 1)
            )
            logger.warning(
                "Wikidata search API: attempt %d failed, retrying in %.2fs: %s",
                attempt,
                delay,
                error,
            )
            self._sleep(delay)

    def _api_data_error(self, reason: str, text: str) -> KGDataError:
        return KGDataError(
            f"unreadable answer from Wikidata search API {self.api_url}: {reason}",
            adapter=_ADAPTER,
            query=text,
        )

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client (if this graph created it)."""
        if self._owned_client is not None:
            self._owned_client.close()
