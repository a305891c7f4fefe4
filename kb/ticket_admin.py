"""Staff side of tickets: search, status changes (受理 → 处理中 → 已办结) and their history.

A status change updates the ticket itself (``status``, ``updated_at``), so a resident who asks by number sees it
at once (``actions/tickets.py`` reads ``kb.query.get_ticket``), and records a ``ticket_events`` row: who, when,
from, to and the required note.
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

STATUSES = ("受理", "处理中", "已办结")
NEXT_STATUSES = {"受理": ("处理中", "已办结"), "处理中": ("已办结",), "已办结": ()}
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
    if new_status not in STATUSES:
        raise StatusChangeError(f"没有“{new_status}”这个状态，只能是：{'、'.join(STATUSES)}。")
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
