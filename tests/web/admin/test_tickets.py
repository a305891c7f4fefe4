"""Tickets in the console: list and filters, detail, status changes and what the resident then sees."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from actions.tickets import ActionTicketStatus
from kb import ticket_admin
from kb.query import get_ticket
from tests.web.admin.conftest import ADMIN_USER, Console


def change(console: Console, client: requests.Session, number: str, **form: str) -> requests.Response:
    data = {"csrf": console.csrf_of(client, f"/admin/tickets/{number}"), **form}
    return client.post(f"{console.url}/admin/tickets/{number}/status", data=data, allow_redirects=False, timeout=15)


def test_status_change_updates_the_ticket_and_records_who_when_and_why(console: Console, admin) -> None:
    ticket = console.ticket()
    response = change(console, admin, ticket.number, status="处理中", note="已派维修队前往现场", expected="受理")
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == f"/admin/tickets/{ticket.number}?changed=1"
    stored = get_ticket(ticket.number, url=console.database_url)
    assert stored is not None and stored.status == "处理中" and stored.updated_at >= ticket.updated_at
    (event,) = ticket_admin.events_of(ticket.number, url=console.database_url)
    assert (event.from_status, event.to_status, event.by_user, event.note) == (
        "受理",
        "处理中",
        ADMIN_USER,
        "已派维修队前往现场",
    )
    assert abs(event.at - ticket_admin.city_now()) < timedelta(minutes=1)
    assert event.at == stored.updated_at
    page = admin.get(f"{console.url}/admin/tickets/{ticket.number}?changed=1", timeout=15).text
    assert "状态已更新" in page and "已派维修队前往现场" in page and "受理 → 处理中" in page
    done = change(console, admin, ticket.number, status="已办结", note="已更换新井盖", expected="处理中")
    assert done.status_code == 303
    assert get_ticket(ticket.number, url=console.database_url).status == "已办结"
    assert len(ticket_admin.events_of(ticket.number, url=console.database_url)) == 2


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"status": "已撤销", "note": "x"}, 400, "没有“已撤销”这个状态"),
        ({"status": "", "note": "x"}, 400, "没有“”这个状态"),
        ({"status": "处理中", "note": "   "}, 400, "请填写处理说明"),
        ({"status": "受理", "note": "x"}, 409, "不能改为“受理”"),
        ({"status": "处理中", "note": "x", "expected": "处理中"}, 409, "已被他人改为“受理”"),
    ],
)
def test_a_bad_status_change_is_refused(console: Console, admin, form: dict, status: int, says: str) -> None:
    ticket = console.ticket()
    response = change(console, admin, ticket.number, **form)
    assert response.status_code == status and says in response.text
    assert get_ticket(ticket.number, url=console.database_url).status == "受理"
    assert ticket_admin.events_of(ticket.number, url=console.database_url) == []


def test_change_status_rejects_an_unknown_status(console: Console) -> None:
    ticket = console.ticket()
    with pytest.raises(ticket_admin.StatusChangeError, match="没有“done”这个状态"):
        ticket_admin.change_status(ticket.number, "done", "note", "someone", url=console.database_url)


def test_resident_text_is_shown_as_text(console: Console, admin) -> None:
    script = "<script>alert('x')</script>人民路"
    ticket = console.ticket(location=script, county="<b>驿城区</b>", description='"><img src=x onerror=alert(1)>')
    for path in (f"/admin/tickets/{ticket.number}", "/admin/tickets", "/admin/"):
        page = admin.get(console.url + path, timeout=15).text
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;人民路" in page, path
        assert "<script>" not in page and "<b>驿城区" not in page and "<img" not in page, path


def test_detail_shows_the_ticket_and_a_shortened_conversation_id(console: Console, admin) -> None:
    ticket = console.ticket(location="西园街道文明路", county="驿城区", description="井盖破损")
    page = admin.get(f"{console.url}/admin/tickets/{ticket.number}", timeout=15).text
    for text in ("驿城区", "西园街道文明路", "井盖破损", "受理", "驻马店市城市管理局", "会话 #", "处理记录"):
        assert text in page, text
    assert ticket.sender_id not in page
    missing = admin.get(f"{console.url}/admin/tickets/JG-19990101-0001", timeout=15)
    assert missing.status_code == 404 and "没有找到工单" in missing.text


def test_list_filters_and_pages(console: Console, admin) -> None:
    county = "测试县" + os.urandom(3).hex()
    made = [console.ticket(county=county, location=f"第{i}号路口") for i in range(23)]
    change(console, admin, made[0].number, status="处理中", note="已派人", expected="受理")
    first = admin.get(f"{console.url}/admin/tickets", params={"county": county}, timeout=15).text
    assert "共 23 件，第 1/2 页" in first and first.count("/admin/tickets/JG-") == ticket_admin.PAGE_SIZE
    second = admin.get(f"{console.url}/admin/tickets", params={"county": county, "page": "2"}, timeout=15).text
    assert second.count("/admin/tickets/JG-") == 3 and "上一页" in second
    doing = admin.get(f"{console.url}/admin/tickets", params={"county": county, "status": "处理中"}, timeout=15).text
    assert "共 1 件" in doing and made[0].number in doing
    by_number = admin.get(f"{console.url}/admin/tickets", params={"number": made[5].number.lower()}, timeout=15).text
    assert "共 1 件" in by_number and made[5].number in by_number
    kind = admin.get(f"{console.url}/admin/tickets", params={"county": county, "kind": "other"}, timeout=15).text
    assert "没有符合条件的工单" in kind


def test_api_gives_status_and_history(console: Console, admin) -> None:
    ticket = console.ticket()
    change(console, admin, ticket.number, status="处理中", note="已派人", expected="受理")
    body = admin.get(f"{console.url}/admin/api/tickets/{ticket.number}", timeout=15).json()
    assert (
        body["status"] == "处理中" and body["events"][0]["by"] == ADMIN_USER and body["events"][0]["note"] == "已派人"
    )


def test_the_resident_sees_the_new_status(
    console: Console, admin, make_tracker, dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = console.ticket()
    change(console, admin, ticket.number, status="处理中", note="已派人", expected="受理")
    assert get_ticket(ticket.number.lower(), url=console.database_url).status == "处理中"
    monkeypatch.setenv("DATABASE_URL", console.database_url)
    # The conversation that filed it (any other one needs the check code: tests/actions/test_tickets.py).
    tracker = make_tracker(intent="ask_ticket_status", text=f"{ticket.number}到哪一步了", sender_id=ticket.sender_id)
    # A thread of its own: the session's sync Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, ActionTicketStatus().run(dispatcher, tracker, {})).result(timeout=30)
    (reply,) = dispatcher.messages
    assert reply["response"] == "utter_ticket_status"
    assert reply["status"] == "处理中" and reply["number"] == ticket.number
