"""Storage fixtures: a fresh conversation database per test, on SQLite and on PostgreSQL, and the raw personal data."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.privacy import id_check_digit

# A server where the test may create and drop a database (trust auth on this machine).
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

ID_17 = "41170219900307123"
ID_NUMBER = ID_17 + id_check_digit(ID_17)
MOBILE = "13812345678"
BANK_CARD = "6222021234567890123"
# As a resident types them: spaced, dashed, full-width.
USER_TEXT = f"俺身份证{ID_NUMBER}，电话 138-1234-5678，卡号 6222 0212 3456 7890 123，老伴手机１３９８７６５４３２１"
RAW_VALUES = (
    ID_NUMBER,
    MOBILE,
    BANK_CARD,
    "13987654321",
    "138-1234-5678",
    "6222 0212 3456 7890 123",
    "１３９８７６５４３２１",
)
LABELS = ("[身份证号]", "[手机号]", "[银行卡号]")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'conversations.sqlite3'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    name = f"test_storage_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def event_rows(url: str) -> list[dict[str, Any]]:
    """Every row of Rasa's events table, read straight from the database."""
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text("SELECT * FROM events ORDER BY id")).mappings()]
    finally:
        engine.dispose()


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def leaked(rows: list[dict[str, Any]]) -> list[str]:
    """The raw values found in the rows: in the stored bytes, in the decoded JSON, and with separators removed."""
    found = []
    for row in rows:
        texts = [str(column) for column in row.values()]
        texts += list(strings_in(json.loads(row["data"])))
        texts += [re.sub(r"[\s\-]", "", text) for text in texts]
        found += [raw for raw in RAW_VALUES for text in texts if raw in text]
    return sorted(set(found))
