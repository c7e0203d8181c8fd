"""Masked-LM training corpora verbalised from ConceptNet, per language, in one streaming pass.

`build_corpus` reads the assertions dump (plain or gzip), a ConceptNet SQLite index built by
`kg_adapters.conceptnet.ConceptNetGraph.from_dump`, or API-shaped JSON, keeps the edges touching
the requested languages, turns each into one sentence (a template, or the edge's surfaceText),
drops duplicates and writes deterministic train/validation/test splits (conceptnet_corpus.md §9).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import io
import json
import random
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar, Final, Literal, TypeAlias

from kg_adapters._conceptnet_index import is_sqlite_file
from kg_adapters._conceptnet_templates import (
    CORRECTED_TEMPLATES,
    PAPER_RELATIONS,
    SYMMETRIC,
    TemplateSet,
    load_templates,
)
from kg_adapters._conceptnet_uri import assertion_uri, concept_label, expand_languages, term_of

__all__ = [
    "FORMATS",
    "CorpusStats",
    "LanguageStats",
    "build_corpus",
]

Format: TypeAlias = Literal["txt", "csv", "jsonl", "hf"]
FilterMode: TypeAlias = Literal["start", "end", "either", "both"]
JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

FORMATS: Final[tuple[str, ...]] = ("txt", "csv", "jsonl", "hf")
SPLITS: Final = ("train", "validation", "test")
DROP_REASONS: Final = (
    "external",
    "filter",
    "relation",
    "other_language",
    "weight",
    "dataset",
    "label",
    "self_loop",
)
"""Why an edge touching a language yields no sentence: an end that is not a concept; the filter
mode (start/end/either/both); a relation not selected; the other end's language not allowed; below
``min_weight``; dataset not allowed; an empty or too long label; start label == end label."""
_SMALL_BYTES: Final = 100_000
_GZIP_MAGIC: Final = b"\x1f\x8b"
_SNIFF_LINES: Final = 1_000
_LICENSE: Final = "cc-by-sa-4.0"
_PLACEHOLDER: Final = re.compile(r"(\{start\}|\{end\})")
_SURFACE_SPAN: Final = re.compile(r"\[\[(.*?)\]\]")


@dataclass(slots=True)
class LanguageStats:
    """Counts for one requested language (its alias codes included)."""

    edges_read: int = 0
    """Edges with the language at either end (external links included)."""
    edges_kept: int = 0
    """Edges that passed every filter (before sentence dedupe)."""
    sentences: int = 0
    """Sentences written (after dedupe)."""
    duplicates: int = 0
    bytes: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    filter_modes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("start", "end", "either", "both"), 0)
    )
    """Concept-to-concept edges per filter mode, before relation filtering, from the same pass."""
    raw_codes: Counter[str] = field(default_factory=Counter)
    relations: Counter[str] = field(default_factory=Counter)
    other_end_languages: Counter[str] = field(default_factory=Counter)
    splits: dict[str, dict[str, int]] = field(
        default_factory=lambda: {s: {"sentences": 0, "bytes": 0} for s in SPLITS}
    )
    surface_sentences: int = 0
    tokens: int = 0
    template_tokens: int = 0

    def to_json(self) -> dict[str, JSON]:
        """The JSON form written to ``stats.json``."""
        return {
            "edges_read": self.edges_read,
            "edges_kept": self.edges_kept,
            "sentences": self.sentences,
            "duplicates_removed": self.duplicates,
            "bytes": self.bytes,
            "megabytes": round(self.bytes / 1e6, 4),
            "small_corpus": self.bytes < _SMALL_BYTES,
            "dropped": dict(self.dropped),
            "filter_modes": dict(self.filter_modes),
            "raw_codes": dict(sorted(self.raw_codes.items())),
            "relations": dict(self.relations.most_common()),
            "other_end_languages": dict(self.other_end_languages.most_common()),
            "splits": {s: dict(v) for s, v in self.splits.items()},
            "surface_text_sentences": self.surface_sentences,
            "mean_sentence_chars": round(self.bytes / self.sentences, 2) if self.sentences else 0,
            "template_token_share": round(self.template_tokens / self.tokens, 4)
            if self.tokens
            else 0.0,
        }


@dataclass(slots=True)
class CorpusStats:
    """What `build_corpus` read and wrote: a manifest plus `LanguageStats` per language."""

    source: str
    source_sha256: str
    lines_read: int
    malformed: int
    options: dict[str, JSON]
    languages: dict[str, LanguageStats]

    def to_json(self) -> dict[str, JSON]:
        """The JSON form written to ``stats.json``."""
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "lines_read": self.lines_read,
            "malformed": self.malformed,
            "options": self.options,
            "license": "CC BY-SA 4.0; derived from ConceptNet 5 (Commonsense Computing Initiative)",
            "languages": {code: s.to_json() for code, s in self.languages.items()},
        }

    def rows(self) -> list[tuple[str, ...]]:
        """One table row per language: the summary columns of `HEADER`."""
        rows: list[tuple[str, ...]] = []
        for code, s in self.languages.items():
            top = ", ".join(f"{r} {n}" for r, n in s.relations.most_common(3))
            rows.append(
                (
                    code,
                    f"{s.edges_read:,}",
                    f"{s.edges_kept:,}",
                    f"{s.duplicates:,}",
                    f"{s.sentences:,}",
                    " / ".join(f"{s.splits[x]['sentences']:,}" for x in SPLITS),
                    f"{s.bytes / 1e6:.3f}" + (" (small)" if s.bytes < _SMALL_BYTES else ""),
                    f"{s.template_tokens / s.tokens:.0%}" if s.tokens else "-",
                    top,
                )
            )
        return rows

    HEADER: ClassVar[tuple[str, ...]] = (
        "lang",
        "edges read",
        "edges kept",
        "duplicates",
        "sentences",
        "train / val / test",
        "MB",
        "template tokens",
        "top relations",
    )

    def to_markdown(self) -> str:
        """A Markdown table, one row per language."""
        lines = [
            "| " + " | ".join(self.HEADER) + " |",
            "|" + "---|" * len(self.HEADER),
            *("| " + " | ".join(row) + " |" for row in self.rows()),
        ]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(slots=True)
class _Edge:
    """One assertion from any source; ``info`` (the dump's JSON column) is decoded on demand."""

    uri: str
    relation: str  # short name: RelatedTo, dbpedia/genre
    start: str
    end: str
    info: str | None = None
    weight: float = 1.0
    dataset: str | None = None
    surface: str | None = None
    decoded: bool = False

    def decode(self) -> bool:
        """Fill weight, dataset and surface from ``info``; False if it is not valid JSON."""
        if self.decoded or self.info is None:
            return True
        self.decoded = True
        try:
            data = json.loads(self.info)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        weight = data.get("weight", 1.0)
        self.weight = float(weight) if isinstance(weight, int | float) else 1.0
        dataset, surface = data.get("dataset"), data.get("surfaceText")
        self.dataset = dataset if isinstance(dataset, str) else None
        self.surface = surface if isinstance(surface, str) and surface else None
        return True


@dataclass(frozen=True, slots=True)
class _Options:
    languages: tuple[str, ...]
    groups: dict[str, frozenset[str]]
    templates: TemplateSet
    mode: str
    relations: frozenset[str]
    other_end: frozenset[str] | None
    min_weight: float | None
    datasets: tuple[str, ...] | None
    exclude_datasets: tuple[str, ...]
    max_label_chars: int | None
    surface: bool
    both_orders: bool
    dedupe: bool
    split: tuple[float, float, float]
    method: str
    key: str
    seed: int
    needs_info: bool


def build_corpus(
    source: str | Path,
    languages: Sequence[str],
    out_dir: str | Path,
    *,
    format: str | Sequence[str] = "txt",
    templates: str | Path = "corrected",
    filter: FilterMode = "either",
    relations: Sequence[str] | None = None,
    min_weight: float | None = None,
    datasets: Sequence[str] | None = None,
    exclude_datasets: Sequence[str] = (),
    other_end_languages: Sequence[str] | None = None,
    max_label_chars: int | None = None,
    use_surface_text: bool = False,
    symmetric_both_orders: bool = False,
    dedupe: bool = True,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    split_method: Literal["hash", "shuffle"] = "hash",
    split_key: Literal["sentence", "concept"] = "sentence",
    seed: int = 42,
    paper_csv_names: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusStats:
    """Verbalise ConceptNet edges into per-language MLM corpora under ``out_dir/<lang>/``.

    The paper's recipe is ``templates="paper", filter="start"`` (its defects aside: labels are
    always the term's text, never the POS or sense suffix). Writes ``train``, ``validation``
    and ``test`` files per format, ``stats.json`` and ``stats.md``; ``hf`` adds a dataset card
    (``README.md``) so ``datasets.load_dataset(out_dir, lang)`` reads the corpus.

    Args:
        source: An assertions dump (``.csv`` or ``.csv.gz``, streamed in one pass whatever the
            number of languages), a ConceptNet SQLite index, or API-shaped JSON (a list of edges,
            ``{"edges": [...]}`` or ``{word: [edges]}``; read whole, edges deduplicated by URI).
        languages: ConceptNet codes; each also matches its aliases (``ms`` keeps ``id``).
        out_dir: Output folder (created).
        format: ``txt``, ``csv``, ``jsonl``, ``hf``, or several (a sequence or comma list).
        templates: ``paper``, ``corrected`` or a template pack file (TOML or JSON).
        filter: Which end must be in the language: ``start``, ``end``, ``either``, ``both``.
        relations: Relation short names (default: the paper's 33). ``ExternalURL`` is refused.
        min_weight: Drop edges lighter than this.
        datasets: Keep only edges whose dataset starts with one of these (``/d/wiktionary``).
        exclude_datasets: Drop edges whose dataset starts with one of these.
        other_end_languages: Allow-list for the other end's language (the language itself is
            always allowed).
        max_label_chars: Drop edges with a longer label.
        use_surface_text: Use the edge's surfaceText (``[[ ]]`` removed) instead of a template.
        symmetric_both_orders: Also write the swapped sentence of symmetric relations.
        dedupe: Drop repeated sentences per language (64-bit digests), before splitting.
        split: Train, validation and test ratios.
        split_method: ``hash`` (streamed; a sentence's split depends only on seed and key, so it
            is stable under any dump order) or ``shuffle`` (each language held in memory,
            ordered by digest, then a seeded shuffle: also independent of dump order).
        split_key: ``sentence``, or ``concept`` (every sentence of a target-language term in
            one split; ``hash`` only).
        seed: Split seed.
        paper_csv_names: Name CSV files ``train_cn_<lang>.csv``, ``val_cn_<lang>.csv``,
            ``test_cn_<lang>.csv`` as the paper's scripts do.
        progress: Called with ``(bytes read, total bytes)`` while a dump is streamed.

    Returns:
        The statistics, also written to ``out_dir/stats.json``.

    Raises:
        ValueError: Bad options, or a source that is none of the supported kinds.
        FileNotFoundError: ``source`` does not exist.
    """
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    formats = _formats(format)
    options = _options(
        languages=languages,
        templates=templates,
        mode=filter,
        relations=relations,
        other_end_languages=other_end_languages,
        min_weight=min_weight,
        datasets=datasets,
        exclude_datasets=exclude_datasets,
        max_label_chars=max_label_chars,
        surface=use_surface_text,
        both_orders=symmetric_both_orders,
        dedupe=dedupe,
        split=split,
        method=split_method,
        key=split_key,
        seed=seed,
    )
    out = Path(out_dir)
    reader = _Reader(path, options, progress)
    stats = {code: LanguageStats() for code in options.languages}
    seen: dict[str, set[int]] = {code: set() for code in options.languages}
    held: dict[str, list[tuple[int, dict[str, JSON]]]] = {c: [] for c in options.languages}
    with _Writers(out, options.languages, formats, paper_csv_names) as writers:
        for edge in reader.edges():
            for code in options.languages:
                for record in _sentences(edge, code, options, stats[code]):
                    text = str(record["text"])
                    digest = _digest(text)
                    if options.dedupe:
                        if digest in seen[code]:
                            stats[code].duplicates += 1
                            continue
                        seen[code].add(digest)
                    if options.method == "shuffle":
                        held[code].append((digest, record))
                    else:
                        key = str(record.pop("_key"))
                        _emit(writers, stats[code], code, _hash_split(key, options), record)
        for code, records in held.items():
            records.sort(key=lambda item: (item[0], str(item[1]["text"])))
            random.Random(options.seed).shuffle(records)
            bounds = _bounds(len(records), options.split)
            for index, (_, record) in enumerate(records):
                record.pop("_key")
                split_name = SPLITS[0 if index < bounds[0] else 1 if index < bounds[1] else 2]
                _emit(writers, stats[code], code, split_name, record)
    result = CorpusStats(
        source=path.name,
        source_sha256=reader.sha256.hexdigest(),
        lines_read=reader.lines,
        malformed=reader.malformed,
        options=_options_json(options, formats, path),
        languages=stats,
    )
    (out / "stats.json").write_text(
        json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / "stats.md").write_text(result.to_markdown(), encoding="utf-8")
    if "hf" in formats:
        (out / "README.md").write_text(_dataset_card(result), encoding="utf-8")
    return result


# --- options ------------------------------------------------------------------------------------


def _formats(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    formats = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"format must be among {', '.join(FORMATS)}, not {value!r}")
    return formats


def _options(
    *,
    languages: Sequence[str],
    templates: str | Path,
    mode: str,
    relations: Sequence[str] | None,
    other_end_languages: Sequence[str] | None,
    min_weight: float | None,
    datasets: Sequence[str] | None,
    exclude_datasets: Sequence[str],
    max_label_chars: int | None,
    surface: bool,
    both_orders: bool,
    dedupe: bool,
    split: tuple[float, float, float],
    method: str,
    key: str,
    seed: int,
) -> _Options:
    """Validate every option up front, so a bad one fails before the dump is read."""
    codes = tuple(dict.fromkeys(languages))
    if isinstance(languages, str) or not codes:
        raise ValueError(f"languages must be a non-empty sequence of codes, not {languages!r}")
    groups = {code: expand_languages([code]) or frozenset() for code in codes}
    if mode not in ("start", "end", "either", "both"):
        raise ValueError(f"filter must be start, end, either or both, not {mode!r}")
    names = [r.strip().removeprefix("/r/") for r in (relations or PAPER_RELATIONS)]
    unknown = [r for r in names if r not in CORRECTED_TEMPLATES]
    if unknown:
        raise ValueError(f"unknown or unverbalisable relation(s): {', '.join(unknown)}")
    if len(split) != 3 or any(r < 0 for r in split) or abs(sum(split) - 1.0) > 1e-6:
        raise ValueError(f"split must be three non-negative ratios summing to 1, not {split!r}")
    if method not in ("hash", "shuffle"):
        raise ValueError(f"split_method must be hash or shuffle, not {method!r}")
    if key not in ("sentence", "concept") or (key == "concept" and method != "hash"):
        raise ValueError("split_key must be sentence, or concept with split_method='hash'")
    if max_label_chars is not None and max_label_chars < 1:
        raise ValueError(f"max_label_chars must be positive, not {max_label_chars}")
    other = None
    if other_end_languages is not None:
        other = expand_languages(list(other_end_languages)) or frozenset()
    return _Options(
        languages=codes,
        groups=groups,
        templates=load_templates(templates),
        mode=mode,
        relations=frozenset(names),
        other_end=other,
        min_weight=min_weight,
        datasets=tuple(datasets) if datasets is not None else None,
        exclude_datasets=tuple(exclude_datasets),
        max_label_chars=max_label_chars,
        surface=surface,
        both_orders=both_orders,
        dedupe=dedupe,
        split=(float(split[0]), float(split[1]), float(split[2])),
        method=method,
        key=key,
        seed=seed,
        needs_info=min_weight is not None or datasets is not None or bool(exclude_datasets),
    )


def _options_json(options: _Options, formats: tuple[str, ...], source: Path) -> dict[str, JSON]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool_version = version("think-on-graph")
    except PackageNotFoundError:  # a bare checkout
        tool_version = "unknown"

    return {
        "languages": [*options.languages],
        "formats": [*formats],
        "templates": options.templates.name,
        "template_language": options.templates.language,
        "filter": options.mode,
        "relations": [*sorted(options.relations)],
        "other_end_languages": [*sorted(options.other_end)] if options.other_end else None,
        "min_weight": options.min_weight,
        "datasets": [*options.datasets] if options.datasets is not None else None,
        "exclude_datasets": [*options.exclude_datasets],
        "max_label_chars": options.max_label_chars,
        "use_surface_text": options.surface,
        "symmetric_both_orders": options.both_orders,
        "dedupe": options.dedupe,
        "split": list(options.split),
        "split_method": options.method,
        "split_key": options.key,
        "seed": options.seed,
        "source_bytes": source.stat().st_size,
        "tool_version": tool_version,
    }


# --- reading ------------------------------------------------------------------------------------


class _Reader:
    """Edges from a dump, an index or API JSON; counts lines and hashes the source file."""

    def __init__(
        self, path: Path, options: _Options, progress: Callable[[int, int], None] | None
    ) -> None:
        self.path = path
        self.options = options
        self.progress = progress
        self.sha256 = hashlib.sha256()
        self.lines = 0
        self.malformed = 0
        wanted = frozenset().union(*options.groups.values())
        self._wanted = frozenset(code.encode() for code in wanted)

    def edges(self) -> Iterator[_Edge]:
        with self.path.open("rb") as raw:
            head = raw.read(16)
        if is_sqlite_file(self.path):
            yield from self._index()
        elif head.lstrip()[:1] in (b"{", b"["):
            yield from self._api_json()
        else:
            yield from self._dump(gzipped=head[:2] == _GZIP_MAGIC)

    def _dump(self, *, gzipped: bool) -> Iterator[_Edge]:
        size = self.path.stat().st_size
        wanted = self._wanted
        with self.path.open("rb") as raw:
            hashing = _HashingReader(raw, self.sha256)
            stream: IO[bytes]
            if gzipped:
                stream = gzip.GzipFile(fileobj=hashing, mode="rb")  # type: ignore[assignment]
            else:
                stream = io.BufferedReader(hashing, buffer_size=1 << 20)
            with stream:
                for line in stream:
                    self.lines += 1
                    if self.progress is not None and not self.lines % 100_000:
                        self.progress(hashing.position, size)
                    fields = line.split(b"\t", 4)
                    if len(fields) != 5 or not fields[1].startswith(b"/r/"):
                        self.malformed += 1
                        if self.malformed == self.lines == _SNIFF_LINES:
                            raise _not_a_dump(self.path)
                        continue
                    start, end = fields[2], fields[3]
                    # Cheap byte test first: most of a full dump is in other languages.
                    if start[3:].split(b"/", 1)[0] not in wanted and (
                        not end.startswith(b"/c/") or end[3:].split(b"/", 1)[0] not in wanted
                    ):
                        continue
                    try:
                        uri, relation, start_s, end_s = (f.decode("utf-8") for f in fields[:4])
                        info = fields[4].decode("utf-8").rstrip("\r\n")
                    except UnicodeDecodeError:
                        self.malformed += 1
                        continue
                    yield _Edge(uri, relation[3:], start_s, end_s, info)
        if self.lines and self.malformed == self.lines:
            raise _not_a_dump(self.path)
        if self.progress is not None:
            self.progress(size, size)

    def _index(self) -> Iterator[_Edge]:
        self.sha256.update(self.path.read_bytes())
        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT rel, head, tail, weight, dataset, surface FROM edges ORDER BY rowid"
            )
            for relation, start, end, weight, dataset, surface in rows:
                self.lines += 1
                yield _Edge(
                    assertion_uri(relation, start, end),
                    relation[3:],
                    start,
                    end,
                    weight=float(weight),
                    dataset=dataset,
                    surface=surface,
                    decoded=True,
                )
        finally:
            connection.close()

    def _api_json(self) -> Iterator[_Edge]:
        data = self.path.read_bytes()
        self.sha256.update(data)
        try:
            parsed: object = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{self.path} is not valid JSON: {exc}") from exc
        if isinstance(parsed, dict) and isinstance(parsed.get("edges"), list):
            items: list[object] = parsed["edges"]
        elif isinstance(parsed, dict):
            items = [e for edges in parsed.values() if isinstance(edges, list) for e in edges]
        elif isinstance(parsed, list):
            items = parsed
        else:
            items = []
        seen: set[str] = set()
        for item in items:
            self.lines += 1
            edge = _api_edge(item)
            if edge is None:
                self.malformed += 1
                continue
            if edge.uri in seen:  # {word: [edges]} lists an edge under both of its words
                continue
            seen.add(edge.uri)
            yield edge


def _not_a_dump(path: Path) -> ValueError:
    return ValueError(
        f"{path} is not a ConceptNet assertions dump: no line has the 5 tab-separated columns "
        "(/a/[...], /r/..., start, end, JSON)"
    )


class _HashingReader(io.RawIOBase):
    """A raw file that feeds every byte read into a hash, and counts them."""

    def __init__(self, raw: IO[bytes], digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._digest.update(data)
        self.position += len(data)
        return len(data)


def _node(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("@id")
    return value if isinstance(value, str) and value else None


def _api_edge(item: object) -> _Edge | None:
    """An API edge (``{uri|@id, rel, start, end, weight, dataset, surfaceText}``) or None."""
    if not isinstance(item, dict):
        return None
    relation, start, end = _node(item.get("rel")), _node(item.get("start")), _node(item.get("end"))
    if relation is None or start is None or end is None:
        return None
    relation = relation.removeprefix("/r/")
    uri = item.get("uri") or item.get("@id")
    weight = item.get("weight", 1.0)
    dataset, surface = item.get("dataset"), item.get("surfaceText")
    return _Edge(
        uri if isinstance(uri, str) else assertion_uri("/r/" + relation, start, end),
        relation,
        start,
        end,
        weight=float(weight) if isinstance(weight, int | float) else 1.0,
        dataset=dataset if isinstance(dataset, str) else None,
        surface=surface if isinstance(surface, str) and surface else None,
        decoded=True,
    )


# --- verbalising --------------------------------------------------------------------------------


def _language(uri: str) -> str:
    """The language of a concept URI, or "" when it is not a concept (a URL, ``/x/...``)."""
    if not uri.startswith("/c/"):
        return ""
    parts = uri.split("/", 4)
    return parts[2] if len(parts) > 3 and parts[3] else ""


def clean_label(uri: str) -> str:
    """A concept's label for a sentence: the term's text, NFC, whitespace collapsed.

    >>> clean_label("/c/fr/test/n/wikt/en_1"), clean_label("/c/en/ice__cream")
    ('test', 'ice cream')
    """
    return " ".join(unicodedata.normalize("NFC", concept_label(uri)).split())


def _sentences(
    edge: _Edge, code: str, options: _Options, stats: LanguageStats
) -> Iterator[dict[str, JSON]]:
    """The records (text plus provenance) one edge yields for one language; counts drops."""
    group = options.groups[code]
    start_lang, end_lang = _language(edge.start), _language(edge.end)
    start_in, end_in = start_lang in group, end_lang in group
    if not (start_in or end_in):
        return
    stats.edges_read += 1
    if start_in:
        stats.raw_codes[start_lang] += 1
    if end_in and end_lang != start_lang:
        stats.raw_codes[end_lang] += 1
    dropped = stats.dropped
    if not start_lang or not end_lang or edge.relation == "ExternalURL":
        dropped["external"] += 1
        return
    modes = stats.filter_modes
    modes["start"] += start_in
    modes["end"] += end_in
    modes["either"] += 1
    modes["both"] += start_in and end_in
    mode = options.mode
    if (
        (mode == "start" and not start_in)
        or (mode == "end" and not end_in)
        or (mode == "both" and not (start_in and end_in))
    ):
        dropped["filter"] += 1
        return
    if edge.relation not in options.relations:
        dropped["relation"] += 1
        return
    other = end_lang if start_in else start_lang
    if options.other_end is not None and other not in options.other_end and other not in group:
        dropped["other_language"] += 1
        return
    if (options.needs_info or options.surface) and not edge.decode():
        dropped["label"] += 1
        return
    if options.min_weight is not None and edge.weight < options.min_weight:
        dropped["weight"] += 1
        return
    dataset = edge.dataset or ""
    if (options.datasets is not None and not dataset.startswith(options.datasets)) or (
        options.exclude_datasets and dataset.startswith(options.exclude_datasets)
    ):
        dropped["dataset"] += 1
        return
    start_label, end_label = clean_label(edge.start), clean_label(edge.end)
    limit = options.max_label_chars
    if (
        not start_label
        or not end_label
        or (limit and max(len(start_label), len(end_label)) > limit)
    ):
        dropped["label"] += 1
        return
    if start_label == end_label:
        dropped["self_loop"] += 1
        return
    stats.edges_kept += 1
    stats.relations[edge.relation] += 1
    stats.other_end_languages[other] += 1
    target = edge.start if start_in else edge.end
    key_concept = term_of(target)
    orders = [(start_label, end_label)]
    if options.both_orders and edge.relation in SYMMETRIC:
        orders.append((end_label, start_label))
    for index, (first, second) in enumerate(orders):
        made = _surface(edge.surface) if options.surface and edge.surface and not index else None
        if made is not None:
            text, spans, template, template_lang = *made, "surfaceText", "und"
            stats.surface_sentences += 1
        else:
            pattern, template_lang = options.templates.pattern(edge.relation)
            text, spans = _fill(pattern, first, second)
            template = options.templates.name if template_lang != "en" else _en_name(options)
        words = len(text.split())
        stats.tokens += words
        stats.template_tokens += max(0, words - len(first.split()) - len(second.split()))
        yield {
            "text": text,
            "lang": code,
            "rel": "/r/" + edge.relation,
            "start": edge.start if not index else edge.end,
            "end": edge.end if not index else edge.start,
            "start_lang": start_lang if not index else end_lang,
            "end_lang": end_lang if not index else start_lang,
            "weight": edge.weight if edge.decoded or edge.decode() else None,
            "dataset": edge.dataset,
            "edge_uri": edge.uri,
            "template_set": template,
            "template_lang": template_lang,
            "spans": spans,
            "_key": text if options.key == "sentence" else key_concept,
        }


def _en_name(options: _Options) -> str:
    name = options.templates.name
    return name if name in ("paper", "corrected") else "corrected"


def _fill(pattern: str, start: str, end: str) -> tuple[str, JSON]:
    """Replace the placeholders (no ``str.format``: labels and packs may hold braces)."""
    text = ""
    spans: dict[str, JSON] = {}
    for piece in _PLACEHOLDER.split(pattern):
        if piece in ("{start}", "{end}"):
            label = start if piece == "{start}" else end
            spans.setdefault(piece[1:-1], [len(text), len(text) + len(label)])
            text += label
        else:
            text += piece
    return text, spans


def _surface(surface: str) -> tuple[str, JSON] | None:
    """The surfaceText sentence without ``[[ ]]``, and its spans (a leading ``*`` swaps them)."""
    swapped = surface.startswith("*")
    pieces = _SURFACE_SPAN.split(" ".join(surface.removeprefix("*").split()))
    if len(pieces) != 5:  # text [[a]] text [[b]] text
        return None
    text = ""
    found: list[JSON] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            found.append([len(text), len(text) + len(piece)])
        text += piece
    spans: dict[str, JSON] = {
        "start": found[1] if swapped else found[0],
        "end": found[0] if swapped else found[1],
    }
    return text, spans


# --- splitting and writing ----------------------------------------------------------------------


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _hash_split(key: str, options: _Options) -> str:
    value = hashlib.blake2b(f"{options.seed}\x00{key}".encode(), digest_size=8).digest()
    share = int.from_bytes(value, "big") / 2**64
    train, validation, _ = options.split
    if share < train:
        return "train"
    return "validation" if share < train + validation else "test"


def _bounds(count: int, split: tuple[float, float, float]) -> tuple[int, int]:
    train = round(count * split[0])
    validation = round(count * split[1])
    return train, min(count, train + validation)


def _emit(
    writers: _Writers, stats: LanguageStats, code: str, split: str, record: dict[str, JSON]
) -> None:
    size = len(str(record["text"]).encode()) + 1
    stats.sentences += 1
    stats.bytes += size
    stats.splits[split]["sentences"] += 1
    stats.splits[split]["bytes"] += size
    writers.write(code, split, record)


class _Writers:
    """The open output files: one per language, split and format."""

    def __init__(
        self, out: Path, languages: Sequence[str], formats: Sequence[str], paper_csv: bool
    ) -> None:
        self._files: list[IO[str]] = []
        self._txt: dict[tuple[str, str], IO[str]] = {}
        self._csv: dict[tuple[str, str], csv.DictWriter[str]] = {}
        self._jsonl: dict[tuple[str, str], IO[str]] = {}
        self._plan = [(out / code, code) for code in languages]
        self._formats = formats
        self._paper_csv = paper_csv

    def __enter__(self) -> _Writers:
        paper_names = {"train": "train", "validation": "val", "test": "test"}
        for folder, code in self._plan:
            folder.mkdir(parents=True, exist_ok=True)
            for split in SPLITS:
                if "txt" in self._formats:
                    self._txt[code, split] = self._open(folder / f"{split}.txt")
                if "csv" in self._formats:
                    name = f"{paper_names[split]}_cn_{code}" if self._paper_csv else split
                    writer = csv.DictWriter(
                        self._open(folder / f"{name}.csv"), ["text"], lineterminator="\n"
                    )
                    writer.writeheader()
                    self._csv[code, split] = writer
                if "jsonl" in self._formats or "hf" in self._formats:
                    self._jsonl[code, split] = self._open(folder / f"{split}.jsonl")
        return self

    def _open(self, path: Path) -> IO[str]:
        stream = path.open("w", encoding="utf-8", newline="")
        self._files.append(stream)
        return stream

    def write(self, code: str, split: str, record: dict[str, JSON]) -> None:
        text = str(record["text"])
        if (txt := self._txt.get((code, split))) is not None:
            txt.write(text + "\n")
        if (table := self._csv.get((code, split))) is not None:
            table.writerow({"text": text})
        if (jsonl := self._jsonl.get((code, split))) is not None:
            jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")

    def __exit__(self, *exc_info: object) -> None:
        for stream in self._files:
            stream.close()


def _dataset_card(stats: CorpusStats) -> str:
    """A Hugging Face dataset card whose YAML ``configs`` maps each language to its files."""
    lines = ["---", f"license: {_LICENSE}", "language:"]
    lines += [f"- {code}" for code in stats.languages]
    lines.append("configs:")
    for code, language in stats.languages.items():
        lines += [f"- config_name: {code}", "  data_files:"]
        for split in SPLITS:
            if language.splits[split]["sentences"]:
                lines += [f"  - split: {split}", f"    path: {code}/{split}.jsonl"]
    lines += [
        "---",
        "",
        "# ConceptNet sentences for masked-LM language adapters",
        "",
        f"Verbalised from `{stats.source}` (sha256 `{stats.source_sha256[:16]}...`) with the "
        f"`{stats.options['templates']}` templates and the `{stats.options['filter']}` language "
        "filter. Load one language with `datasets.load_dataset(<this folder>, <lang>)`.",
        "",
        stats.to_markdown(),
        "## License and attribution",
        "",
        "CC BY-SA 4.0. Derived from ConceptNet 5 (Commonsense Computing Initiative, "
        "https://conceptnet.io), itself built from Wiktionary, Open Mind Common Sense, WordNet, "
        "DBPedia, OpenCyc, JMDict and other sources; see each record's `dataset` and `edge_uri`.",
        "",
    ]
    return "\n".join(lines)
