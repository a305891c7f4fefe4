"""The console in Debian's headless Chromium: log in, open a ticket, move it to 处理中 with a note."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from kb.query import get_ticket
from tests.web.admin.conftest import ADMIN_PASSWORD, ADMIN_USER, Console


def test_staff_member_moves_a_ticket_to_in_progress(browser: BrowserContext, console: Console) -> None:
    ticket = console.ticket(location="<script>alert(1)</script>雪松路口", county="驿城区")
    browser.clear_cookies()
    page = browser.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(f"{console.url}/admin/tickets")
        assert page.url.endswith("/admin/login")
        page.get_by_label("用户名").fill(ADMIN_USER)
        page.get_by_label("密码").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{console.url}/admin/")
        page.get_by_role("link", name="工单", exact=True).click()
        page.get_by_label("编号").fill(ticket.number)
        page.get_by_role("button", name="筛选").click()
        page.get_by_role("link", name=ticket.number).click()
        page.wait_for_url(f"{console.url}/admin/tickets/{ticket.number}")
        assert "<script>alert(1)</script>雪松路口" in page.inner_text("dl")
        page.get_by_label("新状态").select_option("处理中")
        page.get_by_label("处理说明（必填）").fill("已通知驿城区城管中队到场处置")
        page.get_by_role("button", name="更改状态").click()
        page.wait_for_url(f"{console.url}/admin/tickets/{ticket.number}?changed=1")
        assert "状态已更新" in page.inner_text("[role=status]")
        history = page.inner_text("table")
        assert "受理 → 处理中" in history and "已通知驿城区城管中队到场处置" in history and ADMIN_USER in history
        assert "处理中" in page.inner_text("dl")
        assert alerts == []
    finally:
        page.close()
    stored = get_ticket(ticket.number, url=console.database_url)
    assert stored is not None and stored.status == "处理中"
