"""Exactly one Rasa turn per WeChat message, however often WeChat retries it.

WeChat retries a message up to three times when it has no answer within 5 seconds, and 排重 is the developer's
job ("推荐使用msgid排重"; events have no MsgId: FromUserName + CreateTime). The first request claims the message's
key (SET NX with a TTL); a retry that arrives while the turn runs waits briefly for the same answer, else gets
`success` — never a second turn. With REDIS_URL the claims are shared by every Rasa instance; without it they
live in this process.

The same small key-value store remembers nonces (a replayed nonce with another body is refused) and the
payloads of the numbered buttons last shown to a resident.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CLAIM_TTL = 900  # seconds; longer than the signed-timestamp window, so an old retry can't start a turn again
NONCE_TTL = 900
BUTTONS_TTL = 24 * 3600
PENDING = "pending"
DEFERRED = "deferred"  # answered `success`; the answer goes out through the customer-service API


class KeyValueStore(Protocol):
    async def set_if_absent(self, key: str, value: str, ttl: int) -> bool: ...

    async def set(self, key: str, value: str, ttl: int) -> None: ...

    async def get(self, key: str) -> str | None: ...


class MemoryStore:
    """In-process store with expiry: enough for one Rasa process."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._max_keys = max_keys

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._data[key]
            return None
        return item[1]

    def _evict(self) -> None:
        if len(self._data) < self._max_keys:
            return
        now = time.monotonic()
        for key in [k for k, (expiry, _) in self._data.items() if expiry < now]:
            del self._data[key]
        while len(self._data) >= self._max_keys:  # still full: drop the oldest inserted
            del self._data[next(iter(self._data))]

    async def set_if_absent(self, key: str, value: str, ttl: int) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def set(self, key: str, value: str, ttl: int) -> None:
        self._evict()
        self._data.pop(key, None)
        self._data[key] = (time.monotonic() + ttl, value)

    async def get(self, key: str) -> str | None:
        return self._live(key)


class RedisStore:
    """Shared store in Redis (REDIS_URL), so every Rasa instance sees the same claims.

    If Redis cannot be reached, claims fall back to this process's memory (the single-instance behaviour) with a
    warning, rather than failing the resident's message with a 500.
    """

    def __init__(self, url: str, prefix: str = "wechat:") -> None:
        import redis.asyncio as redis_asyncio

        self._redis: Any = redis_asyncio.from_url(url, decode_responses=True, socket_timeout=2)
        self._prefix = prefix
        self._local = MemoryStore()

    def _unreachable(self, error: Exception) -> None:
        logger.warning("Redis unreachable (%s): WeChat dedup falls back to this process", type(error).__name__)

    async def set_if_absent(self, key: str, value: str, ttl: int) -> bool:
        try:
            return bool(await self._redis.set(self._prefix + key, value, nx=True, ex=ttl))
        except (OSError, RedisError) as error:
            self._unreachable(error)
            return await self._local.set_if_absent(key, value, ttl)

    async def set(self, key: str, value: str, ttl: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl)
        except (OSError, RedisError) as error:
            self._unreachable(error)
            await self._local.set(key, value, ttl)

    async def get(self, key: str) -> str | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except (OSError, RedisError) as error:
            self._unreachable(error)
            return await self._local.get(key)
        return None if value is None else str(value)


def make_store(redis_url: str) -> KeyValueStore:
    return RedisStore(redis_url) if redis_url else MemoryStore()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Outcome:
    """What a retry gets: the answer's text (`done`), or nothing yet (`pending`) / delivered later (`deferred`)."""

    state: str
    text: str = ""


class Deduplicator:
    """Claims, results and nonces on top of a KeyValueStore. Keys are hashed: no OpenID reaches Redis keys."""

    def __init__(self, store: KeyValueStore, poll: float = 0.1) -> None:
        self.store = store
        self.poll = poll

    async def claim(self, key: str) -> bool:
        """True for the first request of a message: it runs the turn. False for retries."""
        return await self.store.set_if_absent("turn:" + _digest(key), PENDING, CLAIM_TTL)

    async def finish(self, key: str, text: str) -> None:
        await self.store.set("turn:" + _digest(key), json.dumps({"state": "done", "text": text}), CLAIM_TTL)

    async def defer(self, key: str) -> None:
        await self.store.set("turn:" + _digest(key), json.dumps({"state": DEFERRED}), CLAIM_TTL)

    async def outcome(self, key: str) -> Outcome:
        raw = await self.store.get("turn:" + _digest(key))
        if raw is None or raw == PENDING:
            return Outcome(PENDING)
        data = json.loads(raw)
        return Outcome(str(data.get("state", PENDING)), str(data.get("text", "")))

    async def wait(self, key: str, timeout: float) -> Outcome:
        """The first request's outcome, polling until it is known or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            outcome = await self.outcome(key)
            if outcome.state != PENDING or time.monotonic() >= deadline:
                return outcome
            await asyncio.sleep(self.poll)

    async def nonce_is_new(self, timestamp: str, nonce: str, message_key: str) -> bool:
        """False when this timestamp+nonce was already used for a different message (a replay with forged content).

        The same message again (same MsgId, or user+time+event) is WeChat retrying, or a verbatim replay, perhaps
        encrypted afresh: let it through; the message's claim makes sure it runs no second turn.
        """
        key = "nonce:" + _digest(f"{timestamp}:{nonce}")
        fingerprint = _digest(message_key)
        if await self.store.set_if_absent(key, fingerprint, NONCE_TTL):
            return True
        return await self.store.get(key) == fingerprint

    async def remember_buttons(self, user: str, payloads: list[str]) -> None:
        await self.store.set("buttons:" + _digest(user), json.dumps(payloads), BUTTONS_TTL)

    async def button_payload(self, user: str, number: int) -> str | None:
        raw = await self.store.get("buttons:" + _digest(user))
        payloads = json.loads(raw) if raw else []
        return str(payloads[number - 1]) if 1 <= number <= len(payloads) else None
