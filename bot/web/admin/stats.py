"""Statistics for supervisors: charts (server-side SVG) with a data table beside each, over a chosen period.

- ``GET /admin/stats``       ?from=YYYY-MM-DD&to=YYYY-MM-DD&channel=  (city dates; default: the last 30 days)
- ``GET /admin/api/stats``   the same numbers as JSON

Every bar, point and table row links to the conversations it counts: ``/admin/conversations`` with the filters
``from``, ``to``, ``channel`` and ``intent`` / ``fallback=1`` / ``unhelpful=1`` / ``handoff=1``.
"""

from __future__ import annotations

import asyncio
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as sanic_json

from bot.conversations.indexer import refresh
from bot.conversations.stats import CHANNEL_LABELS, ChannelStats, Period, PeriodError, Stats, compute, parse_period
from bot.web.admin.auth import not_allowed
from bot.web.admin.charts import Bar, Column, bar_chart, column_chart
from bot.web.admin.pages import esc, link, message, options, page, table
from kb.session import get_engine

CONVERSATIONS = "/admin/conversations"
HALF_WIDTH, HALF_LABEL_WIDTH = 460, 150  # the viewBox of the charts shown two side by side


def conversations_href(period: Period, channel: str = "", start: date | None = None, **filters: str) -> str:
    """The conversation list filtered to what a chart element counts (a single day when `start` is given)."""
    first, last = (start, start) if start else (period.start, period.end)
    params = {"from": first.isoformat(), "to": last.isoformat(), "channel": channel, **filters}
    return CONVERSATIONS + "?" + urlencode({key: value for key, value in params.items() if value})


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def millis(value: float | None) -> str:
    return "—" if value is None else f"{round(value)} 毫秒"


def _filters_form(stats: Stats | None, period: Period | None, wanted: dict[str, str]) -> str:
    start = period.start.isoformat() if period else wanted["from"]
    end = period.end.isoformat() if period else wanted["to"]
    choices = stats.channel_choices if stats else []
    return (
        '<form method="get" action="/admin/stats" class="filters">'
        f'<label>开始日期<input type="date" name="from" value="{esc(start)}"></label>'
        f'<label>结束日期<input type="date" name="to" value="{esc(end)}"></label>'
        f'<label>渠道<select name="channel">{options(choices, wanted["channel"], CHANNEL_LABELS)}</select></label>'
        "<button type=submit>统计</button></form>"
    )


def _summary(stats: Stats) -> str:
    total, period, channel = stats.total, stats.period, stats.channel
    cards = [
        ("会话", str(total.conversations), conversations_href(period, channel)),
        ("居民消息", str(total.messages), conversations_href(period, channel)),
        ("未识别率", percent(total.fallback_rate), conversations_href(period, channel, fallback="1")),
        ("转人工率", percent(total.handoff_rate), conversations_href(period, channel, handoff="1")),
        ("有帮助率", percent(total.helpful_rate), conversations_href(period, channel, unhelpful="1")),
        ("响应时间中位数", millis(total.median_ms), conversations_href(period, channel)),
        ("响应时间 P95", millis(total.p95_ms), conversations_href(period, channel)),
    ]
    items = "".join(f"<li>{link(href, label)}<br><strong>{esc(value)}</strong></li>" for label, value, href in cards)
    return f'<ul class="counts stats-summary">{items}</ul>'


def _pair(chart: str, data: str) -> str:
    return f'<div class="chart-pair">{chart}<div class="chart-data">{data}</div></div>'


def _daily(stats: Stats) -> str:
    period, channel = stats.period, stats.channel
    columns = [
        Column(
            d.day.isoformat(),
            d.day.strftime("%m-%d"),
            d.conversations,
            d.messages,
            conversations_href(period, channel, start=d.day),
        )
        for d in stats.days
    ]
    description = "每天开始的会话数（柱）和居民消息数（折线）；点击某一天查看当天的会话。"
    chart = column_chart("chart-daily", "每日会话与消息", description, columns, ("会话", "消息"))
    rows = [
        [
            link(conversations_href(period, channel, start=d.day), d.day.isoformat()),
            esc(d.conversations),
            esc(d.messages),
        ]
        for d in stats.days
    ]
    return _pair(chart, table(("日期", "会话", "消息"), rows))


def _topics(stats: Stats) -> str:
    period, channel = stats.period, stats.channel
    bars = [
        Bar(t.title, t.messages, f"{t.messages} 条", conversations_href(period, channel, intent=t.intent))
        for t in stats.topics
    ]
    description = "居民问得最多的话题（按识别出的意图统计消息数，未识别的不计）；点击查看问过该话题的会话。"
    chart = bar_chart("chart-topics", "热门话题", description, bars)
    rows = [
        [
            link(conversations_href(period, channel, intent=t.intent), t.title) + f"<br><small>{esc(t.intent)}</small>",
            esc(t.messages),
            esc(t.conversations),
        ]
        for t in stats.topics
    ]
    return _pair(chart, table(("话题（意图）", "消息", "会话"), rows) if rows else "<p>暂无数据。</p>")


def _rows(stats: Stats) -> list[ChannelStats]:
    return [*stats.channels, stats.total] if len(stats.channels) != 1 else list(stats.channels)


def _name(row: ChannelStats, stats: Stats) -> str:
    if row.channel != "*":
        return row.label
    return CHANNEL_LABELS.get(stats.channel, stats.channel) if stats.channel else "全部渠道"


def _rate_chart(stats: Stats, key: str, title: str, description: str, filters: dict[str, str]) -> str:
    bars = []
    for row in _rows(stats):
        rate = getattr(row, key)
        channel = stats.channel if row.channel == "*" else row.channel
        href = conversations_href(stats.period, channel, None, **filters)
        bars.append(Bar(_name(row, stats), (rate or 0.0) * 100, percent(rate), href, "primary"))
    chart_id = f"chart-{key.replace('_', '-')}"
    return bar_chart(chart_id, title, description, bars, 100.0, HALF_WIDTH, HALF_LABEL_WIDTH)


def _times_chart(stats: Stats) -> str:
    bars = []
    for row in _rows(stats):
        href = conversations_href(stats.period, stats.channel if row.channel == "*" else row.channel)
        bars.append(Bar(f"{_name(row, stats)} 中位数", row.median_ms or 0.0, millis(row.median_ms), href, "primary"))
        bars.append(Bar(f"{_name(row, stats)} P95", row.p95_ms or 0.0, millis(row.p95_ms), href, "secondary"))
    description = "从居民发出消息到机器人最后一条回复的时间：中位数和第95百分位；点击查看该渠道的会话。"
    return bar_chart("chart-response-times", "响应时间", description, bars, None, HALF_WIDTH, HALF_LABEL_WIDTH)


def _channel_table(stats: Stats) -> str:
    headers = ("渠道", "会话", "消息", "未识别率", "转人工率", "有帮助率（评价数）", "响应中位数", "响应 P95")
    rows = []
    for row in _rows(stats):
        channel = stats.channel if row.channel == "*" else row.channel
        href = partial(conversations_href, stats.period, channel)
        rows.append(
            [
                link(href(), _name(row, stats)),
                esc(row.conversations),
                esc(row.messages),
                link(href(fallback="1"), percent(row.fallback_rate)),
                link(href(handoff="1"), percent(row.handoff_rate)),
                link(href(unhelpful="1"), f"{percent(row.helpful_rate)}（{row.rated}）"),
                esc(millis(row.median_ms)),
                esc(millis(row.p95_ms)),
            ]
        )
    return table(headers, rows)


def _channels(stats: Stats) -> str:
    charts = [
        _rate_chart(
            stats,
            "fallback_rate",
            "未识别率",
            "居民消息中没听懂、置信度低或没有答案的比例；点击查看有未识别消息的会话。",
            {"fallback": "1"},
        ),
        _rate_chart(
            stats, "handoff_rate", "转人工率", "转人工的会话占会话总数的比例；点击查看转人工的会话。", {"handoff": "1"}
        ),
        _rate_chart(
            stats,
            "helpful_rate",
            "有帮助率",
            "评为“有帮助”的回答占全部评价的比例；点击查看有“没帮助”评价的会话。",
            {"unhelpful": "1"},
        ),
        _times_chart(stats),
    ]
    return f'<div class="chart-grid">{"".join(charts)}</div><h3>各渠道数据</h3>{_channel_table(stats)}'


def render(stats: Stats) -> str:
    period = stats.period
    scope = f"{period.start.isoformat()} 至 {period.end.isoformat()}（北京时间）"
    if stats.channel:
        scope += f"，渠道：{CHANNEL_LABELS.get(stats.channel, stats.channel)}"
    return (
        f'<p class="scope">{esc(scope)}</p>{_summary(stats)}'
        f"<h2>每日会话与消息</h2>{_daily(stats)}"
        f"<h2>热门话题</h2>{_topics(stats)}"
        f"<h2>各渠道的未识别率、转人工率、有帮助率和响应时间</h2>{_channels(stats)}"
    )


def _wanted(request: Request) -> dict[str, str]:
    return {key: (request.args.get(key) or "").strip()[:40] for key in ("from", "to", "channel")}


async def _stats(wanted: dict[str, str]) -> Stats:
    period = parse_period(wanted["from"], wanted["to"])
    await refresh()
    work = partial(compute, get_engine(), period, wanted["channel"])
    return await asyncio.get_running_loop().run_in_executor(None, work)


def add_routes(bp: Blueprint) -> None:
    @bp.get("/stats")
    async def stats_page(request: Request) -> HTTPResponse:
        refused = not_allowed(request, "supervisor")
        if refused:
            return refused
        login, wanted = request.ctx.login, _wanted(request)
        try:
            stats = await _stats(wanted)
        except PeriodError as error:
            body = _filters_form(None, None, wanted) + message(str(error))
            return page("统计", body, login.account, login.csrf_token, status=400)
        body = _filters_form(stats, stats.period, wanted) + render(stats)
        return page("统计", body, login.account, login.csrf_token)

    @bp.get("/api/stats")
    async def stats_json(request: Request) -> HTTPResponse:
        refused = not_allowed(request, "supervisor")
        if refused:
            return refused
        try:
            stats = await _stats(_wanted(request))
        except PeriodError as error:
            return sanic_json({"error": str(error), "code": "bad_period"}, status=400, ensure_ascii=False)
        body: dict[str, Any] = stats.as_dict()
        return sanic_json(body, ensure_ascii=False)
