"""The console's rollback button, clicked in Chromium: the running Rasa server gets the previous model back, the
registry and the audit log say so, and a second click says there is nothing left to roll back to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext

from bot.config import ROOT
from bot.retrain import ModelRecord, load_registry, save_registry
from kb import audit
from kb.build import build
from tests.conftest import _wait_for, free_port
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.web.conftest import _start_web, _stop


@dataclass
class Stack:
    console: str
    rasa: str
    token: str
    models_dir: Path
    live: Path
    previous: Path
    database_url: str


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Rasa serving the live model, and the console pointed at that server and at a registry of two models."""
    work = tmp_path_factory.mktemp("rollback")
    models_dir = work / "models"
    models_dir.mkdir()
    previous = Path(shutil.copy(model_path, models_dir / "20260101-000000-full.tar.gz"))
    live = Path(shutil.copy(model_path, models_dir / "20260102-000000-full.tar.gz"))
    save_registry(
        models_dir,
        [
            ModelRecord(str(previous), "2026-01-01T00:00:00", "王芳", "full", holdout_accuracy=0.97, status="previous"),
            ModelRecord(str(live), "2026-01-02T00:00:00", "王芳", "full", holdout_accuracy=0.96, status="live"),
        ],
    )
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    token, rasa_port = "rollback-" + os.urandom(8).hex(), free_port()
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    command = [sys.executable, "-m", "rasa", "run", "--model", str(live), "--enable-api", "--auth-token", token]
    command += ["--interface", "127.0.0.1", "--port", str(rasa_port), "--credentials", str(ROOT / "credentials.yml")]
    log = work / "rasa.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1"}
    rasa = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    web = None
    try:
        _wait_for(f"{rasa_url}/status?token={token}", rasa, 300, log)
        settings = {"DATABASE_URL": database_url, "MODELS_DIR": str(models_dir)}
        settings |= {"BOT_ADMIN_USER": ADMIN_USER, "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD}
        with pytest.MonkeyPatch.context() as patch:  # _start_web passes os.environ on to the app
            for key, value in settings.items():
                patch.setenv(key, value)
            web, console = _start_web(rasa_url, token, "rollback-secret-" + os.urandom(8).hex(), work / "web.log")
        yield Stack(console, rasa_url, token, models_dir, live, previous, database_url)
    finally:
        if web is not None:
            _stop(web)
        _stop(rasa)


def served_model(stack: Stack) -> str:
    status = requests.get(f"{stack.rasa}/status", params={"token": stack.token}, timeout=30)
    assert status.status_code == 200, status.text
    return Path(status.json()["model_file"]).name


def test_the_rollback_button_puts_the_previous_model_live(browser: BrowserContext, stack: Stack) -> None:
    assert served_model(stack) == stack.live.name
    browser.clear_cookies()
    page = browser.new_page()
    try:
        page.goto(f"{stack.console}/admin/login")
        page.get_by_label("用户名").fill(ADMIN_USER)
        page.get_by_label("密码").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{stack.console}/admin/")
        page.goto(f"{stack.console}/admin/models")
        models = page.inner_text("table")
        assert stack.live.name in models and "当前在线" in models and "可回滚" in models

        page.get_by_role("button", name="回滚到上一个模型").click()
        page.wait_for_selector("[role=status]", timeout=120_000)
        assert f"已回滚到 {stack.previous.name}" in page.inner_text("[role=status]")
        audit_log = page.locator("table").last.inner_text()  # the audit log, on the same page
        assert ADMIN_USER in audit_log and "回滚" in audit_log and stack.previous.name in audit_log

        # Nothing older is left: the button says so and changes nothing.
        page.get_by_role("button", name="回滚到上一个模型").click()
        page.wait_for_selector("[role=alert]")
        assert "没有可以回滚到的上一个模型" in page.inner_text("[role=alert]")
    finally:
        page.close()

    assert served_model(stack) == stack.previous.name  # the running server answers with the previous model
    records = {Path(r.file).name: r.status for r in load_registry(stack.models_dir)}
    assert records == {stack.previous.name: "live", stack.live.name: "rolled-back"}
    assert not stack.live.exists()
    rollbacks = [e for e in audit.recent(url=stack.database_url) if e.action == "rollback"]
    assert [(e.actor, e.target) for e in rollbacks] == [(ADMIN_USER, stack.previous.name)]
    reply = requests.post(
        f"{stack.rasa}/model/parse", params={"token": stack.token}, json={"text": "社保卡咋办"}, timeout=30
    )
    assert reply.json()["intent"]["name"] == "ask_sscard_apply"
