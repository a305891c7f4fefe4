"""The conversation layer's actions against the real KB and domain: follow-ups on the current topic, what the KB does
not say, two topics in one message, the fallback's questions, and emergencies (actions/answers.py,
actions/emergency.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswerTopic, ActionKbFallback
from actions.emergency import ActionEmergency
from actions.render import ASPECT_FIELDS
from kb import query
from kb.build import load

ENTRIES = {entry["intent"]: entry for entry in load().entries}
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def followups(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def titles(message: dict[str, Any]) -> list[str]:
    return [b["title"] for b in message.get("buttons") or []]


def payloads(message: dict[str, Any]) -> list[str]:
    return [b["payload"] for b in message.get("buttons") or []]


def aspect(value: str) -> dict[str, Any]:
    return {"entity": "aspect", "value": value, "start": 0, "end": 1, "extractor": "DialogueActs"}


def ranked_tracker(
    intent: str, text: str, ranking: list[tuple[str, float]], slots: dict[str, Any] | None = None
) -> Tracker:
    """make_tracker with DIET's intent_ranking, which the two-topic answer and the fallback read."""
    return Tracker.from_dict(
        {
            "sender_id": "test-resident",
            "slots": {"requested_slot": None, **(slots or {})},
            "latest_message": {
                "text": text,
                "intent": {"name": intent, "confidence": ranking[0][1]},
                "intent_ranking": [{"name": name, "confidence": confidence} for name, confidence in ranking],
                "entities": [],
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


async def answer(
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    tracker: Tracker,
) -> list[dict[str, Any]]:
    return await ActionAnswerTopic().run(dispatcher, tracker, domain)


# --- follow-ups ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "asked", "label", "expected"),
    [
        ("ask_sscard_apply", "bring", "需要带：", "身份证件"),
        ("ask_sscard_apply", "where", "办理地点：", "即时制卡网点"),
        ("ask_sscard_apply", "how_long", "办理时间：", "立等可取"),
        ("ask_sscard_apply", "steps", "办理步骤：", "信息采集"),
        ("ask_sscard_mail", "cost", "费用：", "邮寄免费"),
        ("ask_social_bank_service", "eligible", "谁可以办：", "参保单位"),
        ("ask_parking_spaces", "figures", "相关数据：", "5000个停车位"),
        ("ask_elevator_safety", "contact", "联系方式：", "12345"),
    ],
)
async def test_followup_answers_from_the_topics_kb_field(
    topic: str,
    asked: str,
    label: str,
    expected: str,
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = make_tracker(
        intent="ask_followup", text="问一下", slots={"topic": topic, "aspect": "overview"}, entities=[aspect(asked)]
    )
    events = await answer(dispatcher, domain, tracker)
    entry = query.answer_for_intent(topic)
    assert len(dispatcher.messages) == 1
    text = dispatcher.messages[0]["text"]
    assert text.startswith(f"关于“{entry.title}”（{entry.office_short}）：")
    assert label in text and expected in text
    assert entry.answer not in text  # just what was asked, not the whole answer again
    assert "发布会没有" not in text
    assert slots(events) == {
        "topic": topic,
        "previous_topic": None,
        "aspect": asked,
        "answered_topics": [topic],
    }


async def test_followup_shows_the_sscard_bring_field(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup", text="要带啥", slots={"topic": "ask_sscard_apply"}, entities=[aspect("bring")]
    )
    await answer(dispatcher, domain, tracker)
    message = dispatcher.messages[0]
    assert message["text"] == "关于“社保卡办理”（市人社局）：\n需要带：身份证件"
    assert "要带什么" not in titles(message)  # not offered again
    assert titles(message)[-1] == "还有别的吗"


async def test_followup_asking_who_handles_it_names_the_office(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup", text="找谁", slots={"topic": "ask_sscard_apply"}, entities=[aspect("office")]
    )
    await answer(dispatcher, domain, tracker)
    text = texts(dispatcher)
    assert "关于“社保卡办理”" in text
    assert "负责部门：驻马店市人力资源和社会保障局（市人社局）" in text


async def test_followup_with_two_aspects_answers_both_in_order(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup",
        text="要带啥，在哪办",
        slots={"topic": "ask_sscard_apply"},
        entities=[aspect("bring"), aspect("where")],
    )
    events = await answer(dispatcher, domain, tracker)
    text = texts(dispatcher)
    assert text.index("需要带：身份证件") < text.index("办理地点：")
    assert slots(events)["aspect"] == "where"
    assert not {"要带什么", "在哪办"} & set(titles(dispatcher.messages[0]))


def _lacks(topic: str, asked: str) -> bool:
    field_name = ASPECT_FIELDS[asked][0]
    return not ENTRIES[topic].get(field_name)


MISSING = [
    ("ask_parking_spaces", "bring"),
    ("ask_parking_spaces", "where"),
    ("ask_sscard_apply", "eligible"),
    ("ask_employment", "how_long"),
    ("ask_talent_apartment", "cost"),
    ("ask_sscard_mail", "steps"),
    ("ask_elevator_safety", "bring"),
]


@pytest.mark.parametrize(("topic", "asked"), MISSING)
async def test_aspect_the_kb_lacks_is_said_for_the_topic_with_office_and_12345(
    topic: str,
    asked: str,
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    assert _lacks(topic, asked), f"{topic} now has {asked}: pick another missing aspect"
    tracker = make_tracker(
        intent="ask_followup", text="问一下", slots={"topic": topic, "aspect": "overview"}, entities=[aspect(asked)]
    )
    events = await answer(dispatcher, domain, tracker)
    entry = query.answer_for_intent(topic)
    office = entry.office_short
    text = texts(dispatcher)
    unknown = domain["responses"][f"utter_unknown_{asked}"][0]["text"].format(title=entry.title)
    assert unknown in text
    assert f"这件事由{office}负责" in text and "12345" in text
    label = domain["responses"][ASPECT_FIELDS[asked][1]][0]["text"].split("{")[0]
    assert label not in text  # no invented value under the field's label
    assert asked not in {_button_aspect(t) for t in titles(dispatcher.messages[0])}
    assert slots(events)["aspect"] == asked and slots(events)["topic"] == topic


def _button_aspect(title: str) -> str:
    return {"要带什么": "bring", "在哪办": "where", "要多久": "how_long", "要钱吗": "cost", "谁能办": "eligible"}.get(
        title, title
    )


async def test_followup_buttons_offer_only_what_the_entry_can_answer(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup", text="要带啥", slots={"topic": "ask_parking_spaces"}, entities=[aspect("bring")]
    )
    await answer(dispatcher, domain, tracker)
    assert titles(dispatcher.messages[0]) == ["还有别的吗"]


async def test_more_offers_the_same_offices_other_topics_never_a_goodbye(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup", text="还有别的吗", slots={"topic": "ask_sscard_apply"}, entities=[aspect("more")]
    )
    events = await answer(dispatcher, domain, tracker)
    assert len(dispatcher.messages) == 2  # the office's own topics, then related ones of other offices, labelled
    message, elsewhere = dispatcher.messages
    assert message.get("response") != "utter_goodbye"
    assert message["text"] == "市人社局还负责这些事，您想问哪一项？"
    assert elsewhere["response"] == "utter_related_elsewhere"
    assert all(not b["title"].startswith("市人社局") for b in elsewhere["buttons"])
    same_office = {f"/{a.intent}" for a in query.office_topics("hrss")} - {"/ask_sscard_apply"}
    assert same_office <= set(payloads(message))
    assert "/ask_sscard_apply" not in payloads(message)
    assert slots(events) == {
        "topic": "ask_sscard_apply",
        "previous_topic": None,
        "aspect": "more",
        "answered_topics": ["ask_sscard_apply"],
    }


@pytest.mark.parametrize("topic", ["ask_sscard_apply", "ask_barrier_free", "ask_elevator_safety"])
async def test_more_lists_only_topics_the_named_office_handles(
    topic: str,
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    """The reply says “{office}还负责这些事”: a button for another office's topic tells the resident something false."""
    tracker = make_tracker(intent="ask_followup", text="还有别的吗", slots={"topic": topic}, entities=[aspect("more")])
    await answer(dispatcher, domain, tracker)
    office = query.answer_for_intent(topic).office_id
    offered = payloads(dispatcher.messages[0])
    assert offered
    other_offices = {p: a.office_short for p in offered if (a := query.answer_for_intent(p[1:])).office_id != office}
    assert other_offices == {}


async def test_same_repeats_the_previous_aspect_for_the_new_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    """那停车位呢 after asking the old estates' figures: the parking figures, with the new topic's office."""
    tracker = make_tracker(
        intent="ask_parking_spaces",
        text="那停车位呢",
        slots={"topic": "ask_old_estate_renovation", "aspect": "figures", "previous_topic": "ask_sscard_apply"},
        entities=[aspect("same")],
    )
    events = await answer(dispatcher, domain, tracker)
    text = texts(dispatcher)
    assert text.startswith("关于“停车位建设”（市住建局）：")
    assert "负责部门：驻马店市住房和城乡建设局" in text
    assert "相关数据：" in text and "5000个停车位" in text and "66%" in text
    assert slots(events) == {
        "topic": "ask_parking_spaces",
        "previous_topic": "ask_old_estate_renovation",
        "aspect": "figures",
        "answered_topics": ["ask_parking_spaces"],
    }


async def test_same_on_a_followup_repeats_the_aspect_for_the_current_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup",
        text="县里呢",
        slots={"topic": "ask_parking_spaces", "aspect": "figures"},
        entities=[aspect("same")],
    )
    events = await answer(dispatcher, domain, tracker)
    text = texts(dispatcher)
    assert "关于“停车位建设”" in text and "1000个停车位" in text
    assert slots(events)["aspect"] == "figures"


async def test_same_after_an_overview_gives_the_overview_again(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup",
        text="县里呢",
        slots={"topic": "ask_sscard_apply", "aspect": "overview"},
        entities=[aspect("same")],
    )
    events = await answer(dispatcher, domain, tracker)
    entry = query.answer_for_intent("ask_sscard_apply")
    assert entry.answer in texts(dispatcher) and "负责部门：" in texts(dispatcher)
    assert slots(events)["aspect"] == "overview"


async def test_followup_without_a_topic_asks_for_the_topic_first(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="ask_followup", text="要带啥", entities=[aspect("bring")])
    events = await answer(dispatcher, domain, tracker)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_ask_topic_first"]
    assert slots(events) == {"answered_topics": []}


async def test_topic_with_an_aspect_says_the_office_then_the_aspect(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    """社保卡在哪办 in a new conversation: who handles it, then where; not the whole overview."""
    tracker = make_tracker(intent="ask_sscard_apply", text="社保卡在哪办", entities=[aspect("where")])
    events = await answer(dispatcher, domain, tracker)
    text = texts(dispatcher)
    assert text.index("负责部门：驻马店市人力资源和社会保障局") < text.index("办理地点：全市银行窗口")
    assert "办理步骤" not in text
    assert slots(events) == {
        "topic": "ask_sscard_apply",
        "previous_topic": None,
        "aspect": "where",
        "answered_topics": ["ask_sscard_apply"],
    }


async def test_new_topic_moves_the_old_one_to_previous_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_barrier_free",
        text="无障碍改造怎么申请",
        slots={"topic": "ask_sscard_apply", "previous_topic": "ask_employment", "aspect": "bring"},
    )
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["topic"] == "ask_barrier_free"
    assert slots(events)["previous_topic"] == "ask_sscard_apply"


async def test_followup_on_the_same_topic_keeps_previous_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="ask_followup",
        text="在哪办",
        slots={"topic": "ask_sscard_apply", "previous_topic": "ask_employment", "aspect": "bring"},
        entities=[aspect("where")],
    )
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["topic"] == "ask_sscard_apply"
    assert slots(events)["previous_topic"] == "ask_employment"


# --- two topics in one message -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "text", "ranking", "order"),
    [
        (
            "ask_sscard_apply",
            "社保卡怎么办？另外我们小区电梯老坏找谁？",
            [("ask_sscard_apply", 0.55), ("ask_elevator_safety", 0.35)],
            ["ask_sscard_apply", "ask_elevator_safety"],
        ),
        (
            "ask_elevator_safety",
            "我们小区电梯老坏找谁？另外社保卡怎么办？",
            [("ask_elevator_safety", 0.5), ("ask_sscard_apply", 0.4)],
            ["ask_elevator_safety", "ask_sscard_apply"],
        ),
    ],
)
async def test_two_topics_in_one_message_are_both_answered_in_order(
    intent: str,
    text: str,
    ranking: list[tuple[str, float]],
    order: list[str],
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
) -> None:
    events = await answer(dispatcher, domain, ranked_tracker(intent, text, ranking))
    assert len(dispatcher.messages) == 2
    for message, topic in zip(dispatcher.messages, order, strict=True):
        entry = query.answer_for_intent(topic)
        assert f"负责部门：{entry.office_name}" in message["text"]
        assert entry.answer in message["text"]
    second = query.answer_for_intent(order[1])
    assert dispatcher.messages[1]["text"].startswith(f"您还问到了“{second.title}”")
    assert slots(events)["answered_topics"] == order
    assert slots(events)["topic"] == order[-1]


async def test_fallback_on_a_two_topic_message_answers_both(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    tracker = ranked_tracker(
        "nlu_fallback",
        "社保卡怎么办？另外我们小区电梯老坏找谁？",
        [("nlu_fallback", 0.5), ("ask_sscard_apply", 0.3), ("ask_elevator_safety", 0.2)],
    )
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    text = texts(dispatcher)
    assert "市人社局" in text and "市市场监管局" in text
    assert slots(events)["answered_topics"] == ["ask_sscard_apply", "ask_elevator_safety"]


# --- fallback ----------------------------------------------------------------------------------------------------


async def test_fallback_with_candidates_of_one_office_names_it(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 社保卡 names the card and its postal delivery alike: both of one office, which is named and offered
    tracker = ranked_tracker("nlu_fallback", "社保卡", [("nlu_fallback", 0.5), ("ask_sscard_mail", 0.3)])
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert len(dispatcher.messages) == 1
    message = dispatcher.messages[0]
    assert message["text"] == "这类问题由驻马店市人力资源和社会保障局（市人社局）负责。您想问的是下面哪一项？"
    assert "/ask_sscard_mail" in payloads(message)
    assert {query.answer_for_intent(p[1:]).office_id for p in payloads(message)} == {"hrss"}
    assert slots(events) == {"answered_topics": []}


async def test_fallback_answers_the_topic_keywords_and_diet_agree_on(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # DIET was unsure, but 残疾人就业 is that topic's keyword by far and DIET ranks it too: answered, not asked
    tracker = ranked_tracker("nlu_fallback", "残疾人就业补贴", [("nlu_fallback", 0.5), ("ask_disabled_jobs", 0.3)])
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert "市残联" in texts(dispatcher)
    assert slots(events)["answered_topics"] == ["ask_disabled_jobs"]


async def test_fallback_with_candidates_of_several_offices_asks_which_office(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # the keywords point at 残疾人就业 but DIET does not rank it: no agreement, so ask which office
    tracker = ranked_tracker("nlu_fallback", "残疾人就业补贴", [("nlu_fallback", 0.5), ("ask_employment", 0.3)])
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert len(dispatcher.messages) == 1
    message = dispatcher.messages[0]
    assert message["response"] == "utter_which_office"
    buttons = message["buttons"]
    assert len(buttons) >= 2
    for button in buttons:
        entry = query.answer_for_intent(button["payload"][1:])
        assert button["title"] == f"{entry.office_short}：{entry.title}"
    offices = {query.answer_for_intent(b["payload"][1:]).office_id for b in buttons}
    assert {"disabled", "hrss"} <= offices
    assert slots(events) == {"answered_topics": []}


@pytest.mark.parametrize("text", ["公积金怎么提取", "驾驶证在哪个银行网点办", "郑州的社保卡在哪办"])
async def test_out_of_scope_says_it_cannot_answer_with_12345_and_no_guess(
    text: str, kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    tracker = ranked_tracker("out_of_scope", text, [("out_of_scope", 0.9), ("ask_sscard_apply", 0.05)])
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_cannot_answer"
    assert "12345" in texts(dispatcher)
    assert not any(m.get("buttons") for m in dispatcher.messages)
    assert "负责部门" not in texts(dispatcher) and "市人社局" not in texts(dispatcher)
    assert slots(events) == {"answered_topics": []}


# --- emergencies -------------------------------------------------------------------------------------------------

EMERGENCY_NUMBERS = {
    "elevator_trapped": ("96333",),
    "elevator_danger": ("120", "119"),
    "manhole_fall": ("120", "119"),
    "open_hole": ("120", "110"),
    "fire": ("119",),
}


def emergency(kind: str) -> dict[str, Any]:
    return {"entity": "emergency", "value": kind, "start": 0, "end": 1, "extractor": "DialogueActs"}


def safety_steps(text: str) -> str:
    """The numbered steps right under the ⚠️ line."""
    lines = text.splitlines()
    steps = []
    for line in lines[1:]:
        if not re.match(r"\d+\. ", line):
            break
        steps.append(line)
    return "\n".join(steps)


@pytest.mark.parametrize(("kind", "numbers"), EMERGENCY_NUMBERS.items())
async def test_emergency_first_message_starts_with_safety_and_the_number(
    kind: str,
    numbers: tuple[str, ...],
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = make_tracker(intent="report_emergency", text="救命", entities=[emergency(kind)])
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    first = dispatcher.messages[0]["text"]
    assert first.startswith("⚠️")
    steps = safety_steps(first)
    assert steps and any(number in steps for number in numbers)
    if "负责部门" in first:
        assert min(first.index(n) for n in numbers if n in first) < first.index("负责部门")
    assert slots(events)["emergency"] == kind
    assert (followups(events) == ["manhole_report_form"]) == (kind == "open_hole")


async def test_elevator_danger_calls_120_or_119_before_96333(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="report_emergency", entities=[emergency("elevator_danger")])
    await ActionEmergency().run(dispatcher, tracker, domain)
    first = dispatcher.messages[0]["text"]
    assert min(first.index("120"), first.index("119")) < first.index("96333")


@pytest.mark.parametrize(
    ("kind", "office"),
    [
        ("elevator_trapped", "驻马店市市场监督管理局"),
        ("elevator_danger", "驻马店市市场监督管理局"),
        ("manhole_fall", "驻马店市城市管理局"),
        ("open_hole", "驻马店市城市管理局"),
    ],
)
async def test_emergency_names_the_office_after_the_safety_steps(
    kind: str,
    office: str,
    kb_url: str,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = make_tracker(intent="report_emergency", entities=[emergency(kind)])
    await ActionEmergency().run(dispatcher, tracker, domain)
    first = dispatcher.messages[0]["text"]
    assert f"负责部门：{office}" in first
    assert first.index("⚠️") < first.index("负责部门")


async def test_open_hole_inside_the_form_does_not_restart_the_form(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(
        intent="report_emergency",
        text="马路上井盖没了车来车往",
        entities=[emergency("open_hole")],
        active_loop="manhole_report_form",
        requested_slot="manhole_location",
    )
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["text"].startswith("⚠️")
    assert followups(events) == []
    assert slots(events)["emergency"] == "open_hole"


async def test_emergency_without_a_kind_is_an_elevator_entrapment(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any], make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="report_elevator_trapped", text="电梯困人了")
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert "96333" in safety_steps(dispatcher.messages[0]["text"])
    assert slots(events)["emergency"] == "elevator_trapped"


@pytest.mark.parametrize(
    ("kind", "response"),
    [
        ("elevator_trapped", "utter_elevator_trapped_offline"),
        ("elevator_danger", "utter_emergency_offline"),
        ("manhole_fall", "utter_emergency_offline"),
        ("open_hole", "utter_emergency_offline"),
        ("fire", "utter_emergency_offline"),
    ],
)
async def test_emergency_with_the_kb_unreachable_still_gives_the_safety_steps(
    kind: str,
    response: str,
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    tracker = make_tracker(intent="report_emergency", entities=[emergency(kind)])
    events = await ActionEmergency().run(dispatcher, tracker, domain)
    assert [m.get("response") for m in dispatcher.messages] == [response]
    offline = domain["responses"][response][0]["text"]
    assert offline.startswith("⚠️") and ("96333" in offline) and ("120" in offline or "119" in offline)
    assert slots(events)["emergency"] == kind


async def test_followup_with_the_kb_unreachable_says_the_service_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    make_tracker: Callable[..., Tracker],
) -> None:
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    tracker = make_tracker(intent="ask_followup", slots={"topic": "ask_sscard_apply"}, entities=[aspect("bring")])
    await answer(dispatcher, domain, tracker)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_service_unavailable"]


# --- what refers back to the current topic ------------------------------------------------------------------------


async def test_also_in_a_question_keeps_the_current_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 初中 is a school word, but 他也能办一张不 asks about the card being talked about
    text, current = "俺弟还在上初中 他也能办一张不", {"topic": "ask_sscard_apply"}
    tracker = ranked_tracker("ask_school_places", text, [("ask_school_places", 0.8)], current)
    tracker.latest_message["entities"] = [aspect("eligible")]
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["answered_topics"] == ["ask_sscard_apply"]
    assert "市人社局" in texts(dispatcher) and "市教育局" not in texts(dispatcher)


async def test_unsure_question_with_an_aspect_is_about_the_current_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    tracker = ranked_tracker(
        "nlu_fallback", "有咨询电话没", [("nlu_fallback", 0.4), ("ask_human", 0.3)], {"topic": "ask_barrier_free"}
    )
    tracker.latest_message["entities"] = [aspect("contact")]
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert slots(events)["answered_topics"] == ["ask_barrier_free"]
    assert slots(events)["aspect"] == "contact"


async def test_out_of_scope_with_an_aspect_is_still_declined(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    tracker = ranked_tracker("out_of_scope", "那驾驶证咋办", [("out_of_scope", 0.9)], {"topic": "ask_sscard_apply"})
    tracker.latest_message["entities"] = [aspect("steps")]
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert slots(events) == {"answered_topics": []}
    assert "12345" in texts(dispatcher) and "负责部门" not in texts(dispatcher)


async def test_a_clause_that_only_tells_the_situation_adds_no_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 在上海打工 says where the resident is; only the e-certificate is asked about
    tracker = ranked_tracker(
        "ask_medical_insurance_ecert",
        "在上海打工 回不来 医保电子凭证在那边能用不",
        [("ask_medical_insurance_ecert", 0.7), ("ask_employment", 0.2)],
    )
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["answered_topics"] == ["ask_medical_insurance_ecert"]


async def test_another_county_of_a_county_topic_is_declined_for_that_county(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 确山's vegetable base is 确山县's own: the briefing says nothing about 泌阳
    tracker = ranked_tracker(
        "ask_followup", "那泌阳呢", [("ask_followup", 1.0)], {"topic": "ask_queshan_agriculture", "aspect": "office"}
    )
    tracker.latest_message["entities"] = [aspect("same")]
    events = await answer(dispatcher, domain, tracker)
    assert slots(events) == {"answered_topics": []}
    text = texts(dispatcher)
    assert "泌阳" in text and "12345" in text and "负责部门" not in text


async def test_a_county_topic_asked_with_its_own_county_is_answered(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    text = "俺是泌阳哩 能去确山基地干活不"
    tracker = ranked_tracker("ask_queshan_agriculture", text, [("ask_queshan_agriculture", 0.8)])
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["answered_topics"] == ["ask_queshan_agriculture"]


async def test_unsure_question_for_someone_without_an_object_stays_on_the_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 小学 names the school topic, but 能办不 (no object) asks whether the child can get the card being discussed
    tracker = ranked_tracker(
        "nlu_fallback",
        "俺孩子才上小学 能办不",
        [("nlu_fallback", 0.6), ("ask_school_places", 0.5), ("ask_sscard_apply", 0.2)],
        {"topic": "ask_sscard_apply"},
    )
    tracker.latest_message["entities"] = [aspect("eligible")]
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert slots(events)["answered_topics"] == ["ask_sscard_apply"]


async def test_out_of_scope_in_the_topics_own_words_is_answered_for_the_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # DIET reads 要带身份证不 as out of scope (身份证 questions are), but the card's entry lists 身份证 itself
    tracker = ranked_tracker("out_of_scope", "要带身份证不", [("out_of_scope", 0.99)], {"topic": "ask_sscard_apply"})
    tracker.latest_message["entities"] = [aspect("bring")]
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert slots(events)["answered_topics"] == ["ask_sscard_apply"]
    assert "需要带：" in texts(dispatcher)


async def test_out_of_scope_with_words_the_topic_does_not_use_is_declined(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    card = {"topic": "ask_sscard_apply"}
    tracker = ranked_tracker("out_of_scope", "身份证过期了咋弄", [("out_of_scope", 0.99)], card)
    tracker.latest_message["entities"] = [aspect("steps")]
    events = await ActionKbFallback().run(dispatcher, tracker, domain)
    assert slots(events) == {"answered_topics": []}
    assert "负责部门" not in texts(dispatcher)


async def test_what_about_a_new_subject_with_no_shared_word_follows_diet(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    jobs = {"topic": "ask_employment"}
    tracker = ranked_tracker("ask_disabled_jobs", "那残疾人呢", [("ask_disabled_jobs", 0.8)], jobs)
    tracker.latest_message["entities"] = [aspect("eligible")]
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["answered_topics"] == ["ask_disabled_jobs"]


async def test_a_county_name_alone_does_not_change_the_topic(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict[str, Any]
) -> None:
    # 确山 is the vegetable base's county, but 确山县能建几个 asks about the parking spaces being talked about
    parking = {"topic": "ask_parking_spaces"}
    tracker = ranked_tracker("ask_queshan_agriculture", "确山县能建几个", [("ask_queshan_agriculture", 0.8)], parking)
    tracker.latest_message["entities"] = [aspect("figures")]
    events = await answer(dispatcher, domain, tracker)
    assert slots(events)["answered_topics"] == ["ask_parking_spaces"]
