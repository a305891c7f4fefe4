"""Answers from the KB, the honest fallback, and handing over to a person."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.render import (
    aspect_known,
    aspect_text,
    compact_text,
    followup_buttons,
    office_label,
    overview_text,
    template,
    topic_buttons,
)
from bot.nlu.aspects import PERSON, SCOPE_WORDS, aspects_in, leftover
from bot.text import squeeze, to_simplified
from kb import faq, query

logger = logging.getLogger(__name__)
HOTLINE_INTENT = "ask_human"  # the KB entry `hotline` answers this intent with the 12345 facts
FOLLOWUP_INTENT = "ask_followup"  # set by bot.nlu.dialogue_acts: the message names only an aspect
OVERVIEW = "overview"  # the `aspect` slot after a first answer to a topic
# 社保卡咋办 / 找哪个部门 about a new topic asks for the whole of it: the first answer, office and core procedure.
GENERAL_ASPECTS = {"steps", "office"}


def intent_of(tracker: Tracker) -> str:
    """The classified intent itself (nlu_fallback included; rasa-sdk's helper skips it)."""
    return str((tracker.latest_message.get("intent") or {}).get("name") or "")


def topic_of(tracker: Tracker) -> str:
    """The KB intent to answer: a staff FAQ's retrieval intent (faq/f0001) when the ResponseSelector chose one."""
    return faq.topic_intent(tracker.latest_message.get("intent") or {})


def _hotline(dispatcher: CollectingDispatcher) -> None:
    hotline = query.answer_for_intent(HOTLINE_INTENT)
    if hotline:
        dispatcher.utter_message(text=hotline.answer)
    else:
        dispatcher.utter_message(response="utter_service_unavailable")


class ActionAnswerTopic(Action):
    """Answer from the KB, read now: the topic asked, or for a follow-up the aspect asked of the current topic.

    The slots `topic`/`previous_topic` keep the conversation's topic, `aspect` what was last asked of it;
    `answered_topics` records what this turn answered (the conversation log and `make holdout` read it).
    """

    def name(self) -> str:
        return "action_answer_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        intent = topic_of(tracker)
        topic = tracker.get_slot("topic") if intent == FOLLOWUP_INTENT else intent
        aspects = asked_aspects(tracker)
        if not topic:
            dispatcher.utter_message(response="utter_ask_topic_first")
            return [SlotSet("answered_topics", [])]
        try:
            turn = plan_turn(tracker, topic, intent == FOLLOWUP_INTENT, aspects)
        except SQLAlchemyError:
            logger.exception("KB unreachable (check DATABASE_URL) while answering intent %s", topic)
            dispatcher.utter_message(response=_offline_response(topic))
            return []
        if not turn:
            logger.error("No KB entry answers intent %s: add one under kb/entries/", topic)
            dispatcher.utter_message(response="utter_cannot_answer")
            _hotline(dispatcher)
            return [SlotSet("answered_topics", [])]
        return say_turn(dispatcher, tracker, domain, turn, aspects)


def asked_aspects(tracker: Tracker) -> list[str]:
    """Aspects the message asked (entity `aspect`); `same` (那停车位呢) repeats the previous turn's aspect."""
    aspects = [str(a) for a in tracker.get_latest_entity_values("aspect")]
    previous = tracker.get_slot("aspect")
    if "same" in aspects:
        aspects = [previous] if previous and previous != OVERVIEW else []
    return [a for a in dict.fromkeys(aspects) if a]


def plan_turn(tracker: Tracker, topic: str, followup: bool, aspects: list[str]) -> list[query.TopicAnswer]:
    """The topics to answer, in the order asked: the classified one and any other a clause of the message names."""
    answer = query.answer_for_intent(topic)
    if answer is None:
        return []
    if followup:
        return [answer]
    text = tracker.latest_message.get("text") or ""
    if aspects:  # reads like a follow-up: the current topic wins if the words fit it better (打工 -> 就业)
        answer = current_if_closer(text, answer, tracker.get_slot("topic"))
    return topics_in_order(text, answer, diet_ranking(tracker))


def other_county_asked(text: str, answer: query.TopicAnswer) -> str | None:
    """The county a question names when the topic is one county's own (确山县's vegetable base) and it is another."""
    if not answer.office_short.endswith("县"):
        return None
    counties = COUNTIES.findall(to_simplified(text))
    if any(answer.office_short.startswith(county) for county in counties):
        return None  # 俺是泌阳哩 想去确山基地干活: its own county is asked about
    return counties[0] if counties else None


def refers_back(text: str) -> bool:
    """The question is about what was just talked about: "also" (他也能办一张不), "this matter", or "can (he / my
    child / we) do it?" with no object after the verb (俺孩子才上小学 能办不)."""
    simplified = squeeze(text)
    return bool(
        REFERS_BACK.search(simplified) or (ASKS_FOR_SOMEONE.search(simplified) and OBJECTLESS.search(simplified))
    )


def only_place_links(text: str, classified: query.TopicAnswer) -> bool:
    """The classified topic shares only a place name with the question (确山县能建几个 while talking about parking
    spaces: 确山 is also the vegetable base's county): a place narrows the question, it does not change the topic."""
    with_places = query.ranked(text, answers=[classified])
    without = query.ranked(SCOPE_WORDS.sub("", to_simplified(text)), answers=[classified])
    return bool(with_places) and not without


def current_if_closer(text: str, classified: query.TopicAnswer, current: str | None) -> query.TopicAnswer:
    """The current topic instead of the classified one when the words fit it better, or when the question refers
    back to it ("also": 俺弟还在上初中 他也能办一张不 asks about the card, though 初中 is a school word)."""
    current_answer = query.answer_for_intent(current) if current and current != classified.intent else None
    if current_answer is None:
        return classified
    if refers_back(text) or only_place_links(text, classified):
        return current_answer
    scores = {a.intent: score for score, a in query.ranked(text, answers=[classified, current_answer])}
    if scores.get(current_answer.intent, 0) > scores.get(classified.intent, 0) < CLEAR_TOPIC_SCORE:
        return current_answer
    return classified


def say_turn(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: DomainDict,
    turn: list[query.TopicAnswer],
    aspects: list[str],
) -> List[Dict[str, Any]]:
    main = turn[0]
    question = tracker.latest_message.get("text") or ""
    other_county = other_county_asked(question, main) if len(turn) == 1 else None
    if other_county:  # 那泌阳呢 about 确山's vegetable base: the briefing says nothing of 泌阳
        county = main.office_short
        text = template(domain, "utter_other_county", title=main.title, county=county, asked=other_county)
        dispatcher.utter_message(text=text)
        return [SlotSet("answered_topics", [])]
    if len(turn) > 1:
        say_several(dispatcher, domain, turn)
        aspect = OVERVIEW
    elif "more" in aspects:
        say_more(dispatcher, domain, main)
        aspect = "more"
    elif aspects and not (main.intent != tracker.get_slot("topic") and set(aspects) <= GENERAL_ASPECTS):
        say_aspects(dispatcher, domain, main, aspects, changed=main.intent != tracker.get_slot("topic"))
        aspect = aspects[-1]
    else:
        text = overview_text(main, domain, question)
        dispatcher.utter_message(text=text, buttons=followup_buttons(main, domain, []))
        # 社保卡咋办 / 找谁 about a new topic: the overview (office and core procedure) answers what was asked.
        aspect = aspects[-1] if aspects and set(aspects) <= GENERAL_ASPECTS else OVERVIEW
    current = turn[-1].intent
    previous = tracker.get_slot("topic")
    return [
        SlotSet("topic", current),
        SlotSet("previous_topic", previous if previous != current else tracker.get_slot("previous_topic")),
        SlotSet("aspect", aspect),
        SlotSet("answered_topics", [answer.intent for answer in turn]),
    ]


def say_aspects(
    dispatcher: CollectingDispatcher, domain: DomainDict, answer: query.TopicAnswer, aspects: list[str], changed: bool
) -> None:
    """Just what was asked, for this topic; what the KB lacks is said for the topic, with the office and 12345."""
    parts = [template(domain, "utter_part_topic", title=answer.title, office=answer.office_short or answer.office_name)]
    if changed and "office" not in aspects:  # a new topic named with its aspect: say who handles it first
        parts.append(template(domain, "utter_part_office", office=office_label(answer)))
    parts += [aspect_text(answer, aspect, domain) for aspect in aspects]
    if not all(aspect_known(answer, aspect) for aspect in aspects):
        parts.append(template(domain, "utter_unknown_next", office=answer.office_short or answer.office_name))
    dispatcher.utter_message(text="\n".join(parts), buttons=followup_buttons(answer, domain, aspects))


def say_more(dispatcher: CollectingDispatcher, domain: DomainDict, answer: query.TopicAnswer) -> None:
    """还有别的吗: the other topics of the same office, then related ones of other offices; never a goodbye."""
    same_office = [a for a in query.office_topics(answer.office_id) if a.intent != answer.intent][:6]
    related = [a for a in query.answers_by_id(answer.related) if a.office_id != answer.office_id][:3]
    office = answer.office_short or answer.office_name
    if same_office:
        text = template(domain, "utter_office_more", office=office)
        dispatcher.utter_message(text=text, buttons=topic_buttons(same_office))
    else:
        dispatcher.utter_message(text=template(domain, "utter_no_more_topics", office=office))
    if related:
        dispatcher.utter_message(response="utter_related_elsewhere", buttons=office_buttons(related))


def say_several(dispatcher: CollectingDispatcher, domain: DomainDict, turn: list[query.TopicAnswer]) -> None:
    """Two or three topics in one message: each, compactly, in the order asked (one message each)."""
    for number, answer in enumerate(turn):
        head = [template(domain, "utter_part_next_topic", title=answer.title)] if number else []
        text = "\n".join([*head, compact_text(answer, domain)])
        last = number == len(turn) - 1
        dispatcher.utter_message(text=text, buttons=followup_buttons(answer, domain, []) if last else [])


# A clause boundary in a message that asks several things: punctuation, spaces, 另外, 还有, 顺便问一下, 以及 ...
_CONNECTIVES = r"另外|还有就是|还有|顺便问一下|顺便问下|顺便问问|顺便|以及|再一个|再问一下|再问下|再就是|同时"
CLAUSE_BREAK = re.compile(rf"[。？?！!；;，,、\s]+|({_CONNECTIVES})")
CONNECTIVE = re.compile(_CONNECTIVES)
# "Also" in a yes/no question, "this matter": the question is about what was just talked about.
REFERS_BACK = re.compile(r"也(能|可以|有|算|中|行|收|管|要|得)|这事|这个事|这件事|这项")
# "Can (he / my child / we) do it?" with no object after the verb: "it" is the current topic
# (俺孩子才上小学 能办不, 俺是信阳哩 在驻马店打工 能在这办不); the words before only describe the person.
OBJECTLESS = re.compile(
    r"(能|可以|中)(在这|在这儿|在这里|在那|自己)?(办|用|领|申请|报|弄)(一张|一个|个)?(不|吗|么|嘛)\W*$"
)
ASKS_FOR_SOMEONE = re.compile(rf"{PERSON.pattern}|俺|我|咱")
COUNTIES = re.compile(r"驿城区|西平|上蔡|平舆|正阳|确山|泌阳|汝南|遂平|新蔡")
# A question word, a question mark or a sentence-final question particle.
QUESTION = re.compile(
    r"[?？吗呢么嘛]|[不没]$|咋|怎|啥|什么|哪|多少|几|谁|能不能|是不是|有没有|可不可以|中不中|行不行|"
    r"(要|想|打算|准备)(办|装|领|申请|报|问|了解|弄|配|找|咨询)"
)
CLEAR_TOPIC_SCORE = 3  # a whole KB keyword of 2+ characters and a shared word, at least
RANKED_TOPIC_SCORE = 2  # enough when DIET also ranks that topic among its top three


def clauses_of(text: str) -> list[tuple[str, bool]]:
    """The clauses of a message, each with whether a connective introduced it (另外, 顺便问下: a question follows)."""
    clauses: list[tuple[str, bool]] = []
    introduced = False
    for part in CLAUSE_BREAK.split(to_simplified(text)):
        if not part:
            continue
        if CONNECTIVE.fullmatch(part):
            introduced = True
        elif not CLAUSE_BREAK.fullmatch(part) and len(part) >= 2:
            clauses.append((part, introduced))
            introduced = False
    return clauses


def place_main(
    main: query.TopicAnswer, clauses: list[str], found: list[query.TopicAnswer | None]
) -> list[query.TopicAnswer | None]:
    """DIET's topic, named by no clause as its best: it goes to the clause that names it too (重度残疾人能不能送去托养
    is 托养 though 重度残疾人 scores barrier-free higher), else to the first clause without a topic; with two clear
    topics already, DIET's guess on the mixed message is left out."""
    scores = [dict((a.intent, score) for score, a in query.ranked(clause, answers=[main])) for clause in clauses]
    naming = [i for i, score in enumerate(scores) if score.get(main.intent, 0) >= RANKED_TOPIC_SCORE]
    if naming:
        return [main if i == naming[0] else a for i, a in enumerate(found)]
    if len({a.intent for a in found if a}) >= 2:
        return found
    free = found.index(None) if None in found else 0
    return [*found[:free], main, *found[free:]]


def topics_in_order(
    text: str, main: query.TopicAnswer | None, ranking: list[str] | None = None
) -> list[query.TopicAnswer]:
    """The classified topic and any other topic a clause names clearly, in the order the message asks them.

    A clause names a topic when the KB keyword search scores it clearly, or scores it and DIET ranks it too.
    """
    clauses = clauses_of(text)
    if len(clauses) < 2:
        return [main] if main else []
    answers = query.all_answers()
    likely = (ranking or [])[:3]
    found: list[query.TopicAnswer | None] = [
        # A clause that asks nothing (在上海打工, 俺家实在照顾不过来了) tells the situation: it adds no topic.
        clause_topic(clause, answers, likely) if asks(clause) or introduced else None
        for clause, introduced in clauses
    ]
    if main is not None and main.intent not in {a.intent for a in found if a}:
        found = place_main(main, [clause for clause, _ in clauses], found)
    unique: dict[str, query.TopicAnswer] = {}
    for answer in found:
        if answer is not None:
            unique.setdefault(answer.intent, answer)
    return list(unique.values())[:3]


def asks(clause: str) -> bool:
    """The clause is a question or a request: a question word or an aspect of a topic."""
    return QUESTION.search(clause) is not None or bool(aspects_in(squeeze(clause)))


def clause_topic(clause: str, answers: list[query.TopicAnswer], likely: list[str]) -> query.TopicAnswer | None:
    """The topic a clause names clearly: the best keyword score; in a tie the topic whose main keyword it is
    (社保卡: the card itself, not its postal delivery), else the one DIET ranks higher; else none."""
    best = query.ranked(clause, answers=answers)
    if not best:
        return None
    top_score = best[0][0]
    tied = [answer for score, answer in best if score == top_score]
    primary = [a for a in tied if a.keywords and a.keywords[0] in clause]
    ranked_tied = sorted((a for a in tied if a.intent in likely), key=lambda a: likely.index(a.intent))
    chosen = tied[0] if len(tied) == 1 else primary[0] if len(primary) == 1 else next(iter(ranked_tied), None)
    if chosen is None:
        return None
    # A weak match (有没有上保险: 保险) names a topic only if DIET ranks it first for the whole message.
    clear = top_score >= CLEAR_TOPIC_SCORE or (top_score >= RANKED_TOPIC_SCORE and chosen.intent in likely[:1])
    return chosen if clear else None


def diet_ranking(tracker: Tracker) -> list[str]:
    ranking = tracker.latest_message.get("intent_ranking") or []
    return [str(r.get("name")) for r in ranking if r.get("name") not in {"nlu_fallback", FOLLOWUP_INTENT}]


def _offline_response(intent: str) -> str:
    """When the KB cannot be read, an emergency still gets its safety steps."""
    if intent == "report_elevator_trapped":
        return "utter_elevator_trapped_offline"
    return "utter_emergency_offline" if intent.startswith("emergency_") else "utter_service_unavailable"


class ActionKbFallback(Action):
    """Ask rather than refuse when the KB has candidates; say plainly we can't answer, with 12345, when it has none.

    Candidates of one office: name that office and offer its topics. Of several offices: ask which, with buttons.
    Out of scope (公积金, 驾驶证, other cities): no candidates at all, never a guessed office.
    """

    def name(self) -> str:
        return "action_kb_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        try:
            current_topic = about_current_topic(tracker, text, []) if intent_of(tracker) == "out_of_scope" else None
            if current_topic:
                return say_turn(dispatcher, tracker, domain, [current_topic], asked_aspects(tracker))
            several = topics_in_order(text, None, diet_ranking(tracker)) if intent_of(tracker) != "out_of_scope" else []
            if len(several) > 1:  # unsure because it asks two things at once: answer both
                return say_turn(dispatcher, tracker, domain, several, [])
            closest = query.search(text, limit=3) if text.strip() and intent_of(tracker) != "out_of_scope" else []
            current = [a for a in closest if a.intent == tracker.get_slot("topic")]
            if current:  # unsure in general, but the words fit the topic we are talking about
                return say_turn(dispatcher, tracker, domain, current, asked_aspects(tracker))
            current_topic = about_current_topic(tracker, text, closest)
            if current_topic:
                return say_turn(dispatcher, tracker, domain, [current_topic], asked_aspects(tracker))
            agreed = agreed_topic(text, diet_ranking(tracker)) if closest else None
            if agreed:  # a long message DIET was unsure of, but its words and DIET's ranking point at one topic
                return say_turn(dispatcher, tracker, domain, [agreed], asked_aspects(tracker))
            if not closest:
                dispatcher.utter_message(response="utter_cannot_answer")
                _hotline(dispatcher)
            elif len({answer.office_id for answer in closest}) == 1:
                office = office_label(closest[0])
                text = template(domain, "utter_same_office", office=office)
                dispatcher.utter_message(text=text, buttons=topic_buttons(closest))
            else:
                dispatcher.utter_message(response="utter_which_office", buttons=office_buttons(closest))
        except SQLAlchemyError:
            logger.exception("KB unreachable during fallback")
            dispatcher.utter_message(response="utter_service_unavailable")
        return [SlotSet("answered_topics", [])]


def about_current_topic(tracker: Tracker, text: str, closest: list[query.TopicAnswer]) -> query.TopicAnswer | None:
    """An aspect asked of the current topic, though DIET was unsure (有咨询电话没, 要不要各家摊钱) or read it as out of
    scope: when no other topic is named clearly and, if DIET read it as out of scope, every word left besides the
    aspect is one the topic's KB entry uses (要带身份证不, 入园得准备啥材料 — not 身份证过期了咋弄)."""
    topic = tracker.get_slot("topic")
    if not topic or not asked_aspects(tracker) or (clearly_other(closest, text) and not refers_back(text)):
        return None
    current = query.answer_for_intent(topic)
    if current is None:
        return None
    if intent_of(tracker) == "out_of_scope" and not query.grounded_in(leftover(squeeze(text)), current):
        return None
    return current


def clearly_other(closest: list[query.TopicAnswer], text: str) -> bool:
    """The keyword search names some topic clearly (a whole keyword and more)."""
    best = query.ranked(text, answers=closest)
    return bool(best) and best[0][0] >= CLEAR_TOPIC_SCORE


def agreed_topic(text: str, ranking: list[str]) -> query.TopicAnswer | None:
    """The KB keyword search's clear winner, when DIET ranks it among its first three too; else None (ask)."""
    best = query.ranked(text)
    if not best or best[0][0] < CLEAR_TOPIC_SCORE or best[0][1].intent not in ranking[:3]:
        return None
    if len(best) > 1 and best[1][0] > best[0][0] - RANKED_TOPIC_SCORE:
        return None
    return best[0][1]


def office_buttons(answers: list[query.TopicAnswer]) -> list[dict[str, str]]:
    """Candidates of different offices: each button says the office too (市人社局：社保卡办理)."""
    return [{"title": f"{a.office_short or a.office_name}：{a.title}", "payload": f"/{a.intent}"} for a in answers]


class ActionHandoff(Action):
    """转人工: give the 12345 hotline and mark the conversation for staff follow-up."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        try:
            query.record_followup(tracker.sender_id, "ask_human")
            dispatcher.utter_message(response="utter_handoff_recorded")
            _hotline(dispatcher)
        except SQLAlchemyError:
            logger.exception("could not record a handoff")
            dispatcher.utter_message(response="utter_service_unavailable")
        return [SlotSet("handoff_requested", True)]
