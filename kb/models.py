"""SQLAlchemy models (2.0-style on SQLAlchemy 1.4, as Rasa pins)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, exc, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base, relationship

Base: Any = declarative_base()  # typed Any: SQLAlchemy 1.4 ships no mypy-friendly declarative base


class Source(Base):
    """A text that entries quote: a briefing or a staff-written guidance note."""

    __tablename__ = "kb_sources"
    id = Column(String(100), primary_key=True)
    title = Column(Text, nullable=False)
    publisher = Column(Text, nullable=False)
    author = Column(Text)
    date = Column(String(10), nullable=False)
    kind = Column(String(20), nullable=False)


class Office(Base):
    __tablename__ = "kb_offices"
    id = Column(String(50), primary_key=True)
    name = Column(Text, nullable=False)
    short = Column(Text, nullable=False)


class Entry(Base):
    """One topic a resident can ask about, answered by one office."""

    __tablename__ = "kb_entries"
    id = Column(String(100), primary_key=True)
    intent = Column(String(100), nullable=False, unique=True)
    office_id = Column(String(50), ForeignKey("kb_offices.id"), nullable=False)
    title = Column(Text, nullable=False)
    question = Column(Text, nullable=False)
    answer = Column(Text, nullable=False)
    steps = Column(JSON, nullable=False, default=list)
    bring = Column(JSON, nullable=False, default=list)
    where = Column(Text)
    contact = Column(Text)
    how_long = Column(Text)
    cost = Column(Text)  # what it costs, or that it is free (old databases: add_missing_entry_columns)
    eligible = Column(Text)  # who qualifies; whether someone else may do it on a resident's behalf
    safety = Column(JSON, nullable=False, default=list)
    figures = Column(JSON, nullable=False, default=list)
    keywords = Column(JSON, nullable=False, default=list)
    related = Column(JSON, nullable=False, default=list)
    review_by = Column(String(10), nullable=False)
    origin = Column(String(20), nullable=False, default="curated")  # curated | staff
    source_file = Column(Text)

    office = relationship(Office)
    facts = relationship("Fact", cascade="all, delete-orphan", order_by="Fact.id")


class Fact(Base):
    """A claim an entry makes, with the verbatim quote that backs it."""

    __tablename__ = "kb_facts"
    id = Column(Integer, primary_key=True, autoincrement=True)
    entry_id = Column(String(100), ForeignKey("kb_entries.id", ondelete="CASCADE"), nullable=False)
    says = Column(Text, nullable=False)
    quote = Column(Text, nullable=False)
    source_id = Column(String(100), ForeignKey("kb_sources.id"), nullable=False)


class Ticket(Base):
    """A resident's report (e.g. a broken manhole cover), numbered like JG-20261206-4827-3915 (``kb.ticket_numbers``;
    tickets filed before 2026-12-06 keep numbers like JG-20260101-0001)."""

    __tablename__ = "tickets"
    number = Column(String(32), primary_key=True)
    kind = Column(String(30), nullable=False)
    office_id = Column(String(50), nullable=False)
    county = Column(Text)
    location = Column(Text, nullable=False)
    description = Column(Text, nullable=False)
    status = Column(String(20), nullable=False, default="受理")
    sender_id = Column(String(128), nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)

    __table_args__ = (Index("ix_tickets_sender", "sender_id", "created_at"),)

    # The check code (查询码) in clear, only on the object `kb.query.create_ticket` returns, to tell the resident once.
    check_code: str | None = None


class TicketCheckCode(Base):
    """The hash of a ticket's check code: any conversation but the one that filed the ticket must give the code.

    A table of its own, so databases made before check codes existed need no migration (their tickets have none:
    only the conversation that filed them sees them)."""

    __tablename__ = "ticket_check_codes"
    number = Column(String(32), ForeignKey("tickets.number", ondelete="CASCADE"), primary_key=True)
    code_hash = Column(String(64), nullable=False)


class Followup(Base):
    """A conversation a resident asked to hand to a person (转人工), for staff to follow up."""

    __tablename__ = "followups"
    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(128), nullable=False, index=True)
    reason = Column(String(50), nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class Faq(Base):
    """A staff FAQ: its KB entry (origin staff, intent ``faq/<key>``) plus what training and provenance need.

    A table of its own (not columns on ``kb_entries``) so databases built before FAQs existed need no migration.
    """

    __tablename__ = "kb_faqs"
    key = Column(String(40), primary_key=True)  # f0001: the retrieval intent is faq/<key>, stable across edits
    entry_id = Column(String(100), ForeignKey("kb_entries.id"), nullable=False, unique=True)
    paraphrases = Column(JSON, nullable=False, default=list)
    source_note = Column(Text)  # where staff took the answer from (a notice, a phone call with the office)
    enabled = Column(Boolean, nullable=False, default=True)
    author = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_by = Column(Text, nullable=False)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)

    entry = relationship(Entry)


class AuditEvent(Base):
    """Who changed which FAQ or answer, who trained, which model went live, and when (UTC)."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    actor = Column(Text, nullable=False)
    action = Column(String(40), nullable=False)
    target = Column(Text, nullable=False, default="")
    detail = Column(JSON, nullable=False, default=dict)


class JiebaTerm(Base):
    """A domain term staff added to the jieba dictionary (written to var/jieba/staff_terms.txt for training)."""

    __tablename__ = "kb_jieba_terms"
    term = Column(String(40), primary_key=True)
    added_by = Column(Text, nullable=False)
    added_at = Column(DateTime, nullable=False, default=datetime.utcnow)


def add_missing_entry_columns(engine: Engine) -> list[str]:
    """A `kb_entries` made before a column existed (e.g. `cost`, `eligible`): add it, empty; return the names.

    `create_all` only creates missing tables, so optional (nullable) columns added to `Entry` later are added here
    with ALTER TABLE, as `bot.conversations.models` does for the conversation log. `python -m bot kb build` calls
    this before it loads the entries; the build then fills them.
    """
    table = Entry.__table__
    if not inspect(engine).has_table(table.name):
        return []
    present = {column["name"] for column in inspect(engine).get_columns(table.name)}
    added = []
    for column in table.columns:
        if column.name in present:
            continue
        if not column.nullable:
            raise RuntimeError(f"kb_entries lacks the required column {column.name}: rebuild this database")
        quote = engine.dialect.identifier_preparer.quote
        kind = column.type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"))
        except exc.DBAPIError:  # another process added it first
            if column.name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                raise
        added.append(column.name)
    return added
