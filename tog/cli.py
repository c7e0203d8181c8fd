r"""The ``tog`` command: ask a question of a graph, from the terminal.

    tog ask "Who directed Inception?"                      # the embedded graph, no LLM
    tog ask "..." --kg triples.tsv --sep '\\t'              # your own triples
    tog ask "..." --llm http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    tog ask "..." --llm http://10.0.0.1:8000/v1,http://10.0.0.2:8000/v1 --structured-outputs
    tog ask "..." --llm http://127.0.0.1:8000/v1 --record runs/q1   # keep every exchange
    tog ask "..." --replay runs/q1                          # the same answer, no network
    tog standin --port 8000                                 # a local stand-in server (not a model)
    tog eval run pq-2h --data DIR --out runs/pq2 --limit 300  # a benchmark run (tog eval --help)

Errors are one line on stderr with a non-zero exit; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tog.corpus_cli import corpus_app
from tog.eval_cli import eval_app
from tog.kg_cli import kg_app

if TYPE_CHECKING:
    from kg_adapters.base import KnowledgeGraph
    from tog.config import SearchConfig
    from tog.llm.base import ChatModel, JSONValue
    from tog.llm.openai_compat import OpenAICompatible
    from tog.result import Result

app = typer.Typer(
    name="tog",
    help="Think-on-Graph: answer questions by beam search over a knowledge graph.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_ERROR = 1

app.add_typer(kg_app, name="kg")
app.add_typer(eval_app, name="eval")
app.add_typer(corpus_app, name="corpus")


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


@contextlib.contextmanager
def default_graph_path() -> Iterator[Path]:
    """The embedded default graph shipped in the package (films, people, places)."""
    source = resources.files("tog").joinpath("data/default_kg.tsv")
    with resources.as_file(source) as path:
        yield path


def load_kg(kg: str | None, sep: str | None, rdf_format: str | None) -> KnowledgeGraph:
    """Open ``--kg``: a file, a store (``sparql+freebase:URL``), or the embedded graph if None."""
    from kg_adapters import load_graph
    from kg_adapters.opening import open_graph

    if kg is None:
        with default_graph_path() as path:
            return load_graph(path, sep="\t")
    return open_graph(kg, sep=_unescape(sep) if sep is not None else None, format=rdf_format)


def _unescape(sep: str) -> str:
    r"""``'\t'`` typed in a shell arrives as backslash-t: read it as a tab. ``tab`` works too."""
    if sep.lower() == "tab":
        return "\t"
    try:
        value = codecs.decode(sep, "unicode_escape")
    except UnicodeDecodeError as exc:
        raise CLIError(f"--sep {sep!r} is not a valid separator") from exc
    if not value:
        raise CLIError("--sep must not be empty")
    return value


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    kg: Annotated[
        str | None,
        typer.Option(
            help="Triples file (TSV/CSV/`s|r|o` text, or RDF .nt .ttl .n3 .rdf .jsonld, .gz), "
            "or a store: sparql+freebase:URL, sparql+wikidata:URL, sparql:URL, "
            "oxigraph+freebase:DIR. Default: the embedded film graph."
        ),
    ] = None,
    sep: Annotated[
        str | None, typer.Option(help="Field separator of a text triples file ('\\t', '|', ',').")
    ] = None,
    rdf_format: Annotated[
        str | None, typer.Option("--format", help="RDF format for rdflib, if not from extension.")
    ] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Topic entity id to start from (repeatable); default: found in text."),
    ] = None,
    llm: Annotated[
        list[str] | None,
        typer.Option(
            help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vllm serve); "
            "repeat it or separate with commas for replicas of one model."
        ),
    ] = None,
    structured_outputs: Annotated[
        bool,
        typer.Option(
            help="Ask the endpoint to constrain replies to a JSON schema of the candidates "
            "(vLLM >= 0.10.2 `structured_outputs`)."
        ),
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Model name; default: the endpoint's only model.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key for the endpoint.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per LLM request.")] = 60.0,
    width: Annotated[int, typer.Option(help="Beam width N.")] = 3,
    depth: Annotated[int, typer.Option(help="Maximum depth D.")] = 3,
    variant: Annotated[str, typer.Option(help="`tog` or `tog-r`.")] = "tog",
    prune_tool: Annotated[str, typer.Option(help="`auto`, `llm` or `bm25`.")] = "auto",
    seed: Annotated[int, typer.Option(help="Sampling and request seed.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result with its trace as JSON.")
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option(
            help="Record every LLM and KG exchange into this new folder (see `tog.record`).",
            file_okay=False,
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Answer from a folder made with --record, with no network. The LLM and KG "
            "come from the recording: --kg, --sep, --format, --llm, --model, --api-key, "
            "--timeout and --structured-outputs are ignored. The question and search options "
            "must be those recorded.",
            file_okay=False,
        ),
    ] = None,
    graph: Annotated[
        Path | None,
        typer.Option(
            help="Also draw the explored subgraph (answer path highlighted) into this .png, "
            ".svg or .pdf file (needs matplotlib: the `notebooks` extra).",
            dir_okay=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Answer QUESTION over a knowledge graph and print the answer with its reasoning paths."""
    _configure_logging(debug)
    try:
        if graph is not None:
            from tog.viz import picture_format

            picture_format(graph)  # an unknown extension fails before the search runs
        result = _ask(
            question,
            kg=kg,
            sep=sep,
            rdf_format=rdf_format,
            topics=topic,
            llm_url=[url.strip() for item in llm or [] for url in item.split(",") if url.strip()],
            model=model,
            api_key=api_key,
            timeout=timeout,
            structured_outputs=structured_outputs,
            options={
                "width": width,
                "depth": depth,
                "variant": variant,
                "prune_tool": prune_tool,
                "seed": seed,
            },
            record=record,
            replay=replay,
        )
    except Exception as exc:
        _fail(exc, debug=debug)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_result(result))
    if graph is not None:
        try:
            from tog.viz import draw

            draw(result, graph)
        except Exception as exc:
            _fail(exc, debug=debug)
        typer.echo(f"tog: picture written to {graph}", err=True)


def _ask(
    question: str,
    *,
    kg: str | None,
    sep: str | None,
    rdf_format: str | None,
    topics: list[str] | None,
    llm_url: list[str],
    model: str | None,
    api_key: str | None,
    timeout: float,
    options: dict[str, int | str],
    structured_outputs: bool = False,
    record: Path | None = None,
    replay: Path | None = None,
) -> Result:
    from pydantic import ValidationError

    import tog

    if not question.strip():
        raise CLIError("the question is empty")
    if record is not None and replay is not None:
        raise CLIError("--record and --replay cannot be used together")
    try:
        config = tog.SearchConfig.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CLIError(f"--{field.replace('_', '-')}: {first['msg']}") from exc
    if replay is not None:
        from tog.record import Replayer

        replayer = Replayer(replay)
        return _ask_graph(question, replayer.kg(), topics, replayer.llm(), config)
    graph = load_kg(kg, sep, rdf_format)
    try:
        client = _client(llm_url, model, api_key, timeout, structured_outputs)
        with contextlib.closing(client) if client is not None else contextlib.nullcontext():
            if record is None:
                return _ask_graph(question, graph, topics, client, config)
            from tog.record import Recorder

            info: dict[str, JSONValue] = {
                "command": "tog ask",
                "question": question,
                "kg": kg,
                "sep": sep,
                "format": rdf_format,
                "topics": list(topics or []),
                "llm": list(llm_url),
                "model": model,
                "structured_outputs": structured_outputs,
                "config": config.model_dump(mode="json"),
            }
            recorder = Recorder(record, info=info)
            llm = recorder.llm(client) if client is not None else None
            return _ask_graph(question, recorder.kg(graph), topics, llm, config)
    finally:
        close = getattr(graph, "close", None)
        if callable(close):
            close()  # SPARQL graphs own an HTTP client or a store lock


def _client(
    llm_url: list[str],
    model: str | None,
    api_key: str | None,
    timeout: float,
    structured_outputs: bool,
) -> OpenAICompatible | None:
    """The ``--llm`` client, or None to run offline."""
    if not llm_url:
        return None
    from tog.llm.openai_compat import OpenAICompatible

    return OpenAICompatible(
        llm_url, model, api_key=api_key, timeout=timeout, structured_outputs=structured_outputs
    )


def _ask_graph(
    question: str,
    graph: KnowledgeGraph,
    topics: list[str] | None,
    llm: ChatModel | None,
    config: SearchConfig,
) -> Result:
    import tog

    if topics:
        unknown = [
            t
            for t in topics
            if not any(graph.relations([t], direction=d)[t] for d in ("out", "in"))
        ]
        if unknown:
            raise CLIError(f"topic entity not in the graph (no relations): {unknown[0]!r}")
    result = tog.answer(question, kg=graph, llm=llm, topic_entities=topics, config=config)
    if result.stop_reason == "no_topic_entity":
        raise CLIError(
            "no entity of the graph is mentioned in the question; name one as it is written in "
            "the graph, or pass --topic ID"
        )
    return result


def _configure_logging(debug: bool) -> None:
    """Retries and fallbacks are logged; show them with --debug only (the trace has them all)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tog: %(levelname)s: %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if debug else logging.ERROR)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


def _fail(exc: Exception, *, debug: bool) -> NoReturn:
    if debug:
        raise exc
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    typer.echo(f"tog: error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def format_result(result: Result) -> str:
    """The human-readable answer: the answer, the paths behind it, and what it cost."""
    lines = [f"Answer: {result.answer or '(no answer)'}"]
    if len(result.answers) > 1:
        lines.append("Other candidates: " + ", ".join(result.answers[1:]))
    shown = [p for p in result.supporting_paths() if p.triples][:3]
    if shown:
        lines.append("Reasoning paths (KG direction):")
        for k, path in enumerate(shown, 1):
            for j, line in enumerate(path.text().splitlines()):
                lines.append(f"  {f'{k}.' if j == 0 else '  '} {line}")
    usage = result.usage
    backend = "offline scorer, no LLM" if result.llm_backend == "offline" else result.llm_backend
    source = "" if result.answer_source == "kg_paths" else ", from the model's own knowledge"
    lines.append(
        f"[{result.stop_reason}{source}; {usage.llm_calls} LLM call(s) ({backend}); "
        f"{usage.kg_calls} KG queries; {1000 * usage.wall_seconds:.0f} ms]"
    )
    return "\n".join(lines)


@app.command()
def standin(
    port: Annotated[int, typer.Option(help="Loopback port to listen on.")] = 8000,
    model: Annotated[str, typer.Option(help="Model name the stand-in reports.")] = "standin",
    structured_outputs: Annotated[
        str,
        typer.Option(
            help="`enforce` structured-output fields (replies shaped to the schema, HTTP 400 on "
            "malformed fields) or `ignore` them like a server without the feature."
        ),
    ] = "ignore",
) -> None:
    """Serve a local stand-in for a vLLM server (NOT a model: the offline scorer answers)."""
    from tog.llm.standin import main as standin_main

    args = ["--port", str(port), "--model", model, "--structured-outputs", structured_outputs]
    raise typer.Exit(standin_main(args))


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``tog``)."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="tog")
