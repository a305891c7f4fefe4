"""The statistics page through the running web app: SVG charts with titles and tables, links to the filtered
conversation list, the JSON twin with the hand-computed numbers, supervisors only, everything escaped."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.logs.fixtures_stats import EXPECTED, city, save, small_log, turn
from tests.web.admin.conftest import Console

DAYS = (date(2025, 5, 1), date(2025, 5, 2), date(2025, 5, 3), date(2025, 4, 30))
PERIOD = {"from": "2025-05-01", "to": "2025-05-03"}
EVIL_CHANNEL = "<script>alert(1)</script>"
HREF = re.compile(r'href="([^"]+)"')


@pytest.fixture(scope="module")
def stats_log(console: Console) -> None:
    """The small hand-computed log, in May 2025 (no other console test writes there), and one hostile channel."""
    small_log(console.database_url, DAYS)
    save(console.database_url, "stats-evil", turn("你好", "greet", 0.99, city(date(2025, 6, 1), 9), EVIL_CHANNEL, 80))


def get(client: requests.Session, console: Console, path: str, **params: str) -> requests.Response:
    return client.get(console.url + path, params=params, allow_redirects=False, timeout=30)


def links(html: str) -> list[dict[str, list[str]]]:
    """The query of every link to the conversation list on the page."""
    found = [unescape(href) for href in HREF.findall(html)]
    return [parse_qs(urlsplit(href).query) for href in found if href.startswith("/admin/conversations?")]


def test_the_page_has_svg_charts_with_titles_and_tables(console: Console, admin, stats_log) -> None:
    response = get(admin, console, "/admin/stats", **PERIOD)
    assert response.status_code == 200, response.text
    html = response.text
    assert html.count("<svg") == 6  # daily, topics, three rates, response times
    for chart in ("chart-daily", "chart-topics", "chart-fallback-rate", "chart-handoff-rate", "chart-helpful-rate"):
        assert f'id="{chart}"' in html and f'<title id="{chart}-title">' in html and f'id="{chart}-desc"' in html
    assert "<table>" in html and "每日会话与消息" in html and "热门话题" in html
    # hand-computed: 4 conversations, 7 messages, fallback 2/7, handoff 1/4, 有帮助 2/3, median 500, p95 2400 ms
    summary = re.sub(r"<[^>]+>", " ", html.split('class="counts stats-summary"')[1].split("</ul>")[0])
    summary = " " + " ".join(summary.split()) + " "
    for shown in ("会话 4", "居民消息 7", "28.6%", "25.0%", "66.7%", "500 毫秒", "2400 毫秒"):
        assert f" {shown} " in summary, (shown, summary)
    assert "<script" not in html.lower()  # no script at all: the charts need none


def test_chart_elements_link_to_the_matching_conversations(console: Console, admin, stats_log) -> None:
    html = get(admin, console, "/admin/stats", **PERIOD).text
    queries = links(html)
    day = {"from": ["2025-05-02"], "to": ["2025-05-02"]}
    assert day in queries  # a day's bar (and its table row)
    whole = {"from": ["2025-05-01"], "to": ["2025-05-03"]}
    assert {**whole, "intent": ["ask_sscard_apply"]} in queries
    assert {**whole, "fallback": ["1"]} in queries and {**whole, "handoff": ["1"]} in queries
    assert {**whole, "unhelpful": ["1"]} in queries
    assert {**whole, "channel": ["wechat"], "fallback": ["1"]} in queries
    assert {**whole, "channel": ["rest"], "handoff": ["1"]} in queries
    bar = re.search(r'<a href="([^"]+)" aria-label="2025-05-02：会话 2，消息 4">', html)
    assert bar is not None and parse_qs(urlsplit(unescape(bar.group(1))).query) == day


def test_the_json_twin_has_the_hand_computed_numbers(console: Console, admin, stats_log) -> None:
    response = get(admin, console, "/admin/api/stats", **PERIOD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(d["day"], d["conversations"], d["messages"]) for d in body["days"]] == [
        (day.isoformat(), n, m) for day, (_, n, m) in zip(DAYS[:3], EXPECTED["days"], strict=True)
    ]
    assert [(t["intent"], t["messages"], t["conversations"]) for t in body["topics"]] == EXPECTED["topics"]
    rows = {row["channel"]: row for row in body["channels"]} | {"*": body["total"]}
    for channel in ("rest", "wechat", "*"):
        want, got = EXPECTED[channel], rows[channel]
        assert (got["median_ms"], got["p95_ms"]) == pytest.approx((want["median"], want["p95"]))
        assert (got["messages"], got["fallbacks"], got["handoffs"], got["rated"]) == (
            want["messages"],
            want["fallbacks"],
            want["handoffs"],
            want["rated"],
        )
    wechat = get(admin, console, "/admin/api/stats", channel="wechat", **PERIOD).json()
    assert [d["messages"] for d in wechat["days"]] == [0, 2, 1] and wechat["total"]["helpful_rate"] == 0.5


def test_a_channel_is_escaped_everywhere(console: Console, admin, stats_log) -> None:
    response = get(admin, console, "/admin/stats", **{"from": "2025-06-01", "to": "2025-06-01"})
    assert response.status_code == 200
    assert EVIL_CHANNEL not in response.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script" not in response.text.lower()


def test_a_bad_period_is_explained(console: Console, admin) -> None:
    page = get(admin, console, "/admin/stats", **{"from": "2025-05-09", "to": "2025-05-01"})
    assert page.status_code == 400 and "开始日期晚于结束日期" in page.text
    api = get(admin, console, "/admin/api/stats", **{"from": "<b>x</b>"})
    assert api.status_code == 400 and api.json()["code"] == "bad_period" and "<b>" not in api.text


def test_staff_may_not_see_statistics(console: Console) -> None:
    name = console.user(role="staff")
    staff = console.logged_in(name, "staff-password-1")
    page = get(staff, console, "/admin/stats")
    assert page.status_code == 403 and "主管" in page.text
    assert get(staff, console, "/admin/api/stats").status_code == 403
    assert 'href="/admin/stats"' not in get(staff, console, "/admin/").text
    assert 'href="/admin/stats"' in get(console.logged_in(), console, "/admin/").text
