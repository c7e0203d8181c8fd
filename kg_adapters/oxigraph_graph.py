"""`OxigraphGraph`: a KG slice in an embedded, on-disk Oxigraph store (extra ``sparql``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from kg_adapters.oxigraph_store import OxigraphSource
from kg_adapters.sparql import PROFILES, SPARQLGraph

ProfileName = Literal["freebase", "wikidata", "rdf"]


class OxigraphGraph(SPARQLGraph):
    """A `SPARQLGraph` over an embedded Oxigraph store, for users with slices, not whole KGs.

    Args:
        path: Store folder (created if missing); None keeps the store in memory.
        profile: ``"freebase"``, ``"wikidata"``, or None for plain RDF (full IRIs as ids).
        read_only: Open an existing store read-only (several readers may share it).
        language: Preferred label language.

    >>> kg = OxigraphGraph(None, profile="freebase")
    >>> kg.relations(["m.nope"], direction="out")
    {'m.nope': ()}
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        profile: ProfileName | None = None,
        read_only: bool = False,
        language: str | None = None,
    ) -> None:
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; use one of {sorted(PROFILES)}")
        self.store = OxigraphSource(path, read_only=read_only)
        super().__init__(
            self.store, PROFILES[profile or "rdf"], language=language, index_labels=True
        )

    def load(
        self,
        file: str | Path,
        *,
        format: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Bulk-load an RDF file (N-Triples, Turtle, N-Quads, RDF/XML; plain or ``.gz``).

        Args:
            file: The dump.
            format: Overrides the format guessed from the extension.
            progress: Called as ``progress(bytes_read, file_size)`` while loading.

        Returns:
            The number of triples in the store afterwards.
        """
        self.store.load(file, format=format, progress=progress)
        self.forget_labels()
        return self.store.triple_count()
