"""``tog corpus``: build ConceptNet corpora for language adapters, and train one.

Examples: ``tog corpus conceptnet --source conceptnet-assertions-5.7.0.csv.gz --lang mt,am
--out corpora`` (add ``--templates paper --filter start`` for the paper's recipe), then
``tog corpus train-adapter --corpus corpora/mt --model MODEL --adapter seq_bn --out DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kg_adapters.conceptnet_corpus import CorpusStats

corpus_app = typer.Typer(
    name="corpus",
    help="Training corpora from knowledge graphs (ConceptNet -> MLM sentences) and adapters.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"tog: error: {' '.join(message.split())}", err=True)
    return typer.Exit(1)


@corpus_app.command()
def conceptnet(
    source: Annotated[
        Path,
        typer.Option(
            help="ConceptNet assertions dump (.csv or .csv.gz), a ConceptNet SQLite index, or "
            "API-shaped JSON ({word: [edges]})."
        ),
    ],
    lang: Annotated[str, typer.Option(help="Language codes, comma-separated (mt,am).")],
    out: Annotated[Path, typer.Option(help="Output folder: OUT/<lang>/ and OUT/stats.json.")],
    format: Annotated[
        str, typer.Option(help="txt, csv, jsonl or hf; several comma-separated.")
    ] = "txt",
    templates: Annotated[
        str, typer.Option(help="paper, corrected, or a template pack (.toml/.json).")
    ] = "corrected",
    filter: Annotated[
        str, typer.Option(help="Which end must be in the language: start, end, either, both.")
    ] = "either",
    relations: Annotated[
        str | None, typer.Option(help="Relations, comma-separated (default: the paper's 33).")
    ] = None,
    min_weight: Annotated[float | None, typer.Option(help="Drop lighter edges.")] = None,
    surface_text: Annotated[
        bool, typer.Option(help="Use an edge's surfaceText instead of a template.")
    ] = False,
    dedupe: Annotated[bool, typer.Option(help="Drop repeated sentences per language.")] = True,
    split: Annotated[str, typer.Option(help="Train,validation,test ratios.")] = "0.8,0.1,0.1",
    split_method: Annotated[str, typer.Option(help="hash (streamed) or shuffle.")] = "hash",
    seed: Annotated[int, typer.Option(help="Split seed.")] = 42,
    paper_csv_names: Annotated[
        bool, typer.Option(help="Name CSVs train_cn_<lang>.csv, val_cn_..., test_cn_...")
    ] = False,
) -> None:
    """Verbalise ConceptNet edges into per-language train/validation/test corpora.

    One streaming pass over the dump serves every language. The paper's recipe (Gurgurov et
    al. 2025) is ``--templates paper --filter start``; the default (corrected templates, either
    end in the language) fixes its reversed relations and keeps up to 3x more edges.
    """
    from kg_adapters.conceptnet_corpus import build_corpus

    try:
        ratios = tuple(float(part) for part in split.split(","))
    except ValueError as exc:
        raise _fail(f"--split must be three comma-separated numbers, not {split!r}") from exc
    if len(ratios) != 3:
        raise _fail(f"--split must be three comma-separated numbers, not {split!r}")
    if not source.is_file():
        raise _fail(f"no such file: {source}")
    progress_bar = typer.progressbar(
        length=source.stat().st_size,
        label=f"reading {source.name}",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),
    )
    done = [0]

    def advance(read: int, _total: int) -> None:
        progress_bar.update(read - done[0])
        done[0] = read

    try:
        with progress_bar:
            stats = build_corpus(
                source,
                [code.strip() for code in lang.split(",") if code.strip()],
                out,
                format=format,
                templates=templates,
                filter=filter,  # type: ignore[arg-type]
                relations=relations.split(",") if relations else None,
                min_weight=min_weight,
                use_surface_text=surface_text,
                dedupe=dedupe,
                split=(ratios[0], ratios[1], ratios[2]),
                split_method=split_method,  # type: ignore[arg-type]
                seed=seed,
                paper_csv_names=paper_csv_names,
                progress=advance,
            )
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc
    _print_table(stats)
    typer.echo(f"wrote {out}/<lang>/ and {out / 'stats.json'}")


def _print_table(stats: CorpusStats) -> None:
    """The per-language table: rich when installed, else plain columns."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [
            max(len(h), *(len(r[i]) for r in stats.rows())) for i, h in enumerate(stats.HEADER)
        ]
        for row in (stats.HEADER, *stats.rows()):
            typer.echo(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            )
        return
    table = Table(title=f"ConceptNet corpus from {stats.source}")
    for header in stats.HEADER:
        table.add_column(header)
    for row in stats.rows():
        table.add_row(*row)
    Console(width=160).print(table)


@corpus_app.command("train-adapter")
def train_adapter(
    corpus: Annotated[Path, typer.Option(help="A language folder: OUT/<lang>.")],
    model: Annotated[str, typer.Option(help="Hugging Face model name or local folder.")],
    out: Annotated[Path, typer.Option(help="Where the adapter (and its log) is saved.")],
    adapter: Annotated[
        str, typer.Option(help="seq_bn, seq_bn_inv, double_seq_bn or lora.")
    ] = "seq_bn",
    steps: Annotated[int, typer.Option(help="Training steps (paper: 25,000).")] = 25_000,
    learning_rate: Annotated[float, typer.Option(help="Paper: 1e-4.")] = 1e-4,
    batch_size: Annotated[int, typer.Option(help="Paper: 16.")] = 16,
    max_length: Annotated[int, typer.Option(help="Tokens per sentence (paper: 512).")] = 512,
    reduction_factor: Annotated[
        int | None, typer.Option(help="Bottleneck reduction factor (library default 16).")
    ] = None,
    eval_steps: Annotated[int, typer.Option(help="Evaluate every N steps (paper: 500).")] = 500,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 42,
) -> None:
    r"""Train a masked-LM language adapter (AdapterHub ``adapters``) on a built corpus.

    The paper's setting (Gurgurov et al. 2025), for mBERT and XLM-R::

        tog corpus train-adapter --corpus corpora/mt --out adapters/mt-mbert \
            --model google-bert/bert-base-multilingual-cased --adapter seq_bn
        tog corpus train-adapter --corpus corpora/mt --out adapters/mt-xlmr \
            --model FacebookAI/xlm-roberta-base --adapter lora

    Needs ``pip install 'think-on-graph[adapters]'``; a GPU is advisable for 25,000 steps.
    """
    try:
        from tog.language_adapter import train_language_adapter

        report = train_language_adapter(
            corpus,
            model,
            out,
            adapter=adapter,
            steps=steps,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
            reduction_factor=reduction_factor,
            eval_steps=eval_steps,
            seed=seed,
        )
    except (ImportError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        f"trained {adapter} for {report.steps} steps: loss {report.first_loss:.3f} -> "
        f"{report.last_loss:.3f}; adapter saved in {report.adapter_dir}"
    )
