"""Statistics over the conversation log for supervisors: daily volume, top topics, rates and response times.

Everything is an SQL aggregate over `log_conversations` / `log_messages` (kept by `indexer.py`) that runs the same on
SQLite and PostgreSQL. Periods are whole days in city time (Asia/Shanghai, UTC+8 all year, no daylight saving); the
tables store naive UTC, so a day is grouped as ``date(at + 8 hours)``.

- a conversation counts on the day it started (``started_at``); a message on the day it was sent (``at``);
- fallback rate = resident messages that fell back (nlu_fallback / out_of_scope / low confidence / the bot had no
  answer) ÷ resident messages;
- handoff rate = conversations that asked for a person ÷ conversations;
- 有帮助 rate = messages rated 有帮助 ÷ messages rated (有帮助 or 没帮助);
- response time = ``log_messages.response_ms`` (from the message to the turn's last bot reply): median and p95 by
  linear interpolation between the closest ranks — PostgreSQL's ``percentile_cont``; SQLite has no such function,
  so the period's values are read and interpolated in Python (up to `IN_MEMORY_LIMIT` of them), or beyond that
  taken from the two rows around the rank (``ORDER BY … LIMIT 2 OFFSET k``): the same numbers either way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from bot.conversations.models import FALLBACK_INTENTS, Conversation, Message, ensure_tables

CITY_OFFSET = timedelta(hours=8)  # Asia/Shanghai has kept UTC+8 without daylight saving since 1991
MAX_DAYS = 366
DEFAULT_DAYS = 30
TOP_TOPICS = 10
PERCENTILES = (0.5, 0.95)
# Response times SQLite reads into Python for the percentiles; above this, exact ranks with ORDER BY … OFFSET.
IN_MEMORY_LIMIT = 200_000
# What supervisors call the intents that have no KB entry (topic intents are named by their entry's title).
INTENT_LABELS = {
    "greet": "问候",
    "goodbye": "道别",
    "thanks": "致谢",
    "bot_challenge": "问是不是机器人",
    "ask_human": "转人工",
    "out_of_scope": "超出服务范围",
    "nlu_fallback": "没听懂",
    "check_ticket_status": "查询工单",
    "affirm": "肯定",
    "deny": "否定",
    "stop": "取消",
    "inform": "补充信息",
}
CHANNEL_LABELS = {"rest": "网页/REST", "wechat": "微信公众号", "socketio": "网页(socket.io)", "": "未知渠道"}

conversations, messages = Conversation.__table__, Message.__table__


class PeriodError(ValueError):
    """A period the page cannot use; the message is shown as is."""


@dataclass(frozen=True)
class Period:
    """Whole days in city time, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """[from, to) in naive UTC, as the log tables store time."""
        return (
            datetime.combine(self.start, time()) - CITY_OFFSET,
            datetime.combine(self.end + timedelta(days=1), time()) - CITY_OFFSET,
        )


def city_today(now: datetime | None = None) -> date:
    return ((now or datetime.utcnow()) + CITY_OFFSET).date()


def _parse_day(raw: str, name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise PeriodError(f"{name}不是有效日期，请用 YYYY-MM-DD 格式（例如 2026-03-01）。") from None


def parse_period(raw_from: str | None, raw_to: str | None, today: date | None = None) -> Period:
    """The period asked for; the last 30 days up to today when nothing is given. Raises `PeriodError`."""
    today = today or city_today()
    start, end = _parse_day(raw_from or "", "开始日期"), _parse_day(raw_to or "", "结束日期")
    end = end or (max(start, today) if start else today)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise PeriodError("开始日期晚于结束日期，请重新选择。")
    if (end - start).days + 1 > MAX_DAYS:
        raise PeriodError(f"统计时段最长 {MAX_DAYS} 天，请缩短时段。")
    return Period(start, end)


@dataclass
class ChannelStats:
    channel: str
    conversations: int = 0
    handoffs: int = 0
    messages: int = 0
    fallbacks: int = 0
    helpful: int = 0
    rated: int = 0
    timed: int = 0  # messages with a response time
    median_ms: float | None = None
    p95_ms: float | None = None

    @property
    def label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.messages if self.messages else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handoffs / self.conversations if self.conversations else None

    @property
    def helpful_rate(self) -> float | None:
        return self.helpful / self.rated if self.rated else None

    def as_dict(self) -> dict[str, Any]:
        rates = {name: getattr(self, name) for name in ("fallback_rate", "handoff_rate", "helpful_rate")}
        return {**asdict(self), "label": self.label, **rates}


@dataclass(frozen=True)
class DayStats:
    day: date
    conversations: int
    messages: int


@dataclass(frozen=True)
class TopicStats:
    intent: str
    title: str
    messages: int
    conversations: int


@dataclass
class Stats:
    period: Period
    channel: str
    days: list[DayStats]
    topics: list[TopicStats]
    channels: list[ChannelStats]
    total: ChannelStats
    channel_choices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "channel": self.channel,
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "topics": [asdict(t) for t in self.topics],
            "channels": [c.as_dict() for c in self.channels],
            "total": self.total.as_dict(),
        }


def city_day(column: Any, dialect: str) -> ColumnElement:
    """A naive-UTC timestamp column → its city-time date: 'YYYY-MM-DD' text on SQLite, a DATE on PostgreSQL."""
    if dialect == "sqlite":
        return sa.func.date(column, "+8 hours")
    shifted = column + sa.literal_column("INTERVAL '8 hours'", type_=sa.Interval)
    return sa.cast(shifted, sa.Date)


def _where(table: sa.Table, time_column: str, period: Period, channel: str) -> list[ColumnElement]:
    start, end = period.utc_bounds()
    conditions = [table.c[time_column] >= start, table.c[time_column] < end]
    if channel:
        conditions.append(table.c.channel == channel)
    return conditions


def _count_if(condition: ColumnElement) -> ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def daily(connection: Connection, period: Period, channel: str = "") -> list[DayStats]:
    """Every day of the period (zeros included): conversations started and resident messages."""
    dialect = connection.dialect.name
    counted: dict[str, dict[str, int]] = {"conversations": {}, "messages": {}}
    for key, table, column in (("conversations", conversations, "started_at"), ("messages", messages, "at")):
        day = city_day(table.c[column], dialect).label("day")
        query = sa.select(day, sa.func.count()).where(*_where(table, column, period, channel)).group_by(day)
        counted[key] = {str(row[0])[:10]: int(row[1]) for row in connection.execute(query)}
    return [
        DayStats(d, counted["conversations"].get(d.isoformat(), 0), counted["messages"].get(d.isoformat(), 0))
        for d in period.days
    ]


def intent_titles(connection: Connection) -> dict[str, str]:
    """intent → the title of the KB entry that answers it, else a label for the conversational intents."""
    titles = dict(INTENT_LABELS)
    if sa.inspect(connection).has_table("kb_entries"):
        rows = connection.execute(sa.text("SELECT intent, title FROM kb_entries"))
        titles.update({str(intent): str(title) for intent, title in rows})
    return titles


def top_topics(connection: Connection, period: Period, channel: str = "", limit: int = TOP_TOPICS) -> list[TopicStats]:
    """The intents residents asked about most (fallback intents excluded), with messages and conversations.

    Counted per (intent, conversation) first, then per intent: a hash aggregate, cheaper than COUNT(DISTINCT).
    """
    per_sender = (
        sa.select(messages.c.intent, sa.func.count().label("n"))
        .where(*_where(messages, "at", period, channel))
        .where(messages.c.intent.is_not(None), messages.c.intent.not_in(sorted(FALLBACK_INTENTS)))
        .group_by(messages.c.intent, messages.c.sender_id)
        .subquery()
    )
    total = sa.func.sum(per_sender.c.n).label("total")
    query = (
        sa.select(per_sender.c.intent, total, sa.func.count())
        .group_by(per_sender.c.intent)
        .order_by(total.desc(), per_sender.c.intent)
        .limit(limit)
    )
    titles = intent_titles(connection)
    return [
        TopicStats(str(intent), titles.get(str(intent), str(intent)), int(n), int(senders))
        for intent, n, senders in connection.execute(query)
    ]


def _conversation_counts(connection: Connection, period: Period, channel: str) -> dict[str, tuple[int, int]]:
    query = (
        sa.select(conversations.c.channel, sa.func.count(), _count_if(conversations.c.handoff.is_(True)))
        .where(*_where(conversations, "started_at", period, channel))
        .group_by(conversations.c.channel)
    )
    return {str(ch): (int(n), int(handoffs)) for ch, n, handoffs in connection.execute(query)}


def _message_counts(connection: Connection, period: Period, channel: str) -> dict[str, tuple[int, ...]]:
    query = (
        sa.select(
            messages.c.channel,
            sa.func.count(),
            _count_if(messages.c.fallback.is_(True)),
            _count_if(messages.c.rating == "helpful"),
            _count_if(messages.c.rating.in_(("helpful", "not_helpful"))),
            sa.func.count(messages.c.response_ms),
        )
        .where(*_where(messages, "at", period, channel))
        .group_by(messages.c.channel)
    )
    return {str(row[0]): tuple(int(value) for value in row[1:]) for row in connection.execute(query)}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _percentile_by_rank(connection: Connection, conditions: list[ColumnElement], n: int, p: float) -> float | None:
    """percentile_cont(p) without the function: the two values around rank p·(n-1), interpolated."""
    if n == 0:
        return None
    position = p * (n - 1)
    low = math.floor(position)
    query = (
        sa.select(messages.c.response_ms)
        .where(*conditions, messages.c.response_ms.is_not(None))
        .order_by(messages.c.response_ms)
        .limit(2)
        .offset(low)
    )
    values = [float(v) for v in connection.scalars(query)]
    if len(values) == 1 or position == low:
        return values[0]
    return values[0] + (values[1] - values[0]) * (position - low)


def response_times(
    connection: Connection, period: Period, channel: str = "", counts: dict[str, int] | None = None
) -> dict[str, tuple[float | None, float | None]]:
    """channel → (median, p95) response time in ms; the key "*" holds all channels together.

    `counts` (channel → messages with a response time, "*" for all) is what the rank-based path needs.
    """
    conditions = _where(messages, "at", period, channel)
    result: dict[str, tuple[float | None, float | None]] = {}
    if connection.dialect.name == "postgresql":
        timed = messages.c.response_ms.is_not(None)
        cont = [sa.func.percentile_cont(p).within_group(messages.c.response_ms) for p in PERCENTILES]
        # ROLLUP adds the row for all channels together (channel NULL; the column itself is never NULL).
        query = (
            sa.select(messages.c.channel, *cont).where(*conditions, timed).group_by(sa.func.rollup(messages.c.channel))
        )
        for ch, median, p95 in connection.execute(query):
            result["*" if ch is None else str(ch)] = (_float(median), _float(p95))
        return result
    counts = counts or {}
    if counts.get("*", 0) <= IN_MEMORY_LIMIT:
        return _percentiles_in_python(connection, conditions)
    for ch, n in counts.items():
        here = [*conditions] if ch == "*" else [*conditions, messages.c.channel == ch]
        median, p95 = (_percentile_by_rank(connection, here, n, p) for p in PERCENTILES)
        result[ch] = (median, p95)
    return result


def percentile(ordered: list[float], p: float) -> float | None:
    """percentile_cont(p) of values already sorted: linear interpolation between the closest ranks."""
    if not ordered:
        return None
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _percentiles_in_python(
    connection: Connection, conditions: list[ColumnElement]
) -> dict[str, tuple[float | None, float | None]]:
    """All response times of the period read once (at most IN_MEMORY_LIMIT of them), percentiles per channel."""
    query = sa.select(messages.c.channel, messages.c.response_ms).where(
        *conditions, messages.c.response_ms.is_not(None)
    )
    values: dict[str, list[float]] = {"*": []}
    for ch, ms in connection.execute(query):
        values.setdefault(str(ch), []).append(float(ms))
        values["*"].append(float(ms))
    result: dict[str, tuple[float | None, float | None]] = {}
    for ch, found in values.items():
        found.sort()
        result[ch] = (percentile(found, PERCENTILES[0]), percentile(found, PERCENTILES[1]))
    return result


def per_channel(connection: Connection, period: Period, channel: str = "") -> tuple[list[ChannelStats], ChannelStats]:
    """One row per channel seen in the period, and the row for all of them together."""
    convs, msgs = _conversation_counts(connection, period, channel), _message_counts(connection, period, channel)
    rows = {ch: ChannelStats(ch) for ch in sorted(set(convs) | set(msgs))}
    total = ChannelStats("*")
    for ch, row in rows.items():
        row.conversations, row.handoffs = convs.get(ch, (0, 0))
        row.messages, row.fallbacks, row.helpful, row.rated, row.timed = msgs.get(ch, (0, 0, 0, 0, 0))
        for name in ("conversations", "handoffs", "messages", "fallbacks", "helpful", "rated", "timed"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    timed = {ch: row.timed for ch, row in rows.items()} | {"*": total.timed}
    times = response_times(connection, period, channel, timed)
    for ch, row in [*rows.items(), ("*", total)]:
        row.median_ms, row.p95_ms = times.get(ch, (None, None))
    return list(rows.values()), total


def channels_seen(connection: Connection) -> list[str]:
    query = sa.select(conversations.c.channel).distinct().order_by(conversations.c.channel)
    return [str(ch) for ch in connection.scalars(query)]


_ready: set[str] = set()


def ready(engine: Engine) -> None:
    """The log tables exist (created once per database, e.g. before Rasa ever wrote)."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _ready:
        ensure_tables(engine)
        _ready.add(key)


def compute(engine: Engine, period: Period, channel: str = "", top: int = TOP_TOPICS) -> Stats:
    """All the numbers of the statistics page, read over one connection."""
    ready(engine)
    with engine.connect() as connection:
        rows, total = per_channel(connection, period, channel)
        return Stats(
            period=period,
            channel=channel,
            days=daily(connection, period, channel),
            topics=top_topics(connection, period, channel, top),
            channels=rows,
            total=total,
            channel_choices=channels_seen(connection),
        )
