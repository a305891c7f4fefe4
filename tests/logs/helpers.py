"""Conversations made the real way: Rasa events saved through the project's masking tracker store."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.conversations.indexer import catch_up
from bot.conversations.models import conversation_key
from bot.tracker_store import MaskingSQLTrackerStore
from kb.query import CITY_TZ
from kb.session import get_engine


@dataclass
class Turn:
    """A resident message and what the bot did with it."""

    text: str
    intent: str = "ask_sscard_apply"
    confidence: float = 0.95
    entities: list[dict[str, Any]] = field(default_factory=list)
    action: str = "action_answer_topic"
    reply: str = "负责部门：驻马店市人力资源和社会保障局（市人社局）"
    rating: str | None = None  # helpful | not_helpful
    ticket: str | None = None
    handoff: bool = False


def city_timestamp(moment: datetime) -> float:
    """A naive city (Asia/Shanghai) time → epoch seconds."""
    return moment.replace(tzinfo=CITY_TZ).timestamp()


def turn_events(turn: Turn, channel: str, at: float) -> list[Event]:
    parse = {"intent": {"name": turn.intent, "confidence": turn.confidence}, "entities": turn.entities}
    events: list[Event] = [
        UserUttered(turn.text, parse_data=parse, input_channel=channel, timestamp=at),
        ActionExecuted("action_handoff" if turn.handoff else turn.action, timestamp=at + 0.1),
        BotUttered(turn.reply, timestamp=at + 0.3),
    ]
    if turn.handoff:
        events.append(SlotSet("handoff_requested", True, timestamp=at + 0.35))
    if turn.ticket:
        events.append(SlotSet("last_ticket_id", turn.ticket, timestamp=at + 0.4))
    events.append(ActionExecuted("action_listen", timestamp=at + 0.5))
    if turn.rating:
        feedback = {"rating": turn.rating, "message_index": 1, "at": at + 5}
        events.append(SlotSet("feedback", feedback, timestamp=at + 5))
    return events


def save_conversation(
    url: str, turns: list[Turn], channel: str = "rest", start: float | None = None, sender: str | None = None
) -> str:
    """Store the conversation through MaskingSQLTrackerStore, index it, and return its console key."""
    sender = sender or "resident-" + os.urandom(8).hex()
    start = start if start is not None else datetime.now().timestamp() - 600
    events: list[Event] = []
    for number, turn in enumerate(turns):
        events += turn_events(turn, channel, start + number * 30)
    store = MaskingSQLTrackerStore(domain=Domain.empty(), host=url)
    try:
        tracker = DialogueStateTracker.from_events(sender, events)
        with ThreadPoolExecutor(1) as pool:  # its own event loop (Playwright's sync API keeps one running here)
            pool.submit(asyncio.run, store.save(tracker)).result()
    finally:
        store.engine.dispose()
    catch_up(get_engine(url))
    return conversation_key(sender)
