"""A local stand-in for the ConceptNet web API, and ConceptNet-format test data writers.

`ConceptNetAPIServer` serves API-format JSON (``GET /c/<lang>/<term>...`` and ``GET /query``) from
a list of edge records on a free 127.0.0.1 port, with ConceptNet's semantics: URI-prefix matching
by whole segments (``/c/en/test`` also matches ``/c/en/test/n/...``), edges sorted by weight,
``limit``/``offset`` paging announced by ``view.nextPage``, and an unknown node answered by an
``error`` object with status 404 under HTTP 200. Knobs inject 5xx/429 answers or take it "down".
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

JSONEdge = dict[str, Any]


# --- data ----------------------------------------------------------------------------------------


def assertion_ends(uri: str) -> tuple[str, str, str] | None:
    """``(rel, start, end)`` of an assertion URI ``/a/[/r/R/,/c/../,/c/../]``, or None."""
    if not (uri.startswith("/a/[") and uri.endswith("]")):
        return None
    parts = uri[4:-1].split("/,")
    if len(parts) != 3:
        return None
    rel, start, end = (part.removesuffix("/") for part in parts)
    return rel, start, end


def _node(uri: str) -> dict[str, Any]:
    if not uri.startswith("/c/"):
        return {"@id": uri, "@type": "Node", "site": uri.split("/")[2] if "//" in uri else ""}
    parts = uri.split("/")
    node = {
        "@id": uri,
        "@type": "Node",
        "label": parts[3].replace("_", " "),
        "language": parts[2],
        "term": "/".join(parts[:4]),
    }
    if len(parts) > 4:
        node["sense_label"] = "/".join(parts[4:])
    return node


def api_edge(record: Mapping[str, Any]) -> JSONEdge:
    """An edge as the API serves it, from an API edge or a flattened record (``cn_data_ug``).

    Flattened records hold POS-free ``start``/``end`` strings and short relation names; the full
    (sense-tagged) ends are read back from the assertion URI, as the API would give them.
    """
    uri = record.get("@id") or record.get("uri")
    rel = record["rel"]
    rel_id = rel["@id"] if isinstance(rel, dict) else rel
    rel_id = rel_id if rel_id.startswith("/r/") else "/r/" + rel_id
    start = record["start"]["@id"] if isinstance(record["start"], dict) else record["start"]
    end = record["end"]["@id"] if isinstance(record["end"], dict) else record["end"]
    parsed = assertion_ends(uri) if isinstance(uri, str) else None
    if parsed is not None and parsed[0] == rel_id:
        _, start, end = parsed
    if not isinstance(uri, str):
        uri = f"/a/[{rel_id}/,{start}/,{end}/]"
    return {
        "@id": uri,
        "@type": "Edge",
        "rel": {"@id": rel_id, "@type": "Relation", "label": rel_id.removeprefix("/r/")},
        "start": _node(start),
        "end": _node(end),
        "dataset": record.get("dataset", "/d/test"),
        "license": record.get("license", "cc:by/4.0"),
        "sources": record.get("sources", []),
        "surfaceText": record.get("surfaceText"),
        "weight": float(record.get("weight", 1.0)),
    }


def dump_line(rel: str, start: str, end: str, **info: Any) -> str:
    """One line of the assertions dump (5 tab-separated columns, JSON keys sorted)."""
    info.setdefault("dataset", "/d/test")
    info.setdefault("license", "cc:by/4.0")
    info.setdefault("sources", [{"contributor": "/s/contributor/test"}])
    info.setdefault("weight", 1.0)
    payload = json.dumps(info, ensure_ascii=False, sort_keys=True)
    return f"/a/[{rel}/,{start}/,{end}/]\t{rel}\t{start}\t{end}\t{payload}"


def concept(name: str, language: str = "en") -> str:
    """A plain name as a concept URI, case kept: ``Kate Winslet`` -> ``/c/en/Kate_Winslet``."""
    return f"/c/{language}/{name.replace(' ', '_')}"


def tiny_kg_edges(rows: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str, float, str]]:
    """tiny_kg's ``(head, relation, tail)`` rows as ConceptNet edges with weights and surfaces."""
    return [
        (
            f"/r/{relation}",
            concept(head),
            concept(tail),
            1.0 + number % 3,
            f"[[{head}]] {relation.replace('_', ' ')} [[{tail}]]",
        )
        for number, (head, relation, tail) in enumerate(rows)
    ]


def write_dump(edges: Iterable[tuple[str, str, str, float, str]], path: Path) -> Path:
    """Write ``(rel, start, end, weight, surfaceText)`` edges as an assertions dump."""
    lines = [
        dump_line(rel, start, end, weight=weight, surfaceText=surface)
        for rel, start, end, weight, surface in edges
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def api_records(edges: Iterable[tuple[str, str, str, float, str]]) -> list[JSONEdge]:
    """The same edges as API records."""
    return [
        api_edge({"rel": rel, "start": start, "end": end, "weight": weight, "surfaceText": surface})
        for rel, start, end, weight, surface in edges
    ]


# --- the server ---------------------------------------------------------------------------------


def _matches(uri: str, prefix: str, fold: bool) -> bool:
    if fold:
        uri, prefix = uri.casefold(), prefix.casefold()
    return uri == prefix or uri.startswith(prefix + "/")


class ConceptNetAPIServer:
    """Serve ConceptNet API JSON for ``edges`` on ``127.0.0.1:<free port>`` from a thread.

    Args:
        edges: Records in API form or flattened (``cn_data_ug.json``); duplicates by URI count
            once.
        fold_case: Match node paths ignoring case. Real ConceptNet terms are all lower case; the
            tiny_kg fixture keeps names' case in its ids, and folding lets a standardised
            (lower-case) term lookup find them, as an index of that data would.
    """

    def __init__(self, edges: Iterable[Mapping[str, Any]], *, fold_case: bool = False) -> None:
        unique: dict[str, JSONEdge] = {}
        for record in edges:
            edge = api_edge(record)
            unique.setdefault(edge["@id"], edge)
        # The API ranks by weight; the URI breaks ties so pages are stable.
        self.edges = sorted(unique.values(), key=lambda e: (-e["weight"], e["@id"]))
        self.fold_case = fold_case
        self.requests: list[str] = []  # request targets, percent-decoded
        self.raw_requests: list[str] = []  # as received
        self.faults: deque[tuple[int, str | None]] = deque()
        self.down = False
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with HTTP ``status``."""
        with self._lock:
            self.faults.extend([(status, retry_after)] * times)

    def start(self) -> Self:
        self._server = _HTTPServer(("127.0.0.1", 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling --------------------------------------------------------------------

    def answer(self, raw_path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        """``(status, payload, headers)`` for a GET of ``raw_path``."""
        with self._lock:
            self.requests.append(urllib.parse.unquote(raw_path))
            self.raw_requests.append(raw_path)
            fault = self.faults.popleft() if self.faults else None
        if self.down:
            fault = (503, None)
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return status, {"error": {"status": status, "details": "injected"}}, headers
        split = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(split.path)
        params = dict(urllib.parse.parse_qsl(split.query))
        limit = max(0, min(1000, _int(params.get("limit"), 20)))
        offset = max(0, _int(params.get("offset"), 0))
        if path.startswith("/c/"):
            node = path.rstrip("/")
            found = [
                e
                for e in self.edges
                if _matches(e["start"]["@id"], node, self.fold_case)
                or _matches(e["end"]["@id"], node, self.fold_case)
            ]
            payload = _paginated(node, [], found, offset, limit)
            if not found:
                payload["error"] = {"status": 404, "details": f"{node!r} is not a node"}
            return 200, payload, {}
        if path == "/query":
            limit = max(0, min(1000, _int(params.get("limit"), 50)))
            found = [e for e in self.edges if self._query_match(e, params)]
            query = sorted((k, v) for k, v in params.items() if k not in ("limit", "offset"))
            return 200, _paginated("/query", query, found, offset, limit), {}
        return 404, {"error": {"status": 404, "details": f"{path!r} isn't a URL we understand"}}, {}

    def _query_match(self, edge: JSONEdge, params: Mapping[str, str]) -> bool:
        fold = self.fold_case
        start, end, rel = edge["start"]["@id"], edge["end"]["@id"], edge["rel"]["@id"]
        if "rel" in params and not _matches(rel, params["rel"], False):
            return False
        if "start" in params and not _matches(start, params["start"], fold):
            return False
        if "end" in params and not _matches(end, params["end"], fold):
            return False
        if "node" in params:
            node = params["node"]
            forward = _matches(start, node, fold) and (
                "other" not in params or _matches(end, params["other"], fold)
            )
            backward = _matches(end, node, fold) and (
                "other" not in params or _matches(start, params["other"], fold)
            )
            return forward or backward
        return True


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _page_url(base: str, params: Sequence[tuple[str, str]], offset: int, limit: int) -> str:
    # Like ConceptNet's make_query_url: the values are written as they are, unencoded.
    items = [*params, ("offset", str(offset)), ("limit", str(limit))]
    return base + "?" + "&".join(f"{k}={v}" for k, v in items)


def _paginated(
    base: str, params: Sequence[tuple[str, str]], found: list[JSONEdge], offset: int, limit: int
) -> dict[str, Any]:
    page = found[offset : offset + limit]
    payload: dict[str, Any] = {
        "@context": ["http://api.conceptnet.io/ld/conceptnet5.7/context.ld.json"],
        "@id": base,
        "edges": page,
        "version": "5.8.1",
    }
    more = len(found) > offset + limit
    if more or offset:
        view = {
            "@id": _page_url(base, params, offset, limit),
            "firstPage": _page_url(base, params, 0, limit),
            "paginatedProperty": "edges",
        }
        if offset:
            view["previousPage"] = _page_url(base, params, max(0, offset - limit), limit)
        if more:
            view["nextPage"] = _page_url(base, params, offset + limit, limit)
        payload["view"] = view
    return payload


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ConceptNetAPIServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's getfqdn() DNS lookup: the bound address is all we need.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm meets the
        # client's delayed ACK and every request waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the per-request log lines out of the test output."""

    def do_GET(self) -> None:
        status, payload, headers = self.server.owner.answer(self.path)
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
