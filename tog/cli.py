r"""The ``tog`` command: ask a question of a graph, from the terminal.

    tog ask "Who directed Inception?"                      # the embedded graph, no LLM
    tog ask "..." --kg triples.tsv --sep '\\t'              # your own triples
    tog ask "..." --llm http://127.0.0.1:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
    tog standin --port 8000                                 # a local stand-in server (not a model)

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

from tog.kg_cli import kg_app

if TYPE_CHECKING:
    from kg_adapters.base import KnowledgeGraph
    from tog.config import SearchConfig
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
        str | None,
        typer.Option(
            help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vllm serve)."
        ),
    ] = None,
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
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Answer QUESTION over a knowledge graph and print the answer with its reasoning paths."""
    _configure_logging(debug)
    try:
        result = _ask(
            question,
            kg=kg,
            sep=sep,
            rdf_format=rdf_format,
            topics=topic,
            llm_url=llm,
            model=model,
            api_key=api_key,
            timeout=timeout,
            options={
                "width": width,
                "depth": depth,
                "variant": variant,
                "prune_tool": prune_tool,
                "seed": seed,
            },
        )
    except Exception as exc:
        _fail(exc, debug=debug)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_result(result))


def _ask(
    question: str,
    *,
    kg: str | None,
    sep: str | None,
    rdf_format: str | None,
    topics: list[str] | None,
    llm_url: str | None,
    model: str | None,
    api_key: str | None,
    timeout: float,
    options: dict[str, int | str],
) -> Result:
    from pydantic import ValidationError

    import tog

    if not question.strip():
        raise CLIError("the question is empty")
    try:
        config = tog.SearchConfig.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CLIError(f"--{field.replace('_', '-')}: {first['msg']}") from exc
    graph = load_kg(kg, sep, rdf_format)
    try:
        return _ask_graph(question, graph, topics, llm_url, model, api_key, timeout, config)
    finally:
        close = getattr(graph, "close", None)
        if callable(close):
            close()  # SPARQL graphs own an HTTP client or a store lock


def _ask_graph(
    question: str,
    graph: KnowledgeGraph,
    topics: list[str] | None,
    llm_url: str | None,
    model: str | None,
    api_key: str | None,
    timeout: float,
    config: SearchConfig,
) -> Result:
    import tog
    from tog.llm.openai_compat import OpenAICompatible

    if topics:
        unknown = [
            t
            for t in topics
            if not any(graph.relations([t], direction=d)[t] for d in ("out", "in"))
        ]
        if unknown:
            raise CLIError(f"topic entity not in the graph (no relations): {unknown[0]!r}")
    client = None
    if llm_url is not None:
        client = OpenAICompatible(llm_url, model, api_key=api_key, timeout=timeout)
    with contextlib.closing(client) if client is not None else contextlib.nullcontext():
        result = tog.answer(question, kg=graph, llm=client, topic_entities=topics, config=config)
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
) -> None:
    """Serve a local stand-in for a vLLM server (NOT a model: the offline scorer answers)."""
    from tog.llm.standin import main as standin_main

    raise typer.Exit(standin_main(["--port", str(port), "--model", model]))


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``tog``)."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="tog")
