"""`python -m bot purge --older-than AGE`: whole conversations whose last event is older than AGE, nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.config import ROOT
from bot.purge import parse_age, purge
from bot.tracker_store import MaskingSQLTrackerStore
from tests.storage.conftest import event_rows

NOW = time.time()
DAY = 86400.0


async def save_conversation(store: MaskingSQLTrackerStore, sender_id: str, *ages_in_days: float) -> None:
    """A conversation whose events happened that many days before NOW (three events per age)."""
    tracker = DialogueStateTracker(sender_id, [])
    for age in ages_in_days:
        stamp = NOW - age * DAY
        tracker.update(ActionExecuted("action_listen", timestamp=stamp))
        tracker.update(UserUttered("社保卡咋办", {"name": "ask_sscard_apply"}, timestamp=stamp))
        tracker.update(BotUttered("带上身份证……", timestamp=stamp + 1))
    await store.save(tracker)


async def fill(url: str) -> None:
    store = MaskingSQLTrackerStore(host=url)
    await save_conversation(store, "old-1", 400, 200)  # 6 events
    await save_conversation(store, "old-2", 181)  # 3 events
    await save_conversation(store, "came-back", 300, 2)  # old start, recent end: kept whole
    await save_conversation(store, "just-inside", 179.9)  # younger than 180 days
    await save_conversation(store, "today", 0.01)
    store.engine.dispose()


def events_per_sender(url: str) -> Counter[str]:
    return Counter(row["sender_id"] for row in event_rows(url))


async def test_purge_deletes_exactly_the_old_conversations(database_url: str) -> None:
    await fill(database_url)
    before = events_per_sender(database_url)

    result = purge(database_url, timedelta(days=180), now=NOW)

    assert (result.conversations, result.events) == (2, 9)
    assert events_per_sender(database_url) == {k: v for k, v in before.items() if k not in {"old-1", "old-2"}}


async def test_a_shorter_age_deletes_more_and_a_second_run_nothing(database_url: str) -> None:
    await fill(database_url)
    result = purge(database_url, timedelta(days=1), now=NOW)
    assert (result.conversations, result.events) == (4, 18)
    assert set(events_per_sender(database_url)) == {"today"}
    again = purge(database_url, timedelta(days=1), now=NOW)
    assert (again.conversations, again.events) == (0, 0)


async def test_cli_reports_the_counts(sqlite_url: str) -> None:
    await fill(sqlite_url)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "purge", "--older-than", "180d"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": sqlite_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\b2 conversations \(9 events\)", done.stdout), done.stdout
    assert set(events_per_sender(sqlite_url)) == {"came-back", "just-inside", "today"}


@pytest.mark.parametrize("age", ["0d", "180", "d", "-3d", "1y", ""])
def test_cli_refuses_an_unclear_age(age: str, sqlite_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "purge", f"--older-than={age}"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": sqlite_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "180d" in done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("180d", timedelta(days=180)),
        ("12h", timedelta(hours=12)),
        ("30D", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse_age(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


def test_purge_on_an_empty_database_deletes_nothing(sqlite_url: str) -> None:
    result = purge(sqlite_url, timedelta(days=180))
    assert (result.conversations, result.events) == (0, 0)


def test_old_rating_claims_go_with_the_purge(sqlite_url: str) -> None:
    """The chat page's one-rating-per-answer claims (bot/web/ratings.py) are kept no longer than conversations."""
    import sqlalchemy as sa

    from bot.web import ratings

    assert ratings.claim("old-conversation", 1, "helpful", url=sqlite_url)
    assert ratings.claim("recent-conversation", 1, "not_helpful", url=sqlite_url)
    engine = sa.create_engine(sqlite_url, future=True)
    with engine.begin() as connection:
        table = ratings.ChatRating.__table__
        old = ratings._hash("old-conversation")
        then = datetime.fromtimestamp(NOW - 200 * DAY, timezone.utc).replace(tzinfo=None)
        connection.execute(sa.update(table).where(table.c.conversation == old).values(at=then))
    purge(sqlite_url, timedelta(days=180), now=NOW)
    with engine.connect() as connection:
        left = connection.execute(sa.select(ratings.ChatRating.__table__.c.conversation)).scalars().all()
    engine.dispose()
    assert left == [ratings._hash("recent-conversation")]
    assert ratings.claim("old-conversation", 1, "helpful", url=sqlite_url)  # the tracker is gone too: may rate anew
