"""A small real event log for the statistics and inbox tests, saved through the real tracker store and indexed.

The numbers the tests expect are worked out by hand in `EXPECTED` from the conversations below (city time,
Asia/Shanghai). Conversation B starts at 00:30 on 2 March city time, which is still 1 March in UTC: it must count on
2 March.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.conversations import indexer
from bot.tracker_store import MaskingSQLTrackerStore
from kb.build import build
from kb.query import CITY_TZ
from tests.storage.conftest import POSTGRES_ADMIN_URL


def city(day: date, hour: int, minute: int = 0) -> float:
    """An epoch timestamp for a city-time wall clock."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CITY_TZ).timestamp()


def user(text: str, intent: str, confidence: float, at: float, channel: str) -> UserUttered:
    parse = {"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text}
    return UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel, timestamp=at)


def turn(
    text: str, intent: str, confidence: float, at: float, channel: str, reply_ms: int, action: str = ""
) -> list[Event]:
    """A resident message, the action that answered it, and two bot replies (the last one `reply_ms` later)."""
    events: list[Event] = [
        ActionExecuted("action_listen", timestamp=at - 0.01),
        user(text, intent, confidence, at, channel),
    ]
    events.append(ActionExecuted(action or "action_answer_topic", timestamp=at + 0.005))
    events.append(BotUttered("第一段回复", timestamp=at + reply_ms / 2000))
    events.append(BotUttered("第二段回复", timestamp=at + reply_ms / 1000))
    return events


def rating(value: str, at: float) -> SlotSet:
    return SlotSet("feedback", {"rating": value, "message_index": 1}, timestamp=at)


def save(url: str, sender: str, events: list[Event]) -> None:
    store = MaskingSQLTrackerStore(domain=Domain.empty(), host=url)
    tracker = DialogueStateTracker.from_events(sender, [])
    for event in events:
        tracker.update(event)
    with ThreadPoolExecutor(1) as pool:  # its own thread: Playwright's sync API keeps a loop running in this one
        pool.submit(asyncio.run, store.save(tracker)).result()
    store.engine.dispose()


def index(url: str) -> int:
    engine = sa.create_engine(url, future=True)
    try:
        return indexer.catch_up(engine)
    finally:
        engine.dispose()


D0, D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 2, 28)


def small_log(url: str, days: tuple[date, date, date, date] = (D0, D1, D2, D3), prefix: str = "") -> dict[str, str]:
    """Five conversations (four in the period day0..day2, one the day before); the senders by letter."""
    d0, d1, d2, before = days
    senders = {letter: f"{prefix}stats-{letter}-{uuid.uuid4().hex[:8]}" for letter in "ABCDE"}
    a, b, c, d = city(d0, 10), city(d1, 0, 30), city(d1, 9), city(d2, 15)
    conversations: dict[str, list[Event]] = {
        "A": [
            *turn("社保卡咋办", "ask_sscard_apply", 0.97, a, "rest", 400),
            rating("helpful", a + 5),
            *turn("井盖没了咋办", "ask_manhole_info", 0.9, a + 60, "rest", 1000),
        ],
        "B": [
            *turn("今天天气咋样", "nlu_fallback", 0.3, b, "rest", 200, "action_kb_fallback"),
            *turn("转人工", "ask_human", 0.95, b + 30, "rest", 100, "action_handoff"),
        ],
        "C": [
            *turn("社保卡丢了咋补办", "ask_sscard_apply", 0.55, c, "wechat", 3000),
            rating("not_helpful", c + 10),
            *turn("社保卡邮寄", "ask_sscard_mail", 0.92, c + 60, "wechat", 600),
        ],
        "D": [*turn("社保卡在哪办", "ask_sscard_apply", 0.96, d, "wechat", 500), rating("helpful", d + 8)],
        "E": [*turn("你好", "greet", 0.99, city(before, 23), "rest", 50)],
    }
    for letter, events in conversations.items():
        save(url, senders[letter], events)
    return senders


# Worked out by hand from `small_log` for 1–3 March 2026 (see tests/logs/test_stats.py for the arithmetic).
EXPECTED: dict[str, Any] = {
    "days": [(D0, 1, 2), (D1, 2, 4), (D2, 1, 1)],
    "topics": [("ask_sscard_apply", 3, 3), ("ask_human", 1, 1), ("ask_manhole_info", 1, 1), ("ask_sscard_mail", 1, 1)],
    "rest": {
        "conversations": 2,
        "messages": 4,
        "fallbacks": 1,
        "handoffs": 1,
        "helpful": 1,
        "rated": 1,
        "median": 300.0,
        "p95": 910.0,
    },
    "wechat": {
        "conversations": 2,
        "messages": 3,
        "fallbacks": 1,
        "handoffs": 0,
        "helpful": 1,
        "rated": 2,
        "median": 600.0,
        "p95": 2760.0,
    },
    "*": {
        "conversations": 4,
        "messages": 7,
        "fallbacks": 2,
        "handoffs": 1,
        "helpful": 2,
        "rated": 3,
        "median": 500.0,
        "p95": 2400.0,
    },
}


def new_postgres_database() -> tuple[str, sa.engine.Engine, str]:
    name = f"test_stats_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False), admin, name


def drop_postgres_database(admin: sa.engine.Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database (SQLite, then PostgreSQL) with the KB and `small_log`, indexed; shared by a module's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'log.sqlite3'}"
        build(url)
        small_log(url)
        index(url)
        yield url
        return
    url, admin, name = new_postgres_database()
    try:
        build(url)
        small_log(url)
        index(url)
        yield url
    finally:
        from kb.session import engine_for

        engine_for(url).dispose()
        drop_postgres_database(admin, name)
