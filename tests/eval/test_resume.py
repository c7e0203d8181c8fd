"""A real `tog eval run`, killed with SIGKILL mid-run, resumes to exactly an uninterrupted run.

The model is the LLM stand-in (a real HTTP endpoint; its replies come from the offline scorer)
with a little latency, so that the run is still going when it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.commands import tog_command
from tests.shared_data import DATA, require
from tog.llm.offline import reply_to_messages
from tog.llm.standin import StandInServer

N = 300
KILL_AFTER = 60


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in lines(out / "results.jsonl")]


def report(out: Path) -> dict:
    done = subprocess.run(
        [*tog_command(), "eval", "report", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.server
@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path: Path):
    data = require(DATA / "pathquestion" / "PathQuestion")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    with StandInServer(reply_to_messages) as server:
        base = [
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
            "--no-progress",
        ]
        server.latency = 0.002  # with ~5 calls per question the run takes ~15 s
        process = subprocess.Popen(
            [*base, "--out", str(killed), "--concurrency", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while len(lines(killed / "results.jsonl")) < KILL_AFTER:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=30)
            if process.stderr:
                process.stderr.close()
        assert process.returncode == -signal.SIGKILL
        done_before = records(killed)
        assert KILL_AFTER <= len(done_before) < N, "killed too late to test resuming"

        # what a kill in the middle of a write leaves: a torn last line
        with (killed / "results.jsonl").open("ab") as file:
            file.write(b'{"id": "pq-2h:299", "question": "torn')

        server.latency = 0.0
        again = subprocess.run(
            [*base, "--out", str(killed), "--concurrency", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 1
        assert again.stderr.startswith("tog: error: ")
        assert "--resume" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1

        resumed = subprocess.run(
            [*base, "--out", str(killed), "--concurrency", "8", "--resume"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr
        uninterrupted = subprocess.run(
            [*base, "--out", str(whole), "--concurrency", "8"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert uninterrupted.returncode == 0, uninterrupted.stderr

    rows, reference = records(killed), records(whole)
    assert len(rows) == len(reference) == N  # the torn line is gone, nothing duplicated
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == N
    assert set(ids) == {r["id"] for r in reference}
    assert [r["id"] for r in rows[: len(done_before)]] == [r["id"] for r in done_before]
    by_id = {r["id"]: r for r in reference}
    for row in rows:
        assert row["metrics"] == by_id[row["id"]]["metrics"], row["id"]
        assert row["answers"] == by_id[row["id"]]["answers"], row["id"]

    a, b = report(killed), report(whole)
    for key in ("n", "hits@1", "em", "f1", "hit", "tog_compatible", "llm_calls_per_question"):
        assert a[key] == b[key], key
    assert a["n"] == a["answered"] == N
    assert a["missing"] == 0
    manifest = json.loads((killed / "run.json").read_text())
    assert len(manifest["resumed_at"]) == 1
    assert manifest["backend"] == "openai-compatible"
