"""The console's database goes away while it runs: a clear 503 page and an alert, never a 500; back when it returns."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kb.build import build
from tests.conftest import free_port
from tests.storage.conftest import POSTGRES_ADMIN_URL
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER, Console
from tests.web.conftest import _start_web, _stop


def _admin_execute(statement: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(statement))
    admin.dispose()


@pytest.fixture
def postgres_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Console, str]]:
    name = f"test_console_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    build(url)
    for key, value in {
        "DATABASE_URL": url,
        "BOT_ADMIN_USER": ADMIN_USER,
        "BOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ALERTS_FILE": str(tmp_path / "alerts.jsonl"),
    }.items():
        monkeypatch.setenv(key, value)
    secret = "console-db-test-" + os.urandom(8).hex()
    process, web_url = _start_web(f"http://127.0.0.1:{free_port()}", "no-token", secret, tmp_path / "web.log")
    try:
        yield Console(web_url, url), name
    finally:
        _stop(process)
        _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_lost_database_gives_a_clear_page_and_an_alert_then_recovers(postgres_console: tuple[Console, str]) -> None:
    console, name = postgres_console
    client = console.logged_in()
    assert client.get(f"{console.url}/admin/tickets", timeout=15).status_code == 200

    _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _admin_execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")  # noqa: S608 (our own name)
    down = client.get(f"{console.url}/admin/tickets", timeout=30)
    assert down.status_code == 503
    assert "数据库暂时无法访问" in down.text and "Traceback" not in down.text
    assert "系统告警" in down.text and "管理后台无法访问数据库" in down.text  # the alert banner
    api = client.get(f"{console.url}/admin/api/tickets/JG-20260101-0001", timeout=30)
    assert api.status_code == 503 and api.json()["code"] == "database_unavailable"

    _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    back = client.get(f"{console.url}/admin/tickets", timeout=30)
    assert back.status_code == 200
    assert "管理后台无法访问数据库" not in back.text  # resolved as soon as the database answers again
    kinds = [json.loads(line) for line in Path(os.environ["ALERTS_FILE"]).read_text().splitlines()]
    assert [(entry["kind"], bool(entry.get("resolved"))) for entry in kinds][-2:] == [
        ("console_db", False),
        ("console_db", True),
    ]
    assert requests.get(f"{console.url}/admin/tickets", allow_redirects=False, timeout=15).status_code == 302
