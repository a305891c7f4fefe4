"""The load-test generator writes events Rasa can read and the indexer can index."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered

from bot.config import ROOT
from bot.conversations import generate
from bot.conversations.indexer import catch_up
from bot.conversations.queries import (
    ConversationFilter,
    count_conversations,
    find_conversations,
    sender_of,
    transcript,
)
from bot.tracker_store import MaskingSQLTrackerStore
from kb.session import get_engine


def rows(url: str, query: str) -> list:
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)))
    finally:
        engine.dispose()


def test_generated_events_are_rasa_events_and_get_indexed(database_url: str) -> None:
    engine = get_engine(database_url)
    assert generate.write_events(engine, 3000, seed=7, batch=1000) == 3000
    stored = rows(database_url, "SELECT sender_id, type_name, intent_name, action_name, data FROM events ORDER BY id")
    assert len(stored) == 3000
    events = [Event.from_parameters(json.loads(row.data)) for row in stored]
    assert all(
        event is not None and event.type_name == row.type_name for event, row in zip(events, stored, strict=True)
    )
    users = [e for e in events if isinstance(e, UserUttered)]
    known = set(generate.training_examples()) | {"nlu_fallback"}
    assert users and {e.intent_name for e in users} <= known and len({e.intent_name for e in users}) > 10
    assert {e.input_channel for e in users} == {"rest", "socketio", "wechat"}
    assert any(isinstance(e, ActionExecuted) and e.action_name == "action_handoff" for e in events)
    assert any(isinstance(e, SlotSet) and e.key == "feedback" for e in events)
    assert any(isinstance(e, SlotSet) and e.key == "last_ticket_id" for e in events)
    assert all(
        row.intent_name == json.loads(row.data)["parse_data"]["intent"]["name"]
        for row in stored
        if row.type_name == "user"
    )

    assert catch_up(engine) == 3000
    total = count_conversations(ConversationFilter(), database_url)
    assert 100 < total < 300
    for wanted in ({"fallback": True}, {"handoff": True}, {"unhelpful": True}, {"channel": "wechat"}):
        assert 0 < count_conversations(ConversationFilter(**wanted), database_url) < total, wanted
    counts = generate.review_sample(engine, seed=7)
    assert counts["reviewed"] > 0
    assert count_conversations(ConversationFilter(unreviewed=True), database_url) == total - counts["reviewed"]

    newest = find_conversations(ConversationFilter(), url=database_url).rows[0]
    found = transcript(newest.key, url=database_url)
    assert found is not None and found.items[0].kind == "user" and found.items[0].text
    sender = sender_of(newest.key, database_url)
    store = MaskingSQLTrackerStore(domain=Domain.empty(), host=database_url)
    tracker = asyncio.run(store.retrieve(sender))
    assert tracker is not None and any(isinstance(e, BotUttered) for e in tracker.events)
    store.engine.dispose()


def test_the_same_seed_makes_the_same_conversations() -> None:
    first = [row[:5] for rows in generate.Generator(seed=3, now=1.8e9).rows(500) for row in rows]
    second = [row[:5] for rows in generate.Generator(seed=3, now=1.8e9).rows(500) for row in rows]
    assert first == second and len(first) == 500


def test_logs_generate_and_reindex_from_the_command_line(sqlite_url: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "bot", "logs", *args, "--database-url", sqlite_url]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)

    made = run("generate", "--events", "1500", "--seed", "5")
    assert made.returncode == 0, made.stderr[-2000:]
    assert "1,500 events written" in made.stdout and "1,500 events indexed" in made.stdout
    before = count_conversations(ConversationFilter(), sqlite_url)
    reviewed = before - count_conversations(ConversationFilter(unreviewed=True), sqlite_url)
    again = run("reindex")
    assert again.returncode == 0 and "1,500 events indexed" in again.stdout, again.stderr[-2000:]
    assert count_conversations(ConversationFilter(), sqlite_url) == before
    kept = before - count_conversations(ConversationFilter(unreviewed=True), sqlite_url)
    assert kept == reviewed > 0  # reindex keeps the reviews
    nothing = run("index")
    assert nothing.returncode == 0 and "0 events indexed" in nothing.stdout
