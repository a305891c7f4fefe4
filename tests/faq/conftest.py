"""A project copy to train in, a model folder with the current model, and Rasa + actions serving it."""
# The console screens for FAQs are tested in tests/web/admin/test_faq_console.py: Playwright's sync API keeps an
# event loop running in the main thread for the rest of the session, so browser tests must run after async ones.

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.retrain import Target, project_copy
from bot.serve import actions_command, rasa_command
from kb.build import build
from tests.conftest import Processes, Servers, free_port


@dataclass
class Live:
    """The servers, the project copy retrain() works in, and where its models go."""

    servers: Servers
    target: Target
    root: Path
    models_dir: Path
    base_model: Path
    url: str


@pytest.fixture(scope="module")
def live(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    work = tmp_path_factory.mktemp("faq-live")
    root = project_copy(work / "project")
    models_dir = work / "models"
    models_dir.mkdir()
    # The server's first model is not in the model folder: the registry starts with the first retrain. (Two full
    # trainings of the same data differ by up to a point of hold-out accuracy here, so gating the first FAQs'
    # full training against whichever model this session trained would be a coin toss; the gate's accuracy check
    # is tested on the finetuning after it, and in tests/web/admin/test_models_browser.py.)
    (work / "served").mkdir()
    base = Path(shutil.copy(model_path, work / "served" / model_path.name))
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    action_port, rasa_port = free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    token = "faq-test-" + os.urandom(8).hex()
    processes = Processes(work, {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1"})
    processes.start("actions", actions_command(action_port))
    processes.start("rasa", rasa_command(base, rasa_port, token, endpoints, ROOT / "credentials.yml"))
    try:
        processes.wait_for("actions", f"http://127.0.0.1:{action_port}/health", 60)
        processes.wait_for("rasa", f"http://127.0.0.1:{rasa_port}/status?token={token}", 600)
        url = f"http://127.0.0.1:{rasa_port}"
        servers = Servers(url, f"http://127.0.0.1:{action_port}", token, database_url)
        yield Live(servers, Target(url, token), root, models_dir, base, database_url)
    finally:
        processes.stop()
