"""A recorded `tog eval run` replays to the same results.jsonl with the network disabled.

The run is recorded through the real CLI against the LLM stand-in (a real HTTP endpoint; its
replies come from the offline scorer, it is not a model). The stand-in is then stopped and every
socket connection made to fail, and the run is replayed from the recording alone.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from eval.config import LLMSettings, RunConfig
from eval.runner import RunError, run
from tests.commands import tog_command
from tests.shared_data import DATA, require
from tog.errors import ReplayMiss
from tog.llm.offline import reply_to_messages
from tog.llm.standin import StandInServer

pytestmark = [pytest.mark.server]

N = 20
# Wall-clock times measured around each call: the only fields a replay cannot reproduce.
TIMINGS = {"seconds", "kg_seconds", "llm_seconds", "wall_seconds", "latency_seconds"}


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def canonical_lines(out: Path) -> list[str]:
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    records.sort(key=lambda r: r["id"])
    return [json.dumps(without_timings(r), sort_keys=True) for r in records]


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: object) -> None:
        raise OSError(f"network disabled in this test (connect to {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    data = require(DATA / "pathquestion" / "PathQuestion")
    root = tmp_path_factory.mktemp("recorded")
    out, recording = root / "run", root / "recording"
    with StandInServer(reply_to_messages) as server:
        done = subprocess.run(
            [
                *tog_command(),
                "eval",
                "run",
                "pq-2h",
                "--data",
                str(data),
                "--limit",
                str(N),
                "--llm",
                server.base_url,
                "--model",
                "standin",
                "--concurrency",
                "4",
                "--linking",
                "linked",
                "--no-progress",
                "--out",
                str(out),
                "--record",
                str(recording),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert server.requests, "the recorded run talked to the endpoint"
    return data, out, recording


def replay_config(data: Path, **changes: Any) -> RunConfig:
    settings = {
        "dataset": "pq-2h",
        "data": data,
        "limit": N,
        "concurrency": 4,
        "linking": "linked",
        "llm": LLMSettings(url=["http://127.0.0.1:9/v1"], model="standin"),
    }
    return RunConfig(**(settings | changes))


def test_replay_reproduces_the_run_without_network(
    recorded: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, out, recording = recorded
    no_network(monkeypatch)
    replayed = tmp_path / "replayed"
    run(replay_config(data), replayed, replay=recording)
    expected = canonical_lines(out)
    assert len(expected) == N
    assert canonical_lines(replayed) == expected
    answers = [json.loads(line)["answers"] for line in expected]
    assert sum(bool(a) for a in answers) >= N - 2  # real answers were replayed, not blanks


def test_replay_of_an_unrecorded_question_stops_loudly(
    recorded: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _, recording = recorded
    no_network(monkeypatch)
    with pytest.raises(ReplayMiss, match="never recorded"):
        run(replay_config(data, limit=N + 5), tmp_path / "more", replay=recording)


def test_record_and_replay_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="exclude each other"):
        run(
            RunConfig(dataset="pq-2h"), tmp_path / "x", record=tmp_path / "r", replay=tmp_path / "p"
        )
