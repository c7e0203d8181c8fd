from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tog.errors import LLMConnectionError, LLMTimeout
from tog.llm.base import Message
from tog.llm.openai_compat import OpenAICompatible
from tog.llm.standin import StandInServer, main

from .conftest import echo_policy, make_request

pytestmark = pytest.mark.server

CHAT = {"model": "standin-model", "messages": [{"role": "user", "content": "one two three"}]}


def test_base_url_is_loopback_with_the_bound_port(standin: StandInServer) -> None:
    assert standin.base_url.startswith("http://127.0.0.1:")
    assert standin.base_url.endswith("/v1")
    port = int(standin.base_url.rsplit(":", 1)[1].removesuffix("/v1"))
    assert port > 0


def test_models_lists_the_served_model_and_says_it_is_not_a_model(
    standin: StandInServer,
) -> None:
    with httpx.Client() as client:
        body = client.get(f"{standin.base_url}/models").json()

    assert body["object"] == "list"
    (entry,) = body["data"]
    assert entry["id"] == "standin-model"
    assert entry["object"] == "model"
    assert entry["owned_by"] == "tog-standin (not a language model)"


def test_chat_completion_shape_usage_and_fingerprint(standin: StandInServer) -> None:
    payload = {
        "model": "standin-model",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"},
        ],
        "temperature": 0.0,
    }
    with httpx.Client() as client:
        response = client.post(f"{standin.base_url}/chat/completions", json=payload)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "standin-model"
    assert body["system_fingerprint"] == "tog-standin"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: one two three"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert standin.requests == [payload]


def test_policy_receives_messages_in_order() -> None:
    seen: list[list[Message]] = []

    def policy(messages: list[Message]) -> str:
        seen.append(messages)
        return "ok"

    with StandInServer(policy) as server, OpenAICompatible(server.base_url) as llm:
        assert llm.complete(make_request("first", "second")).text == "ok"

    assert seen == [
        [
            Message("system", "You answer questions."),
            Message("user", "first"),
            Message("user", "second"),
        ]
    ]


def test_wrong_model_is_a_404_json_error(standin: StandInServer) -> None:
    with httpx.Client() as client:
        response = client.post(
            f"{standin.base_url}/chat/completions", json={**CHAT, "model": "gpt-4"}
        )

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "The model `gpt-4` does not exist."
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"model": "standin-model"}', "'messages'"),
        (b'{"messages": [{"role": "robot", "content": "x"}]}', "messages[0]"),
    ],
)
def test_malformed_requests_are_400(standin: StandInServer, content: bytes, reason: str) -> None:
    with httpx.Client() as client:
        response = client.post(f"{standin.base_url}/chat/completions", content=content)

    assert response.status_code == 400
    assert reason in response.json()["error"]["message"]


def test_unknown_route_is_404(standin: StandInServer) -> None:
    with httpx.Client() as client:
        assert client.get(f"{standin.base_url}/completions").status_code == 404
        assert client.post(f"{standin.base_url}/embeddings", json={}).status_code == 404


def test_policy_error_becomes_http_500_with_its_text() -> None:
    def broken(messages: list[Message]) -> str:
        raise RuntimeError("policy exploded")

    with StandInServer(broken) as server, httpx.Client() as client:
        response = client.post(
            f"{server.base_url}/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}]},
        )

    assert response.status_code == 500
    assert response.json()["error"]["message"] == "policy raised RuntimeError: policy exploded"


def test_injected_failures_come_in_injection_order(standin: StandInServer) -> None:
    standin.fail_next(1, status=502)
    standin.rate_limit_next(1, retry_after=3)
    standin.context_length_error_next(1)
    url = f"{standin.base_url}/chat/completions"

    with httpx.Client() as client:
        responses = [client.post(url, json=CHAT) for _ in range(4)]

    assert [r.status_code for r in responses] == [502, 429, 400, 200]
    assert responses[1].headers["Retry-After"] == "3"
    assert responses[2].json() == {
        "error": {
            "message": (
                "This model's maximum context length is 4096 tokens. However, you requested "
                "5000 tokens (4744 in the messages, 256 in the completion). Please reduce the "
                "length of the messages or completion."
            ),
            "type": "BadRequestError",
            "code": 400,
        }
    }
    assert len(standin.requests) == 4


def test_knobs_reject_bad_values(standin: StandInServer) -> None:
    with pytest.raises(ValueError, match="latency"):
        standin.latency = -1
    with pytest.raises(ValueError, match="status"):
        standin.fail_next(1, status=200)
    with pytest.raises(ValueError, match="n must be"):
        standin.rate_limit_next(-1)


def test_latency_makes_the_client_time_out(standin: StandInServer) -> None:
    standin.latency = 5.0
    started = time.monotonic()

    with (
        OpenAICompatible(standin.base_url, "standin-model", timeout=0.2, max_retries=0) as llm,
        pytest.raises(LLMTimeout, match=r"did not answer within 0\.2s"),
    ):
        llm.complete(make_request("slow"))

    assert time.monotonic() - started < 2.0


def test_latency_delays_the_reply(standin: StandInServer) -> None:
    standin.latency = 0.3
    with OpenAICompatible(standin.base_url, "standin-model") as llm:
        started = time.monotonic()
        assert llm.complete(make_request("x")).text == "echo: x"
    assert time.monotonic() - started >= 0.3


def test_requests_is_a_thread_safe_copy(standin: StandInServer) -> None:
    url = f"{standin.base_url}/chat/completions"

    def post(i: int) -> None:
        body = {**CHAT, "messages": [{"role": "user", "content": str(i)}]}
        with httpx.Client() as client:
            client.post(url, json=body).raise_for_status()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recorded = standin.requests
    recorded.clear()
    assert len(standin.requests) == 8
    contents = {json.dumps(body["messages"]) for body in standin.requests}
    assert contents == {json.dumps([{"role": "user", "content": str(i)}]) for i in range(8)}


def test_stop_closes_the_port_and_is_idempotent() -> None:
    server = StandInServer(echo_policy).start()
    url = f"{server.base_url}/models"
    with httpx.Client() as client:
        assert client.get(url).status_code == 200  # leaves a kept-alive connection open

        server.stop()
        server.stop()

        with pytest.raises(httpx.TransportError):
            client.get(url)
    with httpx.Client() as fresh, pytest.raises(httpx.ConnectError):
        fresh.get(url)
    with pytest.raises(RuntimeError, match="once"):
        server.start()


def test_stop_does_not_wait_out_latency() -> None:
    server = StandInServer(echo_policy).start()
    server.latency = 30.0
    errors: list[Exception] = []

    def call() -> None:
        with OpenAICompatible(server.base_url, "standin", max_retries=0) as llm:
            try:
                llm.complete(make_request("x"))
            except Exception as exc:
                errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests and caller.is_alive():
        time.sleep(0.01)
    time.sleep(0.05)  # let the handler start sleeping
    started = time.monotonic()
    server.stop()
    caller.join(timeout=10)

    assert time.monotonic() - started < 3.0
    assert not caller.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], LLMConnectionError)  # the server hung up without answering


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = StandInServer(echo_policy).base_url


def test_cli_rejects_a_bad_policy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--port", "0", "--policy", "no_such_module_xyz:reply"])

    assert info.value.code == 2
    assert "cannot import policy module 'no_such_module_xyz'" in capsys.readouterr().err


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    (tmp_path / "shout_policy.py").write_text(
        "def shout(messages):\n    return messages[-1].content.upper()\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo)])}
    command = [sys.executable, "-m", "tog.llm.standin", "--port", "0", "--model", "shouty"]
    command += ["--policy", "shout_policy:shout"]

    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as proc:
        killer = threading.Timer(20.0, proc.kill)  # never hang the suite
        killer.start()
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline().strip()
            assert line.startswith("tog-standin (not a language model) serving shouty at "), line
            base_url = line.rsplit(" ", 1)[1]
            with OpenAICompatible(base_url) as llm:
                completion = llm.complete(make_request("hello there"))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            killer.cancel()

    assert completion.text == "HELLO THERE"
    assert completion.model == "shouty"


def test_cli_default_policy_is_the_offline_scorer() -> None:
    from tog.llm import offline
    from tog.llm.standin import DEFAULT_POLICY, _load_policy

    assert _load_policy(DEFAULT_POLICY) is offline.reply_to_messages
