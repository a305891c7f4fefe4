"""The conversation log: Rasa's SQL tracker store on DATABASE_URL, with personal data masked before it is written.

Use it from endpoints.yml::

    tracker_store:
      type: bot.tracker_store.MaskingSQLTrackerStore
      # url: postgresql://assistant@db/assistant   # optional; wins over DATABASE_URL

Rows keep Rasa's `events` schema, so Rasa's own tools (tracker API, `rasa export`) read them. The channels already
mask ID, mobile and bank card numbers (bot/privacy.py); this store masks every string of every event again
(defense in depth). If the database cannot be reached at start, it raises `ConversationStoreError` and Rasa stops:
unlike Rasa's own SQL store it neither retries forever nor lets Rasa carry on with an in-memory store.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore, create_engine_kwargs, is_postgresql_url
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import ConnectionException
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import URL, Engine, make_url

from bot.config import settings
from bot.privacy import mask

logger = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3
CONNECT_PAUSE_SECONDS = 2.0
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10
# Identifiers, not personal data: a WeChat MsgId is 19 digits and would otherwise look like a bank card.
UNMASKED_KEYS = frozenset({"message_id"})
# For the console: a conversation's events in time order, and "all user messages since …".
INDEXES = {
    "ix_events_sender_id_timestamp": ("sender_id", "timestamp"),
    "ix_events_type_name_timestamp": ("type_name", "timestamp"),
}


class ConversationStoreError(ConnectionException):
    """The conversation database (DATABASE_URL) cannot be used; Rasa must not start without it."""


def mask_event(value: Any) -> Any:
    """`value` (an event's `as_dict()`, or any part of it) with every string masked by `bot.privacy.mask`."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: item if key in UNMASKED_KEYS else mask_event(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_event(item) for item in value]
    return value


def _describe(url: str, from_endpoints: bool) -> str:
    """Where the URL came from and the URL itself, password hidden, for error messages."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        shown = repr(url)
    origin = "tracker_store.url in endpoints.yml (it overrides DATABASE_URL)" if from_endpoints else "DATABASE_URL"
    return f"{origin} = {shown}"


def _engine_kwargs(url: URL) -> dict[str, Any]:
    """Rasa's own engine options (PostgreSQL pool size, POSTGRESQL_SCHEMA), plus a bounded connect timeout."""
    kwargs = create_engine_kwargs(url)
    if is_postgresql_url(url):
        kwargs["connect_args"] = {
            **kwargs.get("connect_args", {}),
            "connect_timeout": POSTGRESQL_CONNECT_TIMEOUT_SECONDS,
        }
    return kwargs


def create_engine(url: str) -> Engine:
    """A 2.0-style engine for the conversation database; SQLite's folder is created if missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(parsed, future=True, **_engine_kwargs(parsed))


def _wait_for_database(engine: Engine) -> None:
    """Connect, retrying briefly (a database starting beside us); raise the last error if it never answers."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return
        except sqlalchemy.exc.OperationalError as error:
            if attempt == CONNECT_ATTEMPTS:
                raise
            logger.warning("Conversation database not reachable (attempt %d): %s", attempt, error.orig)
            time.sleep(CONNECT_PAUSE_SECONDS)


def ensure_indexes(engine: Engine) -> None:
    """Create the console's indexes on Rasa's `events` table unless an index on those columns exists."""
    existing = {tuple(index["column_names"]) for index in sa.inspect(engine).get_indexes("events")}
    table = sa.Table("events", sa.MetaData(), *(sa.Column(name) for name in ("sender_id", "type_name", "timestamp")))
    for name, columns in INDEXES.items():
        if columns in existing:
            continue
        try:
            sa.Index(name, *(table.c[column] for column in columns)).create(engine, checkfirst=True)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as error:
            # Another Rasa instance starting at the same moment may have created it first.
            logger.info("Index %s not created (%s); it probably exists already.", name, error.orig)


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Rasa's `SQLTrackerStore` on DATABASE_URL (or `url` in endpoints.yml) that masks personal data on write."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        """`host` is endpoints.yml's `url` (Rasa passes it under that name); DATABASE_URL when it is empty."""
        url = host or settings().database_url
        where = _describe(url, from_endpoints=bool(host))
        ignored = sorted(set(kwargs) & {"dialect", "db", "port", "username", "password", "login_db", "query"})
        if ignored:
            logger.warning("tracker_store: %s ignored; this store reads one URL (%s).", ", ".join(ignored), where)
        try:
            self.engine = create_engine(url)
            _wait_for_database(self.engine)
            self.Base.metadata.create_all(self.engine)
            ensure_indexes(self.engine)
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as error:
            raise ConversationStoreError(
                f"Cannot use the conversation database {where}: {error}. "
                "Start that database or set DATABASE_URL to a reachable one "
                "(e.g. postgresql://user:password@host:5432/dbname or sqlite:///var/assistant.sqlite3). "
                "Rasa will not fall back to an in-memory store."
            ) from error
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine, future=True)
        logger.info("Conversation log in %s", where)
        TrackerStore.__init__(self, domain, event_broker, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events Rasa has not stored yet, masked (same rows as `SQLTrackerStore.save`)."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                session.add(self._row(tracker.sender_id, event))
            session.commit()

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        data = mask_event(event.as_dict())
        intent = ((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY)
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=intent,
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    async def _stream_new_events(self, event_broker: EventBroker, new_events: list[Event], sender_id: str) -> None:
        """Events sent to an event broker (if one is configured) are masked too."""
        for event in new_events:
            event_broker.publish({"sender_id": sender_id, **mask_event(event.as_dict())})
