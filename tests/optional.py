"""Import an optional dependency in a test: skip where it is not installed, fail under CI.

CI installs every extra the tests use (``scripts/test``), so a missing module there is a broken
set-up, never a reason to skip.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def import_optional(name: str, install: str) -> ModuleType:
    """``import name``, or skip (fail under ``CI=true``) naming the install command."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"{name} is not installed ({exc}); install it with: {install}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
