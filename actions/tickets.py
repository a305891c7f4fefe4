"""查询工单: the status of a ticket, by number or the resident's latest one."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from bot.text import to_simplified
from kb import query
from kb.models import Ticket

logger = logging.getLogger(__name__)
TICKET_NUMBER = re.compile(r"[A-Za-z]{2}-\d{8}-\d{4}")


def ticket_number_in(tracker: Tracker) -> str | None:
    """The number the resident typed (entity or plain text), else this conversation's last ticket."""
    entity = next(tracker.get_latest_entity_values("ticket_id"), None)
    typed = TICKET_NUMBER.search(to_simplified(tracker.latest_message.get("text") or ""))
    number = entity or (typed.group(0) if typed else None) or tracker.get_slot("last_ticket_id")
    return number.upper() if number else None


def _status_values(ticket: Ticket, office: str) -> Dict[str, Any]:
    return {
        "number": ticket.number,
        "location": ticket.location,
        "status": ticket.status,
        "updated": ticket.updated_at.strftime("%Y-%m-%d %H:%M"),
        "office": office,
    }


class ActionTicketStatus(Action):
    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[str, Any]]:
        number = ticket_number_in(tracker)
        if number is None:
            latest = _latest_of(tracker.sender_id)
            number = latest.number if latest else None
        if number is None:
            dispatcher.utter_message(response="utter_ask_ticket_number")
            return []
        try:
            ticket = query.get_ticket(number)
            office = query.office_of(ticket.office_id) if ticket else None
        except SQLAlchemyError:
            logger.exception("could not read ticket status")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", number=number)
            return []
        values = _status_values(ticket, office.name if office else ticket.office_id)
        dispatcher.utter_message(response="utter_ticket_status", **values)
        return [SlotSet("ticket_id", ticket.number)]


def _latest_of(sender_id: str) -> Ticket | None:
    try:
        return query.latest_ticket_of(sender_id)
    except SQLAlchemyError:
        logger.exception("could not look up the resident's tickets")
        return None
