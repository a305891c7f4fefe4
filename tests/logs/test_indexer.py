"""The conversation index follows Rasa's events table: summaries, messages, ratings, handoffs, tickets, fallbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.conversations import indexer
from bot.conversations.models import Conversation, Message
from bot.tracker_store import MaskingSQLTrackerStore
from tests.storage.conftest import database_url, postgres_url, sqlite_url  # noqa: F401 (fixtures)

T0 = time.time() - 3600


def user(text: str, intent: str, confidence: float, at: float, channel: str = "rest", **extra: Any) -> UserUttered:
    parse = {"intent": {"name": intent, "confidence": confidence}, "entities": extra.get("entities", []), "text": text}
    return UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel, timestamp=at)


def save(url: str, sender: str, events: list[Event]) -> None:
    store = MaskingSQLTrackerStore(domain=Domain.empty(), host=url)
    tracker = DialogueStateTracker.from_events(sender, [])
    for event in events:
        tracker.update(event)
    asyncio.run(store.save(tracker))
    store.engine.dispose()


def rows(url: str, model: Any) -> list[dict[str, Any]]:
    engine = sa.create_engine(url, future=True)
    with engine.connect() as connection:
        result = [dict(row._mapping) for row in connection.execute(sa.select(model.__table__))]
    engine.dispose()
    return result


def index(url: str, **kwargs: Any) -> int:
    engine = sa.create_engine(url, future=True)
    try:
        return indexer.catch_up(engine, **kwargs)
    finally:
        engine.dispose()


def answered_and_rated(url: str) -> None:
    save(
        url,
        "resident-a",
        [
            ActionExecuted("action_listen", timestamp=T0),
            user("社保卡咋办，电话13812345678", "ask_sscard_apply", 0.97, T0 + 1),
            ActionExecuted("action_answer_topic", timestamp=T0 + 1.2),
            BotUttered("带上身份证……", timestamp=T0 + 1.25),
            BotUttered("办理地点……", timestamp=T0 + 1.3),
            ActionExecuted("action_listen", timestamp=T0 + 1.3),
            SlotSet("feedback", {"rating": "not_helpful", "message_index": 1}, timestamp=T0 + 5),
            user("今天天气咋样", "nlu_fallback", 0.6, T0 + 10, entities=[{"entity": "county", "value": "驿城区"}]),
            ActionExecuted("action_kb_fallback", timestamp=T0 + 10.1),
            BotUttered("这个问题我暂时回答不了，请拨打12345", timestamp=T0 + 10.2),
            user("转人工", "ask_human", 0.95, T0 + 20),
            ActionExecuted("action_handoff", timestamp=T0 + 20.1),
            SlotSet("handoff_requested", True, timestamp=T0 + 20.1),
        ],
    )


def test_a_conversation_is_summarised_and_its_messages_kept_masked(database_url: str) -> None:  # noqa: F811
    answered_and_rated(database_url)
    assert index(database_url) > 10
    (conversation,) = rows(database_url, Conversation)
    assert conversation["sender_id"] == "resident-a"
    assert conversation["channel"] == "rest"
    assert conversation["turns"] == 3 and conversation["replies"] == 3
    assert conversation["topics"] == "ask_sscard_apply,ask_human"
    assert conversation["fallbacks"] == 1 and conversation["unhelpful"] == 1 and conversation["helpful"] == 0
    assert conversation["handoff"] is True
    assert abs(conversation["min_confidence"] - 0.6) < 1e-9
    by_text = {row["text"]: row for row in rows(database_url, Message)}
    first = by_text["社保卡咋办，电话[手机号]"]
    assert first["intent"] == "ask_sscard_apply" and first["rating"] == "not_helpful"
    assert first["response_ms"] == 300 and first["fallback"] is False
    weather = by_text["今天天气咋样"]
    assert weather["fallback"] is True and weather["entities"][0]["value"] == "驿城区"


def test_later_events_update_what_an_earlier_run_indexed(database_url: str) -> None:  # noqa: F811
    save(database_url, "resident-b", [user("井盖没了", "report_manhole", 0.99, T0)])
    assert index(database_url) == 1
    save(
        database_url,
        "resident-b",
        [
            user("井盖没了", "report_manhole", 0.99, T0),
            ActionExecuted("action_answer_topic", timestamp=T0 + 0.5),
            ActionExecuted("action_kb_fallback", timestamp=T0 + 0.6),
            BotUttered("已受理", timestamp=T0 + 2),
            SlotSet("last_ticket_id", "JG-20260101-0001", timestamp=T0 + 2),
            SlotSet("feedback", {"rating": "helpful"}, timestamp=T0 + 3),
        ],
    )
    assert index(database_url) == 5
    (message,) = rows(database_url, Message)
    assert message["response_ms"] == 2000 and message["rating"] == "helpful" and message["fallback"] is True
    (conversation,) = rows(database_url, Conversation)
    assert conversation["tickets"] == "JG-20260101-0001" and conversation["helpful"] == 1
    assert conversation["fallbacks"] == 1 and conversation["turns"] == 1
    assert index(database_url) == 0  # nothing new


def test_small_batches_and_a_limit_give_the_same_result(sqlite_url: str) -> None:  # noqa: F811
    answered_and_rated(sqlite_url)
    assert index(sqlite_url, max_events=4, batch_size=3) == 4
    while index(sqlite_url, batch_size=2):
        pass
    (conversation,) = rows(sqlite_url, Conversation)
    assert (conversation["turns"], conversation["replies"], conversation["unhelpful"]) == (3, 3, 1)
    assert conversation["handoff"] is True and conversation["fallbacks"] == 1


def test_reindex_rebuilds_and_keeps_what_supervisors_added(database_url: str) -> None:  # noqa: F811
    answered_and_rated(database_url)
    index(database_url)
    engine = sa.create_engine(database_url, future=True)
    messages, conversations = Message.__table__, Conversation.__table__
    with engine.begin() as connection:
        connection.execute(
            messages.update().where(messages.c.intent == "nlu_fallback").values(flagged=True, flag_note="看看")
        )
        connection.execute(conversations.update().values(tags=",天气,", flagged=1, turns=99))
    assert indexer.reindex(engine) > 10
    engine.dispose()
    (conversation,) = rows(database_url, Conversation)
    assert conversation["turns"] == 3 and conversation["tags"] == ",天气," and conversation["flagged"] == 1
    flagged = [row for row in rows(database_url, Message) if row["flagged"]]
    assert [row["flag_note"] for row in flagged] == ["看看"]


def test_no_events_table_yet_means_nothing_to_index(sqlite_url: str) -> None:  # noqa: F811
    assert index(sqlite_url) == 0


def test_purge_removes_the_console_summary_of_purged_conversations(database_url: str) -> None:  # noqa: F811
    from datetime import timedelta

    from bot.purge import purge

    answered_and_rated(database_url)  # an hour old
    save(database_url, "resident-new", [user("社保卡咋办", "ask_sscard_apply", 0.97, time.time())])
    index(database_url)
    result = purge(database_url, timedelta(minutes=30))
    assert result.conversations == 1
    assert [row["sender_id"] for row in rows(database_url, Conversation)] == ["resident-new"]
    assert {row["sender_id"] for row in rows(database_url, Message)} == {"resident-new"}
