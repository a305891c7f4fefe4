"""Keep `log_conversations` and `log_messages` in step with Rasa's `events` table.

`catch_up` reads the events added since the watermark (highest `events.id` processed), in id order and in batches,
and applies them in one transaction per batch together with the new watermark. Nothing runs on Rasa's hot path: the
console calls `refresh` before it reads, and `python -m bot logs index` does a large backlog at once.

Two readers at once (two console workers) cannot both apply a batch: the watermark is moved with
`UPDATE … WHERE last_event_id = <the value read>`, and the loser rolls back. Known limit: with several Rasa
instances, an event whose insert commits after a higher id was already read is skipped until `logs reindex`; the
tracker store commits a turn's rows in one short transaction, so that window is milliseconds wide.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import Connection, Engine

from bot.conversations.models import FALLBACK_INTENTS, LOW_CONFIDENCE, Conversation, IndexState, Message, ensure_tables
from bot.privacy import mask

logger = logging.getLogger(__name__)

BATCH = 5000
REFRESH_LIMIT = 50_000  # events one console request may index before it answers; the rest comes next time
STATE_NAME = "events"
TICKET_SLOTS = frozenset({"last_ticket_id"})  # set when the bot opens a ticket (actions/forms/manhole.py)
HANDOFF_ACTIONS = frozenset({"action_handoff"})
FALLBACK_ACTIONS = frozenset({"action_kb_fallback", "action_default_fallback"})

conversations, messages, state = Conversation.__table__, Message.__table__, IndexState.__table__
_local_lock = threading.Lock()
_events_tables: dict[str, sa.Table] = {}  # by database URL, once Rasa's table exists and ours are created


def _events_table(engine: Engine) -> sa.Table | None:
    """Rasa's `events` table (None before Rasa ever wrote); on first sight, the log tables are created too."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _events_tables:
        if not sa.inspect(engine).has_table("events"):
            return None
        ensure_tables(engine)
        _events_tables[key] = sa.Table("events", sa.MetaData(), autoload_with=engine)
    return _events_tables[key]


def utc(timestamp: float | None) -> datetime:
    """An event's epoch timestamp → naive UTC datetime (how the log tables store time)."""
    moment = datetime.fromtimestamp(timestamp or 0.0, tz=timezone.utc)
    return moment.replace(tzinfo=None)


@dataclass
class _Turn:
    """The newest resident message of a conversation, which later bot events and ratings belong to."""

    event_id: int
    at: datetime
    fallback: bool
    row: dict[str, Any] | None = None  # set when the message is new in this batch (not yet inserted)
    changes: dict[str, Any] = field(default_factory=dict)  # for a message inserted by an earlier batch


@dataclass
class _Batch:
    """What one batch of events changes, collected in memory and written at the end."""

    known: dict[str, dict[str, Any]]  # conversation rows that exist already, by sender (mutated)
    new: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation rows to insert
    turns: dict[str, _Turn] = field(default_factory=dict)
    new_messages: list[dict[str, Any]] = field(default_factory=list)

    def conversation(self, sender: str, at: datetime) -> dict[str, Any]:
        row = self.known.get(sender) or self.new.get(sender)
        if row is None:
            row = {
                "sender_id": sender,
                "channel": "",
                "started_at": at,
                "last_at": at,
                "turns": 0,
                "replies": 0,
                "topics": "",
                "min_confidence": None,
                "fallbacks": 0,
                "helpful": 0,
                "unhelpful": 0,
                "handoff": False,
                "tickets": "",
                "flagged": 0,
                "tags": "",
                "reviewed_by": None,
                "reviewed_at": None,
            }
            self.new[sender] = row
        row["last_at"] = max(row["last_at"], at)
        return row

    def set_on_turn(self, turn: _Turn, **values: Any) -> None:
        (turn.row if turn.row is not None else turn.changes).update(values)


def _add_listed(listed: str, item: str) -> str:
    items = [part for part in listed.split(",") if part]
    return ",".join(items if item in items else [*items, item])


def _is_fallback(intent: str | None, confidence: float | None) -> bool:
    return intent in FALLBACK_INTENTS or (confidence is not None and confidence < LOW_CONFIDENCE)


def _user(batch: _Batch, event_id: int, sender: str, at: datetime, data: dict[str, Any]) -> None:
    parse = data.get("parse_data") or {}
    intent_data = parse.get("intent") or {}
    intent, confidence = intent_data.get("name"), intent_data.get("confidence")
    fallback = _is_fallback(intent, confidence)
    channel = str(data.get("input_channel") or "")[:40]
    row = {
        "event_id": event_id,
        "sender_id": sender,
        "at": at,
        "channel": channel,
        "text": mask(str(data.get("text") or "")),  # the store masked it; events written before it knew a spelling
        "intent": intent,
        "confidence": confidence,
        "entities": [
            {key: entity.get(key) for key in ("entity", "value", "start", "end", "extractor")}
            for entity in parse.get("entities") or []
        ],
        "fallback": fallback,
        "response_ms": None,
        "rating": None,
        "flagged": False,
        "flag_note": None,
        "review_state": None,
        "label_intent": None,
        "reviewed_by": None,
        "reviewed_at": None,
    }
    batch.new_messages.append(row)
    batch.turns[sender] = _Turn(event_id, at, fallback, row=row)
    conv = batch.conversation(sender, at)
    conv["turns"] += 1
    conv["channel"] = conv["channel"] or channel
    if intent and intent not in FALLBACK_INTENTS:
        conv["topics"] = _add_listed(conv["topics"], intent)
    if confidence is not None:
        conv["min_confidence"] = (
            confidence if conv["min_confidence"] is None else min(conv["min_confidence"], confidence)
        )
    if fallback:
        conv["fallbacks"] += 1


def _mark_fallback(batch: _Batch, sender: str, turn: _Turn | None) -> None:
    """The bot fell back on this turn (e.g. the KB had no answer) though the NLU was confident."""
    if turn is None or turn.fallback:
        return
    turn.fallback = True
    batch.set_on_turn(turn, fallback=True)
    batch.conversation(sender, turn.at)["fallbacks"] += 1


def _rating(value: Any) -> str | None:
    rating = value.get("rating") if isinstance(value, dict) else value
    return rating if rating in ("helpful", "not_helpful") else None


def _apply(batch: _Batch, event_id: int, sender: str, type_name: str, at: datetime, data: dict[str, Any]) -> None:
    turn = batch.turns.get(sender)
    if type_name == "user":
        _user(batch, event_id, sender, at, data)
    elif type_name == "bot":
        conv = batch.conversation(sender, at)
        conv["replies"] += 1
        if turn is not None:
            batch.set_on_turn(turn, response_ms=max(0, round((at - turn.at).total_seconds() * 1000)))
    elif type_name == "action":
        name = data.get("name")
        if name in HANDOFF_ACTIONS:
            batch.conversation(sender, at)["handoff"] = True
        elif name in FALLBACK_ACTIONS:
            _mark_fallback(batch, sender, turn)
    elif type_name == "slot":
        name, value = data.get("name"), data.get("value")
        if name == "feedback" and (rating := _rating(value)) is not None:
            conv = batch.conversation(sender, at)
            conv["helpful" if rating == "helpful" else "unhelpful"] += 1
            if turn is not None:
                batch.set_on_turn(turn, rating=rating)
        elif name in TICKET_SLOTS and value:
            conv = batch.conversation(sender, at)
            conv["tickets"] = _add_listed(conv["tickets"], str(value)[:40])


def _load_context(connection: Connection, senders: list[str], batch: _Batch) -> None:
    """The existing conversation rows and newest messages of the senders in this batch."""
    for start in range(0, len(senders), 500):
        chunk = senders[start : start + 500]
        for row in connection.execute(sa.select(conversations).where(conversations.c.sender_id.in_(chunk))):
            batch.known[row.sender_id] = dict(row._mapping)
        newest = (
            sa.select(messages.c.sender_id, sa.func.max(messages.c.event_id).label("event_id"))
            .where(messages.c.sender_id.in_(chunk))
            .group_by(messages.c.sender_id)
            .subquery()
        )
        query = sa.select(messages.c.sender_id, messages.c.event_id, messages.c.at, messages.c.fallback).join(
            newest, messages.c.event_id == newest.c.event_id
        )
        for row in connection.execute(query):
            batch.turns[row.sender_id] = _Turn(row.event_id, row.at, bool(row.fallback))


def _write(connection: Connection, batch: _Batch, old_turns: Iterable[_Turn]) -> None:
    if batch.new:
        connection.execute(conversations.insert(), list(batch.new.values()))
    if batch.known:
        params = [
            {"key": sender, **{k: v for k, v in row.items() if k != "sender_id"}} for sender, row in batch.known.items()
        ]
        columns = {name: sa.bindparam(name) for name in params[0] if name != "key"}
        statement = conversations.update().where(conversations.c.sender_id == sa.bindparam("key")).values(**columns)
        connection.execute(statement, params)
    if batch.new_messages:
        connection.execute(messages.insert(), batch.new_messages)
    for turn in old_turns:
        if turn.changes:
            connection.execute(messages.update().where(messages.c.event_id == turn.event_id).values(**turn.changes))


def _watermark(connection: Connection) -> int:
    value = connection.scalar(sa.select(state.c.last_event_id).where(state.c.name == STATE_NAME))
    if value is None:
        connection.execute(state.insert().values(name=STATE_NAME, last_event_id=0))
        return 0
    return int(value)


def _one_batch(engine: Engine, events: sa.Table, size: int) -> int:
    """Apply up to `size` events after the watermark; the number applied (0 when none, or another reader won)."""
    with engine.connect() as connection, connection.begin() as transaction:
        start = _watermark(connection)
        query = (
            sa.select(events.c.id, events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data)
            .where(events.c.id > start)
            .order_by(events.c.id)
            .limit(size)
        )
        rows = connection.execute(query).all()
        if not rows:
            return 0
        batch = _Batch(known={})
        _load_context(connection, sorted({row.sender_id for row in rows}), batch)
        old_turns = list(batch.turns.values())
        for row in rows:
            try:
                data = json.loads(row.data or "{}")
            except ValueError:
                logger.warning("events.id %s: data is not JSON; skipped", row.id)
                continue
            _apply(batch, row.id, row.sender_id, row.type_name, utc(row.timestamp), data)
        _write(connection, batch, old_turns)
        moved = connection.execute(
            state.update()
            .where(state.c.name == STATE_NAME, state.c.last_event_id == start)
            .values(last_event_id=rows[-1].id)
        )
        if moved.rowcount != 1:
            transaction.rollback()
            return 0
        return len(rows)


def catch_up(engine: Engine, max_events: int | None = None, batch_size: int = BATCH) -> int:
    """Index events newer than the watermark (at most `max_events`); the number indexed."""
    events = _events_table(engine)
    if events is None:
        return 0
    done = 0
    with _local_lock:
        while max_events is None or done < max_events:
            size = batch_size if max_events is None else min(batch_size, max_events - done)
            try:
                applied = _one_batch(engine, events, size)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as error:
                # Another process indexed the same events first (or holds SQLite's write lock): it will finish.
                logger.info("conversation index: another reader is busy (%s)", error.orig)
                break
            if applied == 0:
                break
            done += applied
    return done


PRESERVED_MESSAGE = ("flagged", "flag_note", "review_state", "label_intent", "reviewed_by", "reviewed_at")
PRESERVED_CONVERSATION = ("tags", "reviewed_by", "reviewed_at")


def reindex(engine: Engine) -> int:
    """Rebuild both tables from the events, keeping what people added (reviews, tags, flags, labels)."""
    ensure_tables(engine)
    with engine.begin() as connection:
        kept_messages = [
            dict(row._mapping)
            for row in connection.execute(
                sa.select(messages.c.event_id, *(messages.c[name] for name in PRESERVED_MESSAGE)).where(
                    sa.or_(messages.c.flagged.is_(True), messages.c.review_state.is_not(None))
                )
            )
        ]
        kept_conversations = [
            dict(row._mapping)
            for row in connection.execute(
                sa.select(conversations.c.sender_id, *(conversations.c[name] for name in PRESERVED_CONVERSATION)).where(
                    sa.or_(conversations.c.tags != "", conversations.c.reviewed_at.is_not(None))
                )
            )
        ]
        connection.execute(messages.delete())
        connection.execute(conversations.delete())
        connection.execute(state.delete())
    done = catch_up(engine)
    with engine.begin() as connection:
        for row in kept_messages:
            key = row.pop("event_id")
            connection.execute(messages.update().where(messages.c.event_id == key).values(**row))
        for row in kept_conversations:
            key = row.pop("sender_id")
            connection.execute(conversations.update().where(conversations.c.sender_id == key).values(**row))
        flagged = (
            sa.select(sa.func.count())
            .where(messages.c.sender_id == conversations.c.sender_id, messages.c.flagged.is_(True))
            .scalar_subquery()
        )
        connection.execute(conversations.update().values(flagged=flagged))
    return done


async def refresh(url: str | None = None, limit: int = REFRESH_LIMIT) -> int:
    """Index what is new before a console page reads the log; errors are logged, the page shows what is indexed."""
    from kb.session import get_engine

    engine = get_engine(url)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, catch_up, engine, limit)
    except sqlalchemy.exc.SQLAlchemyError:
        logger.exception("conversation index could not be brought up to date")
        return 0
