"""Conversation logs in the console: list and filters, transcript, review actions, CSV, JSON, roles, escaping."""

from __future__ import annotations

import csv
import io
import os
import re

import pytest
import requests

from bot.conversations.models import conversation_key
from tests.logs.helpers import Turn, save_conversation
from tests.web.admin.conftest import Console, csrf_in


def token() -> str:
    """A word no other test's conversation contains, to filter on."""
    return "词" + os.urandom(4).hex()


def csv_rows(response: requests.Response) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf"), response.content[:20]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def staff(console: Console) -> requests.Session:
    return console.logged_in(console.user(role="staff"), "staff-password-1")


def test_staff_get_403_on_every_conversation_route(console: Console, staff: requests.Session) -> None:
    key = save_conversation(console.database_url, [Turn("社保卡咋办")])
    for path in (
        "/admin/conversations",
        "/admin/conversations/export",
        f"/admin/conversations/{key}",
        f"/admin/conversations/{key}/export",
        "/admin/api/conversations",
        f"/admin/api/conversations/{key}",
    ):
        response = staff.get(console.url + path, timeout=15)
        assert response.status_code == 403, path
        assert "社保卡咋办" not in response.text and "没有权限" in (
            response.json()["error"] if "/api/" in path else response.text
        )
    csrf = console.csrf_of(staff)
    for action, data in (("review", {"reviewed": "1"}), ("tags", {"action": "add", "tag": "x"})):
        response = staff.post(
            f"{console.url}/admin/conversations/{key}/{action}", data={**data, "csrf": csrf}, timeout=15
        )
        assert response.status_code == 403
    home = staff.get(f"{console.url}/admin/", timeout=15).text
    assert "/admin/conversations" not in home  # not in a staff member's menu


def test_the_list_filters_and_links_to_transcripts(console: Console, admin: requests.Session) -> None:
    word = token()
    wechat = save_conversation(console.database_url, [Turn(f"{word}社保卡咋办", rating="not_helpful")], "wechat")
    web = save_conversation(
        console.database_url, [Turn(f"{word}天气", "nlu_fallback", 0.3, action="action_kb_fallback")], "socketio"
    )
    page = admin.get(f"{console.url}/admin/conversations", params={"text": word}, timeout=15)
    assert page.status_code == 200 and "会话记录" in page.text
    assert f'href="/admin/conversations/{wechat}"' in page.text and f'href="/admin/conversations/{web}"' in page.text
    assert "共 2 段会话" in page.text and "没帮助 1" in page.text and "微信" in page.text
    only = admin.get(f"{console.url}/admin/conversations", params={"text": word, "channel": "wechat"}, timeout=15)
    assert f"/admin/conversations/{wechat}" in only.text and f"/admin/conversations/{web}" not in only.text
    fallback = admin.get(f"{console.url}/admin/conversations", params={"text": word, "fallback": "1"}, timeout=15)
    assert f"/admin/conversations/{web}" in fallback.text and f"/admin/conversations/{wechat}" not in fallback.text
    assert "共 1 段会话" in fallback.text
    export_link = re.search(r'href="(/admin/conversations/export\?[^"]+)"', fallback.text)
    assert export_link and "fallback=1" in export_link.group(1) and "text=" in export_link.group(1)
    assert 'name="fallback" value="1" checked' in fallback.text  # the form keeps the filters


def test_no_raw_sender_id_in_pages_or_urls(console: Console, admin: requests.Session) -> None:
    openid = "oWECHAT" + os.urandom(10).hex()
    key = save_conversation(console.database_url, [Turn("社保卡咋办")], "wechat", sender=openid)
    assert key == conversation_key(openid)
    for path in ("/admin/conversations", f"/admin/conversations/{key}", f"/admin/api/conversations/{key}"):
        assert openid not in admin.get(console.url + path, timeout=15).text
    assert openid not in admin.get(f"{console.url}/admin/conversations/{key}/export", timeout=15).text


def test_a_script_in_a_resident_message_shows_as_text(console: Console, admin: requests.Session) -> None:
    key = save_conversation(console.database_url, [Turn('<script>alert("x")</script><img src=x onerror=alert(1)>')])
    page = admin.get(f"{console.url}/admin/conversations/{key}", timeout=15)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<script>" not in page.text and "<img" not in page.text


def test_transcript_shows_nlu_actions_replies_and_ticket_links(console: Console, admin: requests.Session) -> None:
    ticket = console.ticket()
    county = {"entity": "county", "value": "驿城区", "start": 0, "end": 3}
    turns = [
        Turn("驿城区井盖没了", "report_manhole", 0.91, [county], action="action_manhole_submit", ticket=ticket.number),
        Turn("谢谢", "thanks", 0.99, reply="不客气，能帮上忙就好。", rating="helpful"),
    ]
    key = save_conversation(console.database_url, turns, "socketio", sender=ticket.sender_id)
    page = admin.get(f"{console.url}/admin/conversations/{key}", timeout=15).text
    assert "驿城区井盖没了" in page and "意图：report_manhole" in page and "置信度：0.91" in page
    assert "county=驿城区" in page and "action_manhole_submit" in page and "不客气，能帮上忙就好。" in page
    assert "评价：有帮助" in page and f'href="/admin/tickets/{ticket.number}"' in page
    assert page.index("驿城区井盖没了") < page.index("action_manhole_submit") < page.index("谢谢")
    ticket_page = admin.get(f"{console.url}/admin/tickets/{ticket.number}", timeout=15).text
    assert f'href="/admin/conversations/{key}"' in ticket_page  # and back


def test_review_tag_and_flag_are_recorded_with_the_account(console: Console, admin: requests.Session) -> None:
    key = save_conversation(console.database_url, [Turn("社保卡咋办"), Turn("天气咋样", "nlu_fallback", 0.3)])
    base = f"{console.url}/admin/conversations/{key}"
    page = admin.get(base, timeout=15).text
    csrf = csrf_in(page)
    event_ids = re.findall(r'name="event_id" value="(\d+)"', page)
    assert len(event_ids) == 2

    def post(route: str, **data: str) -> requests.Response:
        response = admin.post(f"{base}/{route}", data={**data, "csrf": csrf}, allow_redirects=False, timeout=15)
        assert response.status_code == 303, response.text
        return admin.get(console.url + response.headers["Location"], timeout=15)

    assert "已标记为已审阅" in post("review", reviewed="1").text
    assert "标签已添加" in post("tags", action="add", tag="待跟进").text
    flagged = post("flag", action="flag", event_id=event_ids[1], note="<b>应转12345</b>")
    assert "已标记：&lt;b&gt;应转12345&lt;/b&gt;" in flagged.text
    assert "chief，" in flagged.text  # 审阅: who, when
    history = flagged.text[flagged.text.index("操作记录") :]
    assert history.count("chief") == 3 and "标记已审阅" in history and "待跟进" in history and "标记消息" in history
    listed = admin.get(f"{console.url}/admin/api/conversations", params={"tag": "待跟进", "flagged": "1"}, timeout=15)
    assert key in [row["key"] for row in listed.json()["conversations"]]
    unreviewed = admin.get(f"{console.url}/admin/api/conversations", params={"unreviewed": "1"}, timeout=15)
    assert key not in [row["key"] for row in unreviewed.json()["conversations"]]
    assert "标签已移除" in post("tags", action="remove", tag="待跟进").text
    bad = admin.post(f"{base}/tags", data={"action": "add", "tag": "a,b", "csrf": csrf}, timeout=15)
    assert bad.status_code == 400 and "标签请用" in bad.text
    missing = admin.post(f"{base}/flag", data={"action": "flag", "event_id": "999999", "csrf": csrf}, timeout=15)
    assert missing.status_code == 404
    no_csrf = admin.post(f"{base}/review", data={"reviewed": "0"}, allow_redirects=False, timeout=15)
    assert no_csrf.status_code == 403


def test_csv_exports_keep_the_filters(console: Console, admin: requests.Session) -> None:
    word = token()
    keys = [save_conversation(console.database_url, [Turn(f"{word} 第{n}次问")], "rest") for n in range(3)]
    save_conversation(console.database_url, [Turn(f"{word} 微信问")], "wechat")
    response = admin.get(
        f"{console.url}/admin/conversations/export", params={"text": word, "channel": "rest"}, timeout=15
    )
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="conversations.csv"'
    rows = csv_rows(response)
    assert rows[0][:4] == ["会话编号", "开始时间", "最后时间", "渠道"]
    assert sorted(row[0] for row in rows[1:]) == sorted(keys)
    single = admin.get(f"{console.url}/admin/conversations/{keys[0]}/export", timeout=15)
    assert single.headers["Content-Disposition"] == f'attachment; filename="conversation-{keys[0][:12]}.csv"'
    transcript = csv_rows(single)
    assert transcript[1][1] == "居民" and transcript[1][2] == f"{word} 第0次问"


def test_json_twins(console: Console, admin: requests.Session) -> None:
    word = token()
    key = save_conversation(console.database_url, [Turn(f"{word}社保卡", entities=[])], "wechat")
    listed = admin.get(f"{console.url}/admin/api/conversations", params={"text": word}, timeout=15).json()
    assert listed["total"] == 1 and listed["filters"] == {"text": word}
    row = listed["conversations"][0]
    assert row["key"] == key and row["channel"] == "wechat" and row["topics"] == ["ask_sscard_apply"]
    detail = admin.get(f"{console.url}/admin/api/conversations/{key}", timeout=15).json()
    assert [item["kind"] for item in detail["items"]] == ["user", "action", "bot"]
    assert detail["items"][0]["text"] == f"{word}社保卡" and detail["items"][0]["intent"] == "ask_sscard_apply"
    missing = admin.get(f"{console.url}/admin/api/conversations/{'0' * 16}", timeout=15)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


@pytest.mark.parametrize("key", ["0" * 16, "not-a-key", "ABCDEF0123456789"])
def test_an_unknown_conversation_is_404(console: Console, admin: requests.Session, key: str) -> None:
    response = admin.get(f"{console.url}/admin/conversations/{key}", timeout=15)
    assert response.status_code == 404 and "没有找到这段会话" in response.text


def test_pages_keep_the_filters(console: Console, admin: requests.Session) -> None:
    word = token()
    for n in range(22):
        save_conversation(console.database_url, [Turn(f"{word}问题{n}")], "rest")
    first = admin.get(f"{console.url}/admin/conversations", params={"text": word}, timeout=15).text
    assert "共 22 段会话，第 1/2 页" in first and first.count('href="/admin/conversations/') >= 20
    next_link = re.search(r'href="([^"]+)">下一页', first)
    assert next_link and "page=2" in next_link.group(1)
    second = admin.get(console.url + next_link.group(1).replace("&amp;", "&"), timeout=15).text
    assert "第 2/2 页" in second and "上一页" in second
