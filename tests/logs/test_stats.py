"""Statistics over a small real event log (saved by the tracker store, indexed), on SQLite and on PostgreSQL.

Hand arithmetic for 1–3 March 2026 (city time), from tests/logs/fixtures_stats.py:
- conversations by start day: A on 1 March; B (00:30 city = 16:30 UTC the day before) and C on 2 March; D on 3
  March; E (28 February) is outside. Messages: A 2, B 2, C 2, D 1.
- fallbacks: B's weather question (nlu_fallback) and C's first message (confidence 0.55 < 0.7) → 2 of 7.
- handoff: B only → 1 of 4 conversations. Ratings: A helpful, C not helpful, D helpful → 2 of 3.
- response times (ms): rest [100, 200, 400, 1000] → median 300 (between 200 and 400), p95 at rank 2.85 →
  400 + 0.85·600 = 910; wechat [500, 600, 3000] → median 600, p95 at rank 1.9 → 600 + 0.9·2400 = 2760;
  all [100, 200, 400, 500, 600, 1000, 3000] → median 500, p95 at rank 5.7 → 1000 + 0.7·2000 = 2400.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from bot.conversations import stats as stats_module
from bot.conversations.stats import Period, PeriodError, city_day, compute, parse_period, percentile
from kb.session import engine_for
from tests.logs.fixtures_stats import D0, D1, D2, EXPECTED, logged  # noqa: F401 (fixture)

PERIOD = Period(D0, D2)


def test_daily_counts_use_city_days(logged: str) -> None:  # noqa: F811
    stats = compute(engine_for(logged), PERIOD)
    assert [(d.day, d.conversations, d.messages) for d in stats.days] == EXPECTED["days"]


def test_top_topics_with_kb_titles(logged: str) -> None:  # noqa: F811
    stats = compute(engine_for(logged), PERIOD)
    assert [(t.intent, t.messages, t.conversations) for t in stats.topics] == EXPECTED["topics"]
    titles = {t.intent: t.title for t in stats.topics}
    with engine_for(logged).connect() as connection:
        kb_title = connection.scalar(sa.text("SELECT title FROM kb_entries WHERE intent = 'ask_sscard_apply'"))
    assert titles["ask_sscard_apply"] == kb_title and kb_title
    assert titles["ask_human"] == "转人工"  # a conversational intent has no KB entry: its own label


@pytest.mark.parametrize("in_memory", [True, False], ids=["values-read", "ranks-in-sql"])
@pytest.mark.parametrize("channel", ["rest", "wechat", "*"])
def test_rates_and_response_times_per_channel(
    logged: str,  # noqa: F811
    channel: str,
    in_memory: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not in_memory:  # SQLite's second way (PostgreSQL always uses percentile_cont)
        monkeypatch.setattr(stats_module, "IN_MEMORY_LIMIT", 0)
    stats = compute(engine_for(logged), PERIOD)
    rows = {row.channel: row for row in stats.channels} | {"*": stats.total}
    assert sorted(rows) == ["*", "rest", "wechat"]
    row, want = rows[channel], EXPECTED[channel]
    got = {
        "conversations": row.conversations,
        "messages": row.messages,
        "fallbacks": row.fallbacks,
        "handoffs": row.handoffs,
        "helpful": row.helpful,
        "rated": row.rated,
        "median": row.median_ms,
        "p95": row.p95_ms,
    }
    assert got == pytest.approx(want)
    assert row.fallback_rate == pytest.approx(want["fallbacks"] / want["messages"])
    assert row.handoff_rate == pytest.approx(want["handoffs"] / want["conversations"])
    assert row.helpful_rate == pytest.approx(want["helpful"] / want["rated"])


def test_a_channel_filter_narrows_everything(logged: str) -> None:  # noqa: F811
    stats = compute(engine_for(logged), PERIOD, channel="wechat")
    assert [(d.conversations, d.messages) for d in stats.days] == [(0, 0), (1, 2), (1, 1)]
    assert [c.channel for c in stats.channels] == ["wechat"]
    assert (stats.total.median_ms, stats.total.p95_ms) == pytest.approx((600.0, 2760.0))
    assert [(t.intent, t.messages) for t in stats.topics] == [("ask_sscard_apply", 2), ("ask_sscard_mail", 1)]
    assert stats.channel_choices == ["rest", "wechat"]


def test_one_day_and_an_empty_period(logged: str) -> None:  # noqa: F811
    one = compute(engine_for(logged), Period(D1, D1))
    assert (one.total.conversations, one.total.messages, one.total.handoffs) == (2, 4, 1)
    # rest on 2 March: B's 200 and 100 ms; wechat: C's 3000 and 600 ms; together [100, 200, 600, 3000]
    assert one.total.median_ms == pytest.approx(400.0)
    assert one.total.p95_ms == pytest.approx(600 + 0.85 * 2400)
    empty = compute(engine_for(logged), Period(date(2025, 1, 1), date(2025, 1, 2)))
    assert [(d.conversations, d.messages) for d in empty.days] == [(0, 0), (0, 0)]
    assert empty.topics == [] and empty.channels == []
    assert empty.total.median_ms is None and empty.total.fallback_rate is None and empty.total.helpful_rate is None


def test_city_day_expression_matches_on_both_databases(logged: str) -> None:  # noqa: F811
    engine = engine_for(logged)
    column = sa.literal_column("started_at")
    query = sa.select(city_day(column, engine.dialect.name)).select_from(sa.table("log_conversations"))
    with engine.connect() as connection:
        days = sorted(str(day) for day in connection.scalars(query))
    assert days == ["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-02", "2026-03-03"]


def test_as_dict_is_json_ready(logged: str) -> None:  # noqa: F811
    body = compute(engine_for(logged), PERIOD).as_dict()
    assert body["from"] == "2026-03-01" and body["to"] == "2026-03-03"
    assert body["days"][1] == {"day": "2026-03-02", "conversations": 2, "messages": 4}
    assert body["total"]["handoff_rate"] == pytest.approx(0.25)


def test_parse_period() -> None:
    today = date(2026, 11, 26)
    assert parse_period(None, None, today) == Period(date(2026, 10, 28), today)
    assert parse_period("2026-03-01", "2026-03-03", today) == Period(D0, D2)
    assert parse_period("2026-03-01", "", today) == Period(D0, today)
    assert parse_period("", "2026-03-03", today) == Period(date(2026, 2, 2), D2)
    for bad in (("2026-13-01", ""), ("2026-03-05", "2026-03-01"), ("2020-01-01", "2026-01-01"), ("<b>", "")):
        with pytest.raises(PeriodError):
            parse_period(*bad, today=today)
    assert Period(D0, D0).utc_bounds() == (datetime(2026, 2, 28, 16, 0), datetime(2026, 3, 1, 16, 0))


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([100.0, 200.0, 400.0, 1000.0], 0.5) == pytest.approx(300.0)
    assert percentile([100.0, 200.0, 400.0, 1000.0], 0.95) == pytest.approx(910.0)
    assert percentile([1.0, 2.0], 1.0) == 2.0
