"""Whole conversations as residents hold them, through the real Rasa and action servers over REST.

Topic memory and follow-ups, emergencies typed in a panic (inside the report form too), two topics in one message,
asking instead of refusing, and follow-ups that leave the knowledge base.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.conftest import Servers


def resident() -> str:
    return f"conv-{uuid.uuid4().hex[:8]}"


def slots_of(servers: Servers, sender: str) -> dict:
    tracker = requests.get(
        f"{servers.rasa_url}/conversations/{sender}/tracker", params={"token": servers.token}, timeout=10
    ).json()
    return dict(tracker["slots"])


def test_sscard_follow_ups_keep_the_topic_and_answer_the_aspect(servers: Servers) -> None:
    sender = resident()
    first = servers.say(sender, "社保卡咋办")
    assert "驻马店市人力资源和社会保障局" in first[0]["text"] and "银行" in first[0]["text"]
    assert "还有别的吗" in [b["title"] for b in first[0]["buttons"]]

    bring = servers.text_of(sender, "要带啥")
    assert "社保卡" in bring and "身份证件" in bring and "答不了" not in bring
    assert slots_of(servers, sender)["aspect"] == "bring"

    where = servers.text_of(sender, "在哪办")
    assert "即时制卡网点" in where

    father = servers.text_of(sender, "那我爸呢，他七十多了")
    # The briefing does not say whether someone else may apply: said for this topic, with the office and 12345.
    assert "发布会没有介绍" in father and "社保卡" in father and "12345" in father and "市人社局" in father

    more = servers.say(sender, "还有别的吗")
    assert "再见" not in more[0]["text"] and "市人社局" in more[0]["text"]
    assert "/ask_sscard_mail" in [b["payload"] for b in more[0]["buttons"]]
    assert slots_of(servers, sender)["topic"] == "ask_sscard_apply"


def test_what_about_x_switches_topic_and_keeps_the_aspect(servers: Servers) -> None:
    sender = resident()
    servers.text_of(sender, "老旧小区改造归哪个部门")
    servers.text_of(sender, "今年改多少户")
    switched = servers.text_of(sender, "那停车位呢")
    assert "停车位" in switched and "5000" in switched  # the figures again, now for parking
    slots = slots_of(servers, sender)
    assert slots["topic"] == "ask_parking_spaces" and slots["previous_topic"] == "ask_old_estate_renovation"


def test_a_follow_up_that_leaves_the_kb_is_declined(servers: Servers) -> None:
    sender = resident()
    servers.text_of(sender, "社保卡咋办")
    declined = servers.text_of(sender, "那公积金呢")
    assert "负责部门" not in declined and "12345" in declined


def test_a_follow_up_before_any_topic_asks_which_one(servers: Servers) -> None:
    reply = servers.say(resident(), "要带啥")
    assert "先告诉我要办的事" in reply[0]["text"] and reply[0]["buttons"]


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("电体困人了", "96333"),
        ("電梯困人了怎麼辦", "96333"),
        ("   电梯   困人  ", "96333"),
        ("dianti kunren le", "96333"),
        ("救命！！！有人掉进井里了", "120"),
        ("小孩掉到下水道井里了快来人啊", "120"),
        ("井盖翻了，骑电动车的人摔倒了，头上流血了", "120"),
        ("电梯里冒烟了还有人", "119"),
        ("楼道里着火了🆘", "119"),
    ],
)
def test_emergencies_come_first_however_typed(servers: Servers, message: str, number: str) -> None:
    replies = servers.say(resident(), message)
    first = replies[0]["text"]
    assert first.startswith("⚠️") and number in first.split("负责部门")[0]


def test_look_alikes_are_not_emergencies(servers: Servers) -> None:
    for message in ("电梯老是坏该找谁", "困难补助怎么申请", "井盖整治到什么程度了"):
        assert not servers.say(resident(), message)[0]["text"].startswith("⚠️"), message


def test_an_emergency_inside_the_report_form_comes_first_and_the_form_goes_on(servers: Servers) -> None:
    sender = resident()
    servers.text_of(sender, "门口井盖没了")
    replies = servers.say(sender, "有人掉下去了！")
    assert replies[0]["text"].startswith("⚠️") and "120" in replies[0]["text"]
    assert "位置" in replies[-1]["text"]  # the form asks again for what it was asking
    assert slots_of(servers, sender)["manhole_location"] is None
    elevator = servers.say(sender, "电梯困人了")
    assert "96333" in elevator[0]["text"]


def test_two_topics_in_one_message_are_both_answered_in_order(servers: Servers) -> None:
    sender = resident()
    replies = servers.say(sender, "社保卡怎么办？另外我们小区电梯老坏找谁？")
    text = "\n".join(r.get("text", "") for r in replies)
    assert "市人社局" in text and "市市场监管局" in text
    assert text.index("市人社局") < text.index("市市场监管局")
    assert slots_of(servers, sender)["answered_topics"] == ["ask_sscard_apply", "ask_elevator_safety"]


def test_unsure_between_topics_of_one_office_names_that_office(servers: Servers) -> None:
    reply = servers.say(resident(), "井盖坏了找哪个部门")
    assert "市城管局" in reply[0]["text"] or "城市管理局" in reply[0]["text"]
    assert "答不了" not in reply[0]["text"]


def test_out_of_scope_is_still_declined(servers: Servers) -> None:
    for message in ("驾驶证到期了咋换", "郑州的公积金能在驻马店取不", "居住证怎么办"):
        text = servers.text_of(resident(), message)
        assert "负责部门" not in text and "12345" in text, message
