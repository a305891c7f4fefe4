"""Fixtures for the chat page: the web app as its own process (like `make run`), and Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, sync_playwright
from requests.adapters import HTTPAdapter

from bot.config import ROOT
from bot.serve import stop_processes
from bot.web.sessions import COOKIE_NAME, SessionSigner
from tests.conftest import Servers, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}


class Web:
    """A running chat page app: its URL, the key it signs cookies with, and the Rasa it talks to."""

    def __init__(self, url: str, secret: str, rasa_url: str, token: str) -> None:
        self.url, self.secret, self.rasa_url, self.token = url, secret, rasa_url, token
        self.signer = SessionSigner(secret)

    def cookie_for(self, session_id: str) -> dict[str, str]:
        return {COOKIE_NAME: self.signer.sign(session_id)}

    def tracker_events(self, session_id: str) -> list[dict[str, Any]]:
        """Rasa's own record of a conversation (read directly, not through the app under test)."""
        response = requests.get(
            f"{self.rasa_url}/conversations/{session_id}/tracker", params={"token": self.token}, timeout=15
        )
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    def add_bot_message(self, session_id: str, text: str) -> None:
        """Put a bot message into a conversation through Rasa's tracker API."""
        response = requests.post(
            f"{self.rasa_url}/conversations/{session_id}/tracker/events",
            params={"token": self.token},
            json={"event": "bot", "text": text, "timestamp": time.time()},
            timeout=15,
        )
        assert response.status_code == 200, response.text


class _FromAddress(HTTPAdapter):
    """Connections that leave from a given loopback address (Linux routes all of 127.0.0.0/8 to lo)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def fresh_address() -> str:
    """A loopback address no other test uses: the app sees it as the client's address (login throttling)."""
    raw = os.urandom(3)
    return f"127.{raw[0]}.{raw[1]}.{max(raw[2], 2)}"


def client_from(address: str) -> requests.Session:
    """An HTTP client whose requests come from `address`, as if from another computer."""
    client = requests.Session()
    client.mount("http://", _FromAddress(address))
    return client


def _start_web(rasa_url: str, token: str, secret: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RASA_URL": rasa_url, "RASA_TOKEN": token, "BOT_SECRET_KEY": secret, "WEB_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.web"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"web app exited early; log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.ConnectionError):  # not listening yet
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"web app not ready; log:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    stop_processes([process])


@pytest.fixture(scope="session")
def web(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """The chat page app in front of the real Rasa and action servers."""
    secret = "web-test-secret-" + os.urandom(12).hex()
    log = tmp_path_factory.mktemp("web") / "web.log"
    with pytest.MonkeyPatch.context() as patch:  # the same database as Rasa and the actions (ratings), not var/
        patch.setenv("DATABASE_URL", servers.database_url)
        process, url = _start_web(servers.rasa_url, servers.token, secret, log)
    try:
        yield Web(url, secret, servers.rasa_url, servers.token)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def web_without_rasa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """The chat page app pointed at a port where no Rasa listens."""
    secret = "web-test-secret-" + os.urandom(12).hex()
    log = tmp_path_factory.mktemp("web-down") / "web.log"
    rasa_url = f"http://127.0.0.1:{free_port()}"
    process, url = _start_web(rasa_url, "no-token", secret, log)
    try:
        yield Web(url, secret, rasa_url, "no-token")
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's headless Chromium with a fresh profile, phone-sized (never `playwright install`)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=PHONE,
            locale="zh-CN",
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


def open_chat(context: BrowserContext, url: str) -> Page:
    """A fresh resident: no cookie, no remembered 长辈模式; the page loaded and its history fetched."""
    context.clear_cookies()
    page = context.new_page()
    page.goto(f"{url}/healthz")
    page.evaluate("localStorage.clear()")
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    return page


@pytest.fixture
def page(browser: BrowserContext, web: Web) -> Iterator[Page]:
    chat = open_chat(browser, web.url)
    try:
        yield chat
    finally:
        chat.close()


def session_id(context: BrowserContext) -> str:
    """The conversation id the server issued to the browser (the part of the cookie before the signature)."""
    cookies = [cookie for cookie in context.cookies() if cookie["name"] == COOKIE_NAME]
    assert len(cookies) == 1, cookies
    return cookies[0]["value"].rpartition(".")[0]
