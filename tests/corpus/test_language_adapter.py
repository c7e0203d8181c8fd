"""The MLM language-adapter recipe on a tiny random BERT built here (no download)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kg_adapters.conceptnet_corpus import build_corpus
from tests.optional import import_optional
from tests.shared_data import DATA, require

ADAPTERS_EXTRA = "pip install 'think-on-graph[adapters]'"

pytestmark = pytest.mark.slow


def _tiny_model(folder: Path, corpus: Path) -> Path:
    tokenizers = import_optional("tokenizers", ADAPTERS_EXTRA)
    transformers = import_optional("transformers", ADAPTERS_EXTRA)
    import_optional("adapters", ADAPTERS_EXTRA)
    wordpiece = tokenizers.BertWordPieceTokenizer(lowercase=False)
    wordpiece.train([str(corpus / "train.txt")], vocab_size=400, min_frequency=1)
    folder.mkdir()
    wordpiece.save_model(str(folder))
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(str(folder))
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.set_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapter")
    build_corpus(require(DATA / "conceptnet" / "cn_data_ug.json"), ["ug"], root / "corpus")
    return root / "corpus" / "ug", _tiny_model(root / "model", root / "corpus" / "ug")


def test_seq_bn_adapter_trains_saves_and_reloads(setup, tmp_path):
    import adapters
    from transformers import AutoModelForMaskedLM

    from tog.language_adapter import train_language_adapter

    corpus, model = setup
    report = train_language_adapter(
        corpus,
        model,
        tmp_path / "out",
        steps=40,
        learning_rate=5e-3,
        batch_size=16,
        max_length=32,
        logging_steps=2,
        eval_steps=40,
    )
    assert report.steps == 40
    first, last = report.losses[:4], report.losses[-4:]
    assert sum(last) / len(last) < sum(first) / len(first)
    assert report.eval_loss is not None
    assert (report.adapter_dir / "adapter_config.json").is_file()
    fresh = AutoModelForMaskedLM.from_pretrained(str(model))
    adapters.init(fresh)
    name = fresh.load_adapter(str(report.adapter_dir))
    assert name == "mlm"
    assert "mlm" in fresh.adapters_config


def test_cli_trains_a_lora_adapter(setup, tmp_path):
    corpus, model = setup
    done = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("tog")), "corpus", "train-adapter"),
            *("--corpus", str(corpus), "--model", str(model), "--out", str(tmp_path / "o")),
            *("--adapter", "lora", "--steps", "3", "--max-length", "32", "--batch-size", "8"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "saved in" in done.stdout
    assert (tmp_path / "o" / "mlm" / "adapter_config.json").is_file()
    assert (tmp_path / "o" / "training.json").is_file()


def test_cli_unknown_adapter_is_one_line(setup, tmp_path):
    corpus, model = setup
    done = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("tog")), "corpus", "train-adapter"),
            *("--corpus", str(corpus), "--model", str(model), "--out", str(tmp_path / "o")),
            *("--adapter", "prefix"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("tog: error: adapter must be one of")
    assert len(done.stderr.strip().splitlines()) == 1
