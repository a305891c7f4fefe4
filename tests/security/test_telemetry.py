"""Rasa's usage statistics and crash reports (tracebacks, sent to Rasa's servers by default) are off in every process
the project starts, even for a user whose Rasa configuration has them on and with nothing in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ROOT

CHILD = "from rasa import telemetry; print(telemetry.is_telemetry_enabled())"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A home whose Rasa configuration (as `rasa` writes it on first use) has telemetry on."""
    config = tmp_path / ".config" / "rasa" / "global.yml"
    config.parent.mkdir(parents=True)
    config.write_text("metrics:\n  enabled: true\n  rasa_user_id: test\n  date: 2026-01-01 00:00:00\n")
    variables = {key: value for key, value in os.environ.items() if key != "RASA_TELEMETRY_ENABLED"}
    return {**variables, "HOME": str(tmp_path)}


def run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_plain_rasa_would_report(env: dict[str, str]) -> None:
    assert run(CHILD, env) == "True"  # so the next test can fail


def test_a_rasa_process_started_by_the_project_does_not(env: dict[str, str]) -> None:
    starter = (
        f"import bot, subprocess, sys; print(subprocess.check_output([sys.executable, '-c', {CHILD!r}], text=True))"
    )
    assert run(starter, env) == "False"
