"""MaskingSQLTrackerStore: nothing personal reaches the events table, Rasa can still read it, and no silent fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import class_from_module_path
from rasa.utils.endpoints import EndpointConfig

from bot.config import ROOT
from bot.tracker_store import ConversationStoreError, MaskingSQLTrackerStore
from tests.storage.conftest import LABELS, MOBILE, USER_TEXT, event_rows, leaked

BAD_URL = "postgresql://nobody@127.0.0.1:1/none"
DOMAIN = Domain.from_dict({"slots": {"phone": {"type": "text", "mappings": [{"type": "custom"}]}}})


def tracker_with_personal_data(sender_id: str = "resident-1") -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender_id, DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    parse_data = {
        "text": USER_TEXT,
        "intent": {"name": "report_manhole", "confidence": 0.97},
        "entities": [{"entity": "phone", "value": MOBILE, "start": 0, "end": 11}],
    }
    tracker.update(UserUttered(USER_TEXT, parse_data["intent"], parse_data["entities"], parse_data))
    tracker.update(SlotSet("phone", MOBILE))
    tracker.update(BotUttered(f"好的，我们会打 {MOBILE} 联系您。"))
    return tracker


def store_on(url: str) -> MaskingSQLTrackerStore:
    return MaskingSQLTrackerStore(domain=DOMAIN, host=url)


async def test_raw_personal_data_never_reaches_the_events_table(database_url: str) -> None:
    store = store_on(database_url)
    await store.save(tracker_with_personal_data())
    store.engine.dispose()

    rows = event_rows(database_url)
    assert [row["type_name"] for row in rows] == ["action", "user", "slot", "bot"]
    assert leaked(rows) == []
    user = json.loads(rows[1]["data"])
    assert all(label in user["text"] and label in user["parse_data"]["text"] for label in LABELS)
    assert user["parse_data"]["entities"][0]["value"] == "[手机号]"
    assert rows[1]["intent_name"] == "report_manhole"


async def test_retrieve_returns_the_masked_conversation(database_url: str) -> None:
    store = store_on(database_url)
    original = tracker_with_personal_data()
    await store.save(original)

    tracker = await store.retrieve("resident-1")
    store.engine.dispose()
    assert tracker is not None
    assert len(tracker.events) == len(original.events)
    assert all(label in tracker.latest_message.text for label in LABELS)
    assert all(label in tracker.latest_message.parse_data["text"] for label in LABELS)
    assert tracker.get_slot("phone") == "[手机号]"
    assert tracker.latest_bot_utterance.text == "好的，我们会打 [手机号] 联系您。"
    assert tracker.latest_message.intent["name"] == "report_manhole"


async def test_later_saves_store_only_new_events(database_url: str) -> None:
    store = store_on(database_url)
    tracker = tracker_with_personal_data()
    await store.save(tracker)
    tracker.update(BotUttered("还有别的问题吗？"))
    await store.save(tracker)
    store.engine.dispose()
    assert [row["type_name"] for row in event_rows(database_url)] == ["action", "user", "slot", "bot", "bot"]


async def test_a_turn_is_one_statement_to_read_and_one_to_write(database_url: str) -> None:
    """No BEGIN/COMMIT round trips around a turn's single statements; the rows are committed all the same."""
    store = store_on(database_url)
    tracker = tracker_with_personal_data()
    await store.save(tracker)
    await store.retrieve("resident-1")
    statements: list[str] = []
    commits: list[bool] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0]))
    sa.event.listen(store.engine, "commit", lambda *args: commits.append(True))

    await store.retrieve("resident-1")
    tracker.update(BotUttered("还有别的问题吗？"))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)
    store.engine.dispose()

    assert statements == ["SELECT", "INSERT"]
    assert commits == []  # each statement committed by itself (autocommit), not by a transaction around it
    assert [row["type_name"] for row in event_rows(database_url)] == ["action", "user", "slot", "bot", "bot", "action"]


async def test_rasas_own_sql_store_reads_the_rows(database_url: str) -> None:
    await store_on(database_url).save(tracker_with_personal_data())
    rasa_store = SQLTrackerStore(domain=DOMAIN, host=database_url)
    tracker = await rasa_store.retrieve("resident-1")
    rasa_store.engine.dispose()
    assert tracker is not None
    assert tracker.get_slot("phone") == "[手机号]"
    assert "[身份证号]" in tracker.latest_message.text


def test_console_indexes_are_created_once(database_url: str) -> None:
    store_on(database_url).engine.dispose()
    store = store_on(database_url)  # a second start must not fail on existing indexes
    indexes = {tuple(index["column_names"]) for index in sa.inspect(store.engine).get_indexes("events")}
    store.engine.dispose()
    assert {("sender_id", "timestamp"), ("type_name", "timestamp")} <= indexes


async def test_url_in_endpoints_wins_over_database_url(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    await store_on(sqlite_url).save(tracker_with_personal_data())
    assert len(event_rows(sqlite_url)) == 4
    assert not (tmp_path / "other.sqlite3").exists()


async def test_database_url_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'new-folder' / 'conversations.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    await MaskingSQLTrackerStore(domain=DOMAIN).save(tracker_with_personal_data())
    assert len(event_rows(url)) == 4


def test_unreachable_database_names_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", BAD_URL)
    monkeypatch.setattr("bot.tracker_store.CONNECT_PAUSE_SECONDS", 0.01)
    with pytest.raises(ConversationStoreError) as raised:
        MaskingSQLTrackerStore(domain=DOMAIN)
    message = str(raised.value)
    assert "DATABASE_URL" in message and BAD_URL in message
    assert "in-memory" in message


@pytest.mark.parametrize("url", [BAD_URL, "not a url", "nosuchdialect://x/y"])
def test_rasas_factory_raises_instead_of_using_memory(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa swaps in an InMemoryTrackerStore on AttributeError/ImportError; ours must raise through its factory."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr("bot.tracker_store.CONNECT_PAUSE_SECONDS", 0.01)
    with pytest.raises(ConversationStoreError, match="DATABASE_URL"):
        TrackerStore.create(EndpointConfig(type="bot.tracker_store.MaskingSQLTrackerStore"), domain=DOMAIN)


def test_endpoints_yml_uses_the_masking_store() -> None:
    """A misspelt type would make Rasa fall back to memory with only a warning."""
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    assert class_from_module_path(endpoints["tracker_store"]["type"]) is MaskingSQLTrackerStore
    assert "url" not in endpoints["tracker_store"]  # DATABASE_URL decides
