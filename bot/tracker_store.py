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

import asyncio
import contextlib
import fcntl
import functools
import itertools
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore, create_engine_kwargs, is_postgresql_url
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import ConnectionException
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.utils.common import all_subclasses
from sqlalchemy.engine import URL, Engine, make_url

from bot import per_turn
from bot.alerts import record_alert, resolve_alert
from bot.config import VAR_DIR, settings
from bot.conversation_window import Summary, new_events_from, windowed_tracker
from bot.privacy import mask

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_ATTEMPTS = 3
CONNECT_PAUSE_SECONDS = 2.0
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10
# While running: each read or write is tried this often, pausing 0.2 s, 0.4 s …; after that the database counts as
# down for a few seconds (turns go straight to the spool instead of waiting again), and supervisors get an alert.
SAVE_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.2
CIRCUIT_OPEN_SECONDS = 5.0
ALERT_KIND = "conversation_db"
ALERT_EVERY_SECONDS = 10.0
# Conversations kept in memory for incremental reads (their stored JSON); least recently used go first.
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
EVENT_MEMORY_FACTOR = 4  # an Event object takes roughly this many times its JSON's length
# Identifiers, not personal data: a WeChat MsgId is 19 digits and would otherwise look like a bank card.
UNMASKED_KEYS = frozenset({"message_id"})
INSERT_CHUNK = 1000  # rows per INSERT statement (PostgreSQL takes at most 65,535 parameters)
ROW_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")  # Rasa's `events`
POSTGRESQL_COLUMNS = ", ".join(f'"{column}"' for column in ROW_COLUMNS)
POSTGRESQL_ROW = "(" + ", ".join(["%s"] * len(ROW_COLUMNS)) + ")"
# A turn's reads, written once as SQL (Rasa builds an ORM query for every read): a sender's latest session, as Rasa's
# `_event_query` selects it (the rows from its latest session_started on, or all if it has none), and the rows
# after the last one this process knows.
LATEST_SESSION = sa.text(
    "SELECT e.id, e.type_name, e.data FROM events e WHERE e.sender_id = :sender AND ("
    "(SELECT max(s.timestamp) FROM events s WHERE s.sender_id = :sender AND s.type_name = :started) IS NULL "
    "OR e.timestamp >= (SELECT max(s.timestamp) FROM events s WHERE s.sender_id = :sender AND s.type_name = :started)"
    ") ORDER BY e.id"
)
ROWS_AFTER = sa.text("SELECT id, type_name, data FROM events WHERE sender_id = :sender AND id > :last ORDER BY id")
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


def create_engine(url: str, autocommit: bool = False) -> Engine:
    """A 2.0-style engine for the conversation database; SQLite's folder is created if missing. With `autocommit`,
    every statement commits by itself (no BEGIN/COMMIT round trips)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return sa.create_engine(parsed, future=True, **options, **_engine_kwargs(parsed))


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
        except (
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.IntegrityError,
        ) as error:
            # Another Rasa instance starting at the same moment may have created it first (PostgreSQL reports that
            # race as a unique violation in its catalog).
            logger.info("Index %s not created (%s); it probably exists already.", name, error.orig)


def _create_schema(metadata: sa.MetaData, engine: Engine, attempts: int = 3) -> None:
    """Rasa's `events` table and the console's indexes; several instances starting at once may race to create them,
    and the loser sees "already exists" (or a catalog unique violation): look again, then it is there."""
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine)
            ensure_indexes(engine)
            return
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            if attempt == attempts:
                raise
            logger.info("schema created concurrently by another instance (%s); checking again", error.orig)
            time.sleep(0.5 * attempt)


@functools.lru_cache(maxsize=1)
def _event_classes() -> dict[str, type[Event]]:
    """Event type name → class, in the order `Event.resolve_by_type` searches (first match wins)."""
    classes: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        classes.setdefault(cls.type_name, cls)
    return classes


def deserialise_event(data: str) -> Event | None:
    """`Event.from_parameters(json.loads(data))`, minus its cost: Rasa walks every Event subclass for every event
    (about 0.25 ms each, a quarter of a second for a 200-turn conversation); the lookup is done once here."""
    parameters = json.loads(data)
    name = parameters.get("event")
    cls = _event_classes().get(name) if name else None
    if cls is None:  # unknown here (an Event subclass defined later, "topic"): Rasa's own way
        _event_classes.cache_clear()
        return Event.from_parameters(parameters)
    return cls._from_parameters(parameters)


class DatabaseDown(Exception):
    """The conversation database did not answer after the bounded retries (or is known to be down right now)."""


# Errors that mean "the database is not there", worth retrying; anything else (a bug, a constraint) is raised as is.
TRANSIENT_ERRORS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.DisconnectionError)


def _is_transient(error: Exception) -> bool:
    return isinstance(error, TRANSIENT_ERRORS) or (
        isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated
    )


Row = dict[str, Any]  # one `events` row as written: sender_id, type_name, timestamp, intent_name, action_name, data


class Spool:
    """Rows that could not be written while the database was away, in a JSON-lines file owned by this process.

    The owner holds an exclusive `flock` on its file for as long as it lives; a file nobody holds belongs to a
    process that died with rows unwritten, and the next store that starts writes them (`adopt_orphans`).
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # made by an earlier version with the umask's 755
            folder.chmod(0o700)
        self.folder = folder
        self.path = folder / f"events-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        # Masked, but still residents' messages: the owner's only, whatever the process's umask.
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._handle = os.fdopen(descriptor, "a+", encoding="utf-8")
        fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.pending = 0

    def append(self, rows: list[Row]) -> None:
        self._handle.seek(0, os.SEEK_END)
        self._handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.pending += len(rows)

    def rows(self) -> list[Row]:
        self._handle.seek(0)
        return [json.loads(line) for line in self._handle.read().splitlines() if line.strip()]

    def clear(self) -> None:
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        self.pending = 0

    def orphans(self) -> Iterator[tuple[Path, IO[str], list[Row]]]:
        """Other processes' spool files whose owner is gone, locked, with their rows (the caller deletes them)."""
        for path in sorted(self.folder.glob("events-*.jsonl")):
            if path == self.path:
                continue
            handle = path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its owner is alive
                handle.close()
                continue
            handle.seek(0)
            rows = [json.loads(line) for line in handle.read().splitlines() if line.strip()]
            yield path, handle, rows
            handle.close()


@dataclass
class _Conversation:
    """What this process knows is stored for one sender: the latest session's events, as stored (masked), in order.

    The Event objects are shared by the trackers built from them, as Rasa's own `DialogueStateTracker.copy()`
    shares them: Rasa treats logged events as immutable.
    """

    events: list[Event] = field(default_factory=list)
    last_id: int = 0  # highest `events.id` read or written; 0 when none is known
    detached: bool = False  # history unknown (the database was down at the first read): re-read once it is back
    size: int = 0
    counted: int = 0  # `size` when the cache last added it up
    summary: Summary = field(default_factory=Summary)  # the state before the window a turn sees

    def extend(self, rows: list[Row], ids: list[int] | None) -> None:
        for row in rows:
            if row["type_name"] == SessionStarted.type_name:  # like Rasa: a tracker holds the latest session only
                self.events.clear()
                self.size = 0
                self.summary.reset()
            event = deserialise_event(row["data"])
            if event is not None:  # as Rasa's `from_dict`, which skips what it cannot read
                self.events.append(event)
                self.size += len(row["data"]) * EVENT_MEMORY_FACTOR
        if ids:
            self.last_id = max(self.last_id, *ids)


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Rasa's `SQLTrackerStore` on DATABASE_URL (or `url` in endpoints.yml) that masks personal data on write.

    Two additions over Rasa's store, both for a cluster behind nginx (docs/deploy.md):

    - **Incremental reads.** The store remembers each conversation's stored events (bounded LRU, `cache_bytes`)
      and the highest row id it has seen; a turn then reads only rows with a higher id (usually none) instead of
      the whole conversation, and a save writes the events after those it knows, without counting rows. This is
      exact with several instances as long as one sender's turns are serialized, which Rasa's lock store does
      (Redis lock store in a cluster): rows of one sender are then committed in id order.
    - **Database lost mid-run.** Each read or write is retried (`attempts`, short pauses); if the database still
      does not answer, the rows go to a local spool file (`spool_dir`, fsync'ed) and an alert is raised for
      supervisors (bot/alerts.py). Known conversations go on from memory; the spool is written to the database,
      in order, before anything else once it answers again, and the alert is resolved. Never a silent switch to
      an in-memory store.
    """

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        spool_dir: str | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        attempts: int = SAVE_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        """`host` is endpoints.yml's `url` (Rasa passes it under that name); DATABASE_URL when it is empty."""
        url = host or settings().database_url
        self.where = _describe(url, from_endpoints=bool(host))
        ignored = sorted(set(kwargs) & {"dialect", "db", "port", "username", "password", "login_db", "query"})
        if ignored:
            logger.warning("tracker_store: %s ignored; this store reads one URL (%s).", ", ".join(ignored), self.where)
        try:
            # A turn's read and write are one statement each, committed by itself. `transactional` (its own pool,
            # connected on first use) is for the rare writes of several statements that must all land or none: the
            # spool, a huge save. Not one pool for both: a connection that had a transaction would go back to the
            # pool at the database's default level and later single statements on it would never be committed.
            self.engine = create_engine(url, autocommit=True)
            _wait_for_database(self.engine)
            self.transactional = create_engine(url)
            _create_schema(self.Base.metadata, self.engine)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine, future=True)
            self.spool = Spool(Path(spool_dir) if spool_dir else VAR_DIR / "spool")
            self._write_orphans()
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as error:
            raise ConversationStoreError(
                f"Cannot use the conversation database {self.where}: {error}. "
                "Start that database or set DATABASE_URL to a reachable one "
                "(e.g. postgresql://user:password@host:5432/dbname or sqlite:///var/assistant.sqlite3). "
                "Rasa will not fall back to an in-memory store."
            ) from error
        per_turn.install()
        self.cache_bytes = int(cache_bytes)
        self.attempts = max(1, int(attempts))
        self._cache: OrderedDict[str, _Conversation] = OrderedDict()
        self._cached_size = 0
        self._down_until = 0.0
        self._alerted_at = 0.0
        # PostgreSQL answers over the network: a turn's statement waits in this thread while the event loop serves
        # other residents (Rasa's own store blocks the loop; under load it sat idle 9 % of the time). One thread
        # keeps the statements in order. SQLite is a local file, and its in-memory databases are per thread.
        self._sql_thread = ThreadPoolExecutor(1, "conversation-db") if is_postgresql_url(make_url(url)) else None
        logger.info("Conversation log in %s", self.where)
        TrackerStore.__init__(self, domain, event_broker, **kwargs)

    # --- reading -------------------------------------------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session of `sender_id`, reading only rows this process has not seen yet."""
        known = self._cache.get(sender_id)
        fresh = known is None or known.detached
        try:
            rows = await self._with_database(lambda db: self._read(db, sender_id, None if fresh else known))
        except DatabaseDown:
            self._alert("读取对话失败")
            if known is None:  # history unknown: this turn starts afresh; its rows are spooled, kept after it
                known = self._remember(sender_id, _Conversation(detached=True))
            return self._tracker(sender_id, known)
        conversation = _Conversation() if fresh or known is None else known
        conversation.extend(*rows)
        self._remember(sender_id, conversation)
        return self._tracker(sender_id, conversation)

    def _read(
        self, db: sa.engine.Connection, sender_id: str, known: _Conversation | None
    ) -> tuple[list[Row], list[int]]:
        if known is None:
            found = db.execute(LATEST_SESSION, {"sender": sender_id, "started": SessionStarted.type_name}).all()
        else:
            found = db.execute(ROWS_AFTER, {"sender": sender_id, "last": known.last_id}).all()
        return [{"type_name": type_name, "data": data} for _, type_name, data in found], [row[0] for row in found]

    def _tracker(self, sender_id: str, conversation: _Conversation) -> DialogueStateTracker | None:
        """The latest session's last turns after a summary of the state before them (bot/conversation_window.py),
        built from the stored rows without parsing them again."""
        if not conversation.events or not self.domain:
            return None
        return windowed_tracker(sender_id, conversation.events, self.domain.slots, conversation.summary)

    # --- writing -------------------------------------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events not stored yet, masked (same rows as `SQLTrackerStore.save`); spooled if the DB is away."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        known = self._cache.get(sender_id) or await self._load_for_save(sender_id)
        new = itertools.islice(tracker.events, new_events_from(tracker, len(known.events)), None)
        rows = [self._row(sender_id, event) for event in new]
        if not rows:
            return
        try:
            # one INSERT commits by itself; more rows than one statement takes need a transaction
            atomic = len(rows) > INSERT_CHUNK
            ids = await self._with_database(lambda db: self._insert(db, rows), atomic)
        except DatabaseDown:
            self.spool.append(rows)
            self._alert(f"本轮 {len(rows)} 条新记录未能写入")
            ids = None
        known.extend(rows, ids)
        self._remember(sender_id, known)

    async def _load_for_save(self, sender_id: str) -> _Conversation:
        """A tracker this process did not read (a new conversation, or one dropped from the cache)."""
        try:
            rows = await self._with_database(lambda db: self._read(db, sender_id, None))
        except DatabaseDown:
            return _Conversation(detached=True)
        conversation = _Conversation()
        conversation.extend(*rows)
        return conversation

    def _insert(self, db: sa.engine.Connection, rows: list[Row]) -> list[int]:
        """Multi-row INSERTs, the new ids in row order (the ORM's unit of work cost ~8% of Rasa's CPU per turn)."""
        table = self.SQLEvent.__table__
        ids: list[int] = []
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            if db.dialect.name == "postgresql":
                # One statement takes its ids from the sequence in VALUES order: ascending = row order. Written
                # as SQL with bound parameters: SQLAlchemy compiles a multi-row INSERT anew for every row count,
                # which cost more CPU than the rest of the write (~2 ms a turn).
                values = ",".join([POSTGRESQL_ROW] * len(chunk))
                # table and columns are Rasa's names, the values bound parameters: nothing a resident typed
                sql = f"INSERT INTO {table.name} ({POSTGRESQL_COLUMNS}) VALUES {values} RETURNING id"  # noqa: S608
                parameters = tuple(row[column] for row in chunk for column in ROW_COLUMNS)
                ids += sorted(int(found[0]) for found in db.exec_driver_sql(sql, parameters))
            else:  # SQLite writes one statement at a time: its rows get consecutive ids, the last one reported
                last = int(db.execute(sa.insert(table).values(chunk)).lastrowid)
                ids += range(last - len(chunk) + 1, last + 1)
        return ids

    def _row(self, sender_id: str, event: Event) -> Row:
        data = mask_event(event.as_dict())
        intent = ((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY)
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": intent,
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    async def _stream_new_events(self, event_broker: EventBroker, new_events: list[Event], sender_id: str) -> None:
        """Events sent to an event broker (if one is configured) are masked too."""
        for event in new_events:
            event_broker.publish({"sender_id": sender_id, **mask_event(event.as_dict())})

    # --- the database going away and coming back -----------------------------------------------------------------

    async def _with_database(self, work: Callable[[sa.engine.Connection], T], atomic: bool = False) -> T:
        """`work` (one statement, or a transaction if `atomic`), after writing any spooled rows in the same
        transaction; retried, then `DatabaseDown`."""
        if time.monotonic() < self._down_until:
            raise DatabaseDown("the conversation database failed moments ago")
        for attempt in range(1, self.attempts + 1):
            try:
                if self._sql_thread is not None and not atomic and not self.spool.pending:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self._sql_thread, self._single_statement, work)
                return self._transaction(work, atomic)
            except sqlalchemy.exc.SQLAlchemyError as error:
                if not _is_transient(error):
                    raise
                logger.warning("Conversation database error (attempt %d of %d): %s", attempt, self.attempts, error)
                if attempt < self.attempts:
                    await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
        self._down_until = time.monotonic() + CIRCUIT_OPEN_SECONDS
        raise DatabaseDown(f"the conversation database did not answer after {self.attempts} attempts")

    def _single_statement(self, work: Callable[[sa.engine.Connection], T]) -> T:
        with self.engine.connect() as db:
            return work(db)

    def _transaction(self, work: Callable[[sa.engine.Connection], T], atomic: bool) -> T:
        spooled = self.spool.rows() if self.spool.pending else []
        if not spooled and not atomic:
            with self.engine.connect() as db:
                return work(db)
        before = {sender: known.last_id for sender, known in self._cache.items()} if spooled else {}
        try:
            with self.transactional.begin() as db:
                if spooled:  # first, in their order; `work` then reads after them
                    self._note_ids(spooled, self._insert(db, spooled))
                result = work(db)
        except BaseException:
            for sender, last_id in before.items():  # the spooled rows were rolled back
                if sender in self._cache:
                    self._cache[sender].last_id = last_id
            raise
        if spooled:
            self._spool_written(len(spooled))
        return result

    def _note_ids(self, rows: list[Row], ids: list[int]) -> None:
        for row, row_id in zip(rows, ids, strict=True):
            known = self._cache.get(row["sender_id"])
            if known is not None:
                known.last_id = max(known.last_id, row_id)

    def _spool_written(self, count: int) -> None:
        """The spooled rows are in the database now: forget histories that were unknown, resolve the alert."""
        self.spool.clear()
        for sender_id in [sender for sender, known in self._cache.items() if known.detached]:
            self._forget(sender_id)
        resolve_alert(ALERT_KIND, f"对话数据库已恢复（{self.where}），暂存的 {count} 条记录已按顺序补写。")

    def _alert(self, what: str) -> None:
        now = time.monotonic()
        if now - self._alerted_at < ALERT_EVERY_SECONDS:
            return
        self._alerted_at = now
        record_alert(
            ALERT_KIND,
            f"对话数据库连接中断（{self.where}）：{what}。本机暂存 {self.spool.pending} 条对话记录"
            f"（{self.spool.path}），数据库恢复后自动按顺序补写。请尽快检查数据库。",
        )

    def _write_orphans(self) -> None:
        """Rows spooled by a process that died before the database came back."""
        for path, _, rows in self.spool.orphans():
            if rows:
                with self.transactional.begin() as db:
                    self._insert(db, rows)
                logger.warning("Wrote %d conversation rows spooled by a stopped process (%s).", len(rows), path)
            path.unlink()

    # --- the cache -----------------------------------------------------------------------------------------------

    def _remember(self, sender_id: str, conversation: _Conversation) -> _Conversation:
        self._forget(sender_id)
        self._cache[sender_id] = conversation
        conversation.counted = conversation.size
        self._cached_size += conversation.size
        while self._cached_size > self.cache_bytes and len(self._cache) > 1:
            self._forget(next(iter(self._cache)))
        return conversation

    def _forget(self, sender_id: str) -> None:
        dropped = self._cache.pop(sender_id, None)
        if dropped is not None:
            self._cached_size -= dropped.counted
