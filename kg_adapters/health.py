"""A health check for a SPARQL-backed KG: catch a broken or partial dump before a long run.

It asks a few cheap questions: is the store reachable, how many triples does it hold, do sampled
entities have names, are the relations the profile expects present, and how fast is a one-hop
query. Each answer is a `Check`; the report is healthy when every check passes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from kg_adapters._sparql import iri
from kg_adapters.base import LiteralValue
from kg_adapters.errors import KGError
from kg_adapters.sparql import FREEBASE_NS, RDF_TYPE, WD_DIRECT, SPARQLGraph

EXPECTED: dict[str, tuple[str, ...]] = {
    "freebase": (FREEBASE_NS + "type.object.name",),
    "wikidata": ("http://www.w3.org/2000/01/rdf-schema#label", WD_DIRECT + "P31"),
    "rdf": (),
}
"""Predicates a healthy dump of each profile must contain."""


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its name, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """All checks of one run; ``ok`` when every check passed."""

    checks: tuple[Check, ...]
    triples: int | None = None
    name_coverage: float | None = None
    latency_ms: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]


def check_graph(
    graph: SPARQLGraph, *, sample: int = 50, min_name_coverage: float = 0.5, probes: int = 5
) -> HealthReport:
    """Run every check against ``graph`` and return the report (never raises `KGError`).

    Args:
        graph: The KG to check (its profile decides the expectations).
        sample: Entities sampled for the name-coverage check.
        min_name_coverage: Share of sampled entities that must have a name.
        probes: One-hop queries timed for the latency figure.
    """
    checks: list[Check] = []
    try:
        graph.source.select("SELECT (1 AS ?one) WHERE { } LIMIT 1")
    except KGError as exc:
        return HealthReport((Check("reachable", False, str(exc).splitlines()[0]),))
    checks.append(Check("reachable", True, "answers SPARQL queries"))

    triples = _count(graph, "?s ?p ?o")
    checks.append(Check("triples", bool(triples), f"{triples:,} triples" if triples else "empty"))

    for predicate in EXPECTED.get(graph.profile.name, ()):
        present = _count(graph, f"?s {iri(predicate)} ?o")
        checks.append(
            Check(
                f"relation {_short(predicate)}",
                bool(present),
                f"{present:,} triples" if present else "missing: the dump lacks this relation",
            )
        )

    subjects = _sample_subjects(graph, sample)
    coverage: float | None = None
    if subjects:
        named = graph.labels(subjects)
        coverage = len(named) / len(subjects)
        checks.append(
            Check(
                "names",
                coverage >= min_name_coverage,
                f"{len(named)} of {len(subjects)} sampled entities have a name "
                f"({coverage:.0%}; need {min_name_coverage:.0%})",
            )
        )
    else:
        checks.append(Check("names", False, "no entity to sample"))

    latency: float | None = None
    if subjects:
        timings = []
        for entity in subjects[:probes]:
            start = time.perf_counter()
            graph.relations([entity], direction="out")
            timings.append(time.perf_counter() - start)
        latency = 1000 * statistics.median(timings)
        checks.append(Check("latency", True, f"one-hop relations query: {latency:.1f} ms median"))
    return HealthReport(tuple(checks), triples, coverage, latency)


def _from(graph: SPARQLGraph) -> str:
    return f"FROM {iri(graph.graph)}" if graph.graph else ""


def _count(graph: SPARQLGraph, pattern: str) -> int:
    query = f"SELECT (COUNT(*) AS ?c) {_from(graph)} WHERE {{ {pattern} }}"
    rows = graph.source.select(query).rows
    value = rows[0].get("c") if rows else None
    return int(float(value.lexical)) if isinstance(value, LiteralValue) else 0


def _sample_subjects(graph: SPARQLGraph, size: int) -> list[str]:
    """Subjects of domain relations (not names or types): what the search would visit."""
    namespace = graph.profile.entity_ns
    hidden = " ".join(
        iri(p) for p in (*graph.profile.label_predicates, RDF_TYPE, *graph.profile.hidden_relations)
    )
    query = (
        f"SELECT DISTINCT ?s {_from(graph)} WHERE {{ ?s ?p ?o . "
        f"FILTER(isIRI(?s) && ?p NOT IN ({hidden.replace(' ', ', ')})) }} LIMIT {size * 20}"
    )
    out: list[str] = []
    for row in graph.source.select(query).rows:
        subject = row.get("s")
        if isinstance(subject, str) and (namespace is None or subject.startswith(namespace)):
            short = graph.profile.entity_of(subject)
            if graph.profile.entity_iri(short) is not None and short not in out:
                out.append(short)
        if len(out) >= size:
            break
    return out


def _short(predicate: str) -> str:
    return predicate.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
