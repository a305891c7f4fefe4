"""bot.conversation_window through the store: a long conversation's turn sees its last turns after a summary of
the state before them, the log keeps every event exactly once, and a form across the window keeps everything."""

from __future__ import annotations

import json

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.conversation_window import WINDOW_TURNS
from bot.tracker_store import MaskingSQLTrackerStore
from tests.storage.conftest import event_rows

DOMAIN = Domain.from_dict(
    {
        "intents": ["ask", "report_manhole"],
        "slots": {
            "county": {"type": "text", "mappings": [{"type": "custom"}]},
            "last_topic": {"type": "text", "mappings": [{"type": "custom"}]},
            "address": {"type": "text", "mappings": [{"type": "custom"}]},
        },
        "forms": {"manhole_form": {"required_slots": ["address"]}},
    }
)


def turn(tracker: DialogueStateTracker, number: int, *extra: object) -> None:
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered(f"第{number}个问题", {"name": "ask", "confidence": 0.9}))
    for event in extra:
        tracker.update(event)  # type: ignore[arg-type]
    tracker.update(ActionExecuted("action_answer_topic"))
    tracker.update(BotUttered(f"第{number}个回答"))


def conversation(sender: str, turns: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    for number in range(1, turns + 1):
        extra = [SlotSet("county", "确山县")] if number == 2 else []
        if number == 3:
            extra.append(ConversationPaused())
        turn(tracker, number, *extra)
    return tracker


def stored_texts(url: str, sender: str) -> list[str]:
    return [
        json.loads(row["data"]).get("text") or ""
        for row in event_rows(url)
        if row["sender_id"] == sender and row["type_name"] in ("user", "bot")
    ]


async def test_a_long_conversation_is_seen_as_its_last_turns_after_its_state(database_url: str) -> None:
    store = MaskingSQLTrackerStore(domain=DOMAIN, host=database_url)
    full = conversation("long", 40)
    await store.save(full)

    tracker = await store.retrieve("long")
    assert tracker is not None
    users = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    assert users == [f"第{n}个问题" for n in range(40 - WINDOW_TURNS + 1, 41)]
    assert tracker.get_slot("county") == "确山县"  # set at turn 2, long before the window
    assert tracker.is_paused()  # a human took over at turn 3
    assert tracker.latest_message.text == "第40个问题"
    assert tracker.current_slot_values() == full.current_slot_values()

    # Rasa adds a turn to the tracker it was given and saves it: only that turn is new in the log.
    turn(tracker, 41, SlotSet("last_topic", "社保卡"))
    await store.save(tracker)
    again = await store.retrieve("long")
    store.engine.dispose()
    expected = [text for n in range(1, 42) for text in (f"第{n}个问题", f"第{n}个回答")]
    assert stored_texts(database_url, "long") == expected
    assert again is not None and again.get_slot("last_topic") == "社保卡" and again.get_slot("county") == "确山县"


async def test_a_short_conversation_is_seen_whole(database_url: str) -> None:
    store = MaskingSQLTrackerStore(domain=DOMAIN, host=database_url)
    full = conversation("short", WINDOW_TURNS - 1)
    await store.save(full)
    tracker = await store.retrieve("short")
    store.engine.dispose()
    assert tracker is not None
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [
        e.text for e in full.events if isinstance(e, UserUttered)
    ]
    assert isinstance(tracker.events[0], SessionStarted)  # the latest session from its start, as Rasa reads it


async def test_a_form_active_at_the_window_start_keeps_the_whole_conversation(database_url: str) -> None:
    store = MaskingSQLTrackerStore(domain=DOMAIN, host=database_url)
    tracker = DialogueStateTracker("form", DOMAIN.slots)
    turn(tracker, 1, ActiveLoop("manhole_form"))  # the form starts and the resident keeps talking inside it
    for number in range(2, WINDOW_TURNS + 5):
        turn(tracker, number)
    await store.save(tracker)
    again = await store.retrieve("form")
    store.engine.dispose()
    assert again is not None
    assert len(again.events) == len(tracker.events)
    assert again.active_loop_name == "manhole_form"


async def test_a_second_process_sees_the_same_window_and_writes_no_duplicates(database_url: str) -> None:
    """Two instances behind nginx: the second one reads the conversation from the database, not its cache."""
    first = MaskingSQLTrackerStore(domain=DOMAIN, host=database_url)
    await first.save(conversation("moved", 30))
    second = MaskingSQLTrackerStore(domain=DOMAIN, host=database_url)
    tracker = await second.retrieve("moved")
    assert tracker is not None and tracker.get_slot("county") == "确山县"
    turn(tracker, 31)
    await second.save(tracker)
    tracker = await first.retrieve("moved")  # the first instance catches up from its cache and the new rows
    assert tracker is not None
    turn(tracker, 32)
    await first.save(tracker)
    first.engine.dispose()
    second.engine.dispose()
    assert stored_texts(database_url, "moved") == [t for n in range(1, 33) for t in (f"第{n}个问题", f"第{n}个回答")]
