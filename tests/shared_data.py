"""Where the shared benchmark data lives: ``../shared/data`` beside the checkout (CI has it too).

Tests read it in place; it is never copied into the repository. Outside CI a missing folder skips
the tests that need it; under CI (``CI=true``) it fails them, so a broken set-up cannot hide.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def require(path: Path) -> Path:
    """``path`` inside the shared data, or skip (fail under CI) when it is missing."""
    if not path.exists():
        message = f"shared benchmark data not found: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
