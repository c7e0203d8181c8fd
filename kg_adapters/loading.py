"""`load_graph`: open a KG file as a `NetworkXGraph`, choosing the reader from its extension."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from kg_adapters.errors import KGLoadError
from kg_adapters.nx_graph import NetworkXGraph

__all__ = ["DELIMITED_EXTENSIONS", "load_graph", "sniff_separator"]

DELIMITED_EXTENSIONS: frozenset[str] = frozenset({".tsv", ".txt", ".csv"})
"""Extensions read as ``head<SEP>relation<SEP>tail`` lines (each also with ``.gz``)."""

_CANDIDATE_SEPARATORS = ("\t", "|", ",")
_SNIFF_LINES = 50


def load_graph(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    format: str | None = None,
) -> NetworkXGraph:
    """Load a knowledge-graph file into memory.

    ``.tsv``, ``.txt`` and ``.csv`` files (optionally ``.gz``) are read by
    `NetworkXGraph.from_tsv`, with ``sep`` or else a separator sniffed by `sniff_separator` (a
    ``.csv`` file is split on commas without quoting rules). RDF files (see
    `kg_adapters.rdf_graph.RDF_FORMATS`), or any file when ``format`` is given, are read by
    `NetworkXGraph.from_rdf`.

    >>> load_graph("/nonexistent/kb.txt")
    Traceback (most recent call last):
    ...
    kg_adapters.errors.KGLoadError: no such file: /nonexistent/kb.txt

    Args:
        path: The file.
        sep: Field separator of a delimited file; sniffed when ``None``.
        format: rdflib parser name; forces RDF parsing.

    Returns:
        The loaded graph.

    Raises:
        KGLoadError: If the file is missing, its extension unknown, its separator undetectable, or
            its content malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise KGLoadError(f"no such file: {file}", adapter="networkx")
    if format is not None:
        return NetworkXGraph.from_rdf(file, format=format)
    inner = file.with_suffix("") if file.suffix.lower() == ".gz" else file
    extension = inner.suffix.lower()
    if extension in DELIMITED_EXTENSIONS:
        return NetworkXGraph.from_tsv(file, sep=sep if sep is not None else sniff_separator(file))
    from kg_adapters.rdf_graph import RDF_FORMATS  # rdflib is imported only for RDF files

    if extension in RDF_FORMATS:
        return NetworkXGraph.from_rdf(file)
    supported = ", ".join(sorted(DELIMITED_EXTENSIONS | set(RDF_FORMATS)))
    raise KGLoadError(
        f"unknown KG file extension {extension!r} for {file}; supported: {supported} "
        "(each also with .gz)",
        adapter="networkx",
    )


def sniff_separator(path: str | os.PathLike[str], *, comment: str = "#") -> str:
    """Guess the field separator of a delimited triple file.

    The first non-blank, non-comment lines (up to 50) are read; the first of tab, ``|`` and ``,``
    that splits every one of them into exactly three fields wins.

    Args:
        path: The file (``.gz`` allowed).
        comment: Prefix of comment lines.

    Returns:
        The separator.

    Raises:
        KGLoadError: If the file cannot be read, holds no triple lines, or no candidate fits.
    """
    file = Path(path)
    lines: list[str] = []
    try:
        compressed = file.suffix.lower() == ".gz"
        with (
            gzip.open(file, "rt", encoding="utf-8")
            if compressed
            else file.open(encoding="utf-8") as stream
        ):
            for line in stream:
                stripped = line.strip()
                if stripped and not stripped.startswith(comment):
                    lines.append(stripped)
                    if len(lines) == _SNIFF_LINES:
                        break
    except (OSError, UnicodeDecodeError) as exc:
        raise KGLoadError(f"cannot read {file}: {exc}", adapter="networkx") from exc
    if not lines:
        raise KGLoadError(f"no triple lines in {file}", adapter="networkx")
    for sep in _CANDIDATE_SEPARATORS:
        if all(line.count(sep) == 2 for line in lines):
            return sep
    raise KGLoadError(
        f"cannot detect the separator of {file}: no tab, '|' or ',' splits its first lines into "
        "3 fields; pass sep=",
        adapter="networkx",
    )
