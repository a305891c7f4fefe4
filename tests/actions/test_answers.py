"""Answer, fallback and handoff actions against the real domain and a real KB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.answers import ActionAnswerTopic, ActionHandoff, ActionKbFallback
from kb import query
from kb.build import load
from kb.models import Followup
from kb.session import new_session

TOPICS = sorted(
    e["intent"]
    for e in load().entries
    if e["intent"] not in {"ask_human", "report_manhole"} and not e["intent"].startswith("emergency_")
)


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


@pytest.mark.parametrize("intent", TOPICS)
async def test_every_topic_is_answered_with_its_office_and_answer(
    intent: str,
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    events = await ActionAnswerTopic().run(dispatcher, make_tracker(intent=intent, text="问一下"), domain)
    entry = query.answer_for_intent(intent)
    assert {e["name"]: e["value"] for e in events} == {
        "topic": intent,
        "previous_topic": None,
        "aspect": "overview",
        "answered_topics": [intent],
    }
    assert len(dispatcher.messages) == 1
    message = dispatcher.messages[0]
    assert f"负责部门：{entry.office_name}" in message["text"]
    assert entry.answer in message["text"]
    for step in entry.steps:
        assert step in message["text"]
    # The first answer is focused: the other aspects are quick replies, 还有别的吗 always among them.
    assert "需要带" not in message["text"] and "办理地点" not in message["text"]
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads[-1] == "还有别的吗" and 1 <= len(payloads) <= 4


async def test_sscard_answer_says_bring_id_card_to_a_bank_outlet(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionAnswerTopic().run(dispatcher, make_tracker(intent="ask_sscard_apply", text="社保卡咋办"), domain)
    text = texts(dispatcher)
    assert "市人社局" in text and "身份证" in text and "银行" in text


async def test_figures_only_when_asked(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionAnswerTopic().run(dispatcher, make_tracker(intent="ask_sscard_apply", text="社保卡咋办"), domain)
    assert "相关数据" not in texts(dispatcher)
    asked = CollectingDispatcher()
    tracker = make_tracker(intent="ask_sscard_apply", text="全市有多少个制卡网点")
    await ActionAnswerTopic().run(asked, tracker, domain)
    assert "255" in texts(asked) and "截至2021年6月30日" in texts(asked)


async def test_elevator_entrapment_starts_with_safety_and_96333(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionAnswerTopic().run(dispatcher, make_tracker(intent="report_elevator_trapped", text="电梯困人了"), domain)
    text = texts(dispatcher)
    first_lines = text.splitlines()[:6]
    assert first_lines[0].startswith("⚠️")
    assert "保持冷静" in "".join(first_lines) and "96333" in "".join(first_lines)
    assert "扒门" in text and "119" in text
    assert text.index("96333") < text.index("负责部门")
    assert "?" not in text.splitlines()[0] and "？" not in text.splitlines()[0]


async def test_edited_answer_is_live_without_retraining(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    from kb.models import Entry

    with new_session() as session, session.begin():
        session.get(Entry, "sscard-apply").answer = "新的答复内容"
    await ActionAnswerTopic().run(dispatcher, make_tracker(intent="ask_sscard_apply"), domain)
    assert "新的答复内容" in texts(dispatcher)


async def test_kb_unreachable_still_gives_elevator_safety(
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    await ActionAnswerTopic().run(dispatcher, make_tracker(intent="report_elevator_trapped"), domain)
    assert dispatcher.messages[0]["response"] == "utter_elevator_trapped_offline"


async def test_out_of_scope_says_so_and_gives_12345(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionKbFallback().run(dispatcher, make_tracker(intent="out_of_scope", text="今天天气怎么样"), domain)
    assert dispatcher.messages[0]["response"] == "utter_cannot_answer"
    assert "12345" in texts(dispatcher)
    assert not any(m.get("buttons") for m in dispatcher.messages)


async def test_low_confidence_names_the_one_office_and_offers_its_topics(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionKbFallback().run(dispatcher, make_tracker(intent="nlu_fallback", text="井盖坏了找哪个部门"), domain)
    first = dispatcher.messages[0]
    assert "驻马店市城市管理局" in first["text"] and "答不了" not in first["text"]
    assert {b["payload"] for b in first["buttons"]} >= {"/report_manhole", "/ask_manhole_info"}


async def test_low_confidence_across_offices_asks_which_one(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    await ActionKbFallback().run(dispatcher, make_tracker(intent="nlu_fallback", text="残疾人和老人的事"), domain)
    first = dispatcher.messages[0]
    assert first["response"] == "utter_which_office"
    titles = [b["title"] for b in first["buttons"]]
    assert any(t.startswith("市残联：") for t in titles) and any(t.startswith("市民政局：") for t in titles)


async def test_handoff_marks_the_conversation_and_gives_12345(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    events = await ActionHandoff().run(dispatcher, make_tracker(intent="ask_human", sender_id="r-42"), domain)
    assert {"event": "slot", "name": "handoff_requested", "value": True, "timestamp": None} in events
    assert "12345" in texts(dispatcher)
    with new_session() as session:
        assert session.scalars(select(Followup.sender_id)).all() == ["r-42"]
