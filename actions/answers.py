"""Answers from the KB, the honest fallback, and handing over to a person."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.render import answer_text, template, topic_buttons
from kb import faq, query

logger = logging.getLogger(__name__)
HOTLINE_INTENT = "ask_human"  # the KB entry `hotline` answers this intent with the 12345 facts


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
    """Answer the resident's topic with the office, procedure and (if asked) figures, read from the KB now."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        intent = topic_of(tracker)
        try:
            answer, related = query.answer_with_related(intent)
        except SQLAlchemyError:
            logger.exception("KB unreachable (check DATABASE_URL) while answering intent %s", intent)
            dispatcher.utter_message(response=_offline_response(intent))
            return []
        if answer is None:
            logger.error("No KB entry answers intent %s: add one under kb/entries/", intent)
            dispatcher.utter_message(response="utter_cannot_answer")
            _hotline(dispatcher)
            return []
        text = answer_text(answer, domain, tracker.latest_message.get("text") or "")
        dispatcher.utter_message(text=text, buttons=topic_buttons(related))
        return []


def _offline_response(intent: str) -> str:
    """When the KB cannot be read, an emergency still gets its safety steps."""
    return "utter_elevator_trapped_offline" if intent == "report_elevator_trapped" else "utter_service_unavailable"


class ActionKbFallback(Action):
    """Say plainly we can't answer, offer the closest KB topics, and give the 12345 hotline."""

    def name(self) -> str:
        return "action_kb_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        try:
            closest = query.search(text, limit=3) if text.strip() else []
            if closest and intent_of(tracker) != "out_of_scope":
                dispatcher.utter_message(response="utter_cannot_answer_closest", buttons=topic_buttons(closest))
            else:
                dispatcher.utter_message(response="utter_cannot_answer")
                if closest:
                    dispatcher.utter_message(text=template(domain, "utter_part_more"), buttons=topic_buttons(closest))
            _hotline(dispatcher)
        except SQLAlchemyError:
            logger.exception("KB unreachable during fallback")
            dispatcher.utter_message(response="utter_service_unavailable")
        return []


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
