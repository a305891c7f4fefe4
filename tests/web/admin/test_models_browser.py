"""The console's retrain and rollback buttons, clicked in Chromium against a running Rasa server: retrain shows its
progress, trains in a project copy, passes the gate and puts the new model live; rollback puts the previous one
back; a second rollback says there is nothing left to roll back to. The registry and the audit log say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from bot.config import ROOT
from bot.retrain import ModelRecord, load_registry, project_copy, save_registry
from bot.serve import free_port, rasa_command, wait_until_ready
from kb import audit
from kb.build import build
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.web.conftest import _start_web, _stop


@dataclass
class Stack:
    console: str
    rasa: str
    token: str
    models_dir: Path
    first: Path
    database_url: str


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Rasa serving the current model; the console pointed at that server, its model folder and a project copy."""
    work = tmp_path_factory.mktemp("models-console")
    models_dir = work / "models"
    models_dir.mkdir()
    first = Path(shutil.copy(model_path, models_dir / model_path.name))
    save_registry(models_dir, [ModelRecord(str(first.resolve()), "", "", "initial", status="live")])
    root = project_copy(work / "project")
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    token, rasa_port = "rollback-" + os.urandom(8).hex(), free_port()
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    command = rasa_command(first, rasa_port, token, endpoints=None, credentials=ROOT / "credentials.yml")
    log = work / "rasa.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1"}
    rasa = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    web = None
    try:
        wait_until_ready(f"{rasa_url}/status?token={token}", rasa, 300, log)
        settings = {"DATABASE_URL": database_url, "MODELS_DIR": str(models_dir), "TRAINING_ROOT": str(root)}
        settings |= {"BOT_ADMIN_USER": ADMIN_USER, "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD}
        with pytest.MonkeyPatch.context() as patch:  # _start_web passes os.environ on to the app
            for key, value in settings.items():
                patch.setenv(key, value)
            web, console = _start_web(rasa_url, token, "rollback-secret-" + os.urandom(8).hex(), work / "web.log")
        yield Stack(console, rasa_url, token, models_dir, first, database_url)
    finally:
        if web is not None:
            _stop(web)
        _stop(rasa)


def main_text(page: Page) -> str:
    """The page's text; while it reloads itself (every 3 s during a retrain) it may be between two documents."""
    try:
        return page.inner_text("main")
    except PlaywrightError:
        return "训练进行中"


def served_model(stack: Stack) -> str:
    status = requests.get(f"{stack.rasa}/status", params={"token": stack.token}, timeout=30)
    assert status.status_code == 200, status.text
    return Path(status.json()["model_file"]).name


def test_retrain_then_rollback_from_the_console(browser: BrowserContext, stack: Stack) -> None:
    assert served_model(stack) == stack.first.name
    browser.clear_cookies()
    page = browser.new_page()
    try:
        page.goto(f"{stack.console}/admin/login")
        page.get_by_label("用户名").fill(ADMIN_USER)
        page.get_by_label("密码").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{stack.console}/admin/")
        page.goto(f"{stack.console}/admin/models")
        assert "当前在线" in page.inner_text("table")

        page.get_by_role("button", name="重新训练并上线").click()
        page.wait_for_url(f"{stack.console}/admin/models")
        assert "训练进行中" in page.inner_text("main")  # the page refreshes itself every 3 s while it runs
        deadline = time.monotonic() + 900
        while "训练进行中" in main_text(page):
            assert time.monotonic() < deadline, "the retrain did not finish in 15 minutes"
            page.wait_for_timeout(2000)
        progress = page.inner_text("pre.progress")
        assert "3/6 训练" in progress and "5/6 质量闸门" in progress and "6/6 上线" in progress, progress
        trained = [r for r in load_registry(stack.models_dir) if r.trained_by == ADMIN_USER]
        assert len(trained) == 1 and trained[0].status == "live", load_registry(stack.models_dir)
        new = Path(trained[0].file)
        assert trained[0].holdout_accuracy is not None and trained[0].holdout_accuracy >= 0.95
        assert new.name in page.inner_text("table") and served_model(stack) == new.name

        page.get_by_role("button", name="回滚到上一个模型").click()
        page.wait_for_selector("[role=status]", timeout=120_000)
        assert f"已回滚到 {stack.first.name}" in page.inner_text("[role=status]")
        audit_log = page.locator("table").last.inner_text()  # the audit log, on the same page
        assert ADMIN_USER in audit_log and "回滚" in audit_log and stack.first.name in audit_log

        # Nothing older is left: the button says so and changes nothing.
        page.get_by_role("button", name="回滚到上一个模型").click()
        page.wait_for_selector("[role=alert]")
        assert "没有可以回滚到的上一个模型" in page.inner_text("[role=alert]")
    finally:
        page.close()

    assert served_model(stack) == stack.first.name  # the running server answers with the previous model again
    records = {Path(r.file).name: r.status for r in load_registry(stack.models_dir)}
    assert records == {stack.first.name: "live", new.name: "rolled-back"}
    assert not new.exists()
    actions = [(e.actor, e.action) for e in reversed(audit.recent(url=stack.database_url))]
    assert actions == [(ADMIN_USER, "train"), (ADMIN_USER, "deploy"), (ADMIN_USER, "rollback")]
    reply = requests.post(
        f"{stack.rasa}/model/parse", params={"token": stack.token}, json={"text": "社保卡咋办"}, timeout=30
    )
    assert reply.json()["intent"]["name"] == "ask_sscard_apply"
