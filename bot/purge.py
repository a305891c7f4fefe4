"""`python -m bot purge --older-than 180d`: delete conversations whose last event is older than an age.

A conversation (one `sender_id`) goes as a whole, with all its events, once nothing has happened in it for that
long; a conversation with any recent event is kept whole. Works on Rasa's `events` table in DATABASE_URL (and the
console's summaries of it, and the chat page's rating claims older than the age).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from bot.config import settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.sql import Select

AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
UNITS = {"h": "hours", "d": "days", "w": "weeks"}
CHUNK = 500  # sender ids per DELETE: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class PurgeResult:
    conversations: int
    events: int


def parse_age(text: str) -> timedelta:
    """'180d', '12h', '2w' → a timedelta; anything else (or zero) raises ValueError saying what is accepted."""
    match = AGE.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"age {text!r} not understood: give a positive number and a unit h, d or w (e.g. 180d, 12h)")
    return timedelta(**{UNITS[match.group(2).lower()]: int(match.group(1))})


def _stale_senders(cutoff: float, among: Sequence[str] | None = None) -> Select:
    """Sender ids (of `among`, if given) whose newest event is older than `cutoff`."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    events = SQLTrackerStore.SQLEvent.__table__
    query = sa.select(events.c.sender_id).group_by(events.c.sender_id)
    if among is not None:
        query = query.where(events.c.sender_id.in_(among))
    return query.having(sa.func.max(events.c.timestamp) < cutoff)


def _forget_in_console_log(connection: Connection, senders: Sequence[str]) -> None:
    """The console's summaries of purged conversations go too (kept only for senders with events left)."""
    import sqlalchemy as sa

    from bot.conversations.models import Conversation, Message

    if not sa.inspect(connection).has_table(Conversation.__tablename__):
        return
    events = sa.table("events", sa.column("sender_id"))
    for start in range(0, len(senders), CHUNK):
        chunk = senders[start : start + CHUNK]
        for table in (Message.__table__, Conversation.__table__):
            has_events = sa.exists().where(events.c.sender_id == table.c.sender_id)
            connection.execute(sa.delete(table).where(table.c.sender_id.in_(chunk), ~has_events))


def _forget_old_ratings(engine: Engine, cutoff: float) -> None:
    """The chat page's one-rating-per-answer claims (``bot.web.ratings``) are kept no longer than conversations."""
    import sqlalchemy as sa

    from bot.web.ratings import ChatRating

    if not sa.inspect(engine).has_table(ChatRating.__tablename__):
        return
    then = datetime.fromtimestamp(cutoff, timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(sa.delete(ChatRating.__table__).where(ChatRating.__table__.c.at < then))


def purge(database_url: str, older_than: timedelta, now: float | None = None) -> PurgeResult:
    """Delete every conversation whose newest event is older than `older_than` (before `now`, default: now)."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.tracker_store import create_engine

    events = SQLTrackerStore.SQLEvent.__table__
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    engine = create_engine(database_url)
    try:
        _forget_old_ratings(engine, cutoff)
        if not sa.inspect(engine).has_table(events.name):
            return PurgeResult(conversations=0, events=0)
        with engine.begin() as connection:
            senders = list(connection.scalars(_stale_senders(cutoff)))
            deleted = 0
            for start in range(0, len(senders), CHUNK):
                # Re-checked inside the DELETE: a resident who wrote again meanwhile keeps the conversation.
                stale = _stale_senders(cutoff, senders[start : start + CHUNK])
                deleted += connection.execute(sa.delete(events).where(events.c.sender_id.in_(stale))).rowcount
            _forget_in_console_log(connection, senders)
    finally:
        engine.dispose()
    return PurgeResult(conversations=len(senders), events=deleted)


def _purge(args: argparse.Namespace) -> int:
    """Parse the age, purge DATABASE_URL, print the counts; 2 for a bad age, 1 for a database error."""
    import sqlalchemy.exc

    try:
        age = parse_age(args.older_than)
    except ValueError as error:
        print(f"purge: {error}", file=sys.stderr)
        return 2
    try:
        result = purge(settings().database_url, age)
    except sqlalchemy.exc.SQLAlchemyError as error:
        print(f"purge: cannot purge the conversation database (DATABASE_URL): {error}", file=sys.stderr)
        return 1
    print(
        f"Deleted {result.conversations} conversations ({result.events} events) with no activity in {args.older_than}."
    )
    return 0


def register(commands: argparse._SubParsersAction, handlers: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    """Add the `purge` subcommand to `python -m bot` and its handler to the CLI's command table."""
    purge_parser = commands.add_parser("purge", help="delete conversations whose last event is older than an age")
    purge_parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 180d, 30d, 12h, 2w")
    handlers["purge"] = _purge
