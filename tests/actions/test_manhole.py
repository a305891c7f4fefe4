"""The manhole report form: validation, corrections, cancel, ticket, status."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms.manhole import ActionManholeCancel, ActionManholeSubmit, ValidateManholeReportForm, county_in
from actions.tickets import ActionTicketStatus
from kb import query

FORM = "manhole_report_form"


@pytest.mark.parametrize(
    ("text", "county"),
    [("驿城区解放路", "驿城区"), ("确山盘古路", "确山县"), ("平輿縣", "平舆县"), ("人民路", None)],
)
def test_county_in_text(text: str, county: str | None) -> None:
    assert county_in(text) == county


def validate(slot: str, value: Any, tracker: Tracker, dispatcher: CollectingDispatcher, domain: dict) -> dict:
    return getattr(ValidateManholeReportForm(), f"validate_{slot}")(value, dispatcher, tracker, domain)


def test_location_with_county_fills_both(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="inform", active_loop=FORM, requested_slot="manhole_location")
    result = validate("manhole_location", "  驿城区 解放路和文化路口 ", tracker, dispatcher, domain)
    assert result == {"manhole_location": "驿城区 解放路和文化路口", "manhole_county": "驿城区"}


def test_too_short_location_is_asked_again(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="inform", active_loop=FORM, requested_slot="manhole_location")
    assert validate("manhole_location", "这", tracker, dispatcher, domain) == {"manhole_location": None}
    assert dispatcher.messages[0]["response"] == "utter_manhole_location_too_short"


def test_unknown_county_is_rejected_with_the_list(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="inform", active_loop=FORM, requested_slot="manhole_county")
    assert validate("manhole_county", "郑州", tracker, dispatcher, domain) == {"manhole_county": None}
    assert dispatcher.messages[0]["response"] == "utter_manhole_invalid_county"


def test_huge_description_is_cut_not_lost(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="inform", active_loop=FORM, requested_slot="manhole_description")
    result = validate("manhole_description", "井盖没了" * 1000, tracker, dispatcher, domain)
    assert result["manhole_description"].startswith("井盖没了") and len(result["manhole_description"]) == 200


def test_deny_at_confirmation_starts_over(
    dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    tracker = make_tracker(intent="deny", active_loop=FORM, requested_slot="manhole_confirm")
    result = validate("manhole_confirm", False, tracker, dispatcher, domain)
    assert result == {
        "manhole_location": None,
        "manhole_county": None,
        "manhole_description": None,
        "manhole_confirm": None,
    }
    assert dispatcher.messages[0]["response"] == "utter_manhole_restart"


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
    assert re.fullmatch(r"JG-\d{8}-\d{4}", number)
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
    assert all(e["value"] is None for e in events)
    assert query.latest_ticket_of("test-resident") is None


async def test_status_by_number_and_by_last_ticket(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = query.create_ticket("manhole", "urban", "r-9", "雪松路", "井盖碎了", "驿城区")
    tracker = make_tracker(intent="check_ticket_status", text=f"查询工单 {ticket.number.lower()}")
    await ActionTicketStatus().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ticket_status"
    assert dispatcher.messages[0]["status"] == "受理" and dispatcher.messages[0]["number"] == ticket.number
    mine = CollectingDispatcher()
    await ActionTicketStatus().run(
        mine, make_tracker(intent="check_ticket_status", text="我的工单到哪了", sender_id="r-9"), domain
    )
    assert mine.messages[0]["number"] == ticket.number


async def test_unknown_ticket_and_no_number(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    await ActionTicketStatus().run(
        dispatcher, make_tracker(intent="check_ticket_status", text="JG-20200101-9999"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_ticket_not_found"
    asked = CollectingDispatcher()
    await ActionTicketStatus().run(asked, make_tracker(intent="check_ticket_status", text="工单呢"), domain)
    assert asked.messages[0]["response"] == "utter_ask_ticket_number"
