"""What a supervisor does to a conversation: mark it reviewed, tag it, flag a message with a note.

Each action changes the log tables (the indexer keeps these fields on `logs reindex`) and writes a row to
`log_review_actions`: who (the console account), when, what. That table has its own metadata, so rebuilding the
log tables never touches the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Text, func, select, true
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import declarative_base

from bot.conversations.models import Conversation, Message
from bot.conversations.queries import TAG_PATTERN, engine_of, sender_of

AuditBase = declarative_base(metadata=MetaData())
MAX_NOTE_CHARS = 500
CONV, MSG = Conversation.__table__, Message.__table__


class ReviewAction(AuditBase):  # type: ignore[misc,valid-type]
    """One console action on the conversation log (the audit trail)."""

    __tablename__ = "log_review_actions"
    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(255), nullable=False)
    event_id = Column(Integer)  # the message, for flags
    action = Column(String(20), nullable=False)  # reviewed, unreviewed, tag_add, tag_remove, flag, unflag
    detail = Column(Text, nullable=False, default="")
    by_user = Column(String(100), nullable=False)
    at = Column(DateTime, nullable=False)  # naive UTC, like the log tables

    __table_args__ = (Index("ix_log_review_sender_at", "sender_id", "at"),)


class ReviewError(ValueError):
    """Why an action was refused; `message` is shown to the supervisor as is."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class AuditEntry:
    action: str
    detail: str
    by_user: str
    at: datetime  # naive UTC
    event_id: int | None


@lru_cache(maxsize=8)
def _audit_ready(engine: Engine) -> Engine:
    AuditBase.metadata.create_all(engine)
    return engine


def _engine(url: str | None) -> Engine:
    return _audit_ready(engine_of(url))


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sender(key: str, url: str | None) -> str:
    sender = sender_of(key, url)
    if sender is None:
        raise ReviewError("没有找到这段会话。", status=404)
    return sender


def _audit(
    connection: Connection, sender: str, action: str, by_user: str, detail: str = "", event_id: int | None = None
) -> None:
    values = {"sender_id": sender, "action": action, "detail": detail, "by_user": by_user, "at": utcnow()}
    connection.execute(ReviewAction.__table__.insert().values(event_id=event_id, **values))


def mark_reviewed(key: str, by_user: str, reviewed: bool = True, url: str | None = None) -> None:
    """Record that `by_user` read the conversation (or undo it)."""
    sender = _sender(key, url)
    values = (
        {"reviewed_by": by_user, "reviewed_at": utcnow()} if reviewed else {"reviewed_by": None, "reviewed_at": None}
    )
    with _engine(url).begin() as connection:
        connection.execute(CONV.update().where(CONV.c.sender_id == sender).values(**values))
        _audit(connection, sender, "reviewed" if reviewed else "unreviewed", by_user)


def clean_tag(tag: str) -> str:
    tag = (tag or "").strip()
    if not TAG_PATTERN.match(tag):
        raise ReviewError("标签请用1到30个字，不能含逗号、空格、引号或尖括号。")
    return tag


def _change_tags(key: str, tag: str, by_user: str, add: bool, url: str | None) -> list[str]:
    sender, tag = _sender(key, url), clean_tag(tag)
    with _engine(url).begin() as connection:
        current = connection.scalar(select(CONV.c.tags).where(CONV.c.sender_id == sender)) or ""
        tags = [part for part in current.split(",") if part]
        changed = [*tags, tag] if add and tag not in tags else [t for t in tags if t != tag] if not add else tags
        stored = f",{','.join(changed)}," if changed else ""
        update = CONV.update().where(CONV.c.sender_id == sender, CONV.c.tags == current).values(tags=stored)
        if connection.execute(update).rowcount != 1:
            raise ReviewError("标签刚刚被他人修改，请刷新后再试。", status=409)
        if changed != tags:
            _audit(connection, sender, "tag_add" if add else "tag_remove", by_user, tag)
    return changed


def add_tag(key: str, tag: str, by_user: str, url: str | None = None) -> list[str]:
    """Tag the conversation; the tags after the change."""
    return _change_tags(key, tag, by_user, True, url)


def remove_tag(key: str, tag: str, by_user: str, url: str | None = None) -> list[str]:
    return _change_tags(key, tag, by_user, False, url)


def flag_message(
    key: str, event_id: int, note: str, by_user: str, flagged: bool = True, url: str | None = None
) -> None:
    """Flag one resident message of the conversation with a note (or clear the flag)."""
    sender, note = _sender(key, url), (note or "").strip()
    if flagged and len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"标记说明请控制在{MAX_NOTE_CHARS}字以内。")
    with _engine(url).begin() as connection:
        moved = connection.execute(
            MSG.update()
            .where(MSG.c.event_id == event_id, MSG.c.sender_id == sender)
            .values(flagged=flagged, flag_note=(note or None) if flagged else None)
        )
        if moved.rowcount != 1:
            raise ReviewError("这段会话里没有这条居民消息。", status=404)
        count = select(func.count()).where(MSG.c.sender_id == sender, MSG.c.flagged == true()).scalar_subquery()
        connection.execute(CONV.update().where(CONV.c.sender_id == sender).values(flagged=count))
        _audit(connection, sender, "flag" if flagged else "unflag", by_user, note if flagged else "", event_id)


def history(key: str, url: str | None = None) -> list[AuditEntry]:
    """The conversation's audit trail, oldest first."""
    sender = sender_of(key, url)
    if sender is None:
        return []
    table = ReviewAction.__table__
    query = select(table).where(table.c.sender_id == sender).order_by(table.c.at, table.c.id)
    with _engine(url).connect() as connection:
        return [
            AuditEntry(row.action, row.detail, row.by_user, row.at, row.event_id) for row in connection.execute(query)
        ]
