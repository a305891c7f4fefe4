"""Console log-in throttling: growing waits per client address and for all addresses together, never an account lock.

An account lock lets anyone lock the supervisor out (and tells which names exist). Instead, failed log-ins are
counted per client address and globally, in the database, so every web-app process counts together:

- **per address**: the first ``ADDRESS.free`` (5) failures cost nothing; after that the address must wait before its
  next attempt, 1 s after the fifth failure, then 2 s, 4 s … at most 10 minutes. A success from the address, or an
  hour without failures, starts the count afresh.
- **globally**: the first ``GLOBAL.free`` (100) failures from all addresses together cost nothing (one address can
  never make that many: its own waits stop it); after that every address waits 1 s, 2 s … at most 15 s between
  attempts, until 15 minutes pass without failures. This slows guessing from many addresses; it never locks anyone
  out for longer than 15 s at a time.

An attempt is counted as a failure *before* the password is checked (and taken back on success), and the check
holds the rows' write lock, so parallel requests cannot slip past a wait. An attempt made during a wait is refused
without checking the password and is not counted; the caller gives it the same answer as a wrong password.
Addresses are stored only as a hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import Column, DateTime, Integer, String, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.config import settings
from kb.models import Base
from kb.session import get_engine

GLOBAL_KEY = "global"


@dataclass(frozen=True)
class Policy:
    """`free` failures without a wait, then waits from `first_wait` doubling up to `max_wait` (seconds)."""

    free: int
    first_wait: float
    max_wait: float
    forget: timedelta  # a count with no failure for this long starts afresh

    def wait(self, failures: int) -> timedelta | None:
        if failures < self.free:
            return None
        return timedelta(seconds=min(self.first_wait * 2 ** min(failures - self.free, 40), self.max_wait))


ADDRESS = Policy(free=5, first_wait=1.0, max_wait=600.0, forget=timedelta(hours=1))
GLOBAL = Policy(free=100, first_wait=1.0, max_wait=15.0, forget=timedelta(minutes=15))


class LoginThrottleRow(Base):
    """Failed console log-ins of one client address (``addr:`` + hash) or of all of them (``global``)."""

    __tablename__ = "console_login_throttle"
    key = Column(String(80), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    last_failure = Column(DateTime)
    wait_until = Column(DateTime)  # no attempt from this scope is checked before then


@dataclass(frozen=True)
class Attempt:
    """``allowed``: check the password, then call `succeeded` if it was right. Otherwise the scope must wait."""

    allowed: bool
    address_key: str
    wait_until: datetime | None = None


@dataclass(frozen=True)
class State:
    failures: int
    wait_until: datetime | None


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def address_key(address: str) -> str:
    return "addr:" + hashlib.sha256(address.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    engine = get_engine(url)
    Base.metadata.create_all(engine, tables=[LoginThrottleRow.__table__])
    return engine


def _engine(url: str | None) -> Engine:
    return _engine_for(url or settings().database_url)


TABLE = LoginThrottleRow.__table__


def _ensure_rows(engine: Engine, keys: list[str]) -> None:
    with engine.connect() as connection:
        present = set(connection.scalars(select(TABLE.c.key).where(TABLE.c.key.in_(keys))))
    for key in keys:
        if key in present:
            continue
        try:
            with engine.begin() as connection:
                connection.execute(TABLE.insert().values(key=key, failures=0))
        except IntegrityError:
            pass  # another process inserted it first: it exists, which is all we need


def _lock(connection: Connection, key: str) -> dict:
    """Take the row's write lock first (SQLite: the database's; PostgreSQL: the row's), then read it."""
    connection.execute(update(TABLE).where(TABLE.c.key == key).values(key=key))
    return dict(connection.execute(select(TABLE).where(TABLE.c.key == key)).one()._mapping)


class LoginThrottle:
    """`begin(address)` before checking a password; `succeeded(attempt)` after a right one. Clock injectable."""

    def __init__(
        self,
        url: str | None = None,
        address_policy: Policy = ADDRESS,
        global_policy: Policy = GLOBAL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._url, self._clock = url, clock
        self._policies = {"address": address_policy, "global": global_policy}

    def begin(self, address: str) -> Attempt:
        now, own = self._clock(), address_key(address)
        scopes = {own: self._policies["address"], GLOBAL_KEY: self._policies["global"]}
        keys = sorted(scopes)  # always locked in the same order: no deadlock between two attempts
        engine = _engine(self._url)
        _ensure_rows(engine, keys)
        with engine.begin() as connection:
            rows = {key: _lock(connection, key) for key in keys}
            for key, row in rows.items():
                if row["last_failure"] is not None and now - row["last_failure"] > scopes[key].forget:
                    row["failures"], row["wait_until"] = 0, None
            waits = [row["wait_until"] for row in rows.values() if row["wait_until"] and row["wait_until"] > now]
            if waits:
                return Attempt(False, own, max(waits))
            for key, row in rows.items():  # counted as a failure now; `succeeded` takes it back
                failures = row["failures"] + 1
                wait = scopes[key].wait(failures)
                connection.execute(
                    update(TABLE)
                    .where(TABLE.c.key == key)
                    .values(failures=failures, last_failure=now, wait_until=now + wait if wait else None)
                )
        return Attempt(True, own)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the address starts afresh, and the global count forgets this attempt."""
        with _engine(self._url).begin() as connection:
            connection.execute(
                update(TABLE).where(TABLE.c.key == attempt.address_key).values(failures=0, wait_until=None)
            )
            connection.execute(
                update(TABLE)
                .where(TABLE.c.key == GLOBAL_KEY, TABLE.c.failures > 0)
                .values(failures=TABLE.c.failures - 1)
            )


def state_of(key: str, url: str | None = None) -> State:
    """The count and wait of one scope (`address_key(...)` or `GLOBAL_KEY`); zero when it has none."""
    with _engine(url).connect() as connection:
        row = connection.execute(select(TABLE).where(TABLE.c.key == key)).first()
    return State(int(row.failures), row.wait_until) if row else State(0, None)


def set_wait_until(key: str, when: datetime, url: str | None = None) -> None:
    """Move a scope's wait (tests, and an administrator who wants to let an address try again at once)."""
    with _engine(url).begin() as connection:
        connection.execute(update(TABLE).where(TABLE.c.key == key).values(wait_until=when))
