"""A local stand-in for a vLLM server, for tests, demos and benchmarks. IT IS NOT A LANGUAGE MODEL.

`StandInServer` speaks the slice of vLLM's OpenAI-compatible HTTP API that `OpenAICompatible` uses
(``GET /v1/models``, non-streaming ``POST /v1/chat/completions``), but every reply comes from a
plain Python ``policy(messages) -> str``. Knobs inject latency, 5xx, 429 and context-length errors.
With ``structured_outputs="enforce"`` it honours structured-output fields as vLLM does: malformed
ones get HTTP 400, and the policy's reply is shaped to the requested schema or choices.
No third-party dependencies. Run ``python -m tog.llm.standin --port 8000`` to serve one until
Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import logging
import signal
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Final, Literal, Self, TypeAlias, cast, get_args

from tog.llm import _jsonschema
from tog.llm.base import JSONValue, Message, Role
from tog.llm.structured import Constraint, read_constraint
from tog.parsing import find_json, norm_text

__all__ = ["Policy", "StandInServer", "StructuredMode", "main", "shape_reply"]

logger = logging.getLogger(__name__)

Policy: TypeAlias = Callable[[list[Message]], str]
StructuredMode: TypeAlias = Literal["ignore", "enforce"]

OWNED_BY: Final = "tog-standin (not a language model)"
FINGERPRINT: Final = "tog-standin"
DEFAULT_POLICY: Final = "tog.llm.offline:reply_to_messages"
_ROLES: Final[frozenset[str]] = frozenset({"system", "user", "assistant"})
_CONTEXT_LENGTH_MESSAGE: Final = (
    "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
    "(4744 in the messages, 256 in the completion). Please reduce the length of the messages "
    "or completion."
)


@dataclass(frozen=True, slots=True)
class _Reply:
    """One HTTP answer: status, JSON payload and extra headers."""

    status: int
    payload: dict[str, JSONValue]
    headers: tuple[tuple[str, str], ...] = ()


def _error(status: int, message: str, kind: str) -> _Reply:
    """An error in vLLM's JSON shape."""
    return _Reply(status, {"error": {"message": message, "type": kind, "code": status}})


def _words(text: str) -> int:
    return len(text.split())


def _parse_messages(body: dict[str, JSONValue]) -> list[Message] | str:
    """The body's ``messages`` as `Message` values, or the reason they are malformed."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        return "'messages' must be a non-empty list"
    messages = []
    for index, item in enumerate(raw):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content", "") if isinstance(item, dict) else None
        if role not in _ROLES or not isinstance(content, str | None):
            return f"messages[{index}] needs a role in {sorted(_ROLES)} and string content"
        messages.append(Message(cast(Role, role), content or ""))
    return messages


def _completion_payload(
    number: int, model: str, messages: list[Message], text: str
) -> dict[str, JSONValue]:
    prompt_tokens = sum(_words(message.content) for message in messages)
    completion_tokens = _words(text)
    return {
        "id": f"chatcmpl-standin-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def shape_reply(text: str, constraint: Constraint) -> str:
    """The reply a constrained decoder would give when the unconstrained one was ``text``.

    JSON in ``text`` is kept where it fits the schema and completed or cut where it does not
    (`tog.llm._jsonschema.coerce`); a choice constraint takes the choice ``text`` names, else the
    first. The result always satisfies the constraint.

    Raises:
        RuntimeError: the shaped reply still breaks the schema (a bug in the coercion).
    """
    if constraint.schema is None:
        wanted = norm_text(text)
        named = [c for c in constraint.choices if norm_text(c) == wanted]
        named = named or [c for c in constraint.choices if norm_text(c) and norm_text(c) in wanted]
        return (named or list(constraint.choices))[0]
    try:
        value: object = json.loads(text)
    except ValueError:
        value = find_json(text)
    shaped = _jsonschema.coerce(cast(JSONValue, value), constraint.schema)
    errors = _jsonschema.validate(shaped, constraint.schema)
    if errors:
        raise RuntimeError(f"shaped reply breaks the schema: {'; '.join(errors[:3])}")
    return json.dumps(shaped, ensure_ascii=False)


def _models_payload(model: str) -> dict[str, JSONValue]:
    entry: dict[str, JSONValue] = {
        "id": model,
        "object": "model",
        "created": int(time.time()),
        "owned_by": OWNED_BY,
        "root": model,
        "parent": None,
        "max_model_len": 4096,
    }
    return {"object": "list", "data": [entry]}


class StandInServer:
    """An HTTP server that answers like vLLM but is not a model: ``policy`` writes every reply.

    Serves ``GET /v1/models``, ``POST /v1/chat/completions`` (non-streaming) and ``GET /health``
    on 127.0.0.1 in a daemon thread. The policy is called from handler threads, possibly
    concurrently. The knobs (`latency`, `fail_next`, `rate_limit_next`,
    `context_length_error_next`) may be changed while it runs; injected errors apply to chat
    completions only, in the order they were injected.

    ``structured_outputs="ignore"`` (the default) ignores structured-output fields, as a server
    without the feature would. ``"enforce"`` reads them in every style vLLM has used
    (``structured_outputs``, ``guided_json`` / ``guided_choice``, ``response_format``): a
    malformed field, an unsupported schema or two constraints at once is an HTTP 400, and the
    policy's reply is shaped to the schema (`shape_reply`), so every reply validates.

    Example:
        >>> with StandInServer(lambda messages: "Paris") as server:  # doctest: +SKIP
        ...     llm = OpenAICompatible(server.base_url)
    """

    def __init__(
        self,
        policy: Policy,
        *,
        model: str = "standin",
        host: str = "127.0.0.1",
        port: int = 0,
        structured_outputs: StructuredMode = "ignore",
    ) -> None:
        """Configure the server; `start` binds the port.

        Args:
            policy: Computes each reply from the request's messages.
            model: The one model name served.
            host: IPv4 address to bind; keep the loopback default outside containers.
            port: TCP port; 0 picks a free one.
            structured_outputs: ``"ignore"`` or ``"enforce"`` structured-output request fields.

        Raises:
            ValueError: ``structured_outputs`` is neither mode.
        """
        if structured_outputs not in get_args(StructuredMode):
            raise ValueError(
                f"structured_outputs must be 'ignore' or 'enforce'; got {structured_outputs!r}"
            )
        self.policy = policy
        self.model = model
        self.structured_outputs: StructuredMode = structured_outputs
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[dict[str, JSONValue]] = []
        self._faults: deque[_Reply] = deque()
        self._latency = 0.0
        self._numbers = itertools.count(1)
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the port and serve in a daemon thread; returns self.

        Raises:
            RuntimeError: the server was already started.
            OSError: the port cannot be bound.
        """
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("StandInServer can be started once; create a new one")
        self._server = _HTTPServer(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tog-standin:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None or self._stopping.is_set():
            return
        self._stopping.set()  # wakes handlers sleeping out `latency`
        server.shutdown()
        with self._lock:
            connections = dict(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        for handler in connections.values():
            handler.join(timeout=5.0)
        server.server_close()
        thread.join(timeout=5.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the URL to give `OpenAICompatible`.

        Raises:
            RuntimeError: the server has not been started.
        """
        if self._server is None:
            raise RuntimeError("StandInServer is not started; call start() or use `with`")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # --- inspection and failure injection ----------------------------------------------------

    @property
    def requests(self) -> list[dict[str, JSONValue]]:
        """A copy of every chat-completion JSON body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def latency(self) -> float:
        """Seconds to wait before each chat-completion reply (0 by default)."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds; got {seconds!r}")
        self._latency = float(seconds)

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """Answer the next ``n`` chat completions with HTTP ``status`` (a server error)."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error (400-599); got {status!r}")
        self._inject(n, _error(status, "injected failure (tog-standin)", "InjectedError"))

    def rate_limit_next(self, n: int = 1, retry_after: float | None = 1) -> None:
        """Answer the next ``n`` chat completions with HTTP 429 and ``Retry-After`` seconds."""
        reply = _error(429, "injected rate limit (tog-standin)", "RateLimitError")
        if retry_after is not None:
            reply = _Reply(reply.status, reply.payload, (("Retry-After", f"{retry_after:g}"),))
        self._inject(n, reply)

    def context_length_error_next(self, n: int = 1) -> None:
        """Answer the next ``n`` chat completions with vLLM's context-length HTTP 400."""
        self._inject(n, _error(400, _CONTEXT_LENGTH_MESSAGE, "BadRequestError"))

    def _inject(self, n: int, reply: _Reply) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0; got {n!r}")
        with self._lock:
            self._faults.extend([reply] * n)

    # --- request handling (called from handler threads) ------------------------------------

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._connections[connection] = threading.current_thread()
            else:
                self._connections.pop(connection, None)

    def _chat(self, raw: bytes) -> _Reply | None:
        """Record one ``POST /v1/chat/completions`` body, wait out `latency`, then answer it.

        Returns None when the server is stopping and the connection should be dropped unanswered.
        """
        try:
            body: object = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            body, reply = None, _error(400, f"malformed JSON body: {exc}", "BadRequestError")
        else:
            reply = _error(400, "the JSON body must be an object", "BadRequestError")
        if isinstance(body, dict):
            with self._lock:
                self._requests.append(body)
                fault = self._faults.popleft() if self._faults else None
                number = next(self._numbers)
            reply = fault if fault is not None else self._answer(body, number)
        if self._latency and self._stopping.wait(self._latency):
            return None  # stop() cut the wait short: hang up, as a server going down would
        return reply

    def _answer(self, body: dict[str, JSONValue], number: int) -> _Reply:
        requested = body.get("model", self.model)
        if requested != self.model:
            return _error(404, f"The model `{requested}` does not exist.", "NotFoundError")
        messages = _parse_messages(body)
        if isinstance(messages, str):
            return _error(400, messages, "BadRequestError")
        constraint = None
        if self.structured_outputs == "enforce":
            try:
                constraint = read_constraint(body)
            except ValueError as exc:
                return _error(400, str(exc), "BadRequestError")
        try:
            text = self.policy(list(messages))
        except Exception as exc:  # the policy's failure is the client's 500, not the server's
            logger.debug("tog-standin policy raised", exc_info=True)
            return _error(500, f"policy raised {type(exc).__name__}: {exc}", "InternalServerError")
        if not isinstance(text, str):
            message = f"policy returned {type(text).__name__}, expected str"
            return _error(500, message, "InternalServerError")
        if constraint is not None:
            try:
                text = shape_reply(text, constraint)
            except RuntimeError as exc:
                return _error(500, str(exc), "InternalServerError")
        return _Reply(200, _completion_payload(number, self.model, messages, text))

    def _get(self, path: str) -> _Reply:
        if path == "/v1/models":
            return _Reply(200, _models_payload(self.model))
        if path == "/health":
            return _Reply(200, {"status": "ok", "note": OWNED_BY})
        return _error(404, f"no route GET {path}", "NotFoundError")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog of 5 overflows when a client opens dozens of connections at
    # once (tog.answer_many), and the kernel then drops or resets some of them.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], standin: StandInServer) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name with getfqdn(), a DNS lookup that can
        # take seconds in a sandbox; the stand-in only needs the bound address.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (timeouts, stop()) are routine here; keep them out of stderr.
        logger.debug("tog-standin: error handling %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm on, the client's delayed ACK
    # holds the body back ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "tog-standin"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.standin._track(self.connection, is_open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._track(self.connection, is_open=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log lines `BaseHTTPRequestHandler` writes to stderr."""

    def do_GET(self) -> None:
        """Serve ``/v1/models`` and ``/health``."""
        self._send(self.server.standin._get(self.path.split("?", 1)[0]))

    def do_POST(self) -> None:
        """Serve ``/v1/chat/completions``."""
        if "Content-Length" not in self.headers:
            # A body we cannot delimit (chunked) would corrupt the next request on this connection.
            self.close_connection = True
        try:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length > 0 else b""
        except (ValueError, OSError):
            self.close_connection = True
            return
        if self.path.split("?", 1)[0] != "/v1/chat/completions":
            self._send(_error(404, f"no route POST {self.path}", "NotFoundError"))
            return
        reply = self.server.standin._chat(raw)
        if reply is None:
            self.close_connection = True
        else:
            self._send(reply)

    def _send(self, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client hung up (timed out) or stop() dropped the connection
            self.close_connection = True


# --- command line ------------------------------------------------------------------------------


def _load_policy(spec: str) -> Policy:
    """Import ``MODULE:CALLABLE``.

    Raises:
        ValueError: the spec is malformed, the import fails or the object is not callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--policy must look like MODULE:CALLABLE; got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import policy module {module_name!r}: {exc}") from exc
    policy: object = getattr(module, attribute, None)
    if not callable(policy):
        raise ValueError(f"{spec!r} is not a callable in module {module_name!r}")
    return cast(Policy, policy)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a stand-in until Ctrl-C or SIGTERM; the ``python -m tog.llm.standin`` entry point.

    Args:
        argv: Command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tog.llm.standin",
        description="Serve a stand-in for a vLLM server. It is NOT a language model: "
        "every reply comes from a Python policy function.",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (IPv4)")
    parser.add_argument("--model", default="standin", help="the model name served")
    parser.add_argument(
        "--policy",
        default=DEFAULT_POLICY,
        metavar="MODULE:CALLABLE",
        help=f"reply function taking a list of Messages (default: {DEFAULT_POLICY})",
    )
    parser.add_argument(
        "--structured-outputs",
        choices=get_args(StructuredMode),
        default="ignore",
        help="enforce structured-output request fields (shape replies to the schema, 400 on "
        "malformed fields) or ignore them like a server without the feature (default: ignore)",
    )
    args = parser.parse_args(argv)
    try:
        policy = _load_policy(args.policy)
    except ValueError as exc:
        parser.error(str(exc))

    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    server = StandInServer(
        policy,
        model=args.model,
        host=args.host,
        port=args.port,
        structured_outputs=args.structured_outputs,
    )
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"tog-standin: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        sys.stderr.write(f"{OWNED_BY} serving {args.model} at {server.base_url}\n")
        if args.structured_outputs == "enforce":
            sys.stderr.write("tog-standin: enforcing structured-output request fields\n")
        sys.stderr.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
