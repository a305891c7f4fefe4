"""Life-safety situations: the safety steps and the number to call come first, from the KB (staff guidance)."""

from __future__ import annotations

import logging
from typing import List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.render import numbered, office_label, template
from kb import query

logger = logging.getLogger(__name__)
# The KB intent whose entry carries each situation's safety steps (kb/entries/samr.yml, emergency.yml).
ENTRY_INTENTS = {
    "elevator_trapped": "report_elevator_trapped",
    "elevator_danger": "emergency_elevator_danger",
    "manhole_fall": "emergency_manhole_fall",
    "open_hole": "emergency_open_hole",
    "fire": "emergency_fire",
}
NO_OFFICE = {"hotline"}  # the fire entry has no city office: its safety steps already say 119
REPORT_FORM = "manhole_report_form"
REPORT_TOPIC = "report_manhole"  # an open hole is reported next: follow-ups (多久能修) are about the report


def kind_of(tracker: Tracker) -> str:
    kind = next(tracker.get_latest_entity_values("emergency"), None)
    return str(kind) if kind in ENTRY_INTENTS else "elevator_trapped"


def emergency_text(answer: query.TopicAnswer, domain: DomainDict) -> str:
    """Safety steps first (the number to call is in them), then who handles it and what happens next."""
    parts = [template(domain, "utter_part_safety", items=numbered(answer.safety))]
    if answer.office_id not in NO_OFFICE:
        parts.append(template(domain, "utter_part_office", office=office_label(answer)))
    parts.append(answer.answer)
    return "\n".join(parts)


class ActionEmergency(Action):
    """Someone trapped, hurt, fallen into a hole, a fire: what to do now, in the first message of the reply."""

    def name(self) -> str:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        kind = kind_of(tracker)
        try:
            answer = query.answer_for_intent(ENTRY_INTENTS[kind])
        except SQLAlchemyError:
            logger.exception("KB unreachable during an emergency (%s): the offline safety steps are sent", kind)
            answer = None
        if answer is None or not answer.safety:
            offline = "utter_elevator_trapped_offline" if kind == "elevator_trapped" else "utter_emergency_offline"
            dispatcher.utter_message(response=offline)
            return [SlotSet("emergency", kind)]
        dispatcher.utter_message(text=emergency_text(answer, domain))
        events: List[EventType] = [
            SlotSet("emergency", kind),
            SlotSet("topic", REPORT_TOPIC if kind == "open_hole" else answer.intent),
            SlotSet("aspect", "overview"),
            SlotSet("answered_topics", []),
        ]
        if kind == "open_hole" and not tracker.active_loop_name:
            events.append(FollowupAction(REPORT_FORM))  # warned and kept clear: now the report
        return events
