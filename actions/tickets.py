"""Tickets from the conversation: status (by number, or this conversation's tickets), cancel and add to one.

A ticket's details (location, status) go to the conversation that filed it; any other conversation must give the
check code (查询码) told at filing. Without it, someone else's number and a number that does not exist get the same
answer (`utter_ticket_need_code`), so the reply tells a stranger nothing, not even that the ticket exists.

A resident may cancel (撤销刚才的报修) or add to (补充一下，…) only a ticket filed in the same conversation
(the same sender id), and only while it is not closed; the changes are written by `kb.ticket_admin`, where staff
see them.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.forms.manhole_text import without_addition_prefix
from actions.render import template
from bot.text import to_simplified
from kb import query, ticket_admin
from kb.models import Ticket
from kb.ticket_admin import ResidentChange
from kb.ticket_numbers import TICKET_NUMBER, find_check_code

logger = logging.getLogger(__name__)
# 撤销刚才的报修 / 补充一下，… : the words before what the resident adds.
ADDITION_LEAD = re.compile(
    r"^.{0,12}?(?:补充|追加)(?:一下|一点|一句|说明|几句|个情况|点情况)?"
    r"(?:(?:刚才|之前|上次)?的?(?:工单|报修|单子))?[，,：:\s]*"
)


def typed_ticket_number(tracker: Tracker) -> str | None:
    """The number the resident typed (entity or plain text)."""
    typed = TICKET_NUMBER.search(to_simplified(tracker.latest_message.get("text") or ""))
    # The typed text first: an entity from DIET may be a piece of the number (or the space before it).
    entity = str(next(tracker.get_latest_entity_values("ticket_id"), "") or "").strip()
    number = typed.group(0) if typed else entity if TICKET_NUMBER.fullmatch(entity) else None
    return number.upper() if number else None


def ticket_number_in(tracker: Tracker) -> str | None:
    """The number the resident typed, else this conversation's last ticket."""
    number = typed_ticket_number(tracker) or tracker.get_slot("last_ticket_id")
    return number.upper() if number else None


def _status_values(ticket: Ticket, office: str) -> Dict[str, Any]:
    return {
        "number": ticket.number,
        "location": ticket.location,
        "status": ticket.status,
        "updated": ticket.updated_at.strftime("%Y-%m-%d %H:%M"),
        "office": office,
    }


def _ticket_list(tickets: List[Ticket], domain: DomainDict) -> str:
    lines = [
        template(domain, "utter_ticket_list_item", number=t.number, location=t.location, status=t.status)
        for t in tickets
    ]
    return "\n".join(lines)


class ActionTicketStatus(Action):
    """A ticket's status by number; without one, the tickets this conversation filed (or ask for the number)."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        number = typed_ticket_number(tracker)
        code = find_check_code(to_simplified(tracker.latest_message.get("text") or ""))
        try:
            if number is None:
                return self._of_conversation(dispatcher, tracker, domain)
            ticket = query.get_ticket(number)
            if ticket is not None and ticket.sender_id != tracker.sender_id:
                ticket = ticket if code and query.check_code_matches(number, code) else None
            office = query.office_of(ticket.office_id) if ticket else None
        except SQLAlchemyError:
            logger.exception("could not read ticket status")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if ticket is None:  # unknown, or another conversation's without its code: the same answer
            dispatcher.utter_message(
                response="utter_ticket_not_found" if code else "utter_ticket_need_code", number=number
            )
            return []
        values = _status_values(ticket, office.name if office else ticket.office_id)
        dispatcher.utter_message(response="utter_ticket_status", **values)
        return [SlotSet("ticket_id", ticket.number)]

    @staticmethod
    def _of_conversation(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[str, Any]]:
        tickets = query.tickets_of(tracker.sender_id)
        if not tickets:
            dispatcher.utter_message(response="utter_ask_ticket_number")
            return []
        if len(tickets) == 1:
            office = query.office_of(tickets[0].office_id)
            values = _status_values(tickets[0], office.name if office else tickets[0].office_id)
            dispatcher.utter_message(response="utter_ticket_status", **values)
        else:
            dispatcher.utter_message(response="utter_ticket_list", items=_ticket_list(tickets, domain))
        return [SlotSet("ticket_id", tickets[0].number)]


def own_ticket_number(tracker: Tracker) -> str | None:
    """The ticket to change: the number typed, this conversation's last ticket, or its newest one."""
    number = ticket_number_in(tracker)
    if number:
        return number
    latest = query.latest_ticket_of(tracker.sender_id)
    return str(latest.number) if latest else None


def say_refusal(dispatcher: CollectingDispatcher, change: ResidentChange, number: str, refused: str) -> bool:
    """Tell why nothing changed; False when the change was made."""
    if change.outcome == "not_found":
        dispatcher.utter_message(response="utter_ticket_not_yours", number=number)
    elif change.outcome == "refused" and change.ticket is not None:
        dispatcher.utter_message(response=refused, number=number, status=change.ticket.status)
    return change.outcome != "done"


class ActionCancelTicket(Action):
    """撤销刚才的报修: 已撤销 for a ticket this conversation filed and nobody has closed."""

    def name(self) -> str:
        return "action_cancel_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        try:
            number = own_ticket_number(tracker)
            if number is None:
                dispatcher.utter_message(response="utter_ticket_none_here")
                return []
            change = ticket_admin.cancel_by_resident(number, tracker.sender_id)
        except SQLAlchemyError:
            logger.exception("could not cancel a ticket")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if say_refusal(dispatcher, change, number, "utter_ticket_cancel_refused") or change.ticket is None:
            return []
        dispatcher.utter_message(response="utter_ticket_cancelled", number=number, location=change.ticket.location)
        return [SlotSet("ticket_id", number)]


def addition_in(text: str) -> str:
    """补充一下，井盖旁边还有个坑 -> 井盖旁边还有个坑 (a ticket number in it is not part of the addition)."""
    text = TICKET_NUMBER.sub("", to_simplified(text or ""))
    return without_addition_prefix(ADDITION_LEAD.sub("", text.strip()))


class ActionAppendTicket(Action):
    """补充一下，…: the addition, with its time, at the end of this conversation's ticket."""

    def name(self) -> str:
        return "action_append_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        addition = addition_in(tracker.latest_message.get("text") or "")
        try:
            number = own_ticket_number(tracker)
            if number is None:
                dispatcher.utter_message(response="utter_ticket_none_here")
                return []
            if len(addition) < 2:
                dispatcher.utter_message(response="utter_ask_ticket_addition")
                return []
            change = ticket_admin.append_by_resident(number, tracker.sender_id, addition)
        except SQLAlchemyError:
            logger.exception("could not add to a ticket")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if say_refusal(dispatcher, change, number, "utter_ticket_append_refused"):
            return []
        dispatcher.utter_message(response="utter_ticket_appended", number=number, addition=addition)
        return [SlotSet("ticket_id", number)]
