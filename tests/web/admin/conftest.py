"""Fixtures for the console: the web app as its own process on a fresh database, and logged-in HTTP clients."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from kb import accounts
from kb.build import build
from kb.models import Ticket
from kb.query import create_ticket
from tests.conftest import free_port
from tests.web.conftest import _start_web, _stop

ADMIN_USER, ADMIN_PASSWORD = "chief", "chief-password-1"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """The running web app (chat page + console) and the database it uses."""

    def __init__(self, url: str, database_url: str) -> None:
        self.url, self.database_url = url, database_url

    def ticket(
        self, location: str = "驿城区人民路和交通路交叉口", county: str | None = "驿城区", description: str = "井盖没了"
    ) -> Ticket:
        """A resident's manhole report, made the way the bot makes it (kb.query.create_ticket)."""
        sender = "resident-" + os.urandom(6).hex()
        return create_ticket("manhole", "urban", sender, location, description, county, url=self.database_url)

    def user(self, role: str = "staff", password: str = "staff-password-1") -> str:  # noqa: S107
        name = "u" + os.urandom(4).hex()
        accounts.save_user(name, role, password, url=self.database_url)
        return name

    def login_form(self, client: requests.Session) -> str:
        response = client.get(f"{self.url}/admin/login", timeout=15)
        assert response.status_code == 200, response.text
        return csrf_in(response.text)

    def post_login(self, client: requests.Session, name: str, password: str) -> requests.Response:
        csrf = self.login_form(client)
        data = {"name": name, "password": password, "csrf": csrf}
        return client.post(f"{self.url}/admin/login", data=data, allow_redirects=False, timeout=15)

    def logged_in(self, name: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> requests.Session:
        client = requests.Session()
        response = self.post_login(client, name, password)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/", response.text
        return client

    def csrf_of(self, client: requests.Session, path: str = "/admin/") -> str:
        response = client.get(self.url + path, timeout=15)
        assert response.status_code == 200, response.text
        return csrf_in(response.text)


def csrf_in(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, html[:2000]
    return match.group(1)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The web app with BOT_ADMIN_USER/BOT_ADMIN_PASSWORD set, on a fresh KB; no Rasa is needed for the console."""
    work: Path = tmp_path_factory.mktemp("console")
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    env = {"DATABASE_URL": database_url, "BOT_ADMIN_USER": ADMIN_USER, "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env["REVIEWED_NLU_PATH"] = str(work / "reviewed.yml")  # the inbox's labels: never into the repo's data/nlu/
    secret = "console-test-secret-" + os.urandom(8).hex()
    with pytest.MonkeyPatch.context() as patch:  # _start_web passes os.environ on to the app
        for key, value in env.items():
            patch.setenv(key, value)
        process, url = _start_web(f"http://127.0.0.1:{free_port()}", "no-token", secret, work / "web.log")
    try:
        yield Console(url, database_url)
    finally:
        _stop(process)


@pytest.fixture
def admin(console: Console) -> requests.Session:
    return console.logged_in()


@pytest.fixture
def new_ticket(console: Console) -> Callable[..., Ticket]:
    return console.ticket
