"""eval.datasets: the registry, every loader on the real shared files, and its error messages."""

from __future__ import annotations

import dataclasses
import doctest
import functools
import json
import shutil
from pathlib import Path

import pytest

import eval.datasets
from eval.datasets import (
    DATASETS,
    DatasetError,
    DatasetSpec,
    Question,
    load_questions,
    read_metaqa,
    resolve_kb,
)
from tests.shared_data import DATA, require

NAMES = [
    "metaqa-1hop",
    "metaqa-2hop",
    "metaqa-3hop",
    "pq-2h",
    "pq-3h",
    "pql-2h",
    "pql-3h",
    "wc-p2",
    "wc-c",
    "cwq",
    "cwq-slice",
    "webqsp",
    "grailqa",
    "simpleqa",
    "webquestions",
    "qald10",
    "trex",
    "zsre",
    "creak",
]

# The file each name reads from the shared data, and how to count its records independently.
FILES = {
    "metaqa-1hop": "metaqa/1-hop/qa_test.txt",
    "metaqa-2hop": "metaqa/2-hop/qa_test.txt",
    "metaqa-3hop": "metaqa/3-hop/qa_test.txt",
    "pq-2h": "pathquestion/PathQuestion/PQ-2H.txt",
    "pq-3h": "pathquestion/PathQuestion/PQ-3H.txt",
    "pql-2h": "pathquestion/PathQuestion/PQL-2H.txt",
    "pql-3h": "pathquestion/PathQuestion/PQL-3H.txt",
    "wc-p2": "pathquestion/WC2014/WC-P2.txt",
    "wc-c": "pathquestion/WC2014/WC-C.txt",
    "cwq": "tog/cwq.json",
    "cwq-slice": "freebase_cwq/questions.json",
    "webqsp": "tog/WebQSP.jsonl",
    "grailqa": "tog/grailqa.json",
    "simpleqa": "tog/SimpleQA.json",
    "webquestions": "tog/WebQuestions.json",
    "qald10": "tog/qald_10-en.json",
    "trex": "tog/T-REX.json",
    "zsre": "tog/Zero_Shot_RE.json",
    "creak": "tog/creak.json",
}

# Published sizes (tog_spec.md §7.1-7.2, shared data README), checked against the files too.
COUNTS = {
    "metaqa-1hop": 9947,
    "metaqa-2hop": 14872,
    "metaqa-3hop": 14274,
    "pq-2h": 1908,
    "pq-3h": 5198,
    "pql-2h": 1594,
    "pql-3h": 1031,
    "wc-p2": 1472,
    "wc-c": 2208,
    "cwq": 3531,
    "cwq-slice": 810,
    "webqsp": 1639,
    "grailqa": 1000,
    "simpleqa": 1000,
    "webquestions": 2032,
    "qald10": 333,
    "trex": 5000,
    "zsre": 3724,
    "creak": 1371,
}


def independent_count(path: Path) -> int:
    if path.suffix == ".json":
        return len(json.loads(path.read_text(encoding="utf-8")))
    return sum(1 for line in path.read_text(encoding="utf-8").split("\n") if line.strip())


@functools.cache
def _load(name: str) -> list[Question]:
    return load_questions(name, DATA / FILES[name])


def load(name: str) -> list[Question]:
    require(DATA / FILES[name])
    return _load(name)


def first(name: str) -> Question:
    return load(name)[0]


# --- the registry --------------------------------------------------------------------------------


def test_registry_has_exactly_the_names() -> None:
    assert list(DATASETS) == NAMES
    assert set(FILES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_spec_fields(name: str) -> None:
    spec = DATASETS[name]
    assert isinstance(spec, DatasetSpec)
    assert spec.name == name
    assert spec.description
    assert spec.default_files
    assert "gold" in spec.linking_modes
    assert spec.download_url is None or spec.download_url.startswith("https://")
    assert spec.download_url is not None or spec.source  # says where to get it instead
    offline = spec.kg_profile in ("metaqa-kb", "pathquestion-kb", "wc2014-kb")
    assert offline == (spec.kb_file is not None and name != "cwq-slice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_kg_profiles_follow_the_paper() -> None:
    freebase = {"cwq", "cwq-slice", "webqsp", "grailqa", "simpleqa", "webquestions"}
    wikidata = {"qald10", "trex", "zsre", "creak"}
    assert {n for n, s in DATASETS.items() if s.kg_profile == "freebase"} == freebase
    assert {n for n, s in DATASETS.items() if s.kg_profile == "wikidata"} == wikidata
    assert DATASETS["trex"].task == DATASETS["zsre"].task == "slot-filling"
    assert DATASETS["creak"].task == "claim"


def test_grailqa_accepts_upstream_misspelling() -> None:
    assert DATASETS["grailqa"].default_files[:2] == ("grailqa.json", "graliqa.json")
    assert DATASETS["grailqa"].download_url is not None
    assert DATASETS["grailqa"].download_url.endswith("/data/graliqa.json")


def test_metaqa_has_no_download_but_says_where() -> None:
    assert DATASETS["metaqa-2hop"].download_url is None
    assert "yuyuz/MetaQA" in DATASETS["metaqa-2hop"].source
    assert DATASETS["metaqa-2hop"].default_files[0] == "2-hop/qa_test.txt"


# --- every dataset loads, with the right count ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_count_matches_file_and_published_size(name: str) -> None:
    questions = load(name)
    assert len(questions) == independent_count(DATA / FILES[name]) == COUNTS[name]
    assert len({q.id for q in questions}) == len(questions)
    assert all(q.text.strip() for q in questions)


@pytest.mark.parametrize("name", NAMES)
def test_every_name_loads_from_the_shared_data_root(name: str) -> None:
    require(DATA / FILES[name])
    assert load_questions(name, DATA) == load(name)


@pytest.mark.parametrize("name", NAMES)
def test_folder_of_the_file_resolves(name: str) -> None:
    path = require(DATA / FILES[name])
    if name == "webqsp":  # that folder also holds webqsp_test.json; WebQSP.jsonl comes first
        assert load_questions(name, path.parent)[0].id == "WebQTest-1198"
        return
    assert load_questions(name, path.parent) == load(name)


def test_ids_use_the_file_ids_or_name_and_index() -> None:
    assert first("metaqa-2hop").id == "metaqa-2hop:0"
    assert first("pq-3h").id == "pq-3h:0"
    assert first("simpleqa").id == "simpleqa:0"
    assert load("qald10")[332].id == "qald10:332"
    assert first("cwq").id == "WebQTest-832_c334509bb5e02cacae1ba2e80c176499"
    assert first("grailqa").id == "2101960008000"
    assert first("creak").id == "dev_0"


# --- spot checks per dataset ---------------------------------------------------------------------


def test_metaqa() -> None:
    q = first("metaqa-1hop")
    assert (q.text, q.topic_entities, q.answers) == (
        "what does Grégoire Colin appear in",
        ("Grégoire Colin",),
        ("Before the Rain",),
    )
    assert (q.hops, q.qtype) == (1, "actor_to_movie")
    q2 = first("metaqa-2hop")
    assert q2.text == "which person directed the movies starred by John Krasinski"
    assert q2.answers == (
        "Nancy Meyers",
        "Sam Mendes",
        "George Clooney",
        "Ken Kwapis",
        "Luke Greenfield",
    )
    assert (q2.hops, q2.qtype) == (2, "actor_to_movie_to_director")
    assert all(q.qtype and q.qtype.count("_to_") == 3 for q in load("metaqa-3hop"))


def test_pathquestion() -> None:
    q = first("pq-2h")
    assert q.text == "which nationality is frederica_of_mecklenburg-strelitz 's couple ?"
    assert q.topic_entities == ("frederica_of_mecklenburg-strelitz",)
    assert (q.answers, q.hops) == (("united_kingdom",), 2)
    assert q.metadata["path"] == (
        "frederica_of_mecklenburg-strelitz#spouse#ernest_augustus_i_of_hanover#nationality"
        "#united_kingdom#<end>#united_kingdom"
    )
    assert first("pq-3h").hops == 3
    pql = first("pql-2h")  # PQL lines start with a space and have no <end>
    assert pql.text.startswith("what is the notable_types of Kenneth_Peach")
    assert (pql.topic_entities, pql.answers, pql.hops) == (("Kenneth_Peach",), ("Adaptation",), 2)
    assert {q.hops for q in load("pql-3h")} == {3}


def test_worldcup() -> None:
    q = first("wc-p2")
    assert q.text == "where is the football club that Alan_PULIDO plays for ?"
    assert (q.topic_entities, q.answers, q.hops, q.qtype) == (
        ("Alan_PULIDO",),
        ("Mexico",),
        2,
        "path",
    )
    clubs = load("wc-p2")[1]  # the answer set is the gold set, main answer first
    assert clubs.answers[0] == "Tigres_UANL"
    assert len(clubs.answers) == 12
    c = first("wc-c")
    assert c.text == "name a player who plays at Forward position at the club Tigres_UANL ?"
    assert (c.topic_entities, c.answers, c.hops, c.qtype) == (
        ("Forward", "Tigres_UANL"),
        ("Alan_PULIDO",),
        1,
        "conjunctive",
    )
    assert all(len(q.topic_entities) == 2 for q in load("wc-c"))


def test_cwq() -> None:
    q = first("cwq")
    assert q.text == "Lou Seal is the mascot for the team that last won the World Series when?"
    assert (q.topic_entities, q.topic_names) == (("m.03_dwn",), ("Lou Seal",))
    assert (q.answers, q.answer_aliases, q.qtype) == (("2014 World Series",), (), "composition")
    assert q.metadata["webqsp_ID"] == "WebQTest-832"
    questions = load("cwq")
    assert sum(not q.topic_entities for q in questions) == 11
    assert {q.qtype for q in questions} == {
        "composition",
        "conjunction",
        "comparative",
        "superlative",
    }


def test_cwq_slice() -> None:
    q = first("cwq-slice")
    assert q.id == "WebQTrn-1259_1997cb4922db71983be26e6a509950f4"
    assert q.topic_entities == ("m.010qhfmm", "m.019v9k")
    assert q.topic_names == ("Country Nation World Tour", "Bachelor's degree")
    assert (q.answers, q.hops, q.qtype) == (("Belmont University",), 2, "composition")
    assert q.metadata["answer_mids"] == ["m.01qdhx"]
    assert sum(q.hops is not None for q in load("cwq-slice")) == 614  # README: reachable


def test_webqsp_jsonl() -> None:
    q = first("webqsp")
    assert (q.id, q.text) == ("WebQTest-1198", "who influenced samuel taylor coleridge?")
    assert (q.topic_entities, q.topic_names) == (("m.078w2",), ("Samuel Taylor Coleridge",))
    assert len(q.answers) == 10
    assert q.answers[:2] == ("Giambattista Vico", "Baruch Spinoza")
    assert q.metadata["answer_ids"][:2] == ["m.015_hb", "m.015n8"]  # type: ignore[index]
    questions = load("webqsp")
    assert sum(not q.answers for q in questions) == 11
    multi = next(q for q in questions if len(q.metadata["parse_answers"]) > 1)  # type: ignore[arg-type]
    union = {a for parse in multi.metadata["parse_answers"] for a in parse}  # type: ignore[union-attr]
    assert set(multi.answers) == union


def test_webqsp_answer_argument_when_name_is_null() -> None:
    values = [
        a
        for q in load("webqsp")
        for a, i in zip(q.answers, q.metadata["answer_ids"], strict=True)  # type: ignore[arg-type]
        if a == i and not str(i).startswith(("m.", "g."))
    ]
    assert values  # literal answers (years, numbers) are kept as their AnswerArgument


def test_webqsp_tog2_form() -> None:
    path = require(DATA / "tog" / "webqsp_test.json")
    questions = load_questions("webqsp", path)
    assert len(questions) == len(json.loads(path.read_text(encoding="utf-8"))) == 1430
    q = questions[0]
    assert (q.id, q.text, q.topic_entities) == (
        "WebQTest-0",
        "what does jamaican people speak?",
        ("Q766",),
    )
    assert q.answers == ("English language",)
    assert "Jamaican English" in q.answer_aliases[0]
    assert q.gold_aliases()[0][:2] == ("English language", "ISO 639:en")
    assert q.metadata["kg"] == "wikidata"


def test_webqsp_json_list_form(tmp_path: Path) -> None:
    lines = require(DATA / "tog" / "WebQSP.jsonl").read_text(encoding="utf-8").split("\n")
    (tmp_path / "WebQSP.json").write_text(
        json.dumps([json.loads(line) for line in lines[:3]]), encoding="utf-8"
    )
    assert load_questions("webqsp", tmp_path) == load("webqsp")[:3]


def test_grailqa() -> None:
    q = first("grailqa")
    assert q.text == "which play is produced by the illusion?"
    assert (q.topic_entities, q.answers, q.qtype) == (("m.0yrlqjm",), ("The Illusion",), "i.i.d.")
    assert q.metadata["answer_ids"] == ["m.0yrltsn"]
    questions = load("grailqa")
    assert sum(bool(q.topic_entities) for q in questions) == 988
    assert {q.qtype for q in questions} == {"i.i.d.", "compositional", "zero-shot"}


def test_grailqa_upstream_file_name(tmp_path: Path) -> None:
    shutil.copy(require(DATA / "tog" / "grailqa.json"), tmp_path / "graliqa.json")
    assert load_questions("grailqa", tmp_path) == load("grailqa")


def test_simpleqa() -> None:
    q = first("simpleqa")
    assert (q.text, q.topic_entities, q.topic_names) == (
        "where is the madam satan located",
        ("m.02qkg8m",),
        ("Madam Satan",),
    )
    assert (q.answers, q.hops, q.metadata["relation"]) == (
        ("United States of America",),
        1,
        "country",
    )


def test_webquestions() -> None:
    q = first("webquestions")
    assert q.text == "what does jamaican people speak?"
    assert (q.topic_entities, q.answers) == (
        ("m.03_r3",),
        ("Jamaican Creole English Language", "Jamaican English"),
    )
    assert q.metadata["qid_topic_entity"] == {"Q766": "Jamaica"}


def test_qald10() -> None:
    q = first("qald10")
    assert q.text == "After whom is the Riemannian geometry named?"
    assert (q.topic_entities, q.topic_names) == (("Q761383",), ("Riemannian geometry",))
    assert (q.answers, q.metadata["answer_ids"]) == (("Bernhard Riemann",), ["Q42299"])
    questions = load("qald10")
    assert any(q.answers == ("+100",) for q in questions)  # literal answers map to themselves
    assert sum(not q.answers for q in questions) == 1


def test_trex() -> None:
    q = first("trex")
    assert (q.text, q.topic_entities, q.answers) == (
        "Cirith Ungol [SEP] genre",
        ("Q2266196",),
        ("heavy metal",),
    )
    assert q.answer_aliases == ((),)  # the alias equal to the answer is not repeated
    assert q.metadata["relation"] == "genre"
    third = load("trex")[2]
    assert third.gold_aliases() == (("United States of America", "United Kingdom", "Canada"),)
    other_schema = load("trex")[4000]  # the last 1,000 records have 'relation' and no alias
    assert other_schema.answer_aliases == ((),)
    assert other_schema.metadata["relation"] == "languages spoken, written or signed"


def test_zsre() -> None:
    q = first("zsre")
    assert (q.text, q.topic_entities, q.answers) == (
        "Jennings Randolph Bridge [SEP] crosses",
        ("Q6179056",),
        ("Ohio River",),
    )
    templates = q.metadata["template_questions"]
    assert isinstance(templates, list)
    assert templates[0] == "Over which river does Jennings Randolph Bridge cross?"


def test_creak() -> None:
    q = first("creak")
    assert (q.text, q.topic_entities, q.answers) == (
        "Eating soup means eating only solids.",
        ("Q41415",),
        ("false",),
    )
    labels = [q.answers for q in load("creak")]
    assert (labels.count(("true",)), labels.count(("false",))) == (691, 680)


# --- KB resolution -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kb"),
    [
        ("metaqa-1hop", "metaqa/kb.txt"),
        ("metaqa-3hop", "metaqa/kb.txt"),
        ("pq-2h", "pathquestion/PathQuestion/2H-kb.txt"),
        ("pq-3h", "pathquestion/PathQuestion/3H-kb.txt"),
        ("pql-2h", "pathquestion/PathQuestion/PQL2-KB.txt"),
        ("pql-3h", "pathquestion/PathQuestion/PQL3-KB.txt"),
        ("wc-p2", "pathquestion/WC2014/WC2014.txt"),
        ("wc-c", "pathquestion/WC2014/WC2014.txt"),
        ("cwq-slice", "freebase_cwq/slice.nt"),
    ],
)
def test_resolve_kb(name: str, kb: str) -> None:
    path = require(DATA / FILES[name])
    expected = DATA / kb
    assert resolve_kb(name, path) == expected
    assert resolve_kb(name, path.parent) == expected
    assert resolve_kb(name, DATA) == expected
    if name.startswith("metaqa"):
        assert resolve_kb(name, DATA / "metaqa") == expected


def test_resolve_kb_none() -> None:
    assert resolve_kb("cwq", require(DATA / "tog" / "cwq.json")) is None
    assert resolve_kb("creak", DATA / "tog") is None


def test_resolve_kb_missing_kb_file(tmp_path: Path) -> None:
    shutil.copy(require(DATA / FILES["pq-2h"]), tmp_path / "PQ-2H.txt")
    assert resolve_kb("pq-2h", tmp_path) is None
    (tmp_path / "2H-kb.txt").write_text("a\tr\tb\n", encoding="utf-8")
    assert resolve_kb("pq-2h", tmp_path) == tmp_path / "2H-kb.txt"
    assert resolve_kb("pq-2h", tmp_path / "PQ-2H.txt") == tmp_path / "2H-kb.txt"


def test_official_metaqa_layout(tmp_path: Path) -> None:
    """Upstream MetaQA keeps questions in ``2-hop/vanilla/`` and the qtype file one level up."""
    (tmp_path / "2-hop" / "vanilla").mkdir(parents=True)
    (tmp_path / "kb.txt").write_text("A|directed_by|B\n", encoding="utf-8")
    (tmp_path / "2-hop" / "vanilla" / "qa_test.txt").write_text(
        "who directed [A]\tB\nwhat did [B] direct\tA|C\n", encoding="utf-8"
    )
    (tmp_path / "2-hop" / "qa_test_qtype.txt").write_text("m_to_d\nd_to_m\n", encoding="utf-8")
    questions = load_questions("metaqa-2hop", tmp_path)
    assert [(q.topic_entities, q.answers, q.qtype) for q in questions] == [
        (("A",), ("B",), "m_to_d"),
        (("B",), ("A", "C"), "d_to_m"),
    ]
    assert resolve_kb("metaqa-2hop", tmp_path) == tmp_path / "kb.txt"


def test_read_metaqa_without_qtype_file(tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text("who directed [A]\tB\n", encoding="utf-8")
    assert list(read_metaqa(tmp_path / "q.txt", hops=1)) == [
        Question("metaqa-1hop:0", "who directed A", ("A",), ("B",), 1)
    ]


# --- errors --------------------------------------------------------------------------------------


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'cwq2'") as error:
        load_questions("cwq2", DATA)
    assert "metaqa-1hop" in str(error.value)
    assert "creak" in str(error.value)
    assert isinstance(error.value, ValueError)
    with pytest.raises(DatasetError, match="unknown dataset"):
        resolve_kb("nope", DATA)


def test_missing_file_lists_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="looked for") as error:
        load_questions("grailqa", tmp_path)
    assert str(tmp_path) in str(error.value)
    assert "graliqa.json" in str(error.value)
    with pytest.raises(DatasetError, match="does not exist"):
        load_questions("cwq", tmp_path / "absent.json")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "file", "text", "message"),
    [
        ("metaqa-1hop", "qa_test.txt", "who directed [A]\tB\nno tab here\n", r"qa_test.txt:2: "),
        ("metaqa-1hop", "qa_test.txt", "no topic\tB\n", r"qa_test.txt:1: .*\[topic\]"),
        ("pq-2h", "PQ-2H.txt", "q ?\ta(a/)\ta#r#b#r#a#<end>#a\n\nq ?\tonly two\n", r":3: "),
        ("wc-c", "WC-C.txt", "q\ta\tx#r#a\ta/\tn\n", r"WC-C.txt:1: expected 6"),
        ("cwq", "cwq.json", '[{"ID": "x", "question": "q",', r"cwq.json: invalid JSON"),
        ("cwq", "cwq.json", '{"a": 1}', r"cwq.json:1: field 'ID'"),
        ("cwq", "cwq.json", '[{"ID": "x", "answer": "a"}]', r"record 0: field 'question'"),
        ("cwq", "cwq.json", "[1]", r"record 0: expected a JSON object"),
        (
            "cwq",
            "cwq.json",
            '[{"ID": "x", "question": "q", "answer": "a", "topic_entity": ["m.1"]}]',
            r"record 0: field 'topic_entity' must map",
        ),
        (
            "cwq",
            "cwq.json",
            '[{"ID": "x", "question": "q", "answer": "a"}, '
            '{"ID": "x", "question": "r", "answer": "b"}]',
            r"duplicate question id 'x'",
        ),
        (
            "webqsp",
            "WebQSP.jsonl",
            '{"id": "a", "question": "q", "answers": []}\n{oops\n',
            r"WebQSP.jsonl:2: invalid JSON",
        ),
        ("webqsp", "WebQSP.jsonl", '{"id": "a"}\n', r"WebQSP.jsonl:1: neither a WebQSP"),
        (
            "creak",
            "creak.json",
            '[{"ex_id": "a", "sentence": "s", "label": "maybe"}]',
            r"record 0: field 'label' must be 'true' or 'false'",
        ),
        (
            "qald10",
            "qald_10-en.json",
            '[{"question": "q", "answer": ["x"]}]',
            r"record 0: field 'answer' must map",
        ),
        (
            "webquestions",
            "WebQuestions.json",
            '[{"question": "q", "answers": "x"}]',
            r"record 0: field 'answers' must be a list of strings",
        ),
    ],
)
def test_malformed_input_names_file_and_place(
    tmp_path: Path, name: str, file: str, text: str, message: str
) -> None:
    _write(tmp_path, file, text)
    with pytest.raises(DatasetError, match=message):
        load_questions(name, tmp_path)


def test_qtype_file_of_another_length(tmp_path: Path) -> None:
    _write(tmp_path, "qa_test.txt", "who directed [A]\tB\n")
    _write(tmp_path, "qa_test_qtype.txt", "a\nb\n")
    with pytest.raises(DatasetError, match="2 lines, but"):
        load_questions("metaqa-1hop", tmp_path / "qa_test.txt")


@pytest.mark.parametrize(
    "question",
    [
        "Who?",
        {"en": "Who?", "de": "Wer?"},
        [{"language": "de", "string": "Wer?"}, {"language": "en", "string": "Who?"}],
    ],
)
def test_qald_question_text_forms(tmp_path: Path, question: object) -> None:
    record = {"question": question, "answer": {"Q1": "One"}, "qid_topic_entity": {"Q2": "Two"}}
    _write(tmp_path, "qald_10-en.json", json.dumps([record]))
    [q] = load_questions("qald10", tmp_path)
    assert (q.id, q.text, q.answers, q.topic_entities) == ("qald10:0", "Who?", ("One",), ("Q2",))


def test_qald_without_english(tmp_path: Path) -> None:
    record = {"question": [{"language": "de", "string": "Wer?"}], "answer": {}}
    _write(tmp_path, "qald_10-en.json", json.dumps([record]))
    with pytest.raises(DatasetError, match="no English question text"):
        load_questions("qald10", tmp_path)


# --- Question ------------------------------------------------------------------------------------


def test_question_keeps_positional_order_and_defaults() -> None:
    q = Question("id", "text", ("t",), ("a",), 2)
    assert (q.hops, q.answer_aliases, q.topic_names, q.qtype, dict(q.metadata)) == (
        2,
        (),
        (),
        None,
        {},
    )
    assert q.gold_aliases() == (("a",),)
    assert hash(q) == hash(Question("id", "text", ("t",), ("a",), 2, metadata={"x": 1}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.text = "other"  # type: ignore[misc]


def test_question_gold_aliases() -> None:
    q = Question("q", "?", (), ("UK", "US"), answer_aliases=(("Britain",), ()))
    assert q.gold_aliases() == (("UK", "Britain"), ("US",))


def test_question_rejects_misaligned_aliases_and_names() -> None:
    with pytest.raises(ValueError, match="one entry per answer"):
        Question("q", "?", (), ("a", "b"), answer_aliases=(("x",),))
    with pytest.raises(ValueError, match="one entry per topic entity"):
        Question("q", "?", ("m.1",), (), topic_names=("A", "B"))


def test_doctests_pass() -> None:
    # pytest does not collect doctests (no --doctest-modules), so run them explicitly.
    outcome = doctest.testmod(eval.datasets)
    assert outcome.attempted > 0
    assert outcome.failed == 0
