"""How fast the console's conversation list answers with each filter on a large log (for `make bench`).

`measure_list_p95(database_url)` runs the list query exactly as the console does (page 1 and the total,
`queries.find_conversations`) `repeats` times per filter and returns the timings. Fill a database first with
``python -m bot logs generate --events 1000000 --database-url …``. The filter values are taken from the data, choosing
the broad ones (the most common channel, intent and tag), so the numbers are the slow end, not a lucky case.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bot.conversations.indexer import catch_up
from bot.conversations.models import Conversation, Message
from bot.conversations.queries import ConversationFilter, engine_of, find_conversations, to_city

GOAL_MS = 300.0
CONV, MSG = Conversation.__table__, Message.__table__


def _most_common(connection: sa.engine.Connection, column: sa.Column, *where: Any) -> Any:
    query = sa.select(column).where(column.is_not(None), *where).group_by(column).order_by(sa.func.count().desc())
    return connection.scalar(query.limit(1))


def bench_filters(database_url: str) -> dict[str, ConversationFilter]:
    """One filter per list option, with values that occur in this database."""
    with engine_of(database_url).connect() as connection:
        channel = _most_common(connection, CONV.c.channel) or "socketio"
        intent = _most_common(connection, MSG.c.intent, MSG.c.intent.not_in(("nlu_fallback", "out_of_scope")))
        tags = connection.scalar(sa.select(CONV.c.tags).where(CONV.c.tags != "").limit(1)) or ",待跟进,"
        newest = connection.scalar(sa.select(sa.func.max(CONV.c.started_at)))
        key = connection.scalar(sa.select(CONV.c.conv_key).order_by(CONV.c.started_at).limit(1)) or "0"
    last_day = (to_city(newest) or newest).date() if newest else None
    return {
        "none": ConversationFilter(),
        "date_range_7d": ConversationFilter(date_from=last_day - timedelta(days=6), date_to=last_day)
        if last_day
        else ConversationFilter(),
        "channel": ConversationFilter(channel=channel),
        "intent": ConversationFilter(intent=intent or "greet"),
        "confidence_below_0.7": ConversationFilter(confidence_below=0.7),
        "fallback": ConversationFilter(fallback=True),
        "unhelpful": ConversationFilter(unhelpful=True),
        "handoff": ConversationFilter(handoff=True),
        "unreviewed": ConversationFilter(unreviewed=True),
        "tag": ConversationFilter(tag=next(t for t in tags.split(",") if t)),
        "flagged": ConversationFilter(flagged=True),
        "text_3_chars": ConversationFilter(text="社保卡"),
        "text_2_chars": ConversationFilter(text="井盖"),
        "sender_short_id": ConversationFilter(sender=key[:6]),
    }


def _time_ms(wanted: ConversationFilter, database_url: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = find_conversations(wanted, 1, database_url)
    return (time.perf_counter() - started) * 1000, result.total


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def measure_list_p95(database_url: str, repeats: int = 40, warmup: int = 3) -> dict[str, Any]:
    """Timings of the conversation list (page 1 + total) per single filter, in milliseconds.

    Returns ``{"events", "conversations", "messages", "goal_ms", "ok", "filters": {name: {"filter", "total",
    "p50_ms", "p95_ms", "max_ms"}}}``; ``ok`` is whether every filter's p95 is under ``goal_ms``.
    """
    engine = engine_of(database_url)
    catch_up(engine)  # index anything new first: the timings are of the list, not of the indexer
    with engine.connect() as connection:
        events = int(connection.scalar(sa.text("SELECT count(*) FROM events")) or 0)
        conversations = int(connection.scalar(sa.select(sa.func.count()).select_from(CONV)) or 0)
        messages = int(connection.scalar(sa.select(sa.func.count()).select_from(MSG)) or 0)
    results: dict[str, Any] = {}
    for name, wanted in bench_filters(database_url).items():
        for _ in range(warmup):
            _time_ms(wanted, database_url)
        samples, total = [], 0
        for _ in range(repeats):
            elapsed, total = _time_ms(wanted, database_url)
            samples.append(elapsed)
        results[name] = {
            "filter": wanted.to_args(),
            "total": total,
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(p95(samples), 1),
            "max_ms": round(max(samples), 1),
        }
    return {
        "events": events,
        "conversations": conversations,
        "messages": messages,
        "repeats": repeats,
        "goal_ms": GOAL_MS,
        "ok": all(item["p95_ms"] < GOAL_MS for item in results.values()),
        "filters": results,
    }


def format_table(measured: dict[str, Any]) -> str:
    """The timings as a plain text table."""
    lines = [
        f"conversation list, page 1 + total: {measured['events']:,} events, {measured['conversations']:,} "
        f"conversations, {measured['repeats']} runs per filter (goal p95 < {measured['goal_ms']:.0f} ms)",
        f"{'filter':<22}{'matches':>10}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}",
    ]
    for name, item in measured["filters"].items():
        lines.append(f"{name:<22}{item['total']:>10,}{item['p50_ms']:>10}{item['p95_ms']:>10}{item['max_ms']:>10}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    from bot.config import settings

    print(format_table(measure_list_p95(sys.argv[1] if len(sys.argv) > 1 else settings().database_url)))
