"""Statistics and the inbox in Debian's headless Chromium: a supervisor picks a period, clicks a chart bar and lands
on the filtered conversation list; then labels a message in the misunderstood inbox."""

from __future__ import annotations

import re
import uuid
from datetime import date
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import BrowserContext, Page

from tests.logs.fixtures_stats import city, save, small_log, turn
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER, Console

DAYS = (date(2025, 8, 1), date(2025, 8, 2), date(2025, 8, 3), date(2025, 7, 31))


def log_in(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/admin/login")
    page.get_by_label("用户名").fill(ADMIN_USER)
    page.get_by_label("密码").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{console.url}/admin/")


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_a_supervisor_clicks_a_chart_bar_then_labels_a_message(browser: BrowserContext, console: Console) -> None:
    small_log(console.database_url, DAYS, prefix="browser-")
    text = f"小区电梯的年检标志过期了该找哪个部门{uuid.uuid4().hex[:4]}"
    save(console.database_url, "browser-inbox", turn(text, "nlu_fallback", 0.3, city(DAYS[0], 12), "rest", 90))
    browser.clear_cookies()
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    try:
        log_in(page, console)
        page.get_by_role("link", name="统计", exact=True).click()
        page.wait_for_url(f"{console.url}/admin/stats")
        page.get_by_label("开始日期").fill("2025-08-01")
        page.get_by_label("结束日期").fill("2025-08-03")
        page.get_by_role("button", name="统计").click()
        page.wait_for_url(re.compile(r"/admin/stats\?from=2025-08-01&to=2025-08-03"))
        assert page.locator("svg#chart-daily title").first.text_content() == "每日会话与消息"
        page.get_by_role("link", name="2025-08-02：会话 2，消息 4").click()
        page.wait_for_url(re.compile(r"/admin/conversations\?"))
        assert query_of(page.url) == {"from": ["2025-08-02"], "to": ["2025-08-02"]}
        page.go_back()
        page.locator("svg#chart-handoff-rate a", has_text="全部渠道").click()
        page.wait_for_url(re.compile(r"/admin/conversations\?"))
        assert query_of(page.url) == {"from": ["2025-08-01"], "to": ["2025-08-03"], "handoff": ["1"]}

        page.goto(f"{console.url}/admin/inbox")
        group = page.locator("section.inbox-group", has_text=text)
        assert group.get_by_label(text).is_checked()
        group.get_by_label("正确意图").select_option("ask_elevator_safety")
        group.get_by_role("button", name="标注所选").click()
        page.wait_for_url(re.compile(r"/admin/inbox\?labelled=1&holdout=0"))
        assert "已标注 1 条" in page.inner_text("[role=status]")
        assert page.locator("section.inbox-group", has_text=text).count() == 0
        assert alerts == []
    finally:
        page.close()
