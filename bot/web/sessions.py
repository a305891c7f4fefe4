"""Server-issued conversation ids, carried in an HMAC-signed cookie.

The browser never chooses its conversation: the server draws a random id (``secrets.token_urlsafe``), signs it
with HMAC-SHA256 and sends ``<id>.<signature>`` as an HttpOnly, SameSite=Lax cookie. A cookie whose signature
does not verify is ignored and replaced by a fresh id, so nobody can read a conversation by guessing or copying
its id without the signature, and the signature needs the server's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.config import VAR_DIR, web_settings

COOKIE_NAME = "zmd_chat"
# A resident who comes back next week still sees the conversation.
COOKIE_MAX_AGE = 90 * 24 * 3600
ID_BYTES = 24


def secret_key(path: Path | None = None) -> str:
    """BOT_SECRET_KEY, or a random key kept in var/web-secret (mode 600) so restarts keep sessions valid."""
    key = web_settings().secret_key
    if key:
        return key
    path = path or VAR_DIR / "web-secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    path.chmod(0o600)
    return path.read_text().strip()


def _signature(secret: str, session_id: str) -> str:
    digest = hmac.new(secret.encode(), session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Session:
    """The conversation a request belongs to; ``new`` when the server just issued it."""

    id: str
    new: bool


class SessionSigner:
    """Issues, signs and verifies conversation ids."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("BOT_SECRET_KEY must be at least 16 characters (use e.g. `openssl rand -base64 32`)")
        self._secret = secret

    def new_id(self) -> str:
        return secrets.token_urlsafe(ID_BYTES)

    def sign(self, session_id: str) -> str:
        return f"{session_id}.{_signature(self._secret, session_id)}"

    def verify(self, cookie: str | None) -> str | None:
        """The id in a cookie value, or None when it is missing, malformed or its signature is wrong."""
        if not cookie or len(cookie) > 200 or "." not in cookie:
            return None
        session_id, _, signature = cookie.rpartition(".")
        expected = _signature(self._secret, session_id).encode()
        if not session_id or not hmac.compare_digest(signature.encode(), expected):
            return None
        return session_id

    def session(self, cookie: str | None) -> Session:
        """The verified session of a request, or a fresh one (a forged or tampered cookie gets a new id)."""
        session_id = self.verify(cookie)
        if session_id is None:
            return Session(self.new_id(), new=True)
        return Session(session_id, new=False)
