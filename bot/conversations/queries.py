"""The console's read side of the conversation log: a filtered, paged list of conversations and one transcript.

The list reads `log_conversations` (one row per conversation, kept by the indexer) and, for the intent and text
filters, `log_messages`; the transcript reads Rasa's own `events` for the bot's side (indexed on sender and time).
Every filter is a condition on the summary row, so they compose with AND. Dates are city dates (Asia/Shanghai);
the tables hold naive UTC.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterator, Mapping

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, literal, select, text, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select

from bot.config import settings
from bot.conversations.models import FALLBACK_INTENTS, Conversation, Message, ensure_tables
from bot.privacy import mask
from kb.query import CITY_TZ
from kb.session import get_engine

PAGE_SIZE = 20
MAX_TRANSCRIPT_EVENTS = 3000
KEY_PATTERN = re.compile(r"^[0-9a-f]{16}$")
SHORT_ID = re.compile(r"^[0-9a-f]{1,16}$")
TAG_PATTERN = re.compile(r"^[^,\s<>\"']{1,30}$")
# Event types shown in a transcript besides the resident's messages; `action_listen` is Rasa's bookkeeping.
HIDDEN_ACTIONS = frozenset({"action_listen", "action_session_start"})
BOOL_FILTERS = ("fallback", "unhelpful", "handoff", "unreviewed", "flagged")

CONV = Conversation.__table__
MSG = Message.__table__
# Rasa's `events` table, only the columns read here (rasa.core.tracker_store.SQLTrackerStore.SQLEvent).
EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = get_engine(url)
    ensure_tables(engine)
    return engine


def engine_of(url: str | None = None) -> Engine:
    """The conversation database (DATABASE_URL by default) with the log tables present."""
    return _engine_for(url or settings().database_url)


def to_city(utc: datetime | None) -> datetime | None:
    """A naive UTC time from the tables → naive city time (for display and CSV)."""
    return utc.replace(tzinfo=timezone.utc).astimezone(CITY_TZ).replace(tzinfo=None) if utc else None


def city_day_start(day: date) -> datetime:
    """Midnight of a city date, as the naive UTC time the tables use."""
    return datetime.combine(day, time(), CITY_TZ).astimezone(timezone.utc).replace(tzinfo=None)


def _parse_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip()[:10]) if raw.strip() else None
    except ValueError:
        return None


def _parse_confidence(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 < value <= 1.0 else None


def _flag(raw: str | None) -> bool:
    return (raw or "").strip().lower() in {"1", "true", "on", "yes"}


@dataclass(frozen=True)
class ConversationFilter:
    """What a supervisor asks the list for; empty fields do not filter. All given fields must hold (AND)."""

    date_from: date | None = None  # city date, inclusive
    date_to: date | None = None  # city date, inclusive
    channel: str = ""
    intent: str = ""  # any resident message with this intent
    confidence_below: float | None = None  # the conversation's lowest NLU confidence is below this
    fallback: bool = False  # some message fell back or had low confidence
    unhelpful: bool = False  # some reply got 没帮助
    handoff: bool = False
    unreviewed: bool = False
    tag: str = ""
    flagged: bool = False  # some message is flagged
    text: str = ""  # words in any resident message (substring, case-insensitive)
    sender: str = ""  # the short id shown in the console (a prefix of the conversation key)

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> ConversationFilter:
        """From query-string values (a Sanic `request.args` or a plain dict); bad values are ignored, not errors."""

        def get(name: str, limit: int = 100) -> str:
            value = args.get(name)
            if isinstance(value, list):
                value = value[0] if value else ""
            return str(value or "").strip()[:limit]

        sender = get("sender", 16).lower().lstrip("#")
        tag = get("tag", 30)
        return cls(
            date_from=_parse_date(get("date_from") or get("from")),  # from/to: the statistics page's links
            date_to=_parse_date(get("date_to") or get("to")),
            channel=get("channel", 40),
            intent=get("intent"),
            confidence_below=_parse_confidence(get("confidence_below", 10)),
            text=get("text"),
            sender=sender if SHORT_ID.match(sender) else "",
            tag=tag if TAG_PATTERN.match(tag) else "",
            **{name: _flag(get(name, 5)) for name in BOOL_FILTERS},
        )

    def to_args(self) -> dict[str, str]:
        """The query-string form (only the fields that filter), for links that keep the filters."""
        out: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value in (None, "", False):
                continue
            out[item.name] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
        return out


@dataclass(frozen=True)
class ConversationRow:
    key: str
    channel: str
    started_at: datetime  # city time
    last_at: datetime  # city time
    turns: int
    replies: int
    topics: list[str]
    min_confidence: float | None
    fallbacks: int
    helpful: int
    unhelpful: int
    handoff: bool
    tickets: list[str]
    flagged: int
    tags: list[str]
    reviewed_by: str | None
    reviewed_at: datetime | None  # city time

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("started_at", "last_at", "reviewed_at"):
            data[name] = data[name].isoformat(timespec="seconds") if data[name] else None
        return data


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    total: int
    page: int
    pages: int


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def row_of(record: Mapping[str, Any]) -> ConversationRow:
    return ConversationRow(
        key=record["conv_key"] or "",
        channel=record["channel"] or "",
        started_at=to_city(record["started_at"]) or record["started_at"],
        last_at=to_city(record["last_at"]) or record["last_at"],
        turns=int(record["turns"] or 0),
        replies=int(record["replies"] or 0),
        topics=_split(record["topics"]),
        min_confidence=record["min_confidence"],
        fallbacks=int(record["fallbacks"] or 0),
        helpful=int(record["helpful"] or 0),
        unhelpful=int(record["unhelpful"] or 0),
        handoff=bool(record["handoff"]),
        tickets=_split(record["tickets"]),
        flagged=int(record["flagged"] or 0),
        tags=_split(record["tags"]),
        reviewed_by=record["reviewed_by"],
        reviewed_at=to_city(record["reviewed_at"]),
    )


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _messages_where(condition: ColumnElement) -> ColumnElement:
    return CONV.c.sender_id.in_(select(MSG.c.sender_id).where(condition))


def _intent_condition(intent: str) -> ColumnElement:
    """Conversations with a message of this intent: the summary's `topics` list (one narrow scan, no join);
    the fallback intents are not listed there, so those look at the messages."""
    if intent in FALLBACK_INTENTS:
        return _messages_where(MSG.c.intent == intent)
    listed = literal(",") + CONV.c.topics + literal(",")
    return listed.like(f"%,{like_escape(intent)},%", escape="\\")


def _text_condition(words: str, bigrams: bool = False) -> ColumnElement:
    """Substring match; case-insensitive only when the words have letters with case (ILIKE is slower on Chinese).

    On PostgreSQL the trigram index serves three characters or more. Two characters without case (e.g. 井盖) have
    no trigram: there (`bigrams`) "contains the pair" is the same test, answered by the pair index (models.py).
    """
    caseless = words.lower() == words.upper()
    if bigrams and caseless and len(words) == 2:
        indexed = func.log_bigrams(MSG.c.text, type_=postgresql.ARRAY(Text))
        return indexed.contains(postgresql.array([words], type_=Text))
    pattern = f"%{like_escape(words)}%"
    return MSG.c.text.like(pattern, escape="\\") if caseless else MSG.c.text.ilike(pattern, escape="\\")


def conditions(wanted: ConversationFilter, bigrams: bool = False) -> list[ColumnElement]:
    """One SQL condition per filter that is set; the list is ANDed. `bigrams`: PostgreSQL with log_bigrams()."""
    c = CONV.c
    found: list[ColumnElement] = []
    if wanted.date_from:
        found.append(c.started_at >= city_day_start(wanted.date_from))
    if wanted.date_to:
        found.append(c.started_at < city_day_start(wanted.date_to + timedelta(days=1)))
    if wanted.channel:
        found.append(c.channel == wanted.channel)
    if wanted.intent:
        found.append(_intent_condition(wanted.intent))
    if wanted.confidence_below is not None:
        found.append(c.min_confidence < wanted.confidence_below)
    if wanted.fallback:
        found.append(c.fallbacks > 0)
    if wanted.unhelpful:
        found.append(c.unhelpful > 0)
    if wanted.handoff:
        found.append(c.handoff == true())
    if wanted.unreviewed:
        found.append(c.reviewed_at.is_(None))
    if wanted.tag:
        found.append(c.tags.like(f"%,{like_escape(wanted.tag)},%", escape="\\"))
    if wanted.flagged:
        found.append(c.flagged > 0)
    if wanted.text:
        found.append(_messages_where(_text_condition(wanted.text, bigrams)))
    if wanted.sender:  # a prefix of the key: a range, so a plain b-tree index serves it in any collation
        found.append(c.conv_key >= wanted.sender)
        found.append(c.conv_key < wanted.sender + "g")
    return found


@lru_cache(maxsize=8)
def has_bigrams(engine: Engine) -> bool:
    """Whether the database has the character-pair index for short searches (PostgreSQL, see models.py)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        return connection.scalar(text("SELECT to_regclass('ix_log_msg_text_bigrams')")) is not None


def filtered(query: Select, wanted: ConversationFilter, engine: Engine | None = None) -> Select:
    found = conditions(wanted, has_bigrams(engine) if engine is not None else False)
    return query.where(*found) if found else query


def newest_first(query: Select) -> Select:
    return query.order_by(CONV.c.started_at.desc(), CONV.c.sender_id.desc())


def count_conversations(wanted: ConversationFilter, url: str | None = None) -> int:
    engine = engine_of(url)
    with engine.connect() as connection:
        return int(connection.scalar(filtered(select(func.count()).select_from(CONV), wanted, engine)) or 0)


def find_conversations(
    wanted: ConversationFilter, page: int = 1, url: str | None = None, page_size: int = PAGE_SIZE
) -> ConversationPage:
    """Newest first, `page_size` a page, with the total; a page past the end shows the last one."""
    engine = engine_of(url)
    with engine.connect() as connection:
        total = int(connection.scalar(filtered(select(func.count()).select_from(CONV), wanted, engine)) or 0)
        pages = max(1, -(-total // page_size))
        page = min(max(page, 1), pages)
        query = newest_first(filtered(select(CONV), wanted, engine)).offset((page - 1) * page_size).limit(page_size)
        rows = [row_of(record) for record in connection.execute(query).mappings()]
    return ConversationPage(rows, total, page, pages)


def iter_conversations(wanted: ConversationFilter, url: str | None = None, batch: int = 2000) -> Iterator[list]:
    """Every matching conversation, newest first, in batches (keyset paging: no growing OFFSET) — for CSV export."""
    engine, after = engine_of(url), None
    while True:
        query = newest_first(filtered(select(CONV), wanted, engine)).limit(batch)
        if after is not None:
            started, sender = after
            query = query.where(
                (CONV.c.started_at < started) | ((CONV.c.started_at == started) & (CONV.c.sender_id < sender))
            )
        with engine.connect() as connection:
            records = list(connection.execute(query).mappings())
        if not records:
            return
        yield [row_of(record) for record in records]
        after = (records[-1]["started_at"], records[-1]["sender_id"])
        if len(records) < batch:
            return


def sender_of(key: str, url: str | None = None) -> str | None:
    """The sender id behind a conversation key, or None (also for anything that is not a key)."""
    if not KEY_PATTERN.match(key or ""):
        return None
    with engine_of(url).connect() as connection:
        return connection.scalar(select(CONV.c.sender_id).where(CONV.c.conv_key == key).limit(1))


def get_conversation(key: str, url: str | None = None) -> ConversationRow | None:
    if not KEY_PATTERN.match(key or ""):
        return None
    with engine_of(url).connect() as connection:
        record = connection.execute(select(CONV).where(CONV.c.conv_key == key).limit(1)).mappings().first()
    return row_of(record) if record else None


def distinct_channels(url: str | None = None) -> list[str]:
    with engine_of(url).connect() as connection:
        query = select(CONV.c.channel).where(CONV.c.channel != "").group_by(CONV.c.channel).order_by(CONV.c.channel)
        return [str(value) for value in connection.scalars(query)]


def distinct_tags(url: str | None = None, limit: int = 200) -> list[str]:
    """Tags in use (for the filter menu); read from the tagged conversations only."""
    with engine_of(url).connect() as connection:
        values = connection.scalars(select(CONV.c.tags).where(CONV.c.tags != "").distinct().limit(limit))
        return sorted({tag for value in values for tag in _split(value)})


# --- transcript ---------------------------------------------------------------------------------------------------


@dataclass
class TranscriptItem:
    """One line of a transcript: a resident message (`user`), a bot action (`action`) or a bot reply (`bot`)."""

    kind: str
    event_id: int
    at: datetime  # city time
    text: str = ""
    action: str = ""
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    fallback: bool = False
    rating: str | None = None
    flagged: bool = False
    flag_note: str | None = None
    buttons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat(timespec="seconds")
        return data


@dataclass(frozen=True)
class Transcript:
    conversation: ConversationRow
    items: list[TranscriptItem]
    truncated: bool


def _event_time(timestamp: float | None) -> datetime:
    utc = datetime.fromtimestamp(timestamp or 0, timezone.utc).replace(tzinfo=None)
    return to_city(utc) or utc


def _entities(parse: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"entity": item.get("entity"), "value": item.get("value")}
        for item in parse.get("entities") or []
        if isinstance(item, dict)
    ]


def _user_item(
    event_id: int, at: datetime, data: Mapping[str, Any], message: Mapping[str, Any] | None
) -> TranscriptItem:
    parse = data.get("parse_data") or {}
    intent = parse.get("intent") or {}
    item = TranscriptItem(
        "user",
        event_id,
        at,
        text=mask(str(data.get("text") or "")),  # shown to supervisors: masked again, whatever was stored
        intent=intent.get("name"),
        confidence=intent.get("confidence"),
        entities=_entities(parse),
    )
    if message is not None:  # the indexed row: what the indexer made of it, plus ratings and flags
        item.text, item.intent, item.confidence = mask(message["text"]), message["intent"], message["confidence"]
        item.entities = list(message["entities"] or item.entities)
        item.fallback, item.rating = bool(message["fallback"]), message["rating"]
        item.flagged, item.flag_note = bool(message["flagged"]), message["flag_note"]
    return item


def _bot_item(event_id: int, at: datetime, data: Mapping[str, Any]) -> TranscriptItem:
    extra = data.get("data") or {}
    buttons = [str(b.get("title", "")) for b in extra.get("buttons") or [] if isinstance(b, dict)]
    return TranscriptItem("bot", event_id, at, text=mask(str(data.get("text") or "")), buttons=buttons)


def transcript(key: str, url: str | None = None, limit: int = MAX_TRANSCRIPT_EVENTS) -> Transcript | None:
    """Resident messages (with NLU, rating, flag) and the bot's actions and replies, in the order they happened."""
    conversation = get_conversation(key, url)
    if conversation is None:
        return None
    sender = sender_of(key, url)
    query = (
        select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.action_name, EVENTS.c.data)
        .where(EVENTS.c.sender_id == sender, EVENTS.c.type_name.in_(("user", "action", "bot")))
        .order_by(EVENTS.c.timestamp, EVENTS.c.id)
        .limit(limit + 1)
    )
    with engine_of(url).connect() as connection:
        events = list(connection.execute(query))
        messages = {
            row["event_id"]: row for row in connection.execute(select(MSG).where(MSG.c.sender_id == sender)).mappings()
        }
    items = [item for item in (_item(event, messages) for event in events[:limit]) if item is not None]
    return Transcript(conversation, items, truncated=len(events) > limit)


def _item(event: Any, messages: Mapping[int, Mapping[str, Any]]) -> TranscriptItem | None:
    at = _event_time(event.timestamp)
    if event.type_name == "action":
        name = event.action_name or ""
        return None if name in HIDDEN_ACTIONS else TranscriptItem("action", event.id, at, action=name)
    try:
        data = json.loads(event.data or "{}")
    except ValueError:
        data = {}
    if event.type_name == "user":
        return _user_item(event.id, at, data, messages.get(event.id))
    return _bot_item(event.id, at, data)


def message_of(key: str, event_id: int, url: str | None = None) -> Mapping[str, Any] | None:
    """The indexed resident message `event_id` if it belongs to conversation `key`."""
    sender = sender_of(key, url)
    if sender is None:
        return None
    with engine_of(url).connect() as connection:
        query = select(MSG).where(MSG.c.event_id == event_id, MSG.c.sender_id == sender)
        return connection.execute(query).mappings().first()


__all__ = [
    "PAGE_SIZE",
    "ConversationFilter",
    "ConversationPage",
    "ConversationRow",
    "Transcript",
    "TranscriptItem",
    "count_conversations",
    "distinct_channels",
    "distinct_tags",
    "engine_of",
    "find_conversations",
    "get_conversation",
    "iter_conversations",
    "transcript",
]
