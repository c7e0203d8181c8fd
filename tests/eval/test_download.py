"""eval.download against a stdlib HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from eval.datasets import DATASETS, DatasetError, load_questions, resolve_kb
from eval.download import DownloadError, download
from tests.shared_data import DATA, require

CWQ = [
    {"ID": "a", "question": "Who?", "answer": "Ann", "topic_entity": {"m.1": "One"}},
    {"ID": "b", "question": "What?", "answer": "Bob", "topic_entity": {}},
]
CWQ_BYTES = repr(CWQ).replace("'", '"').encode()
PQ_BYTES = b"who is a 's b ?\tc(c/)\ta#r1#b#r2#c#<end>#c\n"
KB_BYTES = b"a\tr1\tb\nb\tr2\tc\n"


@dataclass
class Files:
    """What the server holds and how it misbehaves; requests are counted per (method, path)."""

    content: dict[str, bytes] = field(default_factory=dict)
    fail: dict[str, list[int]] = field(default_factory=dict)  # statuses to send first, per path
    truncate: set[str] = field(default_factory=set)  # send half the body, then close
    refuse_head: bool = False  # answer HEAD with 405
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: Files) -> None:
        self.files = files
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's getfqdn() DNS lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        if self.server.files.refuse_head:
            self.send_error(405)
            return
        self._respond(body=False)

    def do_GET(self) -> None:
        self._respond(body=True)

    def _respond(self, *, body: bool) -> None:
        files = self.server.files
        files.requests[(self.command, self.path)] += 1
        pending = files.fail.get(self.path)
        if body and pending:
            self.send_error(pending.pop(0))
            return
        data = files.content.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data[: len(data) // 2] if self.path in files.truncate else data)


@pytest.fixture
def server() -> Iterator[tuple[str, Files]]:
    files = Files()
    httpd = _Server(files)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/data", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5.0) as http:
        yield http


def no_partial_files(folder: Path) -> bool:
    return not any(p.name.endswith(".part") for p in folder.rglob("*"))


def test_downloads_and_loads(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    path = download("cwq", tmp_path / "out", base_url=base, client=client)
    assert path == tmp_path / "out" / "cwq.json"
    assert path.read_bytes() == CWQ_BYTES
    assert [q.id for q in load_questions("cwq", tmp_path / "out")] == ["a", "b"]
    assert no_partial_files(tmp_path)


def test_offline_benchmark_fetches_its_kb(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/PQ-2H.txt"] = PQ_BYTES
    files.content["/data/2H-kb.txt"] = KB_BYTES
    path = download("pq-2h", tmp_path, base_url=base, client=client)
    assert path == tmp_path / "PQ-2H.txt"
    assert resolve_kb("pq-2h", tmp_path) == tmp_path / "2H-kb.txt"
    assert (tmp_path / "2H-kb.txt").read_bytes() == KB_BYTES
    [question] = load_questions("pq-2h", tmp_path)
    assert (question.topic_entities, question.answers) == (("a",), ("c",))


def test_grailqa_fetches_the_misspelt_upstream_name(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/graliqa.json"] = b"[]"
    assert download("grailqa", tmp_path, base_url=base, client=client) == tmp_path / "grailqa.json"


def test_present_file_with_remote_size_is_not_fetched_again(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    download("cwq", tmp_path, base_url=base, client=client)
    download("cwq", tmp_path, base_url=base, client=client)
    assert files.requests[("GET", "/data/cwq.json")] == 1
    assert files.requests[("HEAD", "/data/cwq.json")] == 1  # the first call had no file yet


def test_present_file_is_fetched_again_when_head_is_refused(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    files.refuse_head = True
    (tmp_path / "cwq.json").write_bytes(CWQ_BYTES)
    download("cwq", tmp_path, base_url=base, client=client)
    assert files.requests[("GET", "/data/cwq.json")] == 1  # size unknown: fetched again


def test_present_file_of_another_size_is_replaced(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    (tmp_path / "cwq.json").write_bytes(b"[] partial")
    download("cwq", tmp_path, base_url=base, client=client)
    assert (tmp_path / "cwq.json").read_bytes() == CWQ_BYTES


def test_retries_server_errors_then_succeeds(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    files.fail["/data/cwq.json"] = [503, 500]
    download("cwq", tmp_path, base_url=base, client=client, backoff=0)
    assert files.requests[("GET", "/data/cwq.json")] == 3
    assert (tmp_path / "cwq.json").read_bytes() == CWQ_BYTES


def test_gives_up_after_the_bounded_attempts(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    files.fail["/data/cwq.json"] = [503] * 5
    with pytest.raises(DownloadError, match=r"cwq.json after 2 tries: HTTP 503") as error:
        download("cwq", tmp_path, base_url=base, client=client, attempts=2, backoff=0)
    assert isinstance(error.value, ConnectionError)
    assert files.requests[("GET", "/data/cwq.json")] == 2
    assert not (tmp_path / "cwq.json").exists()
    assert no_partial_files(tmp_path)


def test_not_found_is_not_retried(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    with pytest.raises(DownloadError, match=rf"{base}/cwq.json after 1 tries: HTTP 404"):
        download("cwq", tmp_path, base_url=base, client=client, backoff=0)
    assert files.requests[("GET", "/data/cwq.json")] == 1


def test_truncated_body_is_retried_and_never_left_behind(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    files.truncate.add("/data/cwq.json")
    with pytest.raises(DownloadError, match="after 3 tries"):
        download("cwq", tmp_path, base_url=base, client=client, backoff=0)
    assert files.requests[("GET", "/data/cwq.json")] == 3
    assert not (tmp_path / "cwq.json").exists()
    assert no_partial_files(tmp_path)


def test_unreachable_server(client: httpx.Client, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(DownloadError, match=r"after 2 tries: ConnectError"):
            download(
                "cwq",
                tmp_path,
                base_url=f"http://127.0.0.1:{port}",
                client=client,
                attempts=2,
                backoff=0,
            )


def test_progress_reports_bytes(
    server: tuple[str, Files], client: httpx.Client, tmp_path: Path
) -> None:
    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    seen: list[tuple[Path, int, int | None]] = []
    download(
        "cwq",
        tmp_path,
        base_url=base,
        client=client,
        progress=lambda path, done, total: seen.append((path, done, total)),
    )
    assert seen
    assert seen[-1] == (tmp_path / "cwq.json", len(CWQ_BYTES), len(CWQ_BYTES))
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_own_client_is_used_when_none_given(
    server: tuple[str, Files], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    base, files = server
    files.content["/data/creak.json"] = b"[]"
    assert download("creak", tmp_path / "new" / "dir", base_url=base).read_bytes() == b"[]"


def test_datasets_without_a_public_file_say_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"metaqa-2hop has no public .*yuyuz/MetaQA"):
        download("metaqa-2hop", tmp_path)
    with pytest.raises(DatasetError, match=r"cwq-slice has no public .*GraSP"):
        download("cwq-slice", tmp_path)
    assert not any(tmp_path.iterdir())


def test_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'nope'; known: metaqa-1hop"):
        download("nope", tmp_path)


def test_attempts_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="attempts"):
        download("cwq", tmp_path, attempts=0)


@pytest.mark.parametrize("name", [n for n, s in DATASETS.items() if s.download_url])
def test_registry_urls_match_the_shared_files(name: str) -> None:
    """Each URL's file is one the loader looks for, and the shared copy came from it."""
    spec = DATASETS[name]
    assert spec.download_url is not None
    assert spec.download_url.startswith("https://raw.githubusercontent.com/")
    upstream = spec.download_url.rpartition("/")[2]
    assert upstream in spec.default_files
    manifest = require(DATA / "MANIFEST.json").read_text(encoding="utf-8")
    owner_repo_commit = spec.download_url.split("/")[3:6]
    if name != "webqsp":  # ToG's WebQSP.json is not in the shared snapshot
        assert "/".join(owner_repo_commit[:2]) in manifest
        assert owner_repo_commit[2] in manifest


def test_cli_download_saves_the_file_and_names_it(
    server: tuple[str, Files], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tog.cli import app

    base, files = server
    files.content["/data/cwq.json"] = CWQ_BYTES
    result = CliRunner().invoke(
        app, ["eval", "download", "cwq", "--out", str(tmp_path), "--base-url", base]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(str(tmp_path / "cwq.json"))
    assert (tmp_path / "cwq.json").read_bytes() == CWQ_BYTES


def test_cli_download_of_a_dataset_without_a_public_file_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tog.cli import app

    result = CliRunner().invoke(app, ["eval", "download", "metaqa-1hop", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("tog: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
