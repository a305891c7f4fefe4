"""Tickets from the conversation: status, this conversation's list, cancel and add (own tickets only)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.tickets import ActionAppendTicket, ActionCancelTicket, ActionTicketStatus, addition_in
from bot.web.admin.tickets import _status_form
from kb import query, ticket_admin
from kb.models import Ticket
from kb.ticket_admin import TicketFilter


def file_ticket(sender: str = "r-1", location: str = "雪松路和开源大道交叉口") -> Ticket:
    return query.create_ticket("manhole", "urban", sender, location, "井盖碎了", "驿城区")


async def test_status_by_number_and_by_this_conversations_ticket(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("r-9", "雪松路")
    tracker = make_tracker(intent="check_ticket_status", text=f"查询工单 {ticket.number.lower()}", sender_id="r-9")
    await ActionTicketStatus().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ticket_status"
    assert dispatcher.messages[0]["status"] == "受理" and dispatcher.messages[0]["number"] == ticket.number
    mine = CollectingDispatcher()
    await ActionTicketStatus().run(
        mine, make_tracker(intent="check_ticket_status", text="我前两天报的井盖修了没有", sender_id="r-9"), domain
    )
    assert mine.messages[0]["response"] == "utter_ticket_status"
    assert (mine.messages[0]["number"], mine.messages[0]["location"]) == (ticket.number, "雪松路")


async def test_several_tickets_of_the_conversation_are_listed(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    first, second = file_ticket("r-2", "雪松路"), file_ticket("r-2", "解放路")
    file_ticket("someone-else", "人民路")
    ticket_admin.cancel_by_resident(first.number, "r-2")
    tracker = make_tracker(intent="check_ticket_status", text="我报的井盖修了没有", sender_id="r-2")
    await ActionTicketStatus().run(dispatcher, tracker, domain)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ticket_list"
    assert message["items"].splitlines() == [f"{second.number}（解放路）：受理", f"{first.number}（雪松路）：已撤销"]


async def test_another_conversation_gets_no_details_without_the_check_code(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    """Issue 17.1: 查询工单 <someone else's number> from a fresh chat showed their location and status."""
    ticket = file_ticket("owner-1", "雪松路和开源大道交叉口")
    stranger = make_tracker(intent="check_ticket_status", text=f"查询工单 {ticket.number}", sender_id="stranger")
    await ActionTicketStatus().run(dispatcher, stranger, domain)
    unknown = make_tracker(intent="check_ticket_status", text="查询工单 JG-20200101-9999-0000", sender_id="stranger")
    await ActionTicketStatus().run(dispatcher, unknown, domain)
    # The same answer for someone else's ticket and for no ticket at all: the reply tells nothing.
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_need_code", "utter_ticket_need_code"]
    assert "雪松路" not in str(dispatcher.messages) and "受理" not in str(dispatcher.messages)
    wrong = CollectingDispatcher()
    other_code = f"{(int(ticket.check_code) + 1) % 1_000_000:06d}"
    await ActionTicketStatus().run(
        wrong,
        make_tracker(intent="check_ticket_status", text=f"{ticket.number} 查询码{other_code}", sender_id="stranger"),
        domain,
    )
    assert [m["response"] for m in wrong.messages] == ["utter_ticket_not_found"]
    assert "雪松路" not in str(wrong.messages)


@pytest.mark.parametrize("spacing", ["查询码 {code}", "查询码：{code}", "，{code}", " 校验码{code}"])
async def test_the_check_code_given_at_filing_opens_the_ticket_elsewhere(
    spacing: str, kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("owner-2", "雪松路")
    assert ticket.check_code and re.fullmatch(r"\d{6}", ticket.check_code)
    text = f"查询工单 {ticket.number}" + spacing.format(code=ticket.check_code)
    await ActionTicketStatus().run(
        dispatcher, make_tracker(intent="check_ticket_status", text=text, sender_id="elsewhere"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_ticket_status"
    assert (dispatcher.messages[0]["number"], dispatcher.messages[0]["location"]) == (ticket.number, "雪松路")


async def test_an_old_format_number_is_still_found_by_the_conversation_that_filed_it(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    from kb.models import Ticket as TicketRow
    from kb.session import new_session

    with new_session() as session, session.begin():
        session.add(
            TicketRow(
                number="JG-20261205-0001",
                kind="manhole",
                office_id="urban",
                location="解放路",
                description="井盖没了",
                sender_id="old-owner",
            )
        )
    text = "查询工单 jg-20261205-0001"
    await ActionTicketStatus().run(
        dispatcher, make_tracker(intent="check_ticket_status", text=text, sender_id="old-owner"), domain
    )
    await ActionTicketStatus().run(
        dispatcher, make_tracker(intent="check_ticket_status", text=text, sender_id="stranger"), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_status", "utter_ticket_need_code"]
    assert dispatcher.messages[0]["number"] == "JG-20261205-0001"
    assert query.get_ticket("JG-20261205-0001").location == "解放路"


async def test_unknown_ticket_and_none_in_the_conversation(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    await ActionTicketStatus().run(
        dispatcher, make_tracker(intent="check_ticket_status", text="JG-20200101-9999"), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_ticket_need_code"
    asked = CollectingDispatcher()
    await ActionTicketStatus().run(asked, make_tracker(intent="check_ticket_status", text="工单呢"), domain)
    assert asked.messages[0]["response"] == "utter_ask_ticket_number"


async def test_a_resident_cancels_the_ticket_just_filed(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("r-3")
    tracker = make_tracker(
        intent="cancel_ticket", text="撤销刚才的报修", sender_id="r-3", slots={"last_ticket_id": ticket.number}
    )
    await ActionCancelTicket().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ticket_cancelled"
    assert dispatcher.messages[0]["number"] == ticket.number
    assert query.get_ticket(ticket.number).status == "已撤销"
    [event] = ticket_admin.events_of(ticket.number)
    assert (event.from_status, event.to_status, event.by_user) == ("受理", "已撤销", ticket_admin.RESIDENT)


async def test_without_the_slot_the_conversations_latest_ticket_is_cancelled(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("r-4")
    await ActionCancelTicket().run(
        dispatcher, make_tracker(intent="cancel_ticket", text="取消工单", sender_id="r-4"), domain
    )
    assert query.get_ticket(ticket.number).status == "已撤销"


async def test_another_conversations_ticket_cannot_be_cancelled_or_added_to(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("owner")
    text = f"撤销工单 {ticket.number}"
    await ActionCancelTicket().run(
        dispatcher, make_tracker(intent="cancel_ticket", text=text, sender_id="other"), domain
    )
    await ActionAppendTicket().run(
        dispatcher, make_tracker(intent="append_ticket", text=f"{ticket.number}补充：有个坑", sender_id="other"), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_yours", "utter_ticket_not_yours"]
    after = query.get_ticket(ticket.number)
    assert (after.status, after.description) == ("受理", "井盖碎了")


@pytest.mark.parametrize("closed", ["已办结", "已撤销"])
async def test_a_closed_ticket_is_neither_cancelled_nor_added_to(
    closed: str, kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("r-5")
    if closed == "已办结":
        ticket_admin.change_status(ticket.number, "已办结", "已更换新井盖", "staff")
    else:
        ticket_admin.cancel_by_resident(ticket.number, "r-5")
    slots = {"last_ticket_id": ticket.number}
    await ActionCancelTicket().run(
        dispatcher, make_tracker(intent="cancel_ticket", text="撤销", sender_id="r-5", slots=slots), domain
    )
    await ActionAppendTicket().run(
        dispatcher, make_tracker(intent="append_ticket", text="补充一下，有个坑", sender_id="r-5", slots=slots), domain
    )
    assert [(m["response"], m["status"]) for m in dispatcher.messages] == [
        ("utter_ticket_cancel_refused", closed),
        ("utter_ticket_append_refused", closed),
    ]
    assert query.get_ticket(ticket.number).description == "井盖碎了"


async def test_an_addition_is_appended_with_its_time(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    ticket = file_ticket("r-6")
    tracker = make_tracker(
        intent="append_ticket",
        text="补充一下，井盖旁边还有个坑",
        sender_id="r-6",
        slots={"last_ticket_id": ticket.number},
    )
    await ActionAppendTicket().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_ticket_appended"
    assert dispatcher.messages[0]["addition"] == "井盖旁边还有个坑"
    description = query.get_ticket(ticket.number).description
    assert re.fullmatch(r"井盖碎了（\d{4}-\d\d-\d\d \d\d:\d\d 居民补充：井盖旁边还有个坑）", description)


async def test_an_empty_addition_is_asked_for_and_no_ticket_means_nothing_to_change(
    kb_url: str, dispatcher: CollectingDispatcher, domain: dict, make_tracker: Callable[..., Tracker]
) -> None:
    file_ticket("r-8")
    await ActionAppendTicket().run(
        dispatcher, make_tracker(intent="append_ticket", text="补充一下", sender_id="r-8"), domain
    )
    await ActionAppendTicket().run(
        dispatcher, make_tracker(intent="append_ticket", text="补充：有坑", sender_id="nobody"), domain
    )
    await ActionCancelTicket().run(
        dispatcher, make_tracker(intent="cancel_ticket", text="撤销", sender_id="nobody"), domain
    )
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_ask_ticket_addition",
        "utter_ticket_none_here",
        "utter_ticket_none_here",
    ]


@pytest.mark.parametrize(
    ("text", "addition"),
    [
        ("补充一下，井盖旁边还有个坑", "井盖旁边还有个坑"),
        ("刚才的报修补充一下：旁边还有一个井盖也松了", "旁边还有一个井盖也松了"),
        ("JG-20261205-0001补充：井盖下面有水", "井盖下面有水"),
        ("刚才忘说了，井盖旁边的路面也塌了一块", "刚才忘说了，井盖旁边的路面也塌了一块"),
    ],
)
def test_the_addition_is_what_follows_the_request(text: str, addition: str) -> None:
    assert addition_in(text) == addition


def test_the_console_counts_filters_and_freezes_cancelled_tickets(kb_url: str) -> None:
    ticket = file_ticket("r-10")
    ticket_admin.cancel_by_resident(ticket.number, "r-10")
    assert ticket_admin.status_counts()["已撤销"] == 1
    assert [t.number for t in ticket_admin.find_tickets(TicketFilter(status="已撤销")).tickets] == [ticket.number]
    form = _status_form(query.get_ticket(ticket.number), "csrf")
    assert "已撤销" in form and "<form" not in form
    with pytest.raises(ticket_admin.StatusChangeError):
        ticket_admin.change_status(ticket.number, "处理中", "x", "staff")
