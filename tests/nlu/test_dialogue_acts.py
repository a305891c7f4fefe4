"""What kind of turn a message is (bot/nlu/dialogue_acts.py) after DIET and the FallbackClassifier have run, and the
aspect phrases it reads (bot/nlu/aspects.py). Messages are built as the pipeline hands them over: text, DIET's
`intent` and `intent_ranking` (nlu_fallback first when the FallbackClassifier fired)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.config import ROOT
from bot.nlu.aspects import ASPECTS, aspects_in, button_intent
from bot.nlu.dialogue_acts import DIALOGUE_ACT, EXTRACTOR, DialogueActs, topic_keywords
from bot.text import squeeze

ACTS = DialogueActs(topic_keywords(ROOT / "kb" / "entries"))


def classified(text: str, *ranking: str, entities: list[dict[str, Any]] | None = None) -> Message:
    """A message as DIET (and the FallbackClassifier) left it, then run through DialogueActs."""
    names = ranking or ("nlu_fallback",)
    intent_ranking = [{"name": name, "confidence": round(0.6 / (rank + 1), 3)} for rank, name in enumerate(names)]
    message = Message(
        data={TEXT: text, INTENT: dict(intent_ranking[0]), INTENT_RANKING_KEY: intent_ranking, ENTITIES: entities or []}
    )
    assert ACTS.process([message]) == [message]
    return message


def intent(message: Message) -> str:
    return str(message.get(INTENT)["name"])


def values(message: Message, entity: str) -> list[str]:
    return [e["value"] for e in message.get(ENTITIES) or [] if e["entity"] == entity]


def act(message: Message) -> dict[str, Any] | None:
    return message.get(DIALOGUE_ACT)


# Follow-ups that name only an aspect of the conversation's topic, whatever DIET guessed.
FOLLOWUPS = [
    ("要带啥", ("ask_sscard_apply", "ask_sscard_mail"), ["bring"]),
    ("需要准备什么材料", ("nlu_fallback", "ask_barrier_free"), ["bring"]),
    ("在哪儿办", ("ask_sscard_apply",), ["where"]),
    ("去哪办呀", ("nlu_fallback", "ask_online_appointment"), ["where"]),
    ("多久能拿到", ("ask_sscard_apply",), ["how_long"]),
    ("要等几天", ("nlu_fallback", "greet"), ["how_long"]),
    ("收费吗", ("nlu_fallback",), ["cost"]),
    ("要不要钱呀", ("ask_sscard_mail",), ["cost"]),
    ("电话是多少", ("nlu_fallback", "ask_human"), ["contact"]),
    ("哪个部门管", ("nlu_fallback",), ["office"]),
    ("找谁", ("nlu_fallback",), ["office"]),
    ("怎么申请", ("nlu_fallback", "ask_child_rehab"), ["steps"]),
    ("流程是啥", ("nlu_fallback",), ["steps"]),
    ("我奶奶能办吗", ("nlu_fallback",), ["eligible"]),
    ("还有别的吗", ("goodbye",), ["more"]),  # never a goodbye
    ("还有其他的吗", ("nlu_fallback", "goodbye"), ["more"]),
    ("要带啥，在哪办", ("nlu_fallback",), ["bring", "where"]),
]


@pytest.mark.parametrize(("text", "ranking", "aspects"), FOLLOWUPS)
def test_aspect_only_message_is_a_followup_with_its_aspects(
    text: str, ranking: tuple[str, ...], aspects: list[str]
) -> None:
    message = classified(text, *ranking)
    assert intent(message) == "ask_followup"
    assert values(message, "aspect") == aspects
    assert act(message) == {"rule": "followup", "diet_intent": ranking[0]}


def test_followup_keeps_diets_ranking_after_its_own_intent() -> None:
    message = classified("要带啥", "ask_sscard_apply", "ask_sscard_mail")
    ranking = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    assert ranking == ["ask_followup", "ask_sscard_apply", "ask_sscard_mail"]
    assert message.get(INTENT)["confidence"] == 1.0
    entity = message.get(ENTITIES)[0]
    assert entity["extractor"] == EXTRACTOR and (entity["start"], entity["end"]) == (0, len("要带啥"))


@pytest.mark.parametrize(("text", "ranking"), [("那我爸呢", ("nlu_fallback",)), ("那俺妈呢", ("ask_sscard_apply",))])
def test_what_about_a_person_asks_whether_they_are_eligible(text: str, ranking: tuple[str, ...]) -> None:
    message = classified(text, *ranking)
    assert intent(message) == "ask_followup"
    assert values(message, "aspect") == ["eligible"]
    assert act(message)["rule"] == "followup_person"


@pytest.mark.parametrize("text", ["县里呢", "那农村呢", "乡镇上呢"])
def test_what_about_a_place_repeats_the_aspect(text: str) -> None:
    message = classified(text, "nlu_fallback", "ask_parking_spaces")
    assert intent(message) == "ask_followup"
    assert values(message, "aspect") == ["same"]
    assert act(message)["rule"] == "followup_scope"


@pytest.mark.parametrize(
    ("text", "diet", "aspects"),
    [
        ("社保卡在哪办", "ask_sscard_apply", ["where"]),
        ("社保卡要带啥", "ask_sscard_apply", ["bring"]),
        ("办社保卡要多久", "ask_sscard_apply", ["how_long"]),
        ("电梯老坏找谁", "ask_elevator_safety", ["office"]),
        ("残疾人辅助器具要钱吗", "ask_assistive_devices", ["cost"]),
    ],
)
def test_topic_and_aspect_keep_diets_intent_and_gain_the_aspect(text: str, diet: str, aspects: list[str]) -> None:
    message = classified(text, diet, "ask_sscard_mail")
    assert intent(message) == diet
    assert values(message, "aspect") == aspects
    assert act(message) == {"rule": "topic_aspect", "diet_intent": diet}
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == [diet, "ask_sscard_mail"]


def test_what_about_another_topic_keeps_diets_topic_with_the_same_aspect() -> None:
    message = classified("那停车位呢", "ask_parking_spaces", "ask_old_estate_renovation")
    assert intent(message) == "ask_parking_spaces"
    assert values(message, "aspect") == ["same"]
    assert act(message) == {"rule": "what_about", "diet_intent": "ask_parking_spaces"}


@pytest.mark.parametrize(
    ("text", "diet", "button"),
    [
        ("不对，重新填", "affirm", "deny"),
        ("不对 重新填", "nlu_fallback", "deny"),
        ("对", "nlu_fallback", "affirm"),
        ("对，提交", "deny", "affirm"),
        ("对！！", "nlu_fallback", "affirm"),
        ("取消报修", "nlu_fallback", "stop"),
        ("取消报修", "report_manhole", "stop"),
        ("算了", "nlu_fallback", "stop"),
    ],
)
def test_typed_button_text_is_the_buttons_intent(text: str, diet: str, button: str) -> None:
    message = classified(text, diet)
    assert intent(message) == button
    assert values(message, "aspect") == []
    assert act(message) == {"rule": "button_text", "diet_intent": diet}


@pytest.mark.parametrize(
    ("text", "diet", "kind"),
    [
        ("电梯困人了", "ask_elevator_safety", "elevator_trapped"),
        ("電梯困人了！！！", "greet", "elevator_trapped"),
        ("dianti kunren le", "nlu_fallback", "elevator_trapped"),
        ("电梯里有人晕倒了", "report_elevator_trapped", "elevator_danger"),
        ("有人掉进井里了", "report_manhole", "manhole_fall"),
        ("马路上井盖没了车来车往", "report_manhole", "open_hole"),
        ("厨房着火了", "out_of_scope", "fire"),
        ("对，电梯困人了", "affirm", "elevator_trapped"),  # an emergency beats a typed button
    ],
)
def test_emergency_wins_whatever_diet_said(text: str, diet: str, kind: str) -> None:
    message = classified(text, diet)
    assert intent(message) == "report_emergency"
    assert values(message, "emergency") == [kind]
    assert act(message) == {"rule": "emergency", "diet_intent": diet}
    assert message.get(INTENT_RANKING_KEY)[0] == {"name": "report_emergency", "confidence": 1.0}


@pytest.mark.parametrize(
    "text", ["低保咋申请", "公积金要带啥", "驾驶证在哪办", "护照多久能办好", "那低保呢", "今天天气怎么样"]
)
def test_out_of_scope_subject_with_an_aspect_stays_out_of_scope(text: str) -> None:
    # never a follow-up; the aspect is passed on so that the fallback can check whether the words left are the
    # current topic's own (tests/actions/test_conversation.py), a 那X呢 subject not even that
    message = classified(text, "out_of_scope", "nlu_fallback")
    assert intent(message) == "out_of_scope"
    aspects = values(message, "aspect")
    assert aspects == ([] if text.startswith("那") else aspects_in(squeeze(text)))


@pytest.mark.parametrize(
    ("text", "diet"),
    [
        ("/ask_sscard_apply", "ask_sscard_apply"),
        ("/affirm", "affirm"),
        ('/ask_followup{"aspect": "bring"}', "ask_followup"),
        ("/report_elevator_trapped", "report_elevator_trapped"),
    ],
)
def test_payload_messages_are_untouched(text: str, diet: str) -> None:
    message = classified(text, diet)
    assert intent(message) == diet
    assert message.get(ENTITIES) == []
    assert act(message) is None


def test_plain_chitchat_is_untouched() -> None:
    message = classified("你好", "greet")
    assert intent(message) == "greet" and message.get(ENTITIES) == [] and act(message) is None


def test_existing_entities_are_kept() -> None:
    county = {"entity": "county", "value": "确山县", "start": 0, "end": 2, "extractor": "DIETClassifier"}
    message = classified("确山的社保卡在哪办", "ask_sscard_apply", entities=[county])
    assert message.get(ENTITIES)[0] == county
    assert values(message, "aspect") == ["where"]


def test_topic_keywords_name_subjects_not_people_or_aspects() -> None:
    keywords = topic_keywords(ROOT / "kb" / "entries")
    assert {"社保卡", "停车位", "电梯"} <= keywords
    assert not {"电话", "免费", "老人"} & keywords


PHRASINGS = {
    "more": ["还有没有其他业务", "别的呢", "还能办啥"],
    "cost": ["收不收费", "要交钱吗", "是免费的吗"],
    "bring": ["带啥去", "需要哪些材料", "要准备什么证件"],
    "where": ["在哪里办理", "地址在哪", "离我近的网点有吗"],
    "how_long": ["多长时间能好", "几天能拿到", "什么时候能办好"],
    "contact": ["电话号码给一个", "怎么联系他们", "有热线吗"],
    "office": ["这归哪个部门", "找谁办", "谁负责这事"],
    "eligible": ["我妈能代办吗", "外地人可以办吗", "要什么条件"],
    "figures": ["有多少个", "进度怎么样了", "比例是多少"],
    "steps": ["得咋申请啊", "流程是什么", "怎么预约"],
}


@pytest.mark.parametrize(("text", "aspect"), [(text, aspect) for aspect, texts in PHRASINGS.items() for text in texts])
def test_aspects_in_reads_each_aspect(text: str, aspect: str) -> None:
    assert aspects_in(squeeze(text)) == [aspect]


def test_every_aspect_has_phrasings() -> None:
    assert set(PHRASINGS) == set(ASPECTS)


@pytest.mark.parametrize(
    ("text", "aspects"),
    [
        ("要带啥在哪办", ["bring", "where"]),
        ("多少钱", ["cost"]),  # cost, not figures
        ("电话是多少", ["contact"]),  # the number to call, not figures
        ("要带结婚证不", ["bring"]),  # what to bring, not who may
        ("你好", []),
        ("社保卡", []),
    ],
)
def test_aspects_in_resolves_overlaps(text: str, aspects: list[str]) -> None:
    assert aspects_in(squeeze(text)) == aspects


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("不对，重新填", "deny"),
        ("重填", "deny"),
        ("对，提交", "affirm"),
        ("  好的  ", "affirm"),
        ("是", "affirm"),
        ("取消报修", "stop"),
        ("不用了", "stop"),
        ("好的谢谢", None),
        ("不对吧我问的是社保卡", None),
        ("取消报修吧我自己打电话", None),
        ("", None),
    ],
)
def test_button_intent_only_for_messages_that_are_nothing_else(text: str, expected: str | None) -> None:
    assert button_intent(text) == expected


def test_a_staff_faq_with_an_aspect_word_stays_that_faq() -> None:
    """想献血去哪 has 去哪 (where) and no KB keyword, but the FAQ selector knows it: it is no follow-up."""
    message = Message(
        data={
            "text": "想献血去哪",
            "intent": {"name": "faq", "confidence": 0.93},
            "intent_ranking": [{"name": "faq", "confidence": 0.93}],
        }
    )
    DialogueActs(topic_keywords(ROOT / "kb/entries")).process([message])
    assert message.get("intent")["name"] == "faq"


# Follow-ups with words of their own that are not a new subject (written for the second round of rules; the
# conversation hold-out measures the rest).
@pytest.mark.parametrize(
    ("text", "ranking", "aspects"),
    [
        ("俺是个体户 自己交社保哩 也能去不", ("nlu_fallback", "ask_social_bank_service"), ["eligible"]),
        ("打啥号", ("nlu_fallback", "greet"), ["contact"]),
        ("要不要各家摊钱", ("nlu_fallback",), ["cost"]),
        ("一般几分钟能到", ("nlu_fallback",), ["how_long"]),
        ("这归哪儿管", ("nlu_fallback",), ["office"]),
        ("离俺家最近哩点咋找", ("nlu_fallback",), ["where"]),
        ("哪个部门负责", ("ask_manhole_info",), ["office"]),  # DIET's guess from 谁所有谁负责
        ("俺们汝南哩也能办不", ("nlu_fallback", "ask_runan_streetlights"), ["eligible"]),  # a county is no topic
    ],
)
def test_a_followup_may_say_more_than_its_aspect(text: str, ranking: tuple[str, ...], aspects: list[str]) -> None:
    message = classified(text, *ranking)
    assert intent(message) == "ask_followup"
    assert values(message, "aspect") == aspects


def test_a_topic_diet_is_sure_of_is_no_followup() -> None:
    # 社保的业务能不能在银行办 opens a conversation: DIET knows the subject, so it stays DIET's topic
    message = classified("社保的业务能不能在银行办", "ask_social_bank_service")
    assert intent(message) == "ask_social_bank_service"


@pytest.mark.parametrize("text", ["那村里网线啥时候通", "那驾照咋考"])
def test_na_with_a_subject_the_kb_does_not_know_is_no_followup(text: str) -> None:
    message = classified(text, "nlu_fallback", "ask_runan_streetlights")
    assert intent(message) != "ask_followup"


@pytest.mark.parametrize("text", ["俺们西平县呢", "各县加起来呢", "那上蔡县呢"])
def test_a_county_alone_asks_the_same_about_it(text: str) -> None:
    message = classified(text, "nlu_fallback", "ask_culture_performances")
    assert intent(message) == "ask_followup"
    assert values(message, "aspect") == ["same"]


@pytest.mark.parametrize(
    ("text", "aspects"),
    [
        ("当天能拿到手不", ["how_long"]),  # a yes/no question about time asks the time, not who may
        ("要收手续费不", ["cost"]),
        ("在哪几个地方", ["where"]),
        ("今年给多少人装了", ["figures"]),
        ("电梯里贴哩二维码 扫了能看维保记录不", []),  # what the service does: no aspect
    ],
)
def test_the_more_specific_aspect_wins(text: str, aspects: list[str]) -> None:
    assert aspects_in(squeeze(text)) == aspects
