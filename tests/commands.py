"""Run the installed ``tog`` command in a subprocess, as a user would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def tog_command() -> list[str]:
    """The ``tog`` script beside this interpreter, else ``python -m tog.cli``."""
    script = shutil.which("tog", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "tog.cli"]


def run_tog(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``tog ARGS...`` with captured text output; never raises on a non-zero exit."""
    return subprocess.run(
        [*tog_command(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
