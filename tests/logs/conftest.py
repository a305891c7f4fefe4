"""The conversation log's tests run on SQLite and on PostgreSQL (one fresh database per session, emptied per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LOG_TABLES = ("events", "log_conversations", "log_messages", "log_index_state", "log_review_actions")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A new PostgreSQL database for this test session, dropped at the end."""
    name = f"test_logs_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's PostgreSQL database with the log emptied (tables kept, so cached engines stay valid)."""
    engine = sa.create_engine(postgres_database, future=True)
    try:
        with engine.begin() as connection:
            existing = set(sa.inspect(connection).get_table_names())
            names = [f'"{table}"' for table in LOG_TABLES if table in existing]
            if names:
                connection.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
    finally:
        engine.dispose()
    return postgres_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))
