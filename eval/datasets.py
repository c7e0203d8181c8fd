"""KGQA benchmark question files: one `Question` type, a registry of datasets, their loaders.

`DATASETS` names every benchmark the eval runner knows; `load_questions(name, data)` reads one
from the file or folder the user keeps it in, and `resolve_kb` finds the KB file of the offline
benchmarks (MetaQA, PathQuestion, WorldCup2014). Formats are in tog_spec.md §7.1-§7.2 and the
shared data README. Ids are the file's own ids where it has them, else ``<name>:<line index>``,
so runs join on ids, never on question text. (Over 600 lines on purpose: the readers and the
registry naming them live together, so adding a dataset touches one file.)

Answers. `Question.answers` holds the gold answers; `Question.answer_aliases`, when not empty,
holds per gold answer its *other* accepted surface forms (same length as `answers`);
`Question.gold_aliases()` gives each answer with its aliases, the A(g) of tog_spec.md §7.5.

Gold-quality caveats (tog_spec.md §7.6; reports should repeat them):

* CWQ gold has one answer per question although its SPARQL often returns several: Hits@1 is fair,
  set-EM and F1 are pessimistic.
* Re-running gold SPARQL on a local Freebase matched the shipped answers only 81% of the time, and
  an incomplete dump silently lowers accuracy.
* A manual audit of 16 KGQA datasets (WebQSP and CWQ included) found about 57% factual correctness.
* ToG-2's ``webqsp_test.json`` mixes the aliases of *all* gold answers in one list; it is read as
  one gold answer with aliases, so set-EM/F1 on that form are not meaningful.
* T-REx and Zero-Shot RE ``alias`` lists also hold other valid objects of the relation; they are
  read as aliases of the one answer (ToG ignored them, so using them can only raise scores).
* MetaQA gold is reproducible from the shared rebuilt KB only for part of the questions (see the
  shared data README, ``answerable.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

__all__ = [
    "DATASETS",
    "JSON",
    "DatasetError",
    "DatasetSpec",
    "KGProfile",
    "LinkingMode",
    "Question",
    "load_questions",
    "read_metaqa",
    "read_pathquestion",
    "resolve_kb",
]

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
KGProfile: TypeAlias = Literal[
    "metaqa-kb", "pathquestion-kb", "wc2014-kb", "freebase", "wikidata", "none"
]
LinkingMode: TypeAlias = Literal["gold", "extracted"]
Task: TypeAlias = Literal["qa", "slot-filling", "claim"]

_BRACKETED = re.compile(r"\[([^\]]+)\]")


class DatasetError(ValueError):
    """A dataset name, file or record that cannot be read; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question: text, gold topic entities and gold answers (with aliases).

    Attributes:
        id: Stable, unique within its dataset.
        text: What the model is asked (MetaQA brackets removed).
        topic_entities: Gold-linked topic entity ids (names, MIDs or QIDs).
        answers: Gold answers, as strings.
        hops: Length of the gold reasoning path, when the dataset says.
        answer_aliases: Empty, or per answer its other accepted forms (same length as `answers`).
        topic_names: Empty, or the surface name of each topic entity (for MID/QID ids).
        qtype: The dataset's question type label, for per-type reports.
        metadata: Other fields of the record worth keeping (JSON values).
    """

    id: str
    text: str
    topic_entities: tuple[str, ...]
    answers: tuple[str, ...]
    hops: int | None = None
    answer_aliases: tuple[tuple[str, ...], ...] = ()
    topic_names: tuple[str, ...] = ()
    qtype: str | None = None
    metadata: Mapping[str, JSON] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.answer_aliases and len(self.answer_aliases) != len(self.answers):
            raise ValueError(f"{self.id}: answer_aliases must have one entry per answer")
        if self.topic_names and len(self.topic_names) != len(self.topic_entities):
            raise ValueError(f"{self.id}: topic_names must have one entry per topic entity")

    def gold_aliases(self) -> tuple[tuple[str, ...], ...]:
        """Each gold answer followed by its aliases.

        >>> Question("q", "?", (), ("UK", "US"), answer_aliases=(("Britain",), ())).gold_aliases()
        (('UK', 'Britain'), ('US',))
        """
        if not self.answer_aliases:
            return tuple((answer,) for answer in self.answers)
        return tuple(
            (answer, *aliases)
            for answer, aliases in zip(self.answers, self.answer_aliases, strict=True)
        )


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What the runner needs to know about one benchmark.

    Attributes:
        name: Registry key, e.g. ``"metaqa-2hop"``.
        description: Format, gold fields and caveats, one paragraph.
        kg_profile: The KG the questions need.
        default_files: Names tried, in order, inside a folder passed as ``data``.
        kb_file: The KB next to the questions (relative to the dataset folder), or None.
        download_url: Public URL of the question file, or None when there is no single file.
        source: Where the data comes from (repository @ commit, or the website).
        linking_modes: ``"gold"`` (the file's topic entities) and/or ``"extracted"``.
        task: ``"qa"``, ``"slot-filling"`` (T-REx, Zero-Shot RE) or ``"claim"`` (Creak).
    """

    name: str
    description: str
    kg_profile: KGProfile
    default_files: tuple[str, ...]
    kb_file: str | None = None
    download_url: str | None = None
    source: str = ""
    linking_modes: tuple[LinkingMode, ...] = ("gold", "extracted")
    task: Task = "qa"


# --- public entry points ------------------------------------------------------------------------


def load_questions(name: str, data: str | Path) -> list[Question]:
    """Read every question of dataset ``name`` from ``data``.

    Args:
        name: A key of `DATASETS`.
        data: The question file, or a folder holding one of the spec's ``default_files``.

    Returns:
        The questions in file order, with unique ids.

    Raises:
        DatasetError: Unknown name, no file found, or a malformed line or record.
    """
    spec = _spec(name)
    path = _questions_file(spec, Path(data))
    questions = _READERS[name](path, name)
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise DatasetError(f"{path}: duplicate question id {question.id!r}")
        seen.add(question.id)
    return questions


def resolve_kb(name: str, data: str | Path) -> Path | None:
    """The KB file of an offline benchmark, found beside its questions.

    Args:
        name: A key of `DATASETS`.
        data: The question file or a folder holding it, as for `load_questions`.

    Returns:
        The KB path, or None when the dataset has no KB file or it is not there.

    Raises:
        DatasetError: Unknown name, or no questions file found.
    """
    spec = _spec(name)
    if spec.kb_file is None:
        return None
    questions = _questions_file(spec, Path(data))
    roots = [_strip_suffix(questions, rel) for rel in spec.default_files]
    for root in [*(r for r in roots if r is not None), questions.parent]:
        if (root / spec.kb_file).is_file():
            return root / spec.kb_file
    return None


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def _questions_file(spec: DatasetSpec, data: Path) -> Path:
    if data.is_file():
        return data
    if not data.exists():
        raise DatasetError(f"{spec.name}: {data} does not exist")
    for rel in spec.default_files:
        if (data / rel).is_file():
            return data / rel
    raise DatasetError(
        f"{spec.name}: no questions file in {data}; looked for {', '.join(spec.default_files)}"
    )


def _strip_suffix(path: Path, rel: str) -> Path | None:
    """The folder that, joined with ``rel``, gives ``path`` (None if ``path`` does not end so)."""
    parts = Path(rel).parts
    if len(path.parts) <= len(parts) or path.parts[-len(parts) :] != parts:
        return None
    return path.parents[len(parts) - 1]


# --- MetaQA, PathQuestion, WorldCup2014 (text files) --------------------------------------------


def read_metaqa(path: str | Path, *, hops: int, name: str | None = None) -> Iterator[Question]:
    """MetaQA lines: ``question with [Topic]<TAB>ans1|ans2``; the brackets are removed.

    The question type comes from ``qa_test_qtype.txt`` (``<stem>_qtype.txt``) beside the file,
    or one folder up for the official ``vanilla/`` layout, when present.

    Raises:
        DatasetError: A line without a tab or a bracketed topic, or a qtype file of another length.
    """
    path = Path(path)
    dataset = name or f"metaqa-{hops}hop"
    lines = _text_lines(path)
    qtypes = _metaqa_qtypes(path, len(lines))
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        question, tab, answers = line.partition("\t")
        topics = tuple(_BRACKETED.findall(question))
        if not tab or not topics:
            raise DatasetError(f"{path}:{index + 1}: expected 'question with [topic]<TAB>answers'")
        text = _BRACKETED.sub(lambda m: m.group(1), question).strip()
        golds = tuple(a for a in answers.split("|") if a)
        qtype = qtypes[index] if qtypes else None
        yield Question(f"{dataset}:{index}", text, topics, golds, hops, qtype=qtype)


def _metaqa_qtypes(path: Path, count: int) -> list[str] | None:
    name = f"{path.stem}_qtype.txt"
    for candidate in (path.parent / name, path.parent.parent / name):
        if candidate.is_file():
            qtypes = [line.strip() for line in _text_lines(candidate)]
            if len(qtypes) != count:
                raise DatasetError(f"{candidate}: {len(qtypes)} lines, but {path} has {count}")
            return qtypes
    return None


def read_pathquestion(path: str | Path, *, name: str | None = None) -> Iterator[Question]:
    """PathQuestion / PQL lines: ``question<TAB>answer(alt1/alt2/)<TAB>topic#r1#e1#...``.

    The topic entity is the first path element; it appears verbatim in the question. The answer
    set (main answer, then the alternatives) is the gold set; the path is ``metadata["path"]``.

    Raises:
        DatasetError: A non-blank line with fewer than three tab-separated fields.
    """
    path = Path(path)
    dataset = name or path.stem
    for index, line in enumerate(_text_lines(path)):
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        if len(fields) < 3:
            raise DatasetError(f"{path}:{index + 1}: expected 'question<TAB>answer<TAB>path'")
        question, answer, chain = fields[0].strip(), fields[1].strip(), fields[2].strip()
        main, _, rest = answer.partition("(")
        golds = _unique([main.strip(), *rest.rstrip(")").split("/")])
        parts = chain.split("#")
        hops = (parts.index("<end>") - 1) // 2 if "<end>" in parts else (len(parts) - 1) // 2
        yield Question(
            f"{dataset}:{index}", question, (parts[0],), golds, hops, metadata={"path": chain}
        )


def _read_worldcup(path: Path, name: str, *, conjunctive: bool) -> list[Question]:
    """WC-P2 (5 columns) or WC-C (6 columns; two paths joined by ``*``)."""
    width = 6 if conjunctive else 5
    questions = []
    for index, line in enumerate(_text_lines(path)):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != width:
            raise DatasetError(f"{path}:{index + 1}: expected {width} tab-separated fields")
        question, answer, chains, answer_set = (f.strip() for f in fields[:4])
        paths = [chain.split("#") for chain in chains.split("*")]
        hops = max(
            (p.index("<end>") - 1) // 2 if "<end>" in p else (len(p) - 1) // 2 for p in paths
        )
        questions.append(
            Question(
                f"{name}:{index}",
                question,
                _unique(p[0] for p in paths),
                _unique([answer, *answer_set.split("/")]),
                hops,
                qtype="conjunctive" if conjunctive else "path",
                metadata={"path": chains},
            )
        )
    return questions


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read: {error}") from error


def _text_lines(path: Path) -> list[str]:
    """Lines split on newlines only: `str.splitlines` would also split on U+2028 and friends."""
    lines = _read_text(path).split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


# --- ToG JSON files ------------------------------------------------------------------------------

_Record: TypeAlias = Mapping[str, JSON]


def _json_records(path: Path) -> Iterator[tuple[str, _Record]]:
    """``(where, record)`` per record of a JSON list or a JSON-lines file."""
    text = _read_text(path)
    if path.suffix == ".jsonl" or text.lstrip().startswith("{"):
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                yield _record(_decode(line, f"{path}:{number}"), f"{path}:{number}")
        return
    data = _decode(text, str(path))
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of records")
    for index, item in enumerate(data):
        yield _record(item, f"{path}: record {index}")


def _decode(text: str, where: str) -> JSON:
    try:
        value: JSON = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{where}: invalid JSON at line {error.lineno}: {error.msg}") from None
    return value


def _record(item: JSON, where: str) -> tuple[str, _Record]:
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    return where, item


def _string(record: _Record, key: str, where: str) -> str:
    value = record.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DatasetError(f"{where}: field {key!r} must be a string, got {value!r:.60}")
    return value


def _strings(value: JSON, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field {key!r} must be a list of strings")
    return [v for v in value if isinstance(v, str)]


def _entities(record: _Record, key: str, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Ids and names of a ``{id: name}`` topic-entity map (absent or null means none)."""
    value = record.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise DatasetError(f"{where}: field {key!r} must map entity ids to names")
    return tuple(value), tuple(str(v) for v in value.values())


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """Non-empty strings, first occurrence order."""
    return tuple(dict.fromkeys(item for item in items if item))


def _question_text(value: JSON, where: str) -> str:
    """QALD-style question text: a string, a ``{lang: text}`` map, or ``[{language, string}]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("en"), str):
        return str(value["en"])
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item.get("language") == "en":
                text = item.get("string")
                if isinstance(text, str):
                    return text
    raise DatasetError(f"{where}: no English question text")


def _subset(record: _Record, *keys: str) -> dict[str, JSON]:
    return {key: record[key] for key in keys if key in record}


def _read_cwq(path: Path, name: str) -> list[Question]:
    questions = []
    for where, r in _json_records(path):
        mids, names = _entities(r, "topic_entity", where)
        qtype = r.get("compositionality_type")
        questions.append(
            Question(
                _string(r, "ID", where),
                _string(r, "question", where),
                mids,
                (_string(r, "answer", where),),
                topic_names=names,
                qtype=qtype if isinstance(qtype, str) else None,
                metadata=_subset(
                    r,
                    "qid_topic_entity",
                    "sparql",
                    "machine_question",
                    "webqsp_ID",
                    "webqsp_question",
                ),
            )
        )
    return questions


def _read_cwq_slice(path: Path, name: str) -> list[Question]:
    questions = []
    for where, r in _json_records(path):
        mids, names = _entities(r, "topic_entity", where)
        hops, qtype = r.get("answer_hops"), r.get("compositionality_type")
        questions.append(
            Question(
                _string(r, "id", where),
                _string(r, "question", where),
                mids,
                tuple(_strings(r.get("answers"), "answers", where)),
                hops if isinstance(hops, int) else None,
                topic_names=names,
                qtype=qtype if isinstance(qtype, str) else None,
                metadata=_subset(r, "answer_mids", "sparql", "answer_is_topic_entity"),
            )
        )
    return questions


def _read_webqsp(path: Path, name: str) -> list[Question]:
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        if "Parses" in r:
            questions.append(_webqsp_tog(r, where))
        elif "answers" in r:  # ToG-2's webqsp_test.json: Wikidata ids, one flat alias list
            qids, names = _entities(r, "qid_topic_entity", where)
            golds = _unique(_strings(r["answers"], "answers", where))
            questions.append(
                Question(
                    str(r.get("id") or f"{name}:{index}"),
                    _string(r, "question", where),
                    qids,
                    golds[:1],
                    answer_aliases=(golds[1:],) if golds else (),
                    topic_names=names,
                    metadata={"kg": "wikidata"},
                )
            )
        else:
            raise DatasetError(f"{where}: neither a WebQSP ('Parses') nor a ToG-2 record")
    return questions


def _webqsp_tog(r: _Record, where: str) -> Question:
    """ToG's WebQSP: answers are the union over Parses of EntityName, else AnswerArgument."""
    parses = r.get("Parses")
    if not isinstance(parses, list):
        raise DatasetError(f"{where}: field 'Parses' must be a list")
    per_parse: list[JSON] = []
    ids: dict[str, str] = {}
    for parse in parses:
        answers = parse.get("Answers") if isinstance(parse, dict) else None
        if not isinstance(answers, list):
            raise DatasetError(f"{where}: every parse needs an 'Answers' list")
        names: list[JSON] = []
        for answer in answers:
            if not isinstance(answer, dict):
                raise DatasetError(f"{where}: a WebQSP answer must be an object")
            argument = _string(answer, "AnswerArgument", where)
            label = answer.get("EntityName")
            label = label if isinstance(label, str) and label else argument
            names.append(label)
            ids.setdefault(label, argument)
        per_parse.append(names)
    mids, topic_names = _entities(r, "topic_entity", where)
    return Question(
        _string(r, "QuestionId", where),
        _string(r, "RawQuestion", where),
        mids,
        tuple(ids),
        topic_names=topic_names,
        metadata={"parse_answers": per_parse, "answer_ids": list(ids.values())},
    )


def _read_grailqa(path: Path, name: str) -> list[Question]:
    questions = []
    for where, r in _json_records(path):
        answers = r.get("answer")
        if not isinstance(answers, list):
            raise DatasetError(f"{where}: field 'answer' must be a list")
        golds: dict[str, str] = {}
        for answer in answers:
            if not isinstance(answer, dict):
                raise DatasetError(f"{where}: a GrailQA answer must be an object")
            argument = _string(answer, "answer_argument", where)
            label = answer.get("entity_name")
            golds.setdefault(label if isinstance(label, str) and label else argument, argument)
        mids, names = _entities(r, "topic_entity", where)
        level = r.get("level")
        questions.append(
            Question(
                _string(r, "qid", where),
                _string(r, "question", where),
                mids,
                tuple(golds),
                topic_names=names,
                qtype=level if isinstance(level, str) else None,
                metadata={
                    "answer_ids": list(golds.values()),
                    **_subset(r, "s_expression", "sparql_query", "domains", "num_edge"),
                },
            )
        )
    return questions


def _read_simpleqa(path: Path, name: str) -> list[Question]:
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        mids, names = _entities(r, "topic_entity", where)
        questions.append(
            Question(
                f"{name}:{index}",
                _string(r, "question", where),
                mids,
                (_string(r, "answer", where),),
                1,
                topic_names=names,
                metadata=_subset(r, "relation"),
            )
        )
    return questions


def _read_webquestions(path: Path, name: str) -> list[Question]:
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        mids, names = _entities(r, "topic_entity", where)
        questions.append(
            Question(
                f"{name}:{index}",
                _string(r, "question", where),
                mids,
                _unique(_strings(r.get("answers"), "answers", where)),
                topic_names=names,
                metadata=_subset(r, "qid_topic_entity", "url"),
            )
        )
    return questions


def _read_qald(path: Path, name: str) -> list[Question]:
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        answer = r.get("answer")
        if not isinstance(answer, dict) or not all(isinstance(v, str) for v in answer.values()):
            raise DatasetError(f"{where}: field 'answer' must map ids (or literals) to labels")
        qids, names = _entities(r, "qid_topic_entity", where)
        questions.append(
            Question(
                f"{name}:{index}",
                _question_text(r.get("question"), where),
                qids,
                _unique(str(v) for v in answer.values()),
                topic_names=names,
                metadata={"answer_ids": list(answer), **_subset(r, "sparql")},
            )
        )
    return questions


def _read_slot_filling(path: Path, name: str) -> list[Question]:
    """T-REx / Zero-Shot RE: ``input`` is ``"<subject> [SEP] <relation>"``, passed as is."""
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        text, answer = _string(r, "input", where), _string(r, "answer", where)
        alias = r.get("alias")
        aliases = _strings(alias, "alias", where) if alias is not None else []
        qids, names = _entities(r, "qid_topic_entity", where)
        relation = r.get("relation") or text.partition(" [SEP] ")[2] or None
        questions.append(
            Question(
                f"{name}:{index}",
                text,
                qids,
                (answer,),
                1,
                answer_aliases=(tuple(a for a in _unique(aliases) if a != answer),),
                topic_names=names,
                metadata={"relation": relation, **_subset(r, "template_questions")},
            )
        )
    return questions


def _read_creak(path: Path, name: str) -> list[Question]:
    questions = []
    for index, (where, r) in enumerate(_json_records(path)):
        label = _string(r, "label", where).strip().lower()
        if label not in ("true", "false"):
            raise DatasetError(f"{where}: field 'label' must be 'true' or 'false'")
        qids, names = _entities(r, "qid_topic_entity", where)
        questions.append(
            Question(
                str(r.get("ex_id") or f"{name}:{index}"),
                _string(r, "sentence", where),
                qids,
                (label,),
                topic_names=names,
                metadata=_subset(r, "explanation", "entity"),
            )
        )
    return questions


# --- the registry --------------------------------------------------------------------------------

_TOG = "https://raw.githubusercontent.com/IDEA-FinAI/ToG/7ccbb92e17579f934bb778386230de47eca0ab67"
_TOG_SOURCE = "IDEA-FinAI/ToG @ 7ccbb92e data/"
_IRN = "https://raw.githubusercontent.com/zmtkeke/IRN/32f70d311978bfc1b911c60dff3e9d291b9a2447"
_METAQA_SOURCE = (
    "MetaQA is on Google Drive only: follow the link in https://github.com/yuyuz/MetaQA "
    "(README), unpack it, and pass the folder holding kb.txt and 1-hop/ 2-hop/ 3-hop/"
)


def _metaqa(hops: int) -> DatasetSpec:
    return DatasetSpec(
        name=f"metaqa-{hops}hop",
        description=(
            f"MetaQA {hops}-hop vanilla test (WikiMovies KB): 'question with [Topic]<TAB>a|b'; "
            "the bracketed topic is gold linking, removed from the text; qtype from "
            "qa_test_qtype.txt when present."
        ),
        kg_profile="metaqa-kb",
        default_files=(
            f"{hops}-hop/qa_test.txt",
            f"{hops}-hop/vanilla/qa_test.txt",
            f"metaqa/{hops}-hop/qa_test.txt",
            "qa_test.txt",
            "vanilla/qa_test.txt",
        ),
        kb_file="kb.txt",
        source=_METAQA_SOURCE,
    )


def _irn(name: str, folder: str, file: str, kb: str, kind: KGProfile, what: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description=what,
        kg_profile=kind,
        default_files=(file, f"{folder}/{file}", f"pathquestion/{folder}/{file}"),
        kb_file=kb,
        download_url=f"{_IRN}/{folder}/{file}",
        source=f"zmtkeke/IRN @ 32f70d3 {folder}/{file} (KB {kb})",
    )


def _pq(name: str, file: str, kb: str, what: str) -> DatasetSpec:
    return _irn(name, "PathQuestion", file, kb, "pathquestion-kb", what)


def _tog(
    name: str, files: Sequence[str], kind: KGProfile, what: str, *, task: Task = "qa"
) -> DatasetSpec:
    upstream = files[-1] if name == "grailqa" else files[0]  # ToG ships graliqa.json (sic)
    return DatasetSpec(
        name=name,
        description=what,
        kg_profile=kind,
        default_files=(*files, *(f"tog/{file}" for file in files)),
        download_url=f"{_TOG}/data/{upstream}",
        source=f"{_TOG_SOURCE}{upstream}",
        task=task,
    )


_PQ_TEXT = "'question<TAB>answer(alt1/alt2/)<TAB>topic#r1#e1#...'; answer set is the gold set."
_SLOT_TEXT = (
    "'input' is '<subject> [SEP] <relation>' (slot filling, passed as is); gold 'answer' with "
    "'alias' as its aliases (they also hold other valid objects); QID topic."
)

DATASETS: Mapping[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _metaqa(1),
        _metaqa(2),
        _metaqa(3),
        _pq("pq-2h", "PQ-2H.txt", "2H-kb.txt", f"PathQuestion PQ 2-hop: {_PQ_TEXT}"),
        _pq("pq-3h", "PQ-3H.txt", "3H-kb.txt", f"PathQuestion PQ 3-hop: {_PQ_TEXT}"),
        _pq("pql-2h", "PQL-2H.txt", "PQL2-KB.txt", f"PathQuestion PQL 2-hop: {_PQ_TEXT}"),
        _pq("pql-3h", "PQL-3H.txt", "PQL3-KB.txt", f"PathQuestion PQL 3-hop: {_PQ_TEXT}"),
        _irn(
            "wc-p2",
            "WC2014",
            "WC-P2.txt",
            "WC2014.txt",
            "wc2014-kb",
            "WorldCup2014 2-hop path questions: question, answer, path, answer set (the gold "
            "set), neighbourhood; the KB stores inverse relations explicitly.",
        ),
        _irn(
            "wc-c",
            "WC2014",
            "WC-C.txt",
            "WC2014.txt",
            "wc2014-kb",
            "WorldCup2014 conjunctive questions: two 1-hop paths joined by '*', one topic "
            "entity each; the answer set is the gold set.",
        ),
        _tog(
            "cwq",
            ["cwq.json"],
            "freebase",
            "ComplexWebQuestions (ToG sample, 3,531): 'question', one gold 'answer' (no aliases; "
            "set-EM/F1 pessimistic), 'topic_entity' {MID: name} (11 empty), qtype = "
            "compositionality_type.",
        ),
        DatasetSpec(
            name="cwq-slice",
            description=(
                "The 810 CWQ questions of the shared Freebase slice (GraSP crucial triples): "
                "'answers' names with 'answer_mids', hops = shortest answer distance in the "
                "slice (75.8% reachable within 4 hops); kb_file is N-Triples."
            ),
            kg_profile="freebase",
            default_files=("questions.json", "freebase_cwq/questions.json"),
            kb_file="slice.nt",
            source=(
                "built by the shared-data script from Wangshuaiia/GraSP @ 0b7d63c "
                "data/cwq_0.4.json (see the shared data README); no public single file"
            ),
        ),
        _tog(
            "webqsp",
            ["WebQSP.json", "WebQSP.jsonl", "webqsp_test.json"],
            "freebase",
            "WebQSP test: ToG's WebQSP.json or its JSON-lines copy (RawQuestion; answers = union "
            "over Parses of EntityName else AnswerArgument, per parse in metadata "
            "'parse_answers'; topic MIDs), or ToG-2's webqsp_test.json (Wikidata QIDs, one "
            "answer with a flat alias list).",
        ),
        _tog(
            "grailqa",
            ["grailqa.json", "graliqa.json"],
            "freebase",
            "GrailQA (ToG's 1,000 sample, upstream 'graliqa.json'): answers entity_name else "
            "answer_argument, topic MIDs (12 empty), qtype = level.",
        ),
        _tog(
            "simpleqa",
            ["SimpleQA.json"],
            "freebase",
            "SimpleQuestions (ToG's 1,000 sample): one answer string, one topic MID.",
        ),
        _tog(
            "webquestions",
            ["WebQuestions.json"],
            "freebase",
            "WebQuestions test: 'answers' list, topic MIDs (QIDs in metadata).",
        ),
        _tog(
            "qald10",
            ["qald_10-en.json"],
            "wikidata",
            "QALD-10 English: answers are the labels of the 'answer' map (ids in metadata; "
            "literals map to themselves), QID topics.",
        ),
        _tog("trex", ["T-REX.json"], "wikidata", f"T-REx: {_SLOT_TEXT}", task="slot-filling"),
        _tog(
            "zsre",
            ["Zero_Shot_RE.json"],
            "wikidata",
            f"Zero-Shot RE: {_SLOT_TEXT}",
            task="slot-filling",
        ),
        _tog(
            "creak",
            ["creak.json"],
            "wikidata",
            "Creak claim verification: 'sentence' is a claim, the answer 'true' or 'false' "
            "(accuracy), QID topic.",
            task="claim",
        ),
    )
}

_READERS: Mapping[str, Callable[[Path, str], list[Question]]] = {
    "metaqa-1hop": lambda path, name: list(read_metaqa(path, hops=1, name=name)),
    "metaqa-2hop": lambda path, name: list(read_metaqa(path, hops=2, name=name)),
    "metaqa-3hop": lambda path, name: list(read_metaqa(path, hops=3, name=name)),
    "pq-2h": lambda path, name: list(read_pathquestion(path, name=name)),
    "pq-3h": lambda path, name: list(read_pathquestion(path, name=name)),
    "pql-2h": lambda path, name: list(read_pathquestion(path, name=name)),
    "pql-3h": lambda path, name: list(read_pathquestion(path, name=name)),
    "wc-p2": lambda path, name: _read_worldcup(path, name, conjunctive=False),
    "wc-c": lambda path, name: _read_worldcup(path, name, conjunctive=True),
    "cwq": _read_cwq,
    "cwq-slice": _read_cwq_slice,
    "webqsp": _read_webqsp,
    "grailqa": _read_grailqa,
    "simpleqa": _read_simpleqa,
    "webquestions": _read_webquestions,
    "qald10": _read_qald,
    "trex": _read_slot_filling,
    "zsre": _read_slot_filling,
    "creak": _read_creak,
}
