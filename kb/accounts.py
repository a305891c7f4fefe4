"""Console accounts (staff and supervisors) and their login sessions.

Passwords are stored only as scrypt hashes (``hashlib.scrypt``, random 16-byte salt, n=2**14, r=8, p=1) and
checked with ``hmac.compare_digest``. Wrong passwords never lock an account (anyone could lock the supervisor out):
``kb.login_throttle`` makes the client address, and all addresses together, wait longer after each failure.
A login session is a random token the browser keeps in a cookie; the table stores only its SHA-256, so a copy of
the database does not let anyone log in. A session ends after 8 idle hours, at the latest
``ADMIN_SESSION_MAX_HOURS`` (12) after the log-in, and when the account's password changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import admin_settings, settings
from kb.login_throttle import LoginThrottle
from kb.models import Base
from kb.session import get_engine

ROLES = ("supervisor", "staff")
SESSION_IDLE = timedelta(hours=8)
MIN_PASSWORD_CHARS = 8
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32


class ConsoleUser(Base):
    """Someone who may log in to the console at /admin/."""

    __tablename__ = "console_users"
    id = Column(Integer, primary_key=True, autoincrement=True)
    name = Column(String(64), nullable=False, unique=True)
    role = Column(String(20), nullable=False)
    password_hash = Column(String(200), nullable=False)
    failed_logins = Column(Integer, nullable=False, default=0)  # unused since log-ins are throttled by address
    locked_until = Column(DateTime)  # unused: accounts are never locked (kept so existing databases still match)
    created_at = Column(DateTime, nullable=False, default=lambda: utcnow())


class ConsoleSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token, its CSRF token and when it was last used."""

    __tablename__ = "console_sessions"
    token_hash = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    last_seen = Column(DateTime, nullable=False)


class AccountError(ValueError):
    """A name, role or password that cannot be saved; the message says what to change."""


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str


@dataclass(frozen=True)
class LoginResult:
    """``account`` on success; otherwise None, and ``throttled`` when the password was not even checked."""

    account: Account | None
    throttled: bool = False


@dataclass(frozen=True)
class LoginSession:
    token: str
    csrf_token: str
    account: Account


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@lru_cache(maxsize=8)
def _sessions_for(url: str) -> sessionmaker:
    engine = get_engine(url)
    Base.metadata.create_all(engine, tables=[ConsoleUser.__table__, ConsoleSession.__table__])
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


def db(url: str | None = None) -> Session:
    """A session on the console tables (created on first use if the engine predates this module)."""
    return _sessions_for(url or settings().database_url)()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        digest = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=SCRYPT_LEN)
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(digest, _unb64(expected))


def _check(name: str, role: str, password: str) -> None:
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AccountError(f"用户名 {name!r} 不可用：1–64个字符，不含空格。")
    if role not in ROLES:
        raise AccountError(f"角色 {role!r} 不存在，请用 {' 或 '.join(ROLES)}。")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"密码至少需要{MIN_PASSWORD_CHARS}个字符。")


def save_user(name: str, role: str, password: str, url: str | None = None) -> bool:
    """Create the account, or set its role and password. True when it was created.

    A new password ends every session of the account (a stolen or forgotten browser is logged out); saving the
    same password again (BOT_ADMIN_PASSWORD at every start) keeps them.
    """
    _check(name, role, password)
    with db(url) as session, session.begin():
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first()
        created = user is None
        if user is None:
            user = ConsoleUser(name=name, failed_logins=0)
            session.add(user)
        user.role = role
        if created or not verify_password(password, user.password_hash):
            user.password_hash = hash_password(password)
            if not created:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
        return created


def get_user(name: str, url: str | None = None) -> ConsoleUser | None:
    with db(url) as session:
        return session.scalars(select(ConsoleUser).where(ConsoleUser.name == name)).first()


def authenticate(
    name: str, password: str, address: str = "", url: str | None = None, throttle: LoginThrottle | None = None
) -> LoginResult:
    """Check a login from client `address`. While the address (or everyone) must wait, the password is not checked.

    A wrong password, an unknown name and a throttled attempt cost the same scrypt time and give the same result
    but for ``throttled`` (for the log only).
    """
    throttle = throttle or LoginThrottle(url)
    attempt = throttle.begin(address or "unknown")
    user = get_user(name, url) if attempt.allowed else None
    if user is None or not verify_password(password, user.password_hash):
        if user is None:
            verify_password(password, _dummy_hash())
        return LoginResult(None, throttled=not attempt.allowed)
    throttle.succeeded(attempt)
    return LoginResult(Account(user.id, user.name, user.role))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(account: Account, url: str | None = None, now: datetime | None = None) -> LoginSession:
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), now or utcnow()
    with db(url) as session, session.begin():
        session.add(
            ConsoleSession(
                token_hash=_token_hash(token), user_id=account.id, csrf_token=csrf, created_at=now, last_seen=now
            )
        )
    return LoginSession(token, csrf, account)


def session_max_age() -> timedelta:
    """ADMIN_SESSION_MAX_HOURS: how long a console session lasts at most, however busy (default 12 hours)."""
    return timedelta(hours=admin_settings().session_max_hours)


def resume_session(
    token: str | None, url: str | None = None, now: datetime | None = None, max_age: timedelta | None = None
) -> LoginSession | None:
    """The session behind a cookie token, if it was used in the last 8 hours and is not older than `max_age`
    (default `session_max_age()`); then it is touched."""
    if not token or len(token) > 100:
        return None
    now, max_age = now or utcnow(), max_age or session_max_age()
    with db(url) as session, session.begin():
        row = session.get(ConsoleSession, _token_hash(token))
        user = session.get(ConsoleUser, row.user_id) if row else None
        too_old = row is not None and (row.last_seen + SESSION_IDLE < now or row.created_at + max_age < now)
        if row is None or user is None or too_old:
            if row is not None:
                session.delete(row)
            return None
        row.last_seen = now
        return LoginSession(token, row.csrf_token, Account(user.id, user.name, user.role))


def end_session(token: str, url: str | None = None) -> None:
    with db(url) as session, session.begin():
        session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))
