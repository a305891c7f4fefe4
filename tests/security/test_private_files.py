"""Secrets stay off command lines, and what our processes write is for their owner only (docs/security.md).

Any user of the machine can read every process's command line (`ps`, /proc/PID/cmdline) but not its environment
(/proc/PID/environ is the owner's). The Rasa token used to be an argument (`--auth-token …`); the SQLite database
and the spool were world-readable (0644) while the secret files were 0600."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from bot.config import ROOT, VAR_DIR
from tests.faults.stack import Stack


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_is_on_a_command_line(stack: Stack) -> None:
    secrets = [stack.token, stack.secret]
    for name, process in stack.processes.items():
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        for secret in secrets:
            assert secret not in command_line, f"{name}: a secret on its command line: {command_line!r}"
    rasa = Path(f"/proc/{stack.processes['rasa'].pid}/cmdline").read_bytes().split(b"\0")
    token_file = Path(rasa[rasa.index(b"--auth-token-file") + 1].decode())
    assert token_file.read_text() == stack.token and mode(token_file) == 0o600 and mode(token_file.parent) == 0o700


def test_servers_create_files_for_their_owner_only(stack: Stack) -> None:
    for name, process in stack.processes.items():
        found = re.search(r"^Umask:\s+([0-7]+)$", Path(f"/proc/{process.pid}/status").read_text(), re.MULTILINE)
        assert found and int(found.group(1), 8) & 0o077 == 0o077, f"{name}: umask {found and found.group(1)}"
    spool = VAR_DIR / "spool"  # the stack's store spools here (no spool_dir in its endpoints.yml)
    files = list(spool.glob(f"events-{stack.processes['rasa'].pid}-*.jsonl"))
    assert files, sorted(spool.iterdir())
    assert all(mode(path) == 0o600 for path in files) and mode(spool) & 0o077 == 0


def test_the_database_is_created_for_its_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "data" / "assistant.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run([sys.executable, "-m", "bot", "kb", "build"], cwd=ROOT, env=env, check=True, capture_output=True)
    assert mode(database) == 0o600
    database.chmod(0o644)  # made before this was fixed: the web app and `python -m bot run` tighten it at start
    from bot.serve import database_problem

    assert database_problem(f"sqlite:///{database}") is None
    assert mode(database) == 0o600
