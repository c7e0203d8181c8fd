"""ToG inside other frameworks: one module per framework, each needing its extra."""

from __future__ import annotations

__all__: list[str] = []
