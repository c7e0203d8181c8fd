"""The `tog` command, run as users run it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commands import run_tog as run
from tog.llm.offline import reply_to_messages
from tog.llm.standin import StandInServer

ROOT = Path(__file__).resolve().parent.parent


def readme_examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| question | answer |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \|$", table, flags=re.MULTILINE)
    return [(q, a) for q, a in rows if not set(q) <= {"-"}]


def test_readme_lists_examples():
    assert len(readme_examples()) >= 5


@pytest.mark.parametrize(("question", "answer"), readme_examples())
def test_readme_examples_are_answered_offline(question: str, answer: str):
    done = run("ask", question)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"Answer: {answer}"
    assert "offline scorer, no LLM" in done.stdout


def test_json_output_has_the_trace():
    done = run("ask", "Who directed Inception?", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "Christopher Nolan"
    assert data["paths"][0]["triples"][0]["relation"] == "directed_by"
    kinds = {event["kind"] for event in data["trace"]}
    assert {"relations", "neighbors", "labels", "llm"} <= kinds
    assert data["usage"]["llm_calls"] == sum(1 for e in data["trace"] if e["kind"] == "llm")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "the question is empty"),
        (["ask", "Who directed Inception?", "--kg", "/no/such/file.tsv"], "no such file"),
        (["ask", "Who directed Inception?", "--kg", str(ROOT / "pyproject.toml")], ".toml"),
        (["ask", "What is love?"], "no entity of the graph is mentioned"),
        (["ask", "Who directed Inception?", "--topic", "Nowhere Film"], "not in the graph"),
        (["ask", "Who directed Inception?", "--width", "0"], "--width"),
        (["ask", "Who directed Inception?", "--llm", "http://127.0.0.1:9/v1"], "cannot reach"),
        (["ask", "Who directed Inception?", "--llm", "ftp://x"], "base_url"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str):
    done = run(*args)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tog: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback():
    done = run("ask", "   ", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr


def test_tsv_with_escaped_tab_separator(tmp_path: Path):
    kb = tmp_path / "films.tsv"
    kb.write_text("Heat\tdirected_by\tMichael Mann\nMichael Mann\tborn_in\tChicago\n", "utf-8")
    done = run("ask", "Where was the director of Heat born?", "--kg", str(kb), "--sep", "\\t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer: Chicago")
    assert "Heat | directed_by | Michael Mann" in done.stdout


def test_pipe_separated_file_is_sniffed(tmp_path: Path):
    kb = tmp_path / "kb.txt"
    kb.write_text("Kismet|directed_by|William Dieterle\nKismet|release_year|1944\n", "utf-8")
    done = run("ask", "who directed Kismet", "--kg", str(kb))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer: William Dieterle")


def test_rdf_file(tmp_path: Path):
    kb = tmp_path / "film.nt"
    kb.write_text(
        "<http://ex.org/Inception> <http://ex.org/directedBy> <http://ex.org/Nolan> .\n"
        '<http://ex.org/Nolan> <http://www.w3.org/2000/01/rdf-schema#label> "Christopher Nolan" .\n'
        '<http://ex.org/Inception> <http://www.w3.org/2000/01/rdf-schema#label> "Inception" .\n',
        "utf-8",
    )
    done = run("ask", "Who directed Inception?", "--kg", str(kb), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "Christopher Nolan"
    assert data["answer_ids"] == ["http://ex.org/Nolan"]


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    with StandInServer(reply_to_messages, model="standin-7b") as server:
        yield server


@pytest.mark.server
def test_ask_with_llm_over_http(standin: StandInServer):
    done = run(
        "ask", "Where was the director of Inception born?", "--llm", standin.base_url, "--json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "London"
    assert data["llm"] == "OpenAICompatible"
    assert data["prune_tool"] == "llm"
    llm_events = [e for e in data["trace"] if e["kind"] == "llm"]
    served = [r for r in standin.requests if r.get("model") == "standin-7b"]
    assert (
        len(llm_events) == len(served) == data["usage"]["llm_calls"] + data["usage"]["setup_calls"]
    )
    assert data["usage"]["prompt_tokens"] > 0
    # ToG with N = D = 3 never exceeds 2ND + D + 1 calls.
    assert data["usage"]["llm_calls"] <= 22


@pytest.mark.server
def test_ask_with_llm_retries_a_flaky_endpoint(standin: StandInServer):
    standin.fail_next(1, status=503)
    done = run("ask", "Who directed Inception?", "--llm", standin.base_url, "--model", "standin-7b")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Answer: Christopher Nolan")


@pytest.mark.server
def test_model_not_served_is_one_line(standin: StandInServer):
    done = run("ask", "Who directed Inception?", "--llm", standin.base_url, "--model", "gpt-x")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "gpt-x" in done.stderr


@pytest.mark.server
def test_ask_over_several_endpoints_with_structured_outputs():
    with (
        StandInServer(reply_to_messages, model="standin-7b", structured_outputs="enforce") as a,
        StandInServer(reply_to_messages, model="standin-7b", structured_outputs="enforce") as b,
        StandInServer(reply_to_messages, model="standin-7b", structured_outputs="enforce") as c,
    ):
        done = run(
            "ask",
            "Where was the director of Inception born?",
            "--llm",
            a.base_url,
            "--llm",
            f"{b.base_url},{c.base_url}",
            "--structured-outputs",
            "--json",
        )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "London"
    llm_events = [e for e in data["trace"] if e["kind"] == "llm"]
    assert any(e["constrained"] for e in llm_events)
    bodies = [r for server in (a, b, c) for r in server.requests]
    assert len(bodies) == len(llm_events)
    assert all(server.requests for server in (a, b, c))  # requests take turns
    assert any("structured_outputs" in body for body in bodies)


def test_standin_command_has_the_structured_outputs_option():
    done = run("standin", "--help")
    assert done.returncode == 0, done.stderr
    assert "--structured-outputs" in done.stdout


def test_tog_r_offline():
    done = run("ask", "Where was the director of Inception born?", "--variant", "tog-r", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["answer"] == "London"
    assert data["variant"] == "tog-r"
    assert not any(e.get("task") == "entity_score" for e in data["trace"])
