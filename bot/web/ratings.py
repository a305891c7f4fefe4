"""One rating per answer per conversation on the chat page (有帮助 / 没帮助).

A rating is claimed in the database before its ``feedback`` event goes to Rasa: the primary key (conversation,
message index) lets exactly one of any number of parallel requests, in any number of web-app processes, win.
A second rating of the same answer is refused (409), not replaced: the first click counts, so the 有帮助率 cannot
be stuffed and a conversation's events grow by at most one per answer. The conversation is stored as a hash of its
id (the id is the resident's cookie secret); ``python -m bot purge --older-than AGE`` deletes claims older than AGE,
as it deletes conversations.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from functools import lru_cache

from sqlalchemy import Column, DateTime, Integer, String, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.config import settings
from kb.models import Base
from kb.session import get_engine


class ChatRating(Base):
    """The rating a conversation gave one of its answers (its index in ``/api/history``)."""

    __tablename__ = "chat_ratings"
    conversation = Column(String(64), primary_key=True)  # SHA-256 of the session id
    message_index = Column(Integer, primary_key=True, autoincrement=False)
    rating = Column(String(12), nullable=False)
    at = Column(DateTime, nullable=False, index=True)


TABLE = ChatRating.__table__


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = get_engine(url)
    Base.metadata.create_all(engine, tables=[TABLE])
    return engine


def _engine(url: str | None) -> Engine:
    return _engine_for(url or settings().database_url)


def claim(session_id: str, message_index: int, rating: str, url: str | None = None) -> bool:
    """True when this is the answer's first rating in the conversation (and it is now taken); False otherwise."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    values = {"conversation": _hash(session_id), "message_index": message_index, "rating": rating, "at": now}
    try:
        with _engine(url).begin() as connection:
            connection.execute(TABLE.insert().values(**values))
    except IntegrityError:
        return False
    return True


def release(session_id: str, message_index: int, url: str | None = None) -> None:
    """Give a claim back (the rating could not be written to the conversation), so the resident may try again."""
    with _engine(url).begin() as connection:
        connection.execute(
            delete(TABLE).where(TABLE.c.conversation == _hash(session_id), TABLE.c.message_index == message_index)
        )
