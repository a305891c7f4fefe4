"""Per-sender rate limits for every channel (REST, WeChat, the chat page).

A fixed window per key: at most `limit` messages per `window` seconds. With REDIS_URL the counters live in Redis
(INCR + EXPIRE), so every Rasa instance and web app counts together; without it, or while Redis cannot be
reached, they live in this process (bounded in size), which is right for a single instance. Keys are hashed: no
OpenID or session id reaches Redis.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0  # after a Redis error, count in memory for this long before trying Redis again
MAX_MEMORY_KEYS = 100_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends (for the Retry-After header)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class MemoryCounter:
    """Fixed-window counters in this process; never more than `max_keys` of them."""

    def __init__(self, max_keys: int = MAX_MEMORY_KEYS) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, count)
        self._max_keys = max_keys

    def hit(self, key: str, window_number: int) -> int:
        number, count = self._counts.pop(key, (window_number, 0))
        count = count + 1 if number == window_number else 1
        if len(self._counts) >= self._max_keys:
            self._evict()
        self._counts[key] = (window_number, count)  # re-inserted last: the dict is in order of last use
        return count

    def _evict(self) -> None:
        """Drop the least recently used tenth (old windows are there first): amortised O(1) per message."""
        for key in list(itertools.islice(self._counts, max(self._max_keys // 10, 1))):
            del self._counts[key]

    def __len__(self) -> int:
        return len(self._counts)


class RateLimiter:
    """`await limiter.check("rest:" + sender)`; `limit` <= 0 allows everything."""

    def __init__(self, limit: int, window: float, redis_url: str = "", prefix: str = "ratelimit:") -> None:
        self.limit = limit
        self.window = max(window, 1.0)
        self._prefix = prefix
        self._memory = MemoryCounter()
        self._redis: Any = None
        self._redis_down_until = 0.0
        if redis_url and limit > 0:
            import redis.asyncio as redis_asyncio

            self._redis = redis_asyncio.from_url(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True
            )

    async def check(self, key: str) -> Decision:
        if self.limit <= 0:
            return Decision(True)
        now = time.time()
        window_number = int(now // self.window)
        retry_after = max(1, math.ceil((window_number + 1) * self.window - now))
        count = await self._hit(_digest(key), window_number)
        return Decision(count <= self.limit, 0 if count <= self.limit else retry_after)

    async def _hit(self, key: str, window_number: int) -> int:
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            name = f"{self._prefix}{key}:{window_number}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, int(self.window) + 1)
                    count, _ = await pipe.execute()
                return int(count)
            except (OSError, RedisError) as error:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                logger.warning(
                    "Redis unreachable (%s): rate limits count in this process only for %.0f s",
                    type(error).__name__,
                    REDIS_RETRY_SECONDS,
                )
        return self._memory.hit(key, window_number)
