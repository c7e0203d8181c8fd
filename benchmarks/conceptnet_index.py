"""Index speed and peak memory of `build_conceptnet_index`, per dump size.

    python benchmarks/conceptnet_index.py --data ../shared/data --lines 2000000

Indexes the shared 764-line sample and synthetic dumps of ``--lines // 10`` and ``--lines``
lines (multilingual ``/c/<lang>/<term>[/pos[/sense]]`` ends, ConceptNet's relation mix, about
one ``ExternalURL`` line in ten, JSON info with dataset, sources, weight and some surfaceText).
Each build runs in its own subprocess, which reports its peak RSS (``ru_maxrss``), so the figures
show whether memory grows with the dump. It should not: lines are streamed and inserted in
batches, and SQLite bounds the rest (a 64 MiB page cache, plus as much again for the external
sort of ``CREATE INDEX``), so peak RSS levels off near 155 MiB once a dump outgrows the cache.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LANGUAGES = [  # (code, share): English-heavy like ConceptNet, with low-resource tails
    ("en", 40), ("fr", 9), ("de", 7), ("ja", 6), ("es", 5), ("it", 4), ("ru", 4), ("zh", 4),
    ("nl", 3), ("fi", 3), ("pt", 3), ("ms", 2), ("id", 1), ("bg", 2), ("mt", 1), ("ug", 1),
    ("sw", 1), ("am", 1), ("ne", 1), ("yo", 1),
]  # fmt: skip
RELATIONS = [  # (relation, share), roughly ConceptNet 5.7's
    ("RelatedTo", 30), ("Synonym", 22), ("FormOf", 12), ("DerivedFrom", 4), ("HasContext", 3),
    ("IsA", 3), ("EtymologicallyRelatedTo", 2), ("SymbolOf", 1), ("AtLocation", 1),
    ("CapableOf", 1), ("UsedFor", 1), ("Antonym", 1), ("PartOf", 1), ("dbpedia/genre", 1),
]  # fmt: skip
SYLLABLES = [
    "ka",
    "ri",
    "to",
    "mu",
    "sen",
    "la",
    "ve",
    "do",
    "pi",
    "na",
    "ru",
    "shi",
    "bo",
    "tel",
    "mar",
    "qu",
    "zo",
    "fin",
    "gar",
    "lum",
]
DATASETS = ["/d/wiktionary/en", "/d/wiktionary/fr", "/d/conceptnet/4/en", "/d/wordnet/3.1"]


def term(rng: random.Random, vocabulary: int) -> str:
    """A pseudo-word; the vocabulary grows with the dump, so nodes do too."""
    number = rng.randrange(vocabulary)
    parts = []
    while True:
        number, digit = divmod(number, len(SYLLABLES))
        parts.append(SYLLABLES[digit])
        if not number:
            break
    word = "".join(parts)
    return word + "_" + rng.choice(SYLLABLES) if rng.random() < 0.15 else word


def node(rng: random.Random, vocabulary: int) -> str:
    (language,) = rng.choices([c for c, _ in LANGUAGES], [w for _, w in LANGUAGES])
    uri = f"/c/{language}/{term(rng, vocabulary)}"
    roll = rng.random()
    if roll < 0.25:
        uri += "/" + rng.choice("nvar")
    elif roll < 0.35:
        uri += f"/n/wikt/{language}_{rng.randint(1, 3)}"
    return uri


def synthetic_lines(count: int, seed: int = 0):
    """``count`` dump lines in ConceptNet's format."""
    rng = random.Random(seed)
    vocabulary = max(1000, count // 3)
    names = [r for r, _ in RELATIONS]
    shares = [w for _, w in RELATIONS]
    for _ in range(count):
        start = node(rng, vocabulary)
        if rng.random() < 0.1:
            rel, end = "/r/ExternalURL", f"http://{start[3:5]}.wiktionary.org/wiki/{start[6:]}"
        else:
            rel, end = "/r/" + rng.choices(names, shares)[0], node(rng, vocabulary)
        info = {
            "dataset": rng.choice(DATASETS),
            "license": "cc:by-sa/4.0",
            "sources": [{"contributor": "/s/resource/wiktionary/en", "process": "/s/process/x"}],
            "weight": rng.choice((1.0, 1.0, 1.0, 2.0, 0.5, 0.25)),
        }
        if start.startswith("/c/en/") and rng.random() < 0.1:
            info["surfaceText"] = (
                f"[[{start.split('/')[3]}]] is related to [[{end.split('/')[-1]}]]"
            )
        text = json.dumps(info, ensure_ascii=False, sort_keys=True)
        yield f"/a/[{rel}/,{start}/,{end}/]\t{rel}\t{start}\t{end}\t{text}\n"


def write_dump(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as stream:
        stream.writelines(synthetic_lines(count))


def child(dump: Path, index: Path, languages: list[str] | None) -> None:
    """Build one index and print its stats with this process's peak RSS, as JSON."""
    from kg_adapters import build_conceptnet_index

    start = time.perf_counter()
    stats = build_conceptnet_index(dump, index, languages=languages)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "lines": stats.lines,
                "kept": stats.edges_kept,
                "nodes": stats.nodes,
                "seconds": seconds,
                "peak_rss_mib": peak_kib / 1024,
                "index_mib": index.stat().st_size / 2**20,
                "dump_mib": dump.stat().st_size / 2**20,
            }
        )
    )


def measure(dump: Path, index: Path, languages: list[str] | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(dump), str(index)]
    if languages:
        command += ["--languages", *languages]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--lines", type=int, default=2_000_000, help="largest synthetic dump")
    parser.add_argument(
        "--sizes", type=int, nargs="*", help="synthetic dump sizes (default: --lines/10, --lines)"
    )
    parser.add_argument("--languages", nargs="*", help="language filter (default: all)")
    parser.add_argument("--workdir", type=Path, help="keep dumps and indexes here")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.languages)
        return
    with tempfile.TemporaryDirectory() as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        inputs: list[tuple[str, Path]] = []
        sample = args.data / "conceptnet" / "assertions.csv"
        if sample.is_file():
            inputs.append(("shared sample", sample))
        for count in sorted(args.sizes or {max(1, args.lines // 10), args.lines}):
            dump = work / f"synthetic-{count}.csv"
            if not dump.is_file():
                started = time.perf_counter()
                write_dump(dump, count)
                print(f"wrote {dump.name} in {time.perf_counter() - started:.1f}s", flush=True)
            inputs.append((f"synthetic {count:,}", dump))
        print(
            f"{'dump':22} {'lines':>10} {'kept':>10} {'nodes':>10} {'dump MiB':>9} "
            f"{'index MiB':>9} {'seconds':>8} {'lines/s':>9} {'peak RSS MiB':>12}"
        )
        for name, dump in inputs:
            r = measure(dump, work / f"{dump.name}.db", args.languages)
            print(
                f"{name:22} {r['lines']:>10,} {r['kept']:>10,} {r['nodes']:>10,} "
                f"{r['dump_mib']:>9.1f} {r['index_mib']:>9.1f} {r['seconds']:>8.2f} "
                f"{r['lines'] / r['seconds']:>9,.0f} {r['peak_rss_mib']:>12.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
