"""End to end: the real Rasa server and action server, over the REST webhook."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import Servers


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_action_server_lists_every_action(servers: Servers, domain: dict) -> None:
    listed = {a["name"] for a in requests.get(f"{servers.action_url}/actions", timeout=10).json()}
    assert set(domain["actions"]) <= listed


def test_sscard_names_the_bureau_and_the_procedure(servers: Servers) -> None:
    text = servers.text_of(sender(), "社保卡咋办")
    assert "驻马店市人力资源和社会保障局" in text
    assert "身份证" in text and "银行" in text


@pytest.mark.parametrize(
    ("message", "office"),
    [
        ("俺家里有个重度残疾的老人，能不能给家里做个无障碍改造", "市残联"),
        ("醫保電子憑證咋弄", "市医保局"),
        ("窖井盖整治搞得咋样了", "市城管局"),
        ("电梯老出毛病该找哪个部门管", "市市场监管局"),
    ],
)
def test_residents_questions_reach_the_right_office(servers: Servers, message: str, office: str) -> None:
    assert office in servers.text_of(sender(), message)


def test_elevator_entrapment_gets_safety_and_96333_first(servers: Servers) -> None:
    replies = servers.say(sender(), "救命，电梯困人了，门打不开")
    first = replies[0]["text"]
    assert first.startswith("⚠️") and "96333" in first.split("负责部门")[0]
    assert "保持冷静" in first and "119" in first


def test_out_of_scope_is_honest_and_gives_12345(servers: Servers) -> None:
    text = servers.text_of(sender(), "今天天气怎么样")
    assert "答不了" in text or "没有完全理解" in text
    assert "12345" in text
    assert "负责部门" not in text


def test_manhole_report_with_correction_then_status(servers: Servers) -> None:
    resident = sender()
    assert "位置" in servers.text_of(resident, "门口井盖没了")
    assert "县区" in servers.text_of(resident, "人民路和交通路交叉口")
    assert "什么情况" in servers.text_of(resident, "驿城区")
    confirm = servers.say(resident, "整个井盖都没了，有个大坑")
    assert "人民路和交通路交叉口" in confirm[0]["text"] and "驿城区" in confirm[0]["text"]
    assert "重新填写" in servers.text_of(resident, "/deny")
    servers.text_of(resident, "驿城区雪松路和开源大道路口")
    confirm = servers.text_of(resident, "井盖碎了一半")
    assert "雪松路" in confirm
    done = servers.text_of(resident, "/affirm")
    number = re.search(r"JG-\d{8}-\d{4}-\d{4}", done)
    assert number and "驻马店市城市管理局" in done
    status = servers.text_of(resident, f"查询工单 {number.group(0)}")
    assert "受理" in status and number.group(0) in status
    assert number.group(0) in servers.text_of(resident, "我的工单到哪了")


def test_manhole_report_can_be_cancelled(servers: Servers) -> None:
    resident = sender()
    servers.text_of(resident, "我要报修井盖")
    assert "已取消" in servers.text_of(resident, "算了不报了")
    assert "12345" not in servers.text_of(resident, "谢谢")


def test_handoff_gives_12345(servers: Servers) -> None:
    assert "12345" in servers.text_of(sender(), "转人工")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "社保卡" * 1700,
        "😀😀😀",
        "<script>alert(1)</script>",
        "'; DROP TABLE tickets; --",
        "410102199001011234",
        "\u0000\u200b",
    ],
    ids=["empty", "spaces", "5100-chars", "emoji", "html", "sql", "id-like", "control"],
)
def test_bad_input_gets_a_polite_reply_never_a_500(servers: Servers, message: str) -> None:
    response = requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook", json={"sender": sender(), "message": message}, timeout=60
    )
    assert response.status_code == 200
    replies = response.json()
    assert isinstance(replies, list)
    assert replies and all(r.get("text") for r in replies)


def test_personal_numbers_never_reach_the_tracker(servers: Servers) -> None:
    resident = sender()
    servers.say(resident, "我的身份证号410102199001011234，电话138 1234 5678，社保卡丢了")
    tracker = requests.get(
        f"{servers.rasa_url}/conversations/{resident}/tracker", params={"token": servers.token}, timeout=10
    ).json()
    dump = json.dumps(tracker, ensure_ascii=False)
    assert "410102199001011234" not in dump and "1234 5678" not in dump
    assert "[身份证号]" in dump and "[手机号]" in dump


def test_rasa_api_needs_the_token(servers: Servers) -> None:
    response = requests.get(f"{servers.rasa_url}/conversations/someone/tracker", timeout=10)
    assert response.status_code == 401


def user_texts(servers: Servers, resident: str) -> list[str]:
    tracker = requests.get(
        f"{servers.rasa_url}/conversations/{resident}/tracker", params={"token": servers.token}, timeout=10
    ).json()
    return [event["text"] for event in tracker["events"] if event["event"] == "user"]


def test_spelled_and_split_numbers_never_reach_the_tracker(servers: Servers) -> None:
    """Issue 17.2: Chinese numerals, invisible characters and odd separators, and a number over two messages."""
    resident = sender()
    servers.say(resident, "手机一三八零零一三八零零零，卡号6222\u200b0212 3456.7890")
    servers.say(resident, "身份证4101021990")
    servers.say(resident, "01011234，社保卡丢了")
    texts = user_texts(servers, resident)
    assert texts == ["手机[手机号]，卡号[银行卡号]", "身份证[号码]", "[身份证号]，社保卡丢了"]


def test_slash_syntax_from_residents_is_text_and_stays_out_of_the_log(servers: Servers) -> None:
    """Issue 17.4: "/…" picked intents and entities (a ticket id) and Rasa's warning logged the whole message."""
    resident = sender()
    # letters only: a marker ending in seven or more digits would (rightly) be masked as a possible split number
    marker = "marker" + uuid.uuid4().hex[:12].translate(str.maketrans("0123456789", "ghijklmnop"))
    typed = f'/check_ticket_status{{"ticket_id": "JG-20261205-0001"}} {marker}'
    servers.say(resident, typed)
    servers.say(resident, f" / /greet@0.99{{not json {marker}2")
    assert user_texts(servers, resident) == [typed[1:], f"greet@0.99{{not json {marker}2"]
    rasa_log = Path(servers.database_url.removeprefix("sqlite:///")).parent / "rasa.log"
    assert marker not in rasa_log.read_text(encoding="utf-8", errors="replace")
    # Buttons keep working: a topic button an action built.
    assert "邮寄" in servers.text_of(resident, "/ask_sscard_mail")
    assert user_texts(servers, resident)[-1] == "/ask_sscard_mail"
