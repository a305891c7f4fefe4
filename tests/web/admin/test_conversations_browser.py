"""Conversation logs in Debian's headless Chromium: log in, filter, open a transcript, export CSV, mark reviewed."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.logs.helpers import Turn, save_conversation
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER, Console


def downloaded_csv(page: Page, link_name: str) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    download = info.value
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), raw[:20]
    return download.suggested_filename, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_supervisor_filters_reads_and_exports_a_conversation(browser: BrowserContext, console: Console) -> None:
    word = "浏览器" + os.urandom(3).hex()
    script = "<script>alert(1)</script>"
    turns = [Turn(f"{word}{script}社保卡咋办", rating="not_helpful"), Turn("=1+1 还有别的吗", "ask_sscard_mail", 0.8)]
    key = save_conversation(console.database_url, turns, "wechat")
    other = save_conversation(console.database_url, [Turn(f"{word}井盖没了", "report_manhole")], "wechat")
    browser.clear_cookies()
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(f"{console.url}/admin/conversations")
        assert page.url.endswith("/admin/login")
        page.get_by_label("用户名").fill(ADMIN_USER)
        page.get_by_label("密码").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{console.url}/admin/")
        page.get_by_role("link", name="会话记录", exact=True).click()
        page.get_by_label("消息内容").fill(word)
        page.get_by_label("渠道").select_option("wechat")
        page.get_by_label("仅“没帮助”").check()
        page.get_by_role("button", name="筛选").click()
        page.wait_for_url("**/admin/conversations?*")
        table = page.inner_text("table")
        assert f"#{key[:12]}" in table and f"#{other[:12]}" not in table and "没帮助 1" in table

        name, rows = downloaded_csv(page, "导出 CSV（当前筛选的全部会话）")
        assert name == "conversations.csv" and [row[0] for row in rows[1:]] == [key]

        page.get_by_role("link", name=f"#{key[:12]}").click()
        page.wait_for_url(f"{console.url}/admin/conversations/{key}")
        transcript = page.inner_text(".transcript")
        assert f"{word}{script}社保卡咋办" in transcript and "意图：ask_sscard_apply" in transcript
        assert "评价：没帮助" in transcript and "助手" in transcript

        name, rows = downloaded_csv(page, "导出本会话 CSV")
        assert name == f"conversation-{key[:12]}.csv"
        said = [row[2] for row in rows[1:] if row[1] == "居民"]
        assert said == [f"{word}{script}社保卡咋办", "'=1+1 还有别的吗"]

        page.get_by_role("button", name="标记为已审阅").click()
        page.wait_for_url(f"{console.url}/admin/conversations/{key}?done=reviewed")
        assert "已标记为已审阅" in page.inner_text("[role=status]")
        assert ADMIN_USER in page.inner_text("dl.summary")
        assert alerts == []
    finally:
        page.close()
