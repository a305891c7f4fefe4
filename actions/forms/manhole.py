"""井盖报修: a form that collects county, location and description, confirms, and opens a ticket."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from bot.text import to_simplified
from kb import query

logger = logging.getLogger(__name__)
FORM_SLOTS = ("manhole_location", "manhole_county", "manhole_description", "manhole_confirm")
COUNTIES = {
    "驿城区": ("驿城区", "驿城"),
    "确山县": ("确山县", "确山"),
    "泌阳县": ("泌阳县", "泌阳"),
    "遂平县": ("遂平县", "遂平"),
    "西平县": ("西平县", "西平"),
    "上蔡县": ("上蔡县", "上蔡"),
    "汝南县": ("汝南县", "汝南"),
    "平舆县": ("平舆县", "平舆", "平与"),
    "新蔡县": ("新蔡县", "新蔡"),
    "正阳县": ("正阳县", "正阳"),
}
MAX_TEXT = 200  # a location or description longer than this is cut, not rejected
MANHOLE_ENTRY = "report_manhole"
MANHOLE_OFFICE = "urban"  # 市城管局 leads the manhole-cover programme (used if the KB entry is missing)


def county_in(text: str) -> str | None:
    """The county or district a text names (short forms and traditional characters too)."""
    simplified = to_simplified(text)
    for county, spellings in COUNTIES.items():
        if any(spelling in simplified for spelling in spellings):
            return county
    return None


def _clean(value: Any) -> str:
    return " ".join(str(value or "").split())[:MAX_TEXT]


class ValidateManholeReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_manhole_report_form"

    def validate_manhole_location(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        location = _clean(slot_value)
        if len(location) < 2:
            dispatcher.utter_message(response="utter_manhole_location_too_short")
            return {"manhole_location": None}
        county = county_in(location)
        return {"manhole_location": location, **({"manhole_county": county} if county else {})}

    def validate_manhole_county(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        county = county_in(_clean(slot_value))
        if county is None:
            dispatcher.utter_message(response="utter_manhole_invalid_county")
        return {"manhole_county": county}

    def validate_manhole_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        description = _clean(slot_value)
        return {"manhole_description": description or None}

    def validate_manhole_confirm(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if slot_value is True:
            return {"manhole_confirm": True}
        # "不对": start the details again rather than file a wrong location.
        dispatcher.utter_message(response="utter_manhole_restart")
        return {slot: None for slot in FORM_SLOTS}


class ActionManholeSubmit(Action):
    """Save the confirmed report as a ticket and tell the resident its number and what happens next."""

    def name(self) -> str:
        return "action_manhole_submit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        reset: List[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS]
        try:
            entry = query.answer_for_intent(MANHOLE_ENTRY)
            office_id = entry.office_id if entry else MANHOLE_OFFICE
            ticket = query.create_ticket(
                kind="manhole",
                office_id=office_id,
                sender_id=tracker.sender_id,
                location=_clean(tracker.get_slot("manhole_location")),
                description=_clean(tracker.get_slot("manhole_description")),
                county=tracker.get_slot("manhole_county"),
            )
        except SQLAlchemyError:
            logger.exception("could not save a manhole ticket")
            dispatcher.utter_message(response="utter_service_unavailable")
            return reset
        office = entry.office_name if entry else office_id
        next_steps = entry.answer if entry else ""
        dispatcher.utter_message(
            response="utter_manhole_ticket", number=ticket.number, office=office, next_steps=next_steps
        )
        if entry and entry.safety:
            dispatcher.utter_message(text="\n".join(entry.safety))
        return [*reset, SlotSet("last_ticket_id", ticket.number)]


class ActionManholeCancel(Action):
    def name(self) -> str:
        return "action_manhole_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_manhole_cancelled")
        return [SlotSet(slot, None) for slot in FORM_SLOTS]
