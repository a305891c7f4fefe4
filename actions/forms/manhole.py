"""井盖报修: a form that collects location, county and description, confirms, and opens a ticket.

The form reads what the resident actually says (`actions/forms/manhole_text.py`): a one-sentence report fills
several fields at once, a question typed mid-form is answered and the same field asked again, a correction
(地址说错了，是…) replaces the whole field at any step, typed button texts work like the buttons, and the county step
always moves on (a county anywhere, 不知道, or two tries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Dict, List

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.answers import intent_of, topic_of
from actions.forms.manhole_text import (
    AFFIRM_TEXTS,
    CANCEL_TEXTS,
    DENY_TEXTS,
    UNKNOWN_COUNTY,
    Correction,
    after_denial,
    button_text,
    clean,
    clean_place,
    correction_in,
    county_in,
    is_yes_no_or_cancel,
    looks_like_condition,
    looks_like_place,
    only_a_county,
    read_report,
    says_dunno,
    someone_fell,
    without_addition_prefix,
)
from actions.render import answer_text, numbered, office_label, template
from kb import query
from kb.query import TopicAnswer

__all__ = ["ActionManholeCancel", "ActionManholeIntro", "ActionManholeSubmit", "ValidateManholeReportForm", "county_in"]

logger = logging.getLogger(__name__)
FORM = "manhole_report_form"
LOCATION, COUNTY, DESCRIPTION, CONFIRM = "manhole_location", "manhole_county", "manhole_description", "manhole_confirm"
FORM_SLOTS = (LOCATION, COUNTY, DESCRIPTION, CONFIRM)
RETRIES = "manhole_retries"  # failed answers in a row at the current step
MAX_TRIES = 2  # the second unclear answer is taken as it is (the county becomes 未说明): the form never loops
FIELD_SLOTS = {"location": LOCATION, "county": COUNTY, "description": DESCRIPTION}
# What the resident hears when a field was changed (a correction), or taken as it was after MAX_TRIES.
UPDATED = {
    "location": "utter_manhole_location_updated",
    "county": "utter_manhole_county_updated",
    "description": "utter_manhole_description_updated",
}
ACCEPTED = {
    LOCATION: "utter_manhole_location_accepted",
    COUNTY: "utter_manhole_county_accepted",
    DESCRIPTION: "utter_manhole_description_accepted",
}
MANHOLE_ENTRY = "report_manhole"
MANHOLE_OFFICE = "urban"  # 市城管局 leads the manhole-cover programme (used if the KB entry is missing)
QUESTION_CONFIDENCE = 0.8
# Intents that are never a question to answer mid-form (the form reads them, or a rule handles them).
NOT_QUESTIONS = frozenset(
    {
        "inform",
        "report_manhole",
        "nlu_fallback",
        "affirm",
        "deny",
        "stop",
        "out_of_scope",
        "greet",
        "goodbye",
        "thanks",
        "bot_challenge",
        "ask_human",
        "check_ticket_status",
        "cancel_ticket",
        "append_ticket",
        "report_emergency",
        "report_elevator_trapped",
        "ask_followup",
    }
)
# Messages other rules handle; never read as a field (the slot mappings' not_intent in domain.yml).
NOT_A_FIELD = frozenset(
    {
        "stop",
        "greet",
        "goodbye",
        "ask_human",
        "bot_challenge",
        "check_ticket_status",
        "cancel_ticket",
        "report_elevator_trapped",
        "report_emergency",
        "ask_followup",
    }
)


@dataclass
class Outcome:
    """What one answer does: slot values to set and responses (name, values) to say, in order."""

    slots: Dict[str, Any] = field(default_factory=dict)
    say: List[tuple[str, Dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    """The answer being read: the slot asked for, the mapped value, the whole text, the form's slots so far."""

    slot: str
    value: Any
    text: str
    slots: Dict[str, Any]
    tries: int

    def failed(self, response: str, accept: Dict[str, Any] | None = None, **values: Any) -> Outcome:
        """Ask again with an example; at the MAX_TRIES-th failure in a row take `accept` and move on."""
        tries = self.tries + 1
        if tries >= MAX_TRIES and accept:
            return Outcome({**accept, RETRIES: 0}, [(ACCEPTED[self.slot], accept_values(accept))])
        return Outcome({self.slot: None, RETRIES: tries}, [(response, values)])


def accept_values(slots: Dict[str, Any]) -> Dict[str, Any]:
    """Slot values by their short names, for a response's {location} / {county} / {description}."""
    names = {slot: name for name, slot in FIELD_SLOTS.items()}
    return {names[slot]: value for slot, value in slots.items() if slot in names}


def read_location(turn: Turn) -> Outcome:
    """At the location prompt: a place (with a county and condition if named), or a re-ask with an example."""
    report = read_report(turn.text)
    place = clean_place(turn.text) if not report.condition else report.place
    county = {COUNTY: report.county} if report.county else {}
    if place and looks_like_place(place):
        described = {DESCRIPTION: report.condition} if report.condition and not turn.slots.get(DESCRIPTION) else {}
        return Outcome({LOCATION: place, **county, **described, RETRIES: 0})
    if report.condition and not turn.slots.get(DESCRIPTION):
        noted = {LOCATION: None, DESCRIPTION: report.condition, **county}
        return Outcome(noted, [("utter_manhole_location_after_condition", {"description": report.condition})])
    accept = {LOCATION: clean(turn.text), **county} if not is_yes_no_or_cancel(turn.text) else None
    if report.county:  # 驿城区: kept, and the place asked for again
        outcome = turn.failed("utter_manhole_location_more_detail", accept, county=report.county)
        return Outcome({**county, **outcome.slots}, outcome.say)
    return turn.failed("utter_manhole_location_unclear", accept)


def read_county(turn: Turn) -> Outcome:
    """At the county prompt: a county anywhere (button, entity, the text), 不知道, or a new location; never stuck."""
    county = county_in(str(turn.value or "")) or county_in(turn.text)
    place = clean_place(turn.text)
    moved = place != turn.slots.get(LOCATION) and looks_like_place(place) and not looks_like_condition(place)
    location = {LOCATION: place} if moved else {}
    if county:
        said = [("utter_manhole_location_updated", {"location": place})] if moved else []
        return Outcome({**location, COUNTY: county, RETRIES: 0}, said)
    if says_dunno(turn.text):
        return Outcome({COUNTY: UNKNOWN_COUNTY, RETRIES: 0})
    unknown = {COUNTY: UNKNOWN_COUNTY, **location}
    if moved:
        outcome = turn.failed("utter_manhole_county_for_location", unknown, location=place)
        return Outcome({**location, **outcome.slots}, outcome.say)
    return turn.failed("utter_manhole_invalid_county", unknown)


def read_description(turn: Turn) -> Outcome:
    """At the description prompt: what is wrong (the whole answer), a new location, or a re-ask with an example."""
    text = without_addition_prefix(turn.text)
    if looks_like_condition(text):
        return Outcome({DESCRIPTION: clean(text), RETRIES: 0})
    place = clean_place(text)
    if looks_like_place(place) and place != turn.slots.get(LOCATION):
        county = {COUNTY: county_in(place)} if county_in(place) else {}
        return Outcome({LOCATION: place, **county, DESCRIPTION: None}, [updated("location", place)])
    accept = {DESCRIPTION: clean(text)} if text and not is_yes_no_or_cancel(text) else None
    return turn.failed("utter_manhole_description_unclear", accept)


def read_confirmation(turn: Turn) -> Outcome:
    """对 / 不对 / 取消 typed or tapped; a changed location or condition said plainly; else a hint, never a submit."""
    typed = button_text(turn.text)
    if turn.value is True or typed in AFFIRM_TEXTS:
        return Outcome({CONFIRM: True})
    if typed in CANCEL_TEXTS:  # the form ends; action_manhole_submit sees no confirmation and cancels
        return Outcome({CONFIRM: False, REQUESTED_SLOT: None})
    if typed in DENY_TEXTS:
        return restart()
    changed = changed_fields(after_denial(turn.text), turn.slots)
    if changed.slots:
        return Outcome({**changed.slots, CONFIRM: None}, changed.say)
    if turn.value is False:
        return restart()
    return Outcome({CONFIRM: None}, [("utter_manhole_confirm_hint", {})])


def changed_fields(text: str, slots: Dict[str, Any]) -> Outcome:
    """A location and/or condition said without 地址/情况 at the confirmation step (不对，是雪松路和开源大道交叉口)."""
    report = read_report(text)
    place = clean_place(text) if not report.condition else report.place
    outcome = Outcome()
    if place and looks_like_place(place) and place != slots.get(LOCATION):
        outcome.slots.update({LOCATION: place, **({COUNTY: report.county} if report.county else {})})
        outcome.say.append(updated("location", place))
    if report.condition and report.condition != slots.get(DESCRIPTION):
        outcome.slots[DESCRIPTION] = report.condition
        outcome.say.append(updated("description", report.condition))
    return outcome


def restart() -> Outcome:
    """不对，重新填: every field again."""
    return Outcome({**dict.fromkeys(FORM_SLOTS), RETRIES: 0}, [("utter_manhole_restart", {})])


def updated(name: str, value: str) -> tuple[str, Dict[str, Any]]:
    return UPDATED[name], {name: value}


def read_correction(correction: Correction) -> Outcome | None:
    """地址说错了，是X / 情况说错了，是Y / 县区选错了: the new value replaces the whole field; None: not a value."""
    slot, value = FIELD_SLOTS[correction.field], correction.value
    if not value:  # 地址错了: ask that field again
        return Outcome({slot: None, RETRIES: 0}, [("utter_manhole_field_again", {})])
    if correction.field == "location" and looks_like_place(value):
        place = clean_place(value)
        return Outcome(
            {LOCATION: place, **({COUNTY: county_in(value)} if county_in(value) else {})}, [updated("location", place)]
        )
    if correction.field == "county" and (county_in(value) or says_dunno(value)):
        county = county_in(value) or UNKNOWN_COUNTY
        return Outcome({COUNTY: county}, [updated("county", county)])
    if correction.field == "description" and looks_like_condition(value):
        return Outcome({DESCRIPTION: clean(value)}, [updated("description", clean(value))])
    return None


READERS: Dict[str, Callable[[Turn], Outcome]] = {
    LOCATION: read_location,
    COUNTY: read_county,
    DESCRIPTION: read_description,
    CONFIRM: read_confirmation,
}


def read_turn(turn: Turn) -> Outcome:
    """The asked slot's reader, after a correction of any field (which replaces that field, not the asked one)."""
    correction = correction_in(turn.text)
    outcome = read_correction(correction) if correction else None
    if outcome is None:
        return READERS[turn.slot](turn)
    asked = {} if turn.slot in outcome.slots else {turn.slot: None}  # the correction's text is not this field
    return Outcome({**asked, **outcome.slots}, outcome.say)


def prefilled(slot: str, value: Any) -> Dict[str, Any]:
    """A value not typed at its prompt (taken from the opening message): kept if it is a clean value."""
    if slot == CONFIRM:
        return {CONFIRM: value if value is True else None}
    if slot == COUNTY:
        return {COUNTY: value if value == UNKNOWN_COUNTY else county_in(str(value or ""))}
    return {slot: clean(value) or None}


def opening_report_fields(text: str) -> Dict[str, Any]:
    """On activation: location, county and condition from the message that opened the form.

    Location and condition are taken together or not at all (门口井盖没了 names no place to send anyone to).
    """
    report = read_report(text)
    fields = {COUNTY: report.county} if report.county else {}
    if report.place and report.condition:
        fields.update({LOCATION: report.place, DESCRIPTION: report.condition})
    return fields


def extracted_fields(tracker: Tracker) -> Dict[str, Any]:
    """Fields found outside the slot mappings: the opening message, or a message the NLU took for a follow-up
    question (ask_followup, which the mappings skip) that is really an answer: a correction naming 地址 (an aspect
    word) or a bare county (那驿城区呢 is a follow-up elsewhere, 驿城区 is an answer here)."""
    text = str(tracker.latest_message.get("text") or "")
    if tracker.get_slot(REQUESTED_SLOT) is None:
        return opening_report_fields(text) if intent_of(tracker) not in NOT_A_FIELD else {}
    if intent_of(tracker) != "ask_followup":
        return {}
    correction = correction_in(text)
    outcome = read_correction(correction) if correction else None
    if outcome is None:
        return {COUNTY: county_in(text)} if only_a_county(text) else {}
    return {slot: value for slot, value in outcome.slots.items() if slot in FORM_SLOTS and value}


class ValidateManholeReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_manhole_report_form"

    def extract_manhole_location(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return _only(extracted_fields(tracker), LOCATION)

    def extract_manhole_county(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return _only(extracted_fields(tracker), COUNTY)

    def extract_manhole_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return _only(extracted_fields(tracker), DESCRIPTION)

    def validate_manhole_location(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate(LOCATION, slot_value, dispatcher, tracker, domain)

    def validate_manhole_county(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate(COUNTY, slot_value, dispatcher, tracker, domain)

    def validate_manhole_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate(DESCRIPTION, slot_value, dispatcher, tracker, domain)

    def validate_manhole_confirm(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        return self._validate(CONFIRM, slot_value, dispatcher, tracker, domain)

    def _validate(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        if slot != tracker.get_slot(REQUESTED_SLOT):
            return prefilled(slot, value)
        text = str(tracker.latest_message.get("text") or "")
        if answered_question(dispatcher, tracker, domain) or safety_first(text, dispatcher, domain):
            return {slot: None}
        slots = {name: tracker.get_slot(name) for name in FORM_SLOTS}
        turn = Turn(slot, value, text, slots, int(tracker.get_slot(RETRIES) or 0))
        outcome = read_turn(turn)
        for response, values in outcome.say:
            dispatcher.utter_message(response=response, **values)
        return outcome.slots


def _only(fields: Dict[str, Any], slot: str) -> Dict[str, Any]:
    return {slot: fields[slot]} if fields.get(slot) else {}


def answered_question(dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> bool:
    """A KB question typed mid-form (异地看病怎么报销): answer it from the KB; the form then asks the same field."""
    intent = tracker.latest_message.get("intent") or {}
    if intent_of(tracker) in NOT_QUESTIONS or float(intent.get("confidence") or 0) < QUESTION_CONFIDENCE:
        return False
    text = str(tracker.latest_message.get("text") or "")
    try:
        answer = query.answer_for_intent(topic_of(tracker))
    except SQLAlchemyError:
        logger.exception("KB unreachable while answering a question typed in the manhole form")
        dispatcher.utter_message(response="utter_service_unavailable")
        return True
    if answer is None:
        return False
    dispatcher.utter_message(text=answer_text(answer, domain, text))
    dispatcher.utter_message(response="utter_manhole_resume")
    return True


def safety_first(text: str, dispatcher: CollectingDispatcher, domain: DomainDict) -> bool:
    """有人掉下去了 is no description: the safety steps first (if the NLU did not already route it as an emergency)."""
    if not someone_fell(text):
        return False
    entry = _manhole_entry()
    if entry and entry.safety:
        dispatcher.utter_message(text=template(domain, "utter_part_safety", items=numbered(entry.safety)))
    else:
        dispatcher.utter_message(response="utter_emergency_offline")
    dispatcher.utter_message(response="utter_manhole_resume")
    return True


def _manhole_entry() -> TopicAnswer | None:
    try:
        return query.answer_for_intent(MANHOLE_ENTRY)
    except SQLAlchemyError:
        logger.exception("KB unreachable while reading the manhole-report entry (check DATABASE_URL)")
        return None


class ActionManholeIntro(Action):
    """Before the first question: safety steps, 市城管局 and the 谁所有、谁负责 principle, from the KB entry."""

    def name(self) -> str:
        return "action_manhole_intro"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        entry = _manhole_entry()
        if entry is None:
            logger.error("No KB entry answers %s: the report starts without its introduction", MANHOLE_ENTRY)
            return [SlotSet(RETRIES, 0)]
        parts = [template(domain, "utter_part_safety", items=numbered(entry.safety))] if entry.safety else []
        parts += [template(domain, "utter_part_office", office=office_label(entry)), entry.answer]
        parts.append(template(domain, "utter_manhole_intro"))
        dispatcher.utter_message(text="\n".join(parts))
        # The report is now the conversation's topic: 多久能修, 电话多少 during the form are about it.
        topic = tracker.get_slot("topic")
        return [
            SlotSet(RETRIES, 0),
            SlotSet("topic", entry.intent),
            SlotSet("previous_topic", topic if topic != entry.intent else tracker.get_slot("previous_topic")),
            SlotSet("aspect", "overview"),
            SlotSet("answered_topics", [entry.intent]),
        ]


def _reset() -> List[EventType]:
    return [*(SlotSet(slot, None) for slot in FORM_SLOTS), SlotSet(RETRIES, 0)]


class ActionManholeSubmit(Action):
    """Save the confirmed report as a ticket and tell the resident its number and what happens next."""

    def name(self) -> str:
        return "action_manhole_submit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot(CONFIRM) is not True:  # the form ended on a typed 取消 at the confirmation step
            dispatcher.utter_message(response="utter_manhole_cancelled")
            return _reset()
        try:
            entry = query.answer_for_intent(MANHOLE_ENTRY)
            office_id = entry.office_id if entry else MANHOLE_OFFICE
            ticket = query.create_ticket(
                kind="manhole",
                office_id=office_id,
                sender_id=tracker.sender_id,
                location=clean(tracker.get_slot(LOCATION)),
                description=clean(tracker.get_slot(DESCRIPTION)),
                county=tracker.get_slot(COUNTY),
            )
        except SQLAlchemyError:
            logger.exception("could not save a manhole ticket")
            dispatcher.utter_message(response="utter_service_unavailable")
            return _reset()
        office = entry.office_name if entry else office_id
        next_steps = entry.answer if entry else ""
        dispatcher.utter_message(
            response="utter_manhole_ticket",
            number=ticket.number,
            code=ticket.check_code,
            office=office,
            next_steps=next_steps,
        )
        return [*_reset(), SlotSet("last_ticket_id", ticket.number)]


class ActionManholeCancel(Action):
    def name(self) -> str:
        return "action_manhole_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_manhole_cancelled")
        return _reset()
