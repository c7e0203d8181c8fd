"""The small film graph shipped in the package, for demos, notebooks and ``tog ask``."""

from __future__ import annotations

from importlib import resources

from kg_adapters.loading import load_graph
from kg_adapters.nx_graph import NetworkXGraph


def default_graph() -> NetworkXGraph:
    """The embedded default graph: ~550 triples on well-known films, their makers and places.

    >>> kg = default_graph()
    >>> import tog
    >>> tog.answer("Who directed Inception?", kg=kg).answer
    'Christopher Nolan'
    """
    source = resources.files("tog").joinpath("data/default_kg.tsv")
    with resources.as_file(source) as path:
        return load_graph(path, sep="\t")


__all__ = ["default_graph"]
