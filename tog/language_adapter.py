"""Train a masked-LM language adapter on a built corpus with AdapterHub (extra ``adapters``).

The recipe of Gurgurov et al. (2025), conceptnet_corpus.md §10: ``adapters.init(model)``, one
adapter named ``mlm`` added, activated and trained alone (`train_adapter` freezes the model),
token-level MLM with 15 % masking, one sentence per example, lr 1e-4, batch 16, 25,000 steps.
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["ADAPTER_KINDS", "AdapterTrainingReport", "read_split", "train_language_adapter"]

logger = logging.getLogger(__name__)

ADAPTER_KINDS: Final = ("seq_bn", "seq_bn_inv", "double_seq_bn", "lora")
"""AdapterHub config names: sequential bottleneck, + invertible, Houlsby-style double, LoRA."""
ADAPTER_NAME: Final = "mlm"


@dataclass(frozen=True, slots=True)
class AdapterTrainingReport:
    """What `train_language_adapter` did: the logged training losses and where it saved."""

    steps: int
    losses: tuple[float, ...]
    eval_loss: float | None
    adapter_dir: Path
    trainable_parameters: int

    @property
    def first_loss(self) -> float:
        """The first logged training loss."""
        return self.losses[0] if self.losses else float("nan")

    @property
    def last_loss(self) -> float:
        """The last logged training loss."""
        return self.losses[-1] if self.losses else float("nan")


def read_split(corpus: Path, split: str) -> list[str]:
    """The sentences of one split of a corpus folder (``.txt``, ``.csv`` or ``.jsonl``).

    Args:
        corpus: A language folder written by `kg_adapters.conceptnet_corpus.build_corpus`.
        split: ``train``, ``validation`` or ``test``.

    Returns:
        The sentences, in file order; empty when the folder holds no such split.
    """
    short = {"train": "train", "validation": "val", "test": "test"}[split]
    for path in (corpus / f"{split}.txt", *sorted(corpus.glob(f"{short}_cn_*.txt"))):
        if path.is_file():
            return [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    for path in (corpus / f"{split}.csv", *sorted(corpus.glob(f"{short}_cn_*.csv"))):
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as stream:
                return [row["text"] for row in csv.DictReader(stream) if row.get("text")]
    path = corpus / f"{split}.jsonl"
    if path.is_file():
        with path.open(encoding="utf-8") as stream:
            return [str(json.loads(line)["text"]) for line in stream if line.strip()]
    return []


def train_language_adapter(
    corpus: str | Path,
    model: str | Path,
    out: str | Path,
    *,
    adapter: str = "seq_bn",
    steps: int = 25_000,
    learning_rate: float = 1e-4,
    batch_size: int = 16,
    max_length: int = 512,
    reduction_factor: int | None = None,
    mlm_probability: float = 0.15,
    eval_steps: int = 500,
    logging_steps: int | None = None,
    seed: int = 42,
) -> AdapterTrainingReport:
    """Train the ``mlm`` language adapter on ``corpus`` and save it in ``out/mlm``.

    Args:
        corpus: A language folder of a built corpus (``train`` and optionally ``validation``).
        model: A masked-LM model name or folder (mBERT, XLM-R, or any BERT-like model).
        out: Output folder: ``out/mlm`` (the adapter) and ``out/training.json`` (the log).
        adapter: One of `ADAPTER_KINDS`.
        steps: Optimiser steps.
        learning_rate: Adam learning rate.
        batch_size: Sentences per step.
        max_length: Tokens kept per sentence.
        reduction_factor: Bottleneck reduction factor (bottleneck adapters; default 16).
        mlm_probability: Share of tokens masked.
        eval_steps: Validation loss every this many steps (when a validation split exists).
        logging_steps: Training loss logged every this many steps (default: steps / 50).
        seed: Training seed.

    Returns:
        The losses and where the adapter went.

    Raises:
        ImportError: ``adapters``, ``transformers`` or ``torch`` is missing (extra ``adapters``).
        ValueError: Unknown adapter kind, or an empty training split.
    """
    if adapter not in ADAPTER_KINDS:
        raise ValueError(f"adapter must be one of {', '.join(ADAPTER_KINDS)}, not {adapter!r}")
    try:
        import adapters
        import torch

        # Typed as Any: transformers' exported names and stubs differ between the 4.x releases
        # the `adapters` pin allows, so strict checking of them would depend on the resolver.
        transformers: Any = importlib.import_module("transformers")
    except ImportError as exc:
        raise ImportError(
            f"training adapters needs the 'adapters' extra: pip install "
            f"'think-on-graph[adapters]' ({exc})"
        ) from exc
    folder, target = Path(corpus), Path(out)
    train_lines = read_split(folder, "train")
    if not train_lines:
        raise ValueError(f"no training sentences in {folder} (train.txt, .csv or .jsonl)")
    validation_lines = read_split(folder, "validation")
    torch.manual_seed(seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model))
    network = transformers.AutoModelForMaskedLM.from_pretrained(str(model))
    adapters.init(network)
    if adapter == "lora":
        config = adapters.LoRAConfig(r=8, alpha=8)
    elif reduction_factor is not None:
        config = adapters.AdapterConfig.load(adapter, reduction_factor=reduction_factor)
    else:
        config = adapters.AdapterConfig.load(adapter)
    network.add_adapter(ADAPTER_NAME, config=config)
    network.train_adapter(ADAPTER_NAME)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)

    def encode(lines: list[str]) -> list[dict[str, list[int]]]:
        encoded = tokenizer(lines, truncation=True, max_length=max_length)
        return [{"input_ids": ids} for ids in encoded["input_ids"]]

    arguments = transformers.TrainingArguments(
        output_dir=str(target / "checkpoints"),
        max_steps=steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        logging_steps=logging_steps or max(1, steps // 50),
        eval_strategy="steps" if validation_lines else "no",
        eval_steps=eval_steps,
        save_strategy="no",
        report_to=[],
        seed=seed,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = adapters.AdapterTrainer(
        model=network,
        args=arguments,
        train_dataset=encode(train_lines),
        eval_dataset=encode(validation_lines) if validation_lines else None,
        data_collator=transformers.DataCollatorForLanguageModeling(
            tokenizer, mlm_probability=mlm_probability
        ),
    )
    trainer.train()
    history = trainer.state.log_history
    losses = tuple(float(entry["loss"]) for entry in history if "loss" in entry)
    evals = [float(entry["eval_loss"]) for entry in history if "eval_loss" in entry]
    adapter_dir = target / ADAPTER_NAME
    network.save_adapter(str(adapter_dir), ADAPTER_NAME)
    report = AdapterTrainingReport(
        steps=int(trainer.state.global_step),
        losses=losses,
        eval_loss=evals[-1] if evals else None,
        adapter_dir=adapter_dir,
        trainable_parameters=int(trainable),
    )
    log = {
        "model": str(model),
        "adapter": adapter,
        "steps": report.steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "max_length": max_length,
        "mlm_probability": mlm_probability,
        "seed": seed,
        "train_sentences": len(train_lines),
        "trainable_parameters": report.trainable_parameters,
        "losses": list(losses),
        "eval_loss": report.eval_loss,
    }
    (target / "training.json").write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    return report
