"""One hardened stack for the fault, fuzz and security tests: the real action server, Rasa and web app, started
with the exact commands and environment of `make run` (bot.serve), on free ports, with WeChat on (plaintext mode),
small rate limits and REDIS_URL pointing at a port where no Redis listens (the documented single-instance mode).

Shared by tests/faults, tests/fuzz and tests/security: each conftest's session fixture calls `shared_stack`; the
stack starts once and stops when the last user is done.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests

from bot.config import ROOT
from bot.serve import commands, environment, free_port, wait_until_ready
from kb.build import build
from tests.channels.conftest import WeChatClient

WECHAT_TOKEN = "hardening-" + secrets.token_hex(4)
ADMIN_USER, ADMIN_PASSWORD = "hardening-admin", "Pw-" + secrets.token_hex(8)
RATE_LIMIT = 8  # messages per window per sender
RATE_WINDOW = 20  # seconds
IP_RATE_LIMIT = 12  # chat page messages per window per client address
ACTION_TIMEOUT = 3  # seconds
REQUEST_MAX_BYTES = 256 * 1024
STORE_CACHE_BYTES = 8 * 1024 * 1024  # the conversation store's cache (bot/tracker_store.py; default 64 MB)
CLIENT_TIMEOUT = 15  # what a resident's client waits; the apology must come well before
# Slow clients: a request's header must be in HEADER_TIMEOUT seconds after its first byte, its body BODY_TIMEOUT
# seconds after that (bot/http_deadlines.py; the defaults are longer).
HEADER_TIMEOUT = 3
BODY_TIMEOUT = 5


def sender(prefix: str = "hard") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fresh_window(window: float = RATE_WINDOW, room: float = 8) -> None:
    """Wait until at least `room` seconds are left in the current fixed rate-limit window."""
    left = window - time.time() % window
    if left < room:
        time.sleep(left + 0.05)


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert found, status
    return int(found.group(1))


class Stack:
    def __init__(self, work: Path, model: Path) -> None:
        self.work = work
        self.database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
        build(self.database_url)
        self.token = "hardening-" + secrets.token_hex(8)
        self.secret = "hardening-secret-" + secrets.token_hex(12)
        ports = {name: free_port() for name in ("actions", "rasa", "web", "redis")}
        self.ports = ports
        endpoints = work / "endpoints.yml"
        # The store's conversation cache is smaller than its 64 MB default, so that the HTTP fuzzing (thousands of
        # new conversations) fills it and can show that Rasa's memory stops growing once it is full.
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{ports["actions"]}/webhook"\n'
            f'tracker_store:\n  type: bot.tracker_store.MaskingSQLTrackerStore\n  url: "{self.database_url}"\n'
            f"  cache_bytes: {STORE_CACHE_BYTES}\n"
        )
        overrides = {
            "DATABASE_URL": self.database_url,
            "RASA_TOKEN": self.token,
            "RASA_PORT": str(ports["rasa"]),
            "ACTION_PORT": str(ports["actions"]),
            "WEB_PORT": str(ports["web"]),
            "RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
            "BOT_SECRET_KEY": self.secret,
            "BOT_ADMIN_USER": ADMIN_USER,
            "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_REPLY_TIMEOUT": "15",
            "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",  # nothing listens there: Redis is down
            "ACTION_TIMEOUT": str(ACTION_TIMEOUT),
            "RATE_LIMIT_MESSAGES": str(RATE_LIMIT),
            "RATE_LIMIT_IP_MESSAGES": str(IP_RATE_LIMIT),
            "RATE_LIMIT_WINDOW": str(RATE_WINDOW),
            "REQUEST_MAX_BYTES": str(REQUEST_MAX_BYTES),
            "WEB_PROXIES_COUNT": "1",
            "SANIC_REQUEST_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "SANIC_REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
        }
        removed = ("WECHAT_AES_KEY", "WECHAT_APPID", "WECHAT_APPSECRET", "WECHAT_API_BASE", "WEB_FORWARDED_SECRET")
        with mock.patch.dict(os.environ, overrides):
            for name in removed:
                os.environ.pop(name, None)
            self.env = environment()
            self.commands = dict(zip(("actions", "rasa", "web"), commands(model), strict=True))
        rasa = self.commands["rasa"]
        rasa[rasa.index("--endpoints") + 1] = str(endpoints)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.rasa_url = overrides["RASA_URL"]
        self.action_url = f"http://127.0.0.1:{ports['actions']}"
        self.web_url = f"http://127.0.0.1:{ports['web']}"
        self.wechat_url = f"{self.rasa_url}/webhooks/wechat/webhook"

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        with self.log(name).open("a") as log:
            process = subprocess.Popen(self.commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.processes[name] = process
        return process

    def start(self) -> None:
        self.start_actions()
        rasa = self._spawn("rasa")
        wait_until_ready(f"{self.rasa_url}/status?token={self.token}", rasa, 480, self.log("rasa"))
        web = self._spawn("web")
        wait_until_ready(f"{self.web_url}/healthz", web, 60, self.log("web"))

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)  # a paused action server must be able to exit
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    # --- the action server as a fault -------------------------------------------------------------------------

    def start_actions(self) -> None:
        process = self._spawn("actions")
        wait_until_ready(f"{self.action_url}/health", process, 90, self.log("actions"))

    def kill_actions(self) -> None:
        process = self.processes["actions"]
        process.terminate()
        process.wait(timeout=20)

    def pause_actions(self) -> None:
        """SIGSTOP: the port still accepts connections (kernel backlog) but nothing answers — a hung server."""
        os.kill(self.processes["actions"].pid, signal.SIGSTOP)

    def resume_actions(self) -> None:
        os.kill(self.processes["actions"].pid, signal.SIGCONT)

    # --- clients ----------------------------------------------------------------------------------------------

    def say(self, who: str, message: Any, timeout: float = CLIENT_TIMEOUT) -> requests.Response:
        body = {"sender": who, "message": message}
        return requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, timeout=timeout)

    def text_of(self, who: str, message: str) -> str:
        response = self.say(who, message)
        assert response.status_code == 200, response.text
        return "\n".join(str(reply.get("text") or "") for reply in response.json())

    def events(self, who: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.rasa_url}/conversations/{who}/tracker", params={"token": self.token}, timeout=CLIENT_TIMEOUT
        )
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    def wechat(self) -> WeChatClient:
        return WeChatClient(self.wechat_url, token=WECHAT_TOKEN)

    def rss_kb(self, name: str) -> int:
        return rss_kb(self.processes[name].pid)


_shared: dict[str, Any] = {"stack": None, "users": 0}


def shared_stack(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The one Stack of this test session (started on first use, stopped after its last user)."""
    if _shared["stack"] is None:
        stack = Stack(tmp_path_factory.mktemp("hardened-stack"), model)
        try:
            stack.start()
        except BaseException:
            stack.stop()
            raise
        _shared["stack"] = stack
    _shared["users"] += 1
    try:
        yield _shared["stack"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            stack = _shared["stack"]
            _shared["stack"] = None
            stack.stop()
            shutil.copytree(stack.work, ROOT / "var" / "test-hardened-stack", dirs_exist_ok=True)
