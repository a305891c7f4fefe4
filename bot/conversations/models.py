"""Tables the console reads: one row per conversation, one per resident message, and the indexer's watermark.

Their own metadata (not the KB's), created by `ensure_tables`. Times are naive UTC datetimes, like the KB's.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    exc,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base

logger = logging.getLogger(__name__)
Base: Any = declarative_base()

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Below this NLU confidence a message counts as "low confidence" for flags and the misunderstood inbox.
LOW_CONFIDENCE = 0.7


class IndexState(Base):
    """How far the indexer has read Rasa's `events` table (the highest `events.id` it has processed)."""

    __tablename__ = "log_index_state"
    name = Column(String(40), primary_key=True)
    last_event_id = Column(Integer, nullable=False, default=0)


def conversation_key(sender_id: str) -> str:
    """A conversation's id in console URLs and pages: a hash of the sender id (a WeChat openid is personal data)."""
    return hashlib.sha256(sender_id.encode()).hexdigest()[:16]


def _key_default(context: Any) -> str:
    return conversation_key(context.get_current_parameters()["sender_id"])


class Conversation(Base):
    """One resident's conversation (a Rasa sender id; channels already give each resident their own)."""

    __tablename__ = "log_conversations"
    sender_id = Column(String(255), primary_key=True)
    channel = Column(String(40), nullable=False, default="")
    started_at = Column(DateTime, nullable=False)
    last_at = Column(DateTime, nullable=False)
    turns = Column(Integer, nullable=False, default=0)  # resident messages
    replies = Column(Integer, nullable=False, default=0)  # bot messages
    topics = Column(Text, nullable=False, default="")  # intents in first-seen order, comma-separated
    min_confidence = Column(Float)
    fallbacks = Column(Integer, nullable=False, default=0)  # messages that fell back or had low confidence
    helpful = Column(Integer, nullable=False, default=0)
    unhelpful = Column(Integer, nullable=False, default=0)
    handoff = Column(Boolean, nullable=False, default=False)
    tickets = Column(Text, nullable=False, default="")  # ticket numbers, comma-separated
    flagged = Column(Integer, nullable=False, default=0)
    tags = Column(Text, nullable=False, default="")  # ",tag1,tag2," so one tag is found with LIKE '%,tag,%'
    reviewed_by = Column(String(100))
    reviewed_at = Column(DateTime)
    conv_key = Column(String(16), default=_key_default)  # conversation_key(sender_id): the id in console URLs

    __table_args__ = (
        Index("ix_log_conv_started", "started_at"),
        Index("ix_log_conv_key", "conv_key"),
        Index("ix_log_conv_flagged_started", "flagged", "started_at"),
        Index("ix_log_conv_channel_started", "channel", "started_at"),
        Index("ix_log_conv_fallbacks_started", "fallbacks", "started_at"),
        Index("ix_log_conv_unhelpful_started", "unhelpful", "started_at"),
        Index("ix_log_conv_handoff_started", "handoff", "started_at"),
        Index("ix_log_conv_reviewed_started", "reviewed_at", "started_at"),
        Index("ix_log_conv_min_confidence", "min_confidence"),
    )


class Message(Base):
    """A resident's message (already masked) with what the NLU made of it and how the turn went."""

    __tablename__ = "log_messages"
    event_id = Column(Integer, primary_key=True, autoincrement=False)  # events.id of the user event
    sender_id = Column(String(255), nullable=False)
    at = Column(DateTime, nullable=False)
    channel = Column(String(40), nullable=False, default="")
    text = Column(Text, nullable=False, default="")
    intent = Column(String(100))
    confidence = Column(Float)
    entities = Column(JSON, nullable=False, default=list)
    fallback = Column(Boolean, nullable=False, default=False)  # nlu_fallback/out_of_scope or low confidence
    response_ms = Column(Integer)  # from the message to the turn's last bot reply
    rating = Column(String(12))  # helpful | not_helpful, from the 有帮助/没帮助 buttons under the reply
    flagged = Column(Boolean, nullable=False, default=False)
    flag_note = Column(Text)
    # Misunderstood inbox: None (open when fallback / low confidence / not_helpful), labelled, dismissed.
    review_state = Column(String(12))
    label_intent = Column(String(100))
    reviewed_by = Column(String(100))
    reviewed_at = Column(DateTime)

    __table_args__ = (
        Index("ix_log_msg_sender_at", "sender_id", "at"),
        Index("ix_log_msg_intent_sender", "intent", "sender_id"),
        Index("ix_log_msg_at", "at"),
        Index("ix_log_msg_review", "review_state", "fallback", "at"),
    )


# On PostgreSQL, trigram indexes (when pg_trgm is there) for the list's `LIKE '%…%'` filters: words in resident
# messages, an intent in a conversation's topics (the expression is the one queries.py compares), a tag.
TRGM_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_log_msg_text_trgm ON log_messages USING gin (text gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_log_conv_topics_trgm ON log_conversations"
    " USING gin (((',' || topics) || ',') gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_log_conv_tags_trgm ON log_conversations USING gin (tags gin_trgm_ops)",
)


# Searching one or two Chinese characters gets no help from trigrams; on PostgreSQL the words' character pairs are
# looked up in a GIN index of each message's pairs (built-in array operators, no extension), then LIKE confirms.
BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION log_bigrams(value text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT lower(substr(value, i, 2))), '{}')
  FROM generate_series(1, char_length(value) - 1) AS i
$$"""
BIGRAMS_INDEX = "CREATE INDEX IF NOT EXISTS ix_log_msg_text_bigrams ON log_messages USING gin (log_bigrams(text))"


def ensure_bigram_index(engine: Engine) -> None:
    try:
        with engine.begin() as connection:
            if connection.scalar(text("SELECT to_regprocedure('log_bigrams(text)')")) is None:
                connection.execute(text(BIGRAMS_FUNCTION))
            connection.execute(text(BIGRAMS_INDEX))
    except exc.DBAPIError as error:
        logger.warning("No character-pair index for conversation search (%s); short searches scan.", error.orig)


def ensure_search_index(engine: Engine) -> None:
    """PostgreSQL only: create pg_trgm (if allowed) and the trigram indexes; without them those filters scan."""
    if engine.dialect.name != "postgresql":
        return
    ensure_bigram_index(engine)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            for statement in TRGM_INDEXES:
                connection.execute(text(statement))
    except exc.DBAPIError as error:
        logger.warning("No trigram index for conversation search (pg_trgm unavailable: %s); LIKE scans.", error.orig)


def _add_conversation_keys(engine: Engine) -> None:
    """A `log_conversations` made before `conv_key` existed: add the column, fill it, create its indexes."""
    if "conv_key" in {column["name"] for column in inspect(engine).get_columns("log_conversations")}:
        return
    table = Conversation.__table__
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE log_conversations ADD COLUMN conv_key VARCHAR(16)"))
        senders = list(connection.scalars(select(table.c.sender_id)))
        if senders:
            update = table.update().where(table.c.sender_id == bindparam("b_sender"))
            rows = [{"b_sender": sender, "b_key": conversation_key(sender)} for sender in senders]
            connection.execute(update.values(conv_key=bindparam("b_key")), rows)
    for index in table.indexes:
        index.create(engine, checkfirst=True)


def ensure_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    _add_conversation_keys(engine)
    ensure_search_index(engine)
