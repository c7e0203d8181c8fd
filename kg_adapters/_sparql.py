"""Pure SPARQL: id validation, escaping, batched query builders and SPARQL-JSON parsing.

Nothing here does I/O. Every IRI is written in full (``<http://...>``), never as a prefixed name:
Oxigraph rejects prefixed names with two dots in the local part (``ns:film.film.directed_by``).
Every query has DISTINCT and a LIMIT. Values from a question or a model never reach a query as
text: ids are validated against the profile's pattern and emitted as escaped IRIs, literals are
escaped string literals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kg_adapters.base import Direction, LiteralValue
from kg_adapters.errors import KGDataError

# Characters that may not appear inside <...> (SPARQL 1.1 IRIREF), plus whitespace and controls.
_IRI_BAD = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_STRING_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}

Term = str | LiteralValue
"""A parsed RDF term: an IRI or blank node (``_:id``) as a string, or a literal."""


def check_iri(value: str) -> str:
    """``value`` if it is an absolute IRI that can be written as ``<value>``, else ValueError.

    >>> check_iri("http://rdf.freebase.com/ns/m.02mjmr")
    'http://rdf.freebase.com/ns/m.02mjmr'
    >>> check_iri("http://x/a> } UNION { ?s ?p ?o")
    Traceback (most recent call last):
    ...
    ValueError: not a valid IRI: 'http://x/a> } UNION { ?s ?p ?o'
    """
    if not isinstance(value, str) or not _SCHEME.match(value) or _IRI_BAD.search(value):
        raise ValueError(f"not a valid IRI: {value!r}")
    return value


def iri(value: str) -> str:
    """``<value>`` after `check_iri`."""
    return f"<{check_iri(value)}>"


def string_literal(text: str, *, language: str | None = None) -> str:
    r"""A SPARQL string literal with every special character escaped.

    >>> string_literal('say "hi"\n', language="en")
    '"say \\"hi\\"\\n"@en'
    """
    if any(ch < " " and ch not in _STRING_ESCAPES for ch in text):
        raise ValueError("control characters cannot be sent in a SPARQL string literal")
    escaped = "".join(_STRING_ESCAPES.get(ch, ch) for ch in text)
    if language is None:
        return f'"{escaped}"'
    if not _LANG.match(language):
        raise ValueError(f"not a valid language tag: {language!r}")
    return f'"{escaped}"@{language}'


def values(variable: str, iris: Iterable[str]) -> str:
    """``VALUES ?variable { <a> <b> }``."""
    _check_var(variable)
    return f"VALUES ?{variable} {{ {' '.join(iri(v) for v in iris)} }}"


def values_pairs(first: str, second: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``VALUES (?first ?second) { (<a> <b>) ... }``."""
    _check_var(first)
    _check_var(second)
    rows = " ".join(f"({iri(a)} {iri(b)})" for a, b in pairs)
    return f"VALUES (?{first} ?{second}) {{ {rows} }}"


def _check_var(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a SPARQL variable name: {name!r}")


def _from(graph: str | None) -> str:
    return f"FROM {iri(graph)} " if graph else ""


def relations_query(
    entities: Sequence[str], direction: Direction, *, limit: int, graph: str | None = None
) -> str:
    """Distinct predicates at each entity, as ``?e ?r`` rows."""
    pattern = "?e ?r ?x" if direction == "out" else "?x ?r ?e"
    return (
        f"SELECT DISTINCT ?e ?r {_from(graph)}WHERE {{ {values('e', entities)} {pattern} . }} "
        f"LIMIT {int(limit)}"
    )


def describe_query(entities: Sequence[str], *, limit: int, graph: str | None = None) -> str:
    """Every outgoing ``?e ?r ?x`` fact of the entities (compound nodes are small)."""
    return (
        f"SELECT DISTINCT ?e ?r ?x {_from(graph)}WHERE {{ {values('e', entities)} ?e ?r ?x . }} "
        f"LIMIT {int(limit)}"
    )


def relations_both_query(entities: Sequence[str], *, limit: int, graph: str | None = None) -> str:
    """Distinct predicates at each entity in both directions, as ``?d ?e ?r`` rows."""
    return (
        f"SELECT DISTINCT ?d ?e ?r {_from(graph)}WHERE {{ {values('e', entities)} "
        '{ ?e ?r ?x . BIND("out" AS ?d) } UNION { ?x ?r ?e . BIND("in" AS ?d) } } '
        f"LIMIT {int(limit)}"
    )


def neighbors_both_query(
    out_pairs: Sequence[tuple[str, str]],
    in_pairs: Sequence[tuple[str, str]],
    *,
    limit: int,
    graph: str | None = None,
) -> str:
    """Distinct nodes for outgoing and incoming (entity, relation) pairs in one query.

    Rows are ``?d ?e ?r ?n``, ordered, so a caller can cut each pair at its own limit.
    """
    parts = []
    if out_pairs:
        parts.append(f'{{ {values_pairs("e", "r", out_pairs)} ?e ?r ?n . BIND("out" AS ?d) }}')
    if in_pairs:
        parts.append(f'{{ {values_pairs("e", "r", in_pairs)} ?n ?r ?e . BIND("in" AS ?d) }}')
    return (
        f"SELECT DISTINCT ?d ?e ?r ?n {_from(graph)}WHERE {{ {' UNION '.join(parts)} }} "
        f"ORDER BY ?d ?e ?r ?n LIMIT {int(limit)}"
    )


def neighbors_query(
    pairs: Sequence[tuple[str, str]],
    direction: Direction,
    *,
    limit: int,
    graph: str | None = None,
    offset: int = 0,
) -> str:
    """Distinct nodes reached by each (entity, relation) pair, as ``?e ?r ?n`` rows."""
    pattern = "?e ?r ?n" if direction == "out" else "?n ?r ?e"
    page = f" OFFSET {int(offset)}" if offset else ""
    return (
        f"SELECT DISTINCT ?e ?r ?n {_from(graph)}WHERE {{ {values_pairs('e', 'r', pairs)} "
        f"{pattern} . }} ORDER BY ?e ?r ?n LIMIT {int(limit)}{page}"
    )


def neighbor_counts_query(
    pairs: Sequence[tuple[str, str]], direction: Direction, *, graph: str | None = None
) -> str:
    """How many distinct nodes each (entity, relation) pair reaches, as ``?e ?r ?c`` rows."""
    pattern = "?e ?r ?n" if direction == "out" else "?n ?r ?e"
    return (
        f"SELECT ?e ?r (COUNT(DISTINCT ?n) AS ?c) {_from(graph)}WHERE {{ "
        f"{values_pairs('e', 'r', pairs)} {pattern} . }} GROUP BY ?e ?r LIMIT {len(pairs)}"
    )


def labels_query(
    entities: Sequence[str],
    predicates: Sequence[str],
    *,
    limit: int,
    graph: str | None = None,
) -> str:
    """Every label-like value of each entity, as ``?e ?p ?label`` rows (language picked later)."""
    return (
        f"SELECT DISTINCT ?e ?p ?label {_from(graph)}WHERE {{ {values('e', entities)} "
        f"{values('p', predicates)} ?e ?p ?label . }} LIMIT {int(limit)}"
    )


def exact_label_query(
    text: str,
    predicates: Sequence[str],
    languages: Sequence[str | None],
    *,
    limit: int,
    graph: str | None = None,
) -> str:
    """Entities whose label or alias equals ``text`` exactly, in one of ``languages``."""
    literals = " ".join(string_literal(text, language=lang) for lang in languages)
    return (
        f"SELECT DISTINCT ?e ?p ?label {_from(graph)}WHERE {{ VALUES ?label {{ {literals} }} "
        f"{values('p', predicates)} ?e ?p ?label . }} LIMIT {int(limit)}"
    )


def exact_labels_query(
    texts: Sequence[str],
    predicates: Sequence[str],
    languages: Sequence[str | None],
    *,
    graph: str | None = None,
) -> str:
    """Entities whose name equals any of ``texts`` (one query for a whole question's n-grams)."""
    literals = " ".join(string_literal(text, language=lang) for text in texts for lang in languages)
    return (
        f"SELECT DISTINCT ?e ?label {_from(graph)}WHERE {{ VALUES ?label {{ {literals} }} "
        f"{values('p', predicates)} ?e ?p ?label . }} LIMIT {50 * max(1, len(texts))}"
    )


@dataclass(frozen=True, slots=True)
class Bindings:
    """Parsed SPARQL-JSON rows, plus whether the server said it capped the result."""

    rows: list[dict[str, Term]]
    variables: tuple[str, ...]


def parse_results(data: object) -> Bindings:
    """Parse a SPARQL 1.1 JSON result (``results.bindings``); raise `KGDataError` if malformed.

    Literals keep their datatype and language; Virtuoso's ``typed-literal`` is read like
    ``literal`` with a ``datatype``. Blank nodes become ``_:id`` strings.
    """
    if not isinstance(data, Mapping):
        raise KGDataError("SPARQL result is not a JSON object")
    head = data.get("head", {})
    variables = tuple(head.get("vars", [])) if isinstance(head, Mapping) else ()
    results = data.get("results")
    if not isinstance(results, Mapping) or not isinstance(results.get("bindings"), list):
        raise KGDataError("SPARQL result has no results.bindings list")
    rows: list[dict[str, Term]] = []
    for binding in results["bindings"]:
        if not isinstance(binding, Mapping):
            raise KGDataError("SPARQL binding is not an object")
        rows.append({str(k): parse_term(v) for k, v in binding.items()})
    return Bindings(rows, tuple(str(v) for v in variables))


def parse_term(value: object) -> Term:
    """One SPARQL-JSON term."""
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
        raise KGDataError(f"malformed SPARQL term: {value!r}")
    kind = value.get("type")
    text = value["value"]
    if kind == "uri":
        return str(text)
    if kind == "bnode":
        return f"_:{text}"
    if kind in ("literal", "typed-literal"):
        datatype = value.get("datatype")
        language = value.get("xml:lang")
        return LiteralValue(
            str(text),
            str(datatype) if isinstance(datatype, str) else None,
            str(language) if isinstance(language, str) else None,
        )
    raise KGDataError(f"unknown SPARQL term type: {kind!r}")


def pick_label(candidates: Sequence[LiteralValue], languages: Sequence[str | None]) -> str | None:
    """The label in the first preferred language that has one (``None`` = untagged), else any."""
    for language in languages:
        for literal in candidates:
            if literal.language == language or (language is None and not literal.language):
                return literal.lexical
    return min((c.lexical for c in candidates), default=None)


MAX_ROWS = 10_000
"""Rows asked of one query: Virtuoso refuses to sort more, and row caps hide beyond it."""


def batched(items: Sequence[str], size: int) -> list[Sequence[str]]:
    """Split ``items`` into chunks of at most ``size`` (VALUES blocks stay small)."""
    return [items[i : i + size] for i in range(0, len(items), size)] if items else []
