"""``tog kg``: load a dump (Oxigraph, Virtuoso, Neo4j), check a store, print its statistics."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

import typer

if TYPE_CHECKING:
    from kg_adapters.sparql import SPARQLGraph

kg_app = typer.Typer(
    name="kg",
    help="Knowledge-graph tools: load dumps, check stores before long runs, print statistics.",
    no_args_is_help=True,
)

ProfileName = Literal["freebase", "wikidata", "rdf"]


def _graph(target: str, profile: str, graph: str | None) -> SPARQLGraph:
    """A `SPARQLGraph` for an endpoint URL or an Oxigraph folder, with the named profile."""
    from kg_adapters.sparql import PROFILES, SPARQLGraph

    if profile not in PROFILES:
        raise typer.BadParameter(f"unknown profile {profile!r}; use freebase, wikidata or rdf")
    if target.startswith(("http://", "https://")):
        from kg_adapters.sparql_http import SPARQLEndpoint

        return SPARQLGraph(SPARQLEndpoint(target), PROFILES[profile], graph=graph)
    from kg_adapters.oxigraph_graph import OxigraphGraph

    if not Path(target).is_dir():
        raise typer.BadParameter(f"{target!r} is neither an http(s) endpoint nor a store folder")
    return OxigraphGraph(target, profile=profile, read_only=True)  # type: ignore[arg-type]


@kg_app.command()
def check(
    target: Annotated[str, typer.Argument(help="SPARQL endpoint URL, or an Oxigraph folder.")],
    profile: Annotated[str, typer.Option(help="freebase, wikidata or rdf.")] = "freebase",
    graph: Annotated[str | None, typer.Option(help="Named graph to query.")] = None,
    sample: Annotated[int, typer.Option(help="Entities sampled for the name check.")] = 50,
    min_names: Annotated[
        float, typer.Option(help="Share of sampled entities that must have a name.")
    ] = 0.5,
) -> None:
    """Check a store before a long run: reachable, not empty, names and key relations present.

    Exits 0 when healthy; otherwise 1, with the failed checks on stderr.
    """
    from kg_adapters.health import check_graph

    kg = _graph(target, profile, graph)
    try:
        report = check_graph(kg, sample=sample, min_name_coverage=min_names)
    finally:
        kg.close()
    for item in report.checks:
        typer.echo(f"{'ok  ' if item.ok else 'FAIL'}  {item.name:28} {item.detail}")
    if not report.ok:
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in report.failures())
        typer.echo(f"tog: error: unhealthy KG at {target}: {reasons}", err=True)
        raise typer.Exit(1)


@kg_app.command()
def stats(
    target: Annotated[str, typer.Argument(help="SPARQL endpoint URL, or an Oxigraph folder.")],
    profile: Annotated[str, typer.Option(help="freebase, wikidata or rdf.")] = "freebase",
    graph: Annotated[str | None, typer.Option(help="Named graph to query.")] = None,
    top: Annotated[int, typer.Option(help="How many predicates to list.")] = 15,
) -> None:
    """Print triple count, distinct subjects and the most used predicates."""
    from kg_adapters._sparql import iri
    from kg_adapters.base import LiteralValue

    kg = _graph(target, profile, graph)
    source = f"FROM {iri(graph)} " if graph else ""
    try:
        rows = kg.source.select(
            f"SELECT (COUNT(*) AS ?t) (COUNT(DISTINCT ?s) AS ?s_) {source}WHERE {{ ?s ?p ?o }}"
        ).rows
        top_rows = kg.source.select(
            f"SELECT ?p (COUNT(*) AS ?c) {source}WHERE {{ ?s ?p ?o }} GROUP BY ?p "
            f"ORDER BY DESC(?c) LIMIT {int(top)}"
        ).rows
    finally:
        kg.close()

    def number(value: object) -> str:
        return f"{int(float(value.lexical)):,}" if isinstance(value, LiteralValue) else "?"

    typer.echo(f"triples   {number(rows[0].get('t')) if rows else '0'}")
    typer.echo(f"subjects  {number(rows[0].get('s_')) if rows else '0'}")
    typer.echo("top predicates:")
    for row in top_rows:
        typer.echo(f"  {number(row.get('c')):>12}  {row.get('p')}")


@kg_app.command()
def load(
    dump: Annotated[
        Path,
        typer.Argument(
            help="N-Triples / Turtle / N-Quads file, plain or .gz; for neo4j: .tsv/.txt/.csv "
            "(head, relation, tail) or .nt."
        ),
    ],
    into: Annotated[str, typer.Option(help="oxigraph, virtuoso or neo4j.")] = "oxigraph",
    location: Annotated[
        Path | None, typer.Option(help="oxigraph: the store folder to create or extend.")
    ] = None,
    isql: Annotated[
        str, typer.Option(help="virtuoso: host:port of its SQL port (isql-vt).")
    ] = "127.0.0.1:1111",
    uri: Annotated[
        str | None, typer.Option(help="neo4j: the Bolt URI, e.g. bolt://127.0.0.1:7687.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="virtuoso: DBA user (default dba). neo4j: user (default: no auth)."),
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="virtuoso: DBA password (default dba). neo4j: password.")
    ] = None,
    graph: Annotated[
        str, typer.Option(help="virtuoso: target graph IRI.")
    ] = "http://rdf.freebase.com/",
    staging: Annotated[
        Path | None,
        typer.Option(help="virtuoso: a folder listed in DirsAllowed to stage the dump in."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="neo4j: triples per write batch.")] = 10_000,
    id_property: Annotated[str, typer.Option(help="neo4j: node property of the id.")] = "id",
    name_property: Annotated[str, typer.Option(help="neo4j: node property of the name.")] = "name",
    node_label: Annotated[str, typer.Option(help="neo4j: label of every entity.")] = "Entity",
    database: Annotated[
        str | None, typer.Option(help="neo4j: database name (default: the server's).")
    ] = None,
) -> None:
    """Bulk-load a dump into an embedded Oxigraph store, a running Virtuoso, or Neo4j over Bolt."""
    if not dump.is_file():
        typer.echo(f"tog: error: no such file: {dump}", err=True)
        raise typer.Exit(1)
    start = time.perf_counter()
    if into == "oxigraph":
        if location is None:
            typer.echo("tog: error: --location is required with --into oxigraph", err=True)
            raise typer.Exit(1)
        from kg_adapters.oxigraph_store import OxigraphSource

        size = dump.stat().st_size
        with (
            OxigraphSource(location) as store,
            typer.progressbar(
                length=size, label=f"loading {dump.name}", file=sys.stderr, show_pos=True
            ) as bar,
        ):
            done = [0]

            def advance(read: int, _total: int) -> None:
                bar.update(read - done[0])
                done[0] = read

            store.load(dump, progress=advance)
            count = store.triple_count()
        typer.echo(f"{count:,} triples in {location} ({time.perf_counter() - start:.1f} s)")
        return
    if into == "virtuoso":
        _load_virtuoso(
            dump,
            isql=isql,
            user=user or "dba",
            password=password or "dba",
            graph=graph,
            staging=staging,
        )
        typer.echo(f"loaded {dump} into {graph} ({time.perf_counter() - start:.1f} s)")
        return
    if into == "neo4j":
        _load_neo4j(
            dump,
            uri=uri,
            auth=(user, password or "") if user else None,
            database=database,
            batch_size=batch_size,
            id_property=id_property,
            name_property=name_property,
            node_label=node_label,
        )
        return
    typer.echo(f"tog: error: --into must be oxigraph, virtuoso or neo4j, not {into!r}", err=True)
    raise typer.Exit(1)


def _load_neo4j(
    dump: Path,
    *,
    uri: str | None,
    auth: tuple[str, str] | None,
    database: str | None,
    batch_size: int,
    id_property: str,
    name_property: str,
    node_label: str,
) -> None:
    """`kg_adapters.neo4j_load.load_triples` with a progress bar and one-line errors."""
    from kg_adapters.errors import KGError

    if not uri:
        typer.echo("tog: error: --uri is required with --into neo4j", err=True)
        raise typer.Exit(1)
    _check_reachable(uri)
    from kg_adapters.neo4j_load import load_triples

    size = dump.stat().st_size
    try:
        with typer.progressbar(
            length=size, label=f"loading {dump.name}", file=sys.stderr, show_pos=True
        ) as bar:
            done = [0]

            def advance(read: int, _total: int) -> None:
                bar.update(read - done[0])
                done[0] = read

            report = load_triples(
                uri,
                dump,
                auth=auth,
                database=database,
                batch_size=batch_size,
                id_property=id_property,
                name_property=name_property,
                node_label=node_label,
                progress=advance,
            )
    except (KGError, ValueError) as exc:
        typer.echo(f"tog: error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{report.triples:,} triples from {dump.name} into {uri}: {report.nodes:,} nodes and "
        f"{report.relationships:,} relationships created ({report.seconds:.1f} s)"
    )


def _check_reachable(uri: str) -> None:
    """Fail fast, in one line, when nothing listens at the URI's host and port.

    The driver would otherwise retry for half a minute. The probe connection also clears
    FalkorDB's stalled first handshake (docs/environment.md section 7).
    """
    parsed = urlsplit(uri)
    if not parsed.scheme.startswith(("bolt", "neo4j")) or not parsed.hostname:
        typer.echo(f"tog: error: --uri must look like bolt://HOST:PORT, not {uri!r}", err=True)
        raise typer.Exit(1)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 7687), timeout=5):
            pass
    except (OSError, ValueError) as exc:
        typer.echo(f"tog: error: cannot reach {uri}: {exc}", err=True)
        raise typer.Exit(1) from exc


def _load_virtuoso(
    dump: Path, *, isql: str, user: str, password: str, graph: str, staging: Path | None
) -> None:
    """ld_dir + rdf_loader_run + checkpoint through ``isql-vt``; verify the load list."""
    from kg_adapters._sparql import check_iri

    binary = shutil.which("isql-vt") or shutil.which("isql")
    if binary is None:
        typer.echo("tog: error: isql-vt not found (apt-get install virtuoso-opensource)", err=True)
        raise typer.Exit(1)
    check_iri(graph)
    folder = (staging or Path(tempfile.mkdtemp(prefix="tog-load-"))).resolve()
    if not _SAFE_PATH.fullmatch(folder.as_posix()):
        typer.echo(f"tog: error: staging folder path has unusual characters: {folder}", err=True)
        raise typer.Exit(1)
    # isql's exec= line is SQL: stage the dump under a plain name so nothing needs quoting.
    suffix = "".join(s for s in dump.suffixes if _SAFE_PATH.fullmatch(s))
    target = folder / f"tog-load{suffix}"
    shutil.copyfile(dump, target)
    path = target.as_posix()
    script = (
        f"ld_dir('{folder.as_posix()}', '{target.name}', '{graph}'); rdf_loader_run(); "
        f"checkpoint; SELECT ll_state, ll_error FROM DB.DBA.load_list WHERE ll_file = '{path}';"
    )
    typer.echo(f"loading {dump} into Virtuoso ({isql}), graph {graph} ...", err=True)
    done = subprocess.run(
        [binary, isql, user, password, f"exec={script}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=24 * 3600,
    )
    output = done.stdout + done.stderr
    loaded = re.search(r"^\s*2\s+NULL\s*$", output, flags=re.MULTILINE)
    if done.returncode != 0 or "*** Error" in output or not loaded:
        last = " | ".join([line for line in output.splitlines() if line.strip()][-3:])
        typer.echo(f"tog: error: Virtuoso load failed: {last}", err=True)
        raise typer.Exit(1)


_SAFE_PATH = re.compile(r"[A-Za-z0-9_./-]+")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(kg_app())
