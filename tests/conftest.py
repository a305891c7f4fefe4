"""Shared fixtures: a fresh KB per test, the real domain, tracker factory, the trained model, live servers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.config import ROOT
from bot.serve import actions_command, free_port, rasa_command, stack_endpoints, stop_processes, wait_until_ready
from kb.build import build

TOPIC_DOC = ROOT / "docs" / "intents.md"


@pytest.fixture
def kb_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite KB built from kb/ for this test; actions find it through DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url)
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    def make(
        intent: str = "greet",
        text: str = "",
        slots: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
        sender_id: str = "test-resident",
        active_loop: str | None = None,
        requested_slot: str | None = None,
    ) -> Tracker:
        all_slots = {"requested_slot": requested_slot, **(slots or {})}
        return Tracker.from_dict(
            {
                "sender_id": sender_id,
                "slots": all_slots,
                "latest_message": {
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.99},
                    "entities": entities or [],
                },
                "events": [],
                "paused": False,
                "followup_action": None,
                "active_loop": {"name": active_loop} if active_loop else {},
                "latest_action_name": "action_listen",
            }
        )

    return make


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The newest model (`make test` trains before pytest runs); trained here only if there is none."""
    from bot.training import latest_model, train

    if latest_model() is None:
        assert train() == 0, "training failed"
    model = latest_model()
    assert model is not None
    return model


class Servers:
    def __init__(self, rasa_url: str, action_url: str, token: str, database_url: str) -> None:
        self.rasa_url, self.action_url, self.token, self.database_url = rasa_url, action_url, token, database_url

    def say(self, sender: str, message: str, timeout: float = 30) -> list[dict[str, Any]]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    def text_of(self, sender: str, message: str) -> str:
        return "\n".join(reply.get("text", "") for reply in self.say(sender, message))


class Processes:
    """Server processes a test starts, each writing WORK/NAME.log; stop() ends them all (SIGTERM, then SIGKILL)."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env = work, env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with self.log(name).open("w") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def wait_for(self, name: str, url: str, timeout: float) -> None:
        wait_until_ready(url, self.running[name], timeout, self.log(name))

    def stop(self) -> None:
        stop_processes(list(self.running.values()), grace=20)


@pytest.fixture(scope="session")
def servers(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The real action server and Rasa server on free ports, sharing a fresh KB database."""
    work = tmp_path_factory.mktemp("servers")
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    action_port, rasa_port = free_port(), free_port()
    endpoints = stack_endpoints(work / "endpoints.yml", action_port, database_url)
    token = "test-token-" + os.urandom(8).hex()
    processes = Processes(work, {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1"})
    processes.start("actions", actions_command(action_port))
    processes.start("rasa", rasa_command(model_path, rasa_port, token, endpoints, ROOT / "credentials.yml"))
    try:
        processes.wait_for("actions", f"http://127.0.0.1:{action_port}/health", 60)
        processes.wait_for("rasa", f"http://127.0.0.1:{rasa_port}/status?token={token}", 180)
        yield Servers(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}", token, database_url)
    finally:
        processes.stop()
        shutil.copytree(work, ROOT / "var" / "test-servers", dirs_exist_ok=True)
