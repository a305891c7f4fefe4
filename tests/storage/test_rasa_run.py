"""`rasa run` with the masking store: it refuses to start on an unreachable DATABASE_URL and masks what the API saves.

Rasa's own loader replaces a tracker store that fails with ImportError/AttributeError by an InMemoryTrackerStore and
only warns; a resident's conversation would then vanish at the next restart. These start the real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.config import ROOT
from bot.serve import rasa_command, stop_processes
from tests.conftest import free_port
from tests.storage.conftest import LABELS, USER_TEXT, event_rows, leaked

START_TIMEOUT = 110  # seconds; loading the model takes ~15 s on an idle machine
STORE = "bot.tracker_store.MaskingSQLTrackerStore"


def rasa_run(model: Path, endpoints: Path, port: int, database_url: str, log: Path, token: str) -> subprocess.Popen:
    command = rasa_command(model, port, token, endpoints, credentials=None)
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def stop(process: subprocess.Popen) -> None:
    stop_processes([process], grace=20)


@pytest.fixture
def endpoints(tmp_path: Path) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text(f"tracker_store:\n  type: {STORE}\n", encoding="utf-8")
    return path


def test_rasa_run_exits_on_an_unreachable_database(model_path: Path, endpoints: Path, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "rasa.log"
    process = rasa_run(model_path, endpoints, port, "postgresql://nobody@127.0.0.1:1/none", log, "t")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            assert not serving(port), f"Rasa serves without its conversation database:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        output = log.read_text()
        assert process.returncode is not None, f"still running after {START_TIMEOUT}s:\n{output[-3000:]}"
    finally:
        stop(process)
    assert process.returncode != 0
    assert "ConversationStoreError" in output and "DATABASE_URL" in output, output[-3000:]
    assert "InMemoryTrackerStore" not in output
    assert "Rasa server is up and running" not in output


@pytest.fixture
def running(model_path: Path, endpoints: Path, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A real Rasa server on the masking store over a fresh SQLite DATABASE_URL: (base URL, token, database URL)."""
    port, log, token = free_port(), tmp_path / "rasa.log", "token-" + os.urandom(8).hex()
    database_url = f"sqlite:///{tmp_path / 'conversations.sqlite3'}"
    process = rasa_run(model_path, endpoints, port, database_url, log, token)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not serving(port):
            assert process.poll() is None, f"Rasa exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"Rasa not up after {START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        yield base, token, database_url
    finally:
        stop(process)
    assert "InMemoryTrackerStore" not in log.read_text()


def test_rasa_run_masks_events_written_through_the_api(running: tuple[str, str, str]) -> None:
    """The HTTP API bypasses the channels' masking; the store still masks."""
    base, token, database_url = running
    event = {"event": "user", "text": USER_TEXT, "parse_data": {"text": USER_TEXT, "intent": {"name": "greet"}}}
    url = f"{base}/conversations/api-resident/tracker/events?token={token}"
    response = requests.post(url, json=event, timeout=30)
    assert response.status_code == 200, response.text

    tracker = requests.get(f"{base}/conversations/api-resident/tracker?token={token}", timeout=30).json()
    assert all(label in tracker["latest_message"]["text"] for label in LABELS), json.dumps(tracker)[:2000]
    rows = [row for row in event_rows(database_url) if row["sender_id"] == "api-resident"]
    assert "user" in [row["type_name"] for row in rows]
    assert leaked(rows) == []
