"""``tog eval``: run a KGQA benchmark to a resumable run folder, report on it, compare two runs.

Examples::

    tog eval run pq-2h --data ../shared/data/pathquestion/PathQuestion --out runs/pq2 --limit 300
    tog eval run cwq --data cwq.json --kg sparql+freebase:URL --llm URL --model M --out runs/cwq
    tog eval run pq-2h --data ... --out runs/pq2 --limit 300 --resume   # after a crash or Ctrl-C
    tog eval report runs/pq2 --json
    tog eval compare runs/a runs/b
    tog eval download cwq --out data/   # the public ToG question files
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from eval.runner import RunProgress

eval_app = typer.Typer(
    name="eval",
    help="Evaluate on KGQA benchmarks: run (resumable), report, compare, download.",
    no_args_is_help=True,
)

DATASET_NAMES = (
    "metaqa-1hop metaqa-2hop metaqa-3hop pq-2h pq-3h pql-2h pql-3h wc-p2 wc-c cwq cwq-slice "
    "webqsp grailqa simpleqa webquestions qald10 trex zsre creak"
)
EXIT_INTERRUPTED = 130


def _fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(f"tog: error: {message.splitlines()[0] if message else 'failed'}", err=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[Exception], ...]:
    """Failures that are the input's fault or the environment's: one line, exit 1."""
    from eval.config import ConfigError
    from eval.datasets import DatasetError
    from eval.runner import RunError
    from kg_adapters.errors import KGError
    from tog.errors import ToGError

    return (ConfigError, DatasetError, RunError, KGError, ToGError, OSError, ValueError)


def _configure_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tog: %(levelname)s: %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)


class _ProgressBar:
    """Questions done, rate, Hits@1 so far and ETA on stderr (rich when installed, else lines)."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self._label = label
        self._enabled: bool | Literal["lines"] = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last = 0.0

    def __enter__(self) -> _ProgressBar:
        return self

    def _start(self) -> None:
        """Start the bar at the first update, so a run failing to start shows none."""
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            self._enabled = "lines"
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} q/s  hits@1 {task.fields[accuracy]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        progress.start()
        self._progress = progress
        self._task = progress.add_task(self._label, total=None, rate="-", accuracy="-")

    def update(self, state: RunProgress) -> None:
        """Show ``state``."""
        if not self._enabled:
            return
        if self._enabled is True and self._progress is None:
            self._start()
        rate = state.answered_now / state.seconds if state.seconds > 0 else 0.0
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                total=state.total,
                completed=state.done,
                rate=f"{rate:.1f}",
                accuracy=f"{state.accuracy:.3f}",
            )
            return
        now = time.monotonic()
        if now - self._last >= 5 or state.done == state.total:
            self._last = now
            typer.echo(
                f"{self._label}: {state.done}/{state.total}  {rate:.1f} q/s  "
                f"hits@1 {state.accuracy:.3f}",
                err=True,
            )

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@eval_app.command("run")
def run_command(
    dataset: Annotated[
        str | None, typer.Argument(help=f"The benchmark: {DATASET_NAMES}.", show_default=False)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="The dataset's file, or its folder (for MetaQA and PathQuestion the folder "
            "holding the KB too, so --kg may be omitted)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder: run.json + results.jsonl (+ report.md, report.json)."),
    ] = None,
    kg: Annotated[
        str | None,
        typer.Option(
            help="Graph spec (a triples file, sparql+freebase:URL, oxigraph+freebase:DIR, ...); "
            "default: the dataset's own KB."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    sample: Annotated[
        int | None, typer.Option(help="N questions spread evenly over the file.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="LLM requests in flight (offline: questions per round). Default 8."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out: skip answered questions.")
    ] = False,
    llm: Annotated[
        list[str] | None,
        typer.Option(
            help="OpenAI-compatible endpoint (repeatable); without it the offline scorer runs."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model name; default: the endpoint's only model.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Endpoint API key (default: $TOG_LLM_API_KEY); never recorded."),
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per LLM request.")] = None,
    structured_outputs: Annotated[
        bool | None, typer.Option(help="Ask the endpoint for schema-constrained replies.")
    ] = None,
    linking: Annotated[
        str | None,
        typer.Option(
            help="gold: the dataset's topic entities (ToG's setting); linked: found in the text."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML run configuration; flags override it.")
    ] = None,
    width: Annotated[int | None, typer.Option(help="Beam width N.")] = None,
    depth: Annotated[int | None, typer.Option(help="Maximum depth D.")] = None,
    variant: Annotated[str | None, typer.Option(help="`tog` or `tog-r`.")] = None,
    prune_tool: Annotated[str | None, typer.Option(help="`auto`, `llm` or `bm25`.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling and request seed.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    record: Annotated[
        Path | None,
        typer.Option(help="Record every LLM and KG exchange into this folder (tog.record)."),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Answer from a recording only: no graph or model is opened, no network; "
            "an unrecorded request stops the run."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Run DATASET and append one JSON line per question to OUT/results.jsonl."""
    _configure_logging(debug)
    if out is None:
        _fail("--out is required (the run folder)")
    try:
        from eval import config as run_config
        from eval.report import write_report
        from eval.runner import run

        base = run_config.load_run_config(config) if config is not None else run_config.RunConfig()
        llm_settings: dict[str, object] | None = None
        if llm:
            urls = [u.strip() for item in llm for u in item.split(",") if u.strip()]
            previous = base.llm.model_dump() if base.llm is not None else {}
            llm_settings = {**previous, "url": urls}
        elif model is not None or timeout is not None or structured_outputs is not None:
            if base.llm is None:
                raise run_config.ConfigError(
                    "--model, --timeout and --structured-outputs need --llm"
                )
            llm_settings = base.llm.model_dump()
        if llm_settings is not None:
            llm_settings.update(
                {
                    k: v
                    for k, v in (
                        ("model", model),
                        ("timeout", timeout),
                        ("structured_outputs", structured_outputs),
                    )
                    if v is not None
                }
            )
        settings = run_config.merge(
            base,
            {
                "dataset": dataset,
                "data": data,
                "kg": kg,
                "limit": limit,
                "sample": sample,
                "concurrency": concurrency,
                "linking": linking,
                "llm": llm_settings,
            },
            {
                "width": width,
                "depth": depth,
                "variant": variant,
                "prune_tool": prune_tool,
                "seed": seed,
            },
        )
        key = api_key or run_config.api_key_from_environment()
        bar = _ProgressBar(settings.dataset or "eval", enabled=progress)
        with bar:
            outcome = run(
                settings,
                out,
                resume=resume,
                api_key=key,
                on_progress=bar.update,
                record=record,
                replay=replay,
            )
        summary = write_report(out)
    except KeyboardInterrupt:
        _fail(f"interrupted; finished questions are in {out}: continue with --resume", code=130)
    except _user_errors() as exc:
        if debug:
            raise
        _fail(str(exc) or type(exc).__name__)
    typer.echo(
        f"{summary['dataset']}: {summary['n']} questions ({outcome.answered} answered now, "
        f"{outcome.skipped} before) in {outcome.seconds:.1f} s; hits@1 {summary['hits@1']:.4f}  "
        f"em {summary['em']:.4f}  f1 {summary['f1']:.4f}  hit {summary['hit']:.4f}"
    )
    typer.echo(f"report: {out / 'report.md'}")


@eval_app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (tog eval run --out).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Summarize RUN_DIR: metrics, breakdowns, costs, failures; writes report.md/.json there."""
    from eval.report import render_markdown, write_report

    try:
        summary = write_report(run_dir)
    except _user_errors() as exc:
        if debug:
            raise
        _fail(str(exc) or type(exc).__name__)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_markdown(summary))


@eval_app.command("compare")
def compare_command(
    run_a: Annotated[Path, typer.Argument(help="The baseline run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The run compared with it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    show: Annotated[int, typer.Option(help="Changed questions listed in the text output.")] = 20,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Per-metric deltas of RUN_B against RUN_A and the questions whose Hits@1 changed."""
    from eval.report import compare, load_run, render_comparison

    try:
        comparison = compare(load_run(run_a), load_run(run_b))
    except _user_errors() as exc:
        if debug:
            raise
        _fail(str(exc) or type(exc).__name__)
    if as_json:
        typer.echo(json.dumps(comparison, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_comparison(comparison, show=show))


@eval_app.command("download")
def download_command(
    dataset: Annotated[str, typer.Argument(help=f"One of: {DATASET_NAMES}.")],
    out: Annotated[Path, typer.Option(help="Folder to save the dataset's files into.")],
    base_url: Annotated[
        str | None,
        typer.Option(help="A mirror holding the same files (default: the upstream repository)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.")] = False,
) -> None:
    """Fetch DATASET's public question file (and KB, where published) into OUT."""
    from eval.download import download

    shown_any = [False]

    def shown(file: Path, done: int, total: int | None) -> None:
        size = f"/{total:,}" if total else ""
        typer.echo(f"\r{file.name}: {done:,}{size} bytes", err=True, nl=False)
        shown_any[0] = True

    try:
        path = download(dataset, out, base_url=base_url, progress=shown)
    except _user_errors() as exc:
        if debug:
            raise
        if shown_any[0]:
            typer.echo("", err=True)
        _fail(str(exc) or type(exc).__name__)
    if shown_any[0]:
        typer.echo("", err=True)
    typer.echo(f"{dataset}: {path}")
