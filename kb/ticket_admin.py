"""Tickets after they are filed: staff search and status changes (受理 → 处理中 → 已办结), a resident's cancel
(→ 已撤销) or addition from the conversation that filed the ticket, and the history.

A status change updates the ticket itself (``status``, ``updated_at``), so a resident who asks by number sees it
at once (``actions/tickets.py`` reads ``kb.query.get_ticket``), and records a ``ticket_events`` row: who, when,
from, to and the required note. A resident's cancel is such a row too (by ``RESIDENT``); an addition is appended to
the ticket's description with its time, so staff read it where they read the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import settings
from kb.models import Base, Ticket
from kb.query import CITY_TZ
from kb.session import get_engine

CANCELLED = "已撤销"  # only the resident who filed the ticket sets it, from that conversation
STAFF_STATUSES = ("受理", "处理中", "已办结")  # what the console's status form may set
STATUSES = (*STAFF_STATUSES, CANCELLED)  # what a ticket may be (counts, filters)
NEXT_STATUSES = {"受理": ("处理中", "已办结"), "处理中": ("已办结",), "已办结": (), CANCELLED: ()}
CLOSED = ("已办结", CANCELLED)  # a resident can neither cancel nor add to these
RESIDENT = "居民（对话中）"  # ticket_events.by_user of a change the resident made in the conversation
CANCEL_NOTE = "居民在提交工单的对话中撤销"
ADDITION = "（{at} 居民补充：{text}）"  # appended to the description
MAX_ADDITION_CHARS = 200
MAX_NOTE_CHARS = 500
PAGE_SIZE = 20


class TicketEvent(Base):
    """One status change of a ticket, by a console user, with a note."""

    __tablename__ = "ticket_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_number = Column(String(32), ForeignKey("tickets.number"), nullable=False, index=True)
    from_status = Column(String(20), nullable=False)
    to_status = Column(String(20), nullable=False)
    note = Column(Text, nullable=False)
    by_user = Column(String(64), nullable=False)
    at = Column(DateTime, nullable=False)  # city time (Asia/Shanghai), like tickets.created_at


class StatusChangeError(ValueError):
    """Why a status change was refused; ``message`` is shown to the staff member as is."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class ResidentChange:
    """What became of a resident's cancel or addition: ``done``, ``not_found`` (no such ticket filed by this
    conversation) or ``refused`` (the ticket is closed; ``ticket.status`` says how)."""

    outcome: str
    ticket: Ticket | None = None


@dataclass(frozen=True)
class TicketFilter:
    status: str = ""
    kind: str = ""
    county: str = ""
    number: str = ""


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    total: int
    page: int
    pages: int


@lru_cache(maxsize=8)
def _sessions_for(url: str) -> sessionmaker:
    engine = get_engine(url)
    Base.metadata.create_all(engine, tables=[TicketEvent.__table__])
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


def db(url: str | None = None) -> Session:
    return _sessions_for(url or settings().database_url)()


def city_now() -> datetime:
    return datetime.now(CITY_TZ).replace(tzinfo=None)


def _where(query, wanted: TicketFilter):  # type: ignore[no-untyped-def]
    if wanted.status:
        query = query.where(Ticket.status == wanted.status)
    if wanted.kind:
        query = query.where(Ticket.kind == wanted.kind)
    if wanted.county:
        query = query.where(Ticket.county == wanted.county)
    if wanted.number:
        query = query.where(Ticket.number.contains(wanted.number.strip().upper(), autoescape=True))
    return query


def find_tickets(wanted: TicketFilter, page: int = 1, url: str | None = None) -> TicketPage:
    """Newest first, PAGE_SIZE a page; a page past the end shows the last one."""
    with db(url) as session:
        total = int(session.scalar(_where(select(func.count()).select_from(Ticket), wanted)) or 0)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 1), pages)
        query = _where(select(Ticket), wanted).order_by(Ticket.created_at.desc(), Ticket.number.desc())
        tickets = list(session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return TicketPage(tickets, total, page, pages)


def distinct_values(column_name: str, url: str | None = None) -> list[str]:
    """The kinds or counties that occur, for the list's filter menus."""
    column = {"kind": Ticket.kind, "county": Ticket.county}[column_name]
    with db(url) as session:
        return [value for value in session.scalars(select(column).distinct().order_by(column)) if value]


def status_counts(url: str | None = None) -> dict[str, int]:
    with db(url) as session:
        rows = session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


def events_of(number: str, url: str | None = None) -> list[TicketEvent]:
    with db(url) as session:
        query = select(TicketEvent).where(TicketEvent.ticket_number == number).order_by(TicketEvent.id)
        return list(session.scalars(query))


def _validate(current: str, new_status: str, note: str) -> None:
    if new_status not in STAFF_STATUSES:
        raise StatusChangeError(f"没有“{new_status}”这个状态，只能是：{'、'.join(STAFF_STATUSES)}。")
    if new_status not in NEXT_STATUSES[current]:
        raise StatusChangeError(f"工单当前是“{current}”，不能改为“{new_status}”。", status=409)
    if not note:
        raise StatusChangeError("请填写处理说明（必填）。")
    if len(note) > MAX_NOTE_CHARS:
        raise StatusChangeError(f"处理说明请控制在{MAX_NOTE_CHARS}字以内。")


def change_status(
    number: str, new_status: str, note: str, by_user: str, expected: str | None = None, url: str | None = None
) -> TicketEvent:
    """Move a ticket on; ``expected`` is the status the staff member saw (refused if someone changed it since)."""
    note = note.strip()
    with db(url) as session, session.begin():
        ticket = session.get(Ticket, number)
        if ticket is None:
            raise StatusChangeError(f"没有找到工单 {number}。", status=404)
        current = str(ticket.status)
        if expected and expected != current:
            raise StatusChangeError(f"工单状态已被他人改为“{current}”，请刷新后再操作。", status=409)
        _validate(current, new_status, note)
        now = city_now()
        moved = session.execute(
            update(Ticket)
            .where(Ticket.number == number, Ticket.status == current)
            .values(status=new_status, updated_at=now)
        )
        if moved.rowcount != 1:
            raise StatusChangeError("工单状态刚刚被他人修改，请刷新后再操作。", status=409)
        event = TicketEvent(
            ticket_number=number, from_status=current, to_status=new_status, note=note, by_user=by_user, at=now
        )
        session.add(event)
    return event


def _own_ticket(session: Session, number: str, sender_id: str) -> Ticket | None:
    """The ticket if this conversation filed it; someone else's number is treated as unknown."""
    ticket = session.get(Ticket, number.strip().upper())
    return ticket if ticket is not None and ticket.sender_id == sender_id else None


def cancel_by_resident(number: str, sender_id: str, url: str | None = None) -> ResidentChange:
    """撤销刚才的报修: 已撤销, recorded in the history, unless the ticket is closed or not this conversation's."""
    with db(url) as session, session.begin():
        ticket = _own_ticket(session, number, sender_id)
        if ticket is None:
            return ResidentChange("not_found")
        current, now = str(ticket.status), city_now()
        moved = session.execute(
            update(Ticket)
            .where(Ticket.number == ticket.number, Ticket.status == current, Ticket.status.not_in(CLOSED))
            .values(status=CANCELLED, updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
        if moved.rowcount != 1:  # closed already, or staff changed it a moment ago
            session.refresh(ticket)
            return ResidentChange("refused", ticket)
        session.add(
            TicketEvent(
                ticket_number=ticket.number,
                from_status=current,
                to_status=CANCELLED,
                note=CANCEL_NOTE,
                by_user=RESIDENT,
                at=now,
            )
        )
    return ResidentChange("done", ticket)


def append_by_resident(number: str, sender_id: str, text: str, url: str | None = None) -> ResidentChange:
    """补充一下，…: the text, with its time, at the end of the description, unless the ticket is closed."""
    with db(url) as session, session.begin():
        ticket = _own_ticket(session, number, sender_id)
        if ticket is None:
            return ResidentChange("not_found")
        if ticket.status in CLOSED:
            return ResidentChange("refused", ticket)
        now = city_now()
        addition = ADDITION.format(at=now.strftime("%Y-%m-%d %H:%M"), text=text.strip()[:MAX_ADDITION_CHARS])
        ticket.description = f"{ticket.description}{addition}"
        ticket.updated_at = now
    return ResidentChange("done", ticket)
