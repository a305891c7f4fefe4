"""The misunderstood inbox through the running web app: groups, escaping, labelling into the reviewed NLU file
(a temporary path, never the repo's data/nlu/), dismissing, CSRF, JSON twins, staff and supervisors."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from html import unescape
from pathlib import Path

import pytest
import requests
from rasa.shared.nlu.training_data.loading import load_data

from bot.config import ROOT
from tests.logs.fixtures_stats import save, turn
from tests.web.admin.conftest import Console, csrf_in

T0 = datetime(2025, 7, 1, 2, 0).timestamp()
STREETLIGHTS = ("俺家门口的路灯坏了", "俺家门口路灯坏了咋办", "门口路灯坏了找谁管")
SCRIPT = "<script>alert(1)</script>护照"
HOLDOUT_TEXT = "土豆丝咋炒才脆"  # tests/nlu_holdout.yml
REPO_REVIEWED = ROOT / "data" / "nlu" / "reviewed.yml"
CHECKBOX = re.compile(r'<input type="checkbox" name="id" value="(\d+)" checked><span class="inbox-text">([^<]*)</span>')


def reviewed_file(console: Console) -> Path:
    """The console fixture points REVIEWED_NLU_PATH at its own temporary folder."""
    return Path(console.database_url.removeprefix("sqlite:///")).parent / "reviewed.yml"


def repo_state() -> tuple[bool, float]:
    return REPO_REVIEWED.exists(), REPO_REVIEWED.stat().st_mtime if REPO_REVIEWED.exists() else 0.0


@pytest.fixture(scope="module")
def inbox_log(console: Console) -> str:
    """Open messages in the console's database, saved through the tracker store (the app indexes them)."""
    sender = "inbox-web-" + uuid.uuid4().hex[:8]
    events = [
        *turn(STREETLIGHTS[0], "nlu_fallback", 0.4, T0, "rest", 100, "action_kb_fallback"),
        *turn(STREETLIGHTS[1], "nlu_fallback", 0.46, T0 + 10, "rest", 100, "action_kb_fallback"),
        *turn(STREETLIGHTS[2], "ask_runan_streetlights", 0.5, T0 + 20, "rest", 100),
        *turn(SCRIPT, "nlu_fallback", 0.2, T0 + 30, "rest", 100, "action_kb_fallback"),
        *turn(HOLDOUT_TEXT, "nlu_fallback", 0.2, T0 + 40, "rest", 100, "action_kb_fallback"),
        *turn("驻马店的公积金咋提取", "nlu_fallback", 0.3, T0 + 50, "rest", 100, "action_kb_fallback"),
        *turn("公积金提取驻马店要啥", "nlu_fallback", 0.3, T0 + 60, "rest", 100, "action_kb_fallback"),
    ]
    save(console.database_url, sender, events)
    return sender


def staff_client(console: Console) -> requests.Session:
    return console.logged_in(console.user(role="staff"), "staff-password-1")


def open_items(client: requests.Session, console: Console) -> dict[str, str]:
    """text → event id of every open message on the inbox page (first page)."""
    response = client.get(f"{console.url}/admin/inbox", timeout=30)
    assert response.status_code == 200, response.text
    return {unescape(text): event_id for event_id, text in CHECKBOX.findall(response.text)}


def test_staff_see_groups_escaped_with_the_hold_out_rule(console: Console, inbox_log: str) -> None:
    client = staff_client(console)
    response = client.get(f"{console.url}/admin/inbox", timeout=30)
    assert response.status_code == 200
    html = response.text
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;护照" in html
    assert "<script" not in html.lower()
    assert "tests/nlu_holdout.yml" in html and "测试集永远不能用于训练" in html
    assert html.count('name="csrf"') >= 2  # logout + every group's form
    group = next(part for part in html.split('<section class="inbox-group"') if STREETLIGHTS[0] in part)
    assert all(text in group for text in STREETLIGHTS) and "共 3 条" in group
    assert "NLU 猜测：没听懂（nlu_fallback），平均置信度 0.43" in group
    assert '<option value="ask_runan_streetlights">' in group and 'formaction="/admin/inbox/dismiss"' in group
    holdout = next(part for part in html.split("<li>") if f'<span class="inbox-text">{HOLDOUT_TEXT}</span>' in part)
    assert "测试集句子：不会写入训练文件" in holdout
    assert 'href="/admin/inbox"' in html  # the menu entry for staff


def test_labelling_a_group_writes_the_reviewed_file_not_the_repo(console: Console, inbox_log: str) -> None:
    before = repo_state()
    client = staff_client(console)
    items = open_items(client, console)
    ids = [items[text] for text in STREETLIGHTS]
    csrf = csrf_in(client.get(f"{console.url}/admin/inbox", timeout=30).text)
    data = {"csrf": csrf, "id": ids, "intent": "ask_runan_streetlights"}
    response = client.post(f"{console.url}/admin/inbox/label", data=data, allow_redirects=False, timeout=30)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/inbox?labelled=3&holdout=0"
    page = client.get(console.url + response.headers["Location"], timeout=30).text
    assert "已标注 3 条" in page
    left = open_items(client, console)
    assert not set(STREETLIGHTS) & set(left) and SCRIPT in left
    examples = {(m.get("text"), m.get("intent")) for m in load_data(str(reviewed_file(console))).intent_examples}
    assert {(text, "ask_runan_streetlights") for text in STREETLIGHTS} <= examples
    assert repo_state() == before


def test_the_hold_out_text_is_labelled_but_not_written(console: Console, inbox_log: str) -> None:
    client = staff_client(console)
    csrf = csrf_in(client.get(f"{console.url}/admin/inbox", timeout=30).text)
    data = {"csrf": csrf, "id": [open_items(client, console)[HOLDOUT_TEXT]], "intent": "out_of_scope"}
    response = client.post(f"{console.url}/admin/inbox/label", data=data, allow_redirects=False, timeout=30)
    assert response.headers["Location"] == "/admin/inbox?labelled=1&holdout=1"
    page = client.get(console.url + response.headers["Location"], timeout=30).text
    assert "其中 1 条是测试集句子，没有写入训练文件" in page
    assert HOLDOUT_TEXT not in reviewed_file(console).read_text(encoding="utf-8")
    assert HOLDOUT_TEXT not in open_items(client, console)


def test_a_post_without_csrf_or_intent_changes_nothing(console: Console, inbox_log: str) -> None:
    client = staff_client(console)
    event_id = open_items(client, console)[SCRIPT]
    refused = client.post(f"{console.url}/admin/inbox/dismiss", data={"id": event_id}, timeout=30)
    assert refused.status_code == 403 and "CSRF" in refused.text
    csrf = csrf_in(client.get(f"{console.url}/admin/inbox", timeout=30).text)
    bad = client.post(
        f"{console.url}/admin/inbox/label", data={"csrf": csrf, "id": event_id, "intent": "x"}, timeout=30
    )
    assert bad.status_code == 400 and "请选择 domain.yml 中已有的意图" in bad.text
    assert SCRIPT in open_items(client, console)


def test_supervisors_dismiss_through_the_json_twin(console: Console, inbox_log: str) -> None:
    client = console.logged_in()
    listing = client.get(f"{console.url}/admin/api/inbox", timeout=30)
    assert listing.status_code == 200
    body = listing.json()
    assert body["reviewed_file"].endswith("reviewed.yml") and body["open"] >= 3
    titles = {item["intent"]: item["title"] for item in body["intents"]}
    assert titles["greet"] == "问候" and titles["ask_sscard_apply"] and "nlu_fallback" not in titles
    fund = next(g for g in body["groups"] if any("公积金" in e["text"] for e in g["examples"]))
    assert fund["count"] == 2 and fund["guess"]["intent"] == "nlu_fallback"
    ids = [e["id"] for e in fund["examples"]]
    file = reviewed_file(console)
    labels_before = file.read_text(encoding="utf-8") if file.exists() else None
    csrf = console.csrf_of(client)
    no_token = client.post(f"{console.url}/admin/api/inbox/dismiss", json={"ids": ids}, timeout=30)
    assert no_token.status_code == 403
    headers = {"X-CSRF-Token": csrf}
    bad = client.post(f"{console.url}/admin/api/inbox/label", json={"ids": ids, "intent": "nope"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    done = client.post(f"{console.url}/admin/api/inbox/dismiss", json={"ids": ids}, headers=headers, timeout=30)
    assert done.status_code == 200 and done.json() == {"dismissed": 2}
    after = client.get(f"{console.url}/admin/api/inbox", timeout=30).json()
    assert not any(e["id"] in ids for g in after["groups"] for e in g["examples"])
    assert (file.read_text(encoding="utf-8") if file.exists() else None) == labels_before  # nothing to train on
