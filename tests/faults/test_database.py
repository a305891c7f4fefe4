"""Database unreachable at start → a clear error naming DATABASE_URL, from `make run` (python -m bot run), the web
app and the action server. (Rasa's own refusal to start is tested in tests/storage/test_rasa_run.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.config import ROOT
from bot.serve import actions_command, database_problem, free_port, wait_until_ready

DEAD_URL = f"postgresql://assistant:s3cret-password@127.0.0.1:{free_port()}/assistant"


def env_with(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1", **extra}


def assert_names_database_url(text: str) -> None:
    assert "DATABASE_URL" in text, text[-2000:]
    assert "s3cret-password" not in text  # the password is hidden
    assert "Traceback" not in text


def test_database_problem_names_the_variable_and_hides_the_password() -> None:
    problem = database_problem(DEAD_URL)
    assert problem is not None
    assert_names_database_url(problem)
    assert "127.0.0.1" in problem
    assert database_problem("not a url at all") is not None
    assert database_problem(f"sqlite:///{ROOT / 'var' / 'test-db-check' / 'ok.sqlite3'}") is None


def test_make_run_refuses_to_start_anything(model_path: Path) -> None:
    ports = {name: free_port() for name in ("RASA_PORT", "ACTION_PORT", "WEB_PORT")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env_with(DEAD_URL, RASA_TOKEN="t", **{k: str(v) for k, v in ports.items()}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert_names_database_url(result.stderr)
    assert time.monotonic() - started < 60  # it did not wait for three servers to fail one by one
    for port in ports.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_web_app_refuses_to_start() -> None:
    env = env_with(DEAD_URL, WEB_PORT=str(free_port()), BOT_SECRET_KEY="x" * 32, RASA_TOKEN="t")
    result = subprocess.run(
        [sys.executable, "-m", "bot.web"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert_names_database_url(result.stderr)


def test_action_server_apologises_and_logs_database_url(tmp_path: Path) -> None:
    """rasa-sdk has no start-up hook, and nothing may run at import: the action server starts, every KB action
    answers utter_service_unavailable, and the log says to check DATABASE_URL."""
    port = free_port()
    log = tmp_path / "actions.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            actions_command(port), cwd=ROOT, env=env_with(DEAD_URL), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/health", process, 90, log)
        body = {
            "next_action": "action_answer_topic",
            "sender_id": "db-down",
            "tracker": {
                "sender_id": "db-down",
                "slots": {},
                "latest_message": {"text": "社保卡咋办", "intent": {"name": "ask_sscard_apply", "confidence": 0.99}},
                "events": [],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            },
            "domain": {},
            "version": "3.6.2",
        }
        response = requests.post(f"http://127.0.0.1:{port}/webhook", json=body, timeout=60)
        assert response.status_code == 200, response.text
        assert [r.get("response") for r in response.json()["responses"]] == ["utter_service_unavailable"]
        time.sleep(0.5)
        assert "DATABASE_URL" in log.read_text()
        assert "s3cret-password" not in log.read_text()
        assert json.dumps(response.json()).count("s3cret") == 0
    finally:
        process.terminate()
        process.wait(timeout=20)
