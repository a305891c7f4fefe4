"""The manhole report form: reading answers, questions mid-form, corrections, typed buttons, intro, ticket."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import manhole
from actions.forms.manhole import (
    ActionManholeCancel,
    ActionManholeIntro,
    ActionManholeSubmit,
    ValidateManholeReportForm,
    county_in,
)
from actions.forms.manhole_text import correction_in, looks_like_condition, looks_like_place, read_report
from bot.config import ROOT
from kb import query

FORM = "manhole_report_form"
FILLED = {
    "manhole_location": "人民路和交通路交叉口",
    "manhole_county": "驿城区",
    "manhole_description": "整个没了",
}


@pytest.mark.parametrize(
    ("text", "county"),
    [("驿城区解放路", "驿城区"), ("确山盘古路", "确山县"), ("平輿縣", "平舆县"), ("人民路", None)],
)
def test_county_in_text(text: str, county: str | None) -> None:
    assert county_in(text) == county


@pytest.mark.parametrize(
    ("text", "place", "condition"),
    [
        ("驿城区雪松路和开源大道交叉口西南角井盖没了", "驿城区雪松路和开源大道交叉口西南角", "井盖没了"),
        ("人民路和交通路口那个井盖碎了", "人民路和交通路口", "井盖碎了"),
        ("俺们确山盘古路那个窨井盖碎了", "确山盘古路", "窨井盖碎了"),
        ("开源大道上有个井盖没盖", "开源大道", "井盖没盖"),
        ("我要报修一个井盖，确山县朗陵街菜市场门口那块，盖子被车压翻了", "确山县朗陵街菜市场门口", "盖子被车压翻了"),
        ("门口井盖没了", "", "井盖没了"),  # 门口 is nowhere to send anyone
        ("驿城区雪松路和开源大道交叉口西南角", "驿城区雪松路和开源大道交叉口西南角", ""),  # 松 is in 雪松路
        ("世纪华庭小区南门口", "世纪华庭小区南门口", ""),
        ("异地看病怎么报销", "", ""),
        ("马路上", "", ""),
    ],
)
def test_a_message_is_read_as_place_and_condition(text: str, place: str, condition: str) -> None:
    report = read_report(text)
    assert (report.place, report.condition) == (place, condition)


@pytest.mark.parametrize(
    ("text", "place", "condition"),
    [("学校门口", True, False), ("驿城区", False, False), ("下沉了一大块，车过去咣咣响", False, True)],
)
def test_place_and_condition_tests(text: str, place: bool, condition: bool) -> None:
    assert (looks_like_place(text), looks_like_condition(text)) == (place, condition)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("地址说错了，是驿城区雪松路和开源大道交叉口", "location", "驿城区雪松路和开源大道交叉口"),
        ("位置不对，应该是解放路和文化路交叉口", "location", "解放路和文化路交叉口"),
        ("情况说错了，是破了一半", "description", "破了一半"),
        ("县区选错了，是确山县", "county", "确山县"),
        ("地址错了", "location", ""),
    ],
)
def test_corrections_carry_the_whole_new_value(text: str, field: str, value: str) -> None:
    correction = correction_in(text)
    assert correction is not None and (correction.field, correction.value) == (field, value)


def form_tracker(
    make_tracker: Callable[..., Tracker],
    text: str,
    intent: str = "inform",
    asked: str | None = None,
    value: Any = None,
    slots: dict[str, Any] | None = None,
    confidence: float = 0.99,
) -> Tracker:
    """The tracker the validation action gets: the asked slot's mapped value as the last event, as Rasa sends it."""
    tracker = make_tracker(intent=intent, text=text, slots=slots, active_loop=FORM, requested_slot=asked)
    tracker.latest_message["intent"]["confidence"] = confidence
    if asked:
        mapped = text if value is None else value
        tracker.slots[asked] = mapped
        tracker.events.append(SlotSet(asked, mapped))
    return tracker


async def run_form(tracker: Tracker, dispatcher: CollectingDispatcher, domain: dict) -> dict[str, Any]:
    events = await ValidateManholeReportForm().run(dispatcher, tracker, domain)
    return {event["name"]: event["value"] for event in events}


def said(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or "text" for m in dispatcher.messages]


# On activation: the message that opened the form


async def test_a_one_sentence_report_fills_place_county_and_condition(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, "驿城区雪松路和开源大道交叉口西南角井盖没了", intent="report_manhole")
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {
        "manhole_location": "驿城区雪松路和开源大道交叉口西南角",
        "manhole_county": "驿城区",
        "manhole_description": "井盖没了",
    }
    assert dispatcher.messages == []


async def test_a_report_without_county_fills_place_and_condition(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, "人民路和交通路口那个井盖碎了", intent="report_manhole")
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {"manhole_location": "人民路和交通路口", "manhole_description": "井盖碎了"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("门口井盖没了", {}), ("驿城区井盖没了", {"manhole_county": "驿城区"}), ("/report_manhole", {})],
)
async def test_without_a_place_only_the_county_is_taken(
    text: str, expected: dict, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, text, intent="report_manhole")
    assert await run_form(tracker, dispatcher, domain) == expected


# The location prompt


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  驿城区 解放路和文化路口 ", {"manhole_location": "驿城区 解放路和文化路口", "manhole_county": "驿城区"}),
        ("就在金山路上", {"manhole_location": "金山路"}),
        (
            "人民路和交通路交叉口井盖碎了",
            {"manhole_location": "人民路和交通路交叉口", "manhole_description": "井盖碎了"},
        ),
    ],
)
async def test_a_place_fills_the_location(
    text: str, expected: dict, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, text, asked="manhole_location")
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {**expected, "manhole_retries": 0}
    assert dispatcher.messages == []


async def test_a_county_alone_is_kept_and_the_place_asked_for(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    slots = await run_form(form_tracker(make_tracker, "驿城区", asked="manhole_location"), dispatcher, domain)
    assert slots["manhole_county"] == "驿城区" and slots["manhole_location"] is None
    assert said(dispatcher) == ["utter_manhole_location_more_detail"]


async def test_a_condition_at_the_location_prompt_is_kept_and_the_place_asked_for(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    slots = await run_form(form_tracker(make_tracker, "井盖碎了一半", asked="manhole_location"), dispatcher, domain)
    assert slots == {"manhole_location": None, "manhole_description": "井盖碎了一半"}
    assert said(dispatcher) == ["utter_manhole_location_after_condition"]


async def test_an_unclear_location_is_asked_again_then_taken(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    first = await run_form(form_tracker(make_tracker, "门口", asked="manhole_location"), dispatcher, domain)
    assert first == {"manhole_location": None, "manhole_retries": 1}
    assert said(dispatcher) == ["utter_manhole_location_unclear"]
    again = CollectingDispatcher()
    tracker = form_tracker(make_tracker, "俺家门口", asked="manhole_location", slots={"manhole_retries": 1})
    second = await run_form(tracker, again, domain)
    assert second == {"manhole_location": "俺家门口", "manhole_retries": 0}
    assert said(again) == ["utter_manhole_location_accepted"]


async def test_a_yes_is_never_taken_as_a_location(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(
        make_tracker, "好的", intent="affirm", asked="manhole_location", slots={"manhole_retries": 3}
    )
    assert (await run_form(tracker, dispatcher, domain))["manhole_location"] is None
    assert said(dispatcher) == ["utter_manhole_location_unclear"]


# A question mid-form, and someone in danger


@pytest.mark.parametrize(
    ("text", "intent", "office"),
    [("异地看病怎么报销", "ask_medical_insurance_ecert", "市医保局"), ("社保卡怎么办", "ask_sscard_apply", "市人社局")],
)
@pytest.mark.parametrize("asked", ["manhole_location", "manhole_county", "manhole_description", "manhole_confirm"])
async def test_a_question_is_answered_and_the_same_field_asked_again(
    kb_url: str,
    text: str,
    intent: str,
    office: str,
    asked: str,
    dispatcher: CollectingDispatcher,
    domain: dict,
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = form_tracker(
        make_tracker, text, intent=intent, asked=asked, slots=FILLED if asked == "manhole_confirm" else {}
    )
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {asked: None}
    assert office in dispatcher.messages[0]["text"]
    assert said(dispatcher)[1:] == ["utter_manhole_resume"]


async def test_an_unsure_question_is_not_answered_but_read_as_an_answer(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(
        make_tracker, "社保卡怎么办", intent="ask_sscard_apply", asked="manhole_location", confidence=0.7
    )
    assert (await run_form(tracker, dispatcher, domain))["manhole_location"] is None
    assert said(dispatcher) == ["utter_manhole_location_unclear"]


async def test_someone_fallen_in_gets_the_safety_steps_not_a_description(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, "有人掉下去了！", asked="manhole_description", slots=FILLED)
    assert await run_form(tracker, dispatcher, domain) == {"manhole_description": None}
    assert "120" in dispatcher.messages[0]["text"] and dispatcher.messages[0]["text"].startswith("⚠️")


# The county prompt: never stuck


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('/inform{"county": "确山县"}', "确山县", {"manhole_county": "确山县"}),
        ("平輿", "平輿", {"manhole_county": "平舆县"}),
        ("西南", "西南", None),  # a wrong entity from the NLU, with the county in the text: next case
        (
            "驿城区雪松路和开源大道交叉口西南角",
            "西南",
            {"manhole_county": "驿城区", "manhole_location": "驿城区雪松路和开源大道交叉口西南角"},
        ),
        ("不知道", None, {"manhole_county": "未说明"}),
        ("这个俺也不清楚", None, {"manhole_county": "未说明"}),
    ],
)
async def test_a_county_anywhere_or_dunno_is_taken(
    text: str,
    value: str | None,
    expected: dict | None,
    dispatcher: CollectingDispatcher,
    domain: dict,
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = form_tracker(
        make_tracker, text, asked="manhole_county", value=value, slots=FILLED | {"manhole_county": None}
    )
    slots = await run_form(tracker, dispatcher, domain)
    if expected is None:
        assert slots == {"manhole_county": None, "manhole_retries": 1}
        assert said(dispatcher) == ["utter_manhole_invalid_county"]
    else:
        assert slots == {**expected, "manhole_retries": 0}


async def test_a_location_at_the_county_prompt_updates_the_location_and_asks_again(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(
        make_tracker, "雪松路和开源大道交叉口", asked="manhole_county", slots=FILLED | {"manhole_county": None}
    )
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {"manhole_location": "雪松路和开源大道交叉口", "manhole_county": None, "manhole_retries": 1}
    assert said(dispatcher) == ["utter_manhole_county_for_location"]


async def test_the_second_failed_county_is_left_unsaid_and_the_form_moves_on(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    slots = FILLED | {"manhole_county": None, "manhole_retries": 1}
    tracker = form_tracker(make_tracker, "郑州", asked="manhole_county", slots=slots)
    assert await run_form(tracker, dispatcher, domain) == {"manhole_county": "未说明", "manhole_retries": 0}
    assert said(dispatcher) == ["utter_manhole_county_accepted"]
    assert dispatcher.messages[0]["county"] == "未说明"


# The description prompt


@pytest.mark.parametrize(
    ("text", "description"),
    [("整个井盖都没了，有个大坑", "整个井盖都没了，有个大坑"), ("补充一下，盖子裂了好几道缝", "盖子裂了好几道缝")],
)
async def test_a_condition_is_the_whole_answer(
    text: str, description: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, text, asked="manhole_description")
    assert await run_form(tracker, dispatcher, domain) == {"manhole_description": description, "manhole_retries": 0}


async def test_a_huge_description_is_cut_not_lost(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, "井盖没了" * 1000, asked="manhole_description")
    description = (await run_form(tracker, dispatcher, domain))["manhole_description"]
    assert description.startswith("井盖没了") and len(description) == 200


async def test_a_location_at_the_description_prompt_replaces_the_location(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(
        make_tracker,
        "驿城区雪松路和开源大道交叉口西南角",
        asked="manhole_description",
        slots=FILLED | {"manhole_description": None},
    )
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {
        "manhole_location": "驿城区雪松路和开源大道交叉口西南角",
        "manhole_county": "驿城区",
        "manhole_description": None,
    }
    assert said(dispatcher) == ["utter_manhole_location_updated"]


async def test_an_unclear_description_is_asked_again_then_taken(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    first = await run_form(form_tracker(make_tracker, "就那样", asked="manhole_description"), dispatcher, domain)
    assert first == {"manhole_description": None, "manhole_retries": 1}
    assert said(dispatcher) == ["utter_manhole_description_unclear"]
    again = CollectingDispatcher()
    tracker = form_tracker(make_tracker, "看着不太对劲", asked="manhole_description", slots={"manhole_retries": 1})
    assert await run_form(tracker, again, domain) == {"manhole_description": "看着不太对劲", "manhole_retries": 0}
    assert said(again) == ["utter_manhole_description_accepted"]


# Corrections at any step replace the whole field


@pytest.mark.parametrize(
    ("asked", "text", "expected", "response"),
    [
        (
            "manhole_confirm",
            "地址说错了，是驿城区雪松路和开源大道交叉口西南角",
            {
                "manhole_location": "驿城区雪松路和开源大道交叉口西南角",
                "manhole_county": "驿城区",
                "manhole_confirm": None,
            },
            "utter_manhole_location_updated",
        ),
        (
            "manhole_confirm",
            "位置不对，应该是解放路和文化路交叉口",
            {"manhole_location": "解放路和文化路交叉口", "manhole_confirm": None},
            "utter_manhole_location_updated",
        ),
        (
            "manhole_confirm",
            "情况说错了，是破了一半",
            {"manhole_description": "破了一半", "manhole_confirm": None},
            "utter_manhole_description_updated",
        ),
        (
            "manhole_confirm",
            "县区选错了，是确山县",
            {"manhole_county": "确山县", "manhole_confirm": None},
            "utter_manhole_county_updated",
        ),
        (
            "manhole_description",
            "地址说错了，是驿城区雪松路",
            {"manhole_location": "驿城区雪松路", "manhole_county": "驿城区", "manhole_description": None},
            "utter_manhole_location_updated",
        ),
        (
            "manhole_confirm",
            "位置不对",
            {"manhole_location": None, "manhole_retries": 0, "manhole_confirm": None},
            "utter_manhole_field_again",
        ),
    ],
)
async def test_a_correction_replaces_the_whole_field(
    asked: str,
    text: str,
    expected: dict,
    response: str,
    dispatcher: CollectingDispatcher,
    domain: dict,
    make_tracker: Callable[..., Tracker],
) -> None:
    slots = FILLED if asked == "manhole_confirm" else FILLED | {asked: None}
    tracker = form_tracker(
        make_tracker, text, intent="deny", asked=asked, value=False if asked == "manhole_confirm" else None, slots=slots
    )
    assert await run_form(tracker, dispatcher, domain) == expected
    assert said(dispatcher) == [response]


async def test_a_correction_the_nlu_took_for_a_follow_up_still_corrects(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    """地址 is an aspect word: the slot mappings skip ask_followup, the extraction reads the correction."""
    tracker = make_tracker(
        intent="ask_followup",
        text="地址说错了，是驿城区雪松路和开源大道交叉口",
        slots=FILLED,
        active_loop=FORM,
        requested_slot="manhole_confirm",
    )
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {"manhole_location": "驿城区雪松路和开源大道交叉口", "manhole_county": "驿城区"}


async def test_a_bare_county_the_nlu_took_for_a_follow_up_is_still_the_county(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    """驿城区 alone reads as 那驿城区呢 to the NLU; at the county prompt the entity mapping still fills the slot,
    at the location prompt (no mapping takes ask_followup) the extraction keeps the county."""
    at_county = form_tracker(make_tracker, "驿城区", intent="ask_followup", asked="manhole_county", slots=FILLED)
    assert await run_form(at_county, dispatcher, domain) == {"manhole_county": "驿城区", "manhole_retries": 0}
    at_location = make_tracker(
        intent="ask_followup", text="驿城区", active_loop=FORM, requested_slot="manhole_location"
    )
    assert await run_form(at_location, dispatcher, domain) == {"manhole_county": "驿城区"}
    follow_up = make_tracker(intent="ask_followup", text="要带啥", active_loop=FORM, requested_slot="manhole_location")
    assert await run_form(follow_up, dispatcher, domain) == {}
    assert dispatcher.messages == []


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        (
            "不对，是驿城区雪松路和开源大道交叉口",
            False,
            {"manhole_location": "驿城区雪松路和开源大道交叉口", "manhole_county": "驿城区"},
        ),
        ("不是整个没了，是碎了一半", False, {"manhole_description": "碎了一半"}),
    ],
)
async def test_a_new_value_said_plainly_at_the_confirmation_replaces_the_field(
    text: str,
    value: bool,
    expected: dict,
    dispatcher: CollectingDispatcher,
    domain: dict,
    make_tracker: Callable[..., Tracker],
) -> None:
    tracker = form_tracker(make_tracker, text, intent="deny", asked="manhole_confirm", value=value, slots=FILLED)
    assert await run_form(tracker, dispatcher, domain) == {**expected, "manhole_confirm": None}


# Typed equivalents of the buttons


@pytest.mark.parametrize("text", ["对，提交", "对", "中", "可以", "是的", "没错", "/affirm"])
async def test_typed_yes_submits(
    text: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    value = True if text == "/affirm" else text  # the button sets True; typed text arrives as from_text
    tracker = form_tracker(
        make_tracker, text, intent="nlu_fallback", asked="manhole_confirm", value=value, slots=FILLED
    )
    assert await run_form(tracker, dispatcher, domain) == {"manhole_confirm": True}


@pytest.mark.parametrize(("text", "value"), [("不对，重新填", "不对，重新填"), ("重新填", "重新填"), ("/deny", False)])
async def test_typed_no_starts_over(
    text: str, value: Any, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, text, intent="deny", asked="manhole_confirm", value=value, slots=FILLED)
    assert await run_form(tracker, dispatcher, domain) == {
        "manhole_location": None,
        "manhole_county": None,
        "manhole_description": None,
        "manhole_confirm": None,
        "manhole_retries": 0,
    }
    assert said(dispatcher) == ["utter_manhole_restart"]


@pytest.mark.parametrize("text", ["取消报修", "取消", "不报了"])
async def test_typed_cancel_ends_the_form_without_a_ticket(
    text: str, kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, text, intent="nlu_fallback", asked="manhole_confirm", slots=FILLED)
    slots = await run_form(tracker, dispatcher, domain)
    assert slots == {"manhole_confirm": False, "requested_slot": None}
    ended = make_tracker(intent="nlu_fallback", text=text, slots={**FILLED, "manhole_confirm": False})
    await ActionManholeSubmit().run(dispatcher, ended, domain)
    assert said(dispatcher) == ["utter_manhole_cancelled"]
    assert query.latest_ticket_of("test-resident") is None


async def test_anything_else_at_the_confirmation_gets_a_hint_never_a_ticket(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = form_tracker(make_tracker, "嗯……我想想", intent="nlu_fallback", asked="manhole_confirm", slots=FILLED)
    assert await run_form(tracker, dispatcher, domain) == {"manhole_confirm": None}
    assert said(dispatcher) == ["utter_manhole_confirm_hint"]


# Intro, ticket, cancel


async def test_the_intro_names_the_bureau_the_principle_and_the_safety_steps(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    await ActionManholeIntro().run(dispatcher, make_tracker(intent="report_manhole", text="门口井盖没了"), domain)
    text = dispatcher.messages[0]["text"]
    assert text.startswith("⚠️") and "120" in text
    assert text.index("⚠️") < text.index("驻马店市城市管理局（市城管局）") < text.index("谁所有、谁负责")
    assert text.endswith(domain["responses"]["utter_manhole_intro"][0]["text"])


async def test_the_intro_is_left_out_when_the_entry_is_missing(
    monkeypatch: pytest.MonkeyPatch,
    dispatcher: CollectingDispatcher,
    domain: dict,
    make_tracker: Callable[..., Tracker],
) -> None:
    monkeypatch.setattr(manhole.query, "answer_for_intent", lambda intent: None)
    assert await ActionManholeIntro().run(dispatcher, make_tracker(intent="report_manhole"), domain) == [
        {"event": "slot", "name": "manhole_retries", "value": 0, "timestamp": None}
    ]
    assert dispatcher.messages == []


async def test_submit_creates_a_numbered_ticket_for_the_city_management_bureau(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    slots = {
        "manhole_location": "解放路和文化路口",
        "manhole_county": "驿城区",
        "manhole_description": "整个没了",
        "manhole_confirm": True,
    }
    tracker = make_tracker(intent="affirm", slots=slots, sender_id="r-7")
    events = await ActionManholeSubmit().run(dispatcher, tracker, domain)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_manhole_ticket"
    number = message["number"]
    assert re.fullmatch(r"JG-\d{8}-\d{4}-\d{4}", number)
    assert re.fullmatch(r"\d{6}", message["code"]) and query.check_code_matches(number, message["code"])
    assert message["office"] == "驻马店市城市管理局"
    assert "谁所有、谁负责" in message["next_steps"]
    ticket = query.get_ticket(number)
    assert (ticket.county, ticket.location, ticket.description, ticket.status) == (
        "驿城区",
        "解放路和文化路口",
        "整个没了",
        "受理",
    )
    assert {"event": "slot", "name": "last_ticket_id", "value": number, "timestamp": None} in events
    assert {"event": "slot", "name": "manhole_location", "value": None, "timestamp": None} in events


async def test_cancel_clears_the_form_and_files_nothing(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    events = await ActionManholeCancel().run(dispatcher, make_tracker(intent="stop"), domain)
    assert dispatcher.messages[0]["response"] == "utter_manhole_cancelled"
    assert all(not e["value"] for e in events)
    assert query.latest_ticket_of("test-resident") is None


def test_every_response_the_form_and_ticket_actions_name_is_in_the_domain(domain: dict) -> None:
    """rasa-sdk sends a misspelt response name on without complaint; Rasa then says nothing."""
    sources = [ROOT / "actions/forms/manhole.py", ROOT / "actions/tickets.py"]
    named = set(re.findall(r'"(utter_[a-z_]+)"', "".join(Path(p).read_text(encoding="utf-8") for p in sources)))
    assert len(named) > 25 and named <= set(domain["responses"])
