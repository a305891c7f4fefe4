"""Run a Python snippet in a fresh process (one model load per process) and read back the JSON it emits.

The result travels in a file, not on stdout: in one CI run the ~0.5 MB line of a hold-out comparison arrived cut
short through the pipe, with exit code 0, and the test failed on the truncation instead of on the comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.config import ROOT

RESULT_VARIABLE = "TEST_RESULT_JSON"


def emit(value: Any) -> None:
    """Called by the snippet: write its result where run_json() reads it."""
    Path(os.environ[RESULT_VARIABLE]).write_text(json.dumps(value), encoding="utf-8")


def run_json(script: str, *args: str, timeout: float = 600) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        result_file = Path(folder) / "result.json"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", RESULT_VARIABLE: str(result_file)}
        result = subprocess.run(
            [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result_file.exists(), f"the snippet emitted nothing; stderr:\n{result.stderr[-3000:]}"
        return json.loads(result_file.read_text(encoding="utf-8"))
