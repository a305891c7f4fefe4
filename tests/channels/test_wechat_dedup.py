"""One turn per message: claims, outcomes, nonces and remembered buttons, in-process and in a real Redis."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from bot.channels import wechat_dedup
from bot.channels.wechat_dedup import DEFERRED, Deduplicator, KeyValueStore, MemoryStore, RedisStore, make_store
from tests.conftest import free_port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away redis-server of our own (Debian's package is on this machine)."""
    server = shutil.which("redis-server")
    assert server, "redis-server is needed for the shared-dedup tests (apt-get install redis-server)"
    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> KeyValueStore:
    if request.param == "memory":
        return MemoryStore()
    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return make_store(url)


def test_make_store_picks_redis_only_with_a_url() -> None:
    assert isinstance(make_store(""), MemoryStore)
    assert isinstance(make_store("redis://127.0.0.1:1/0"), RedisStore)  # connects lazily


async def test_two_instances_sharing_redis_run_one_turn(redis_url: str) -> None:
    first, second = Deduplicator(RedisStore(redis_url)), Deduplicator(RedisStore(redis_url))
    redis.Redis.from_url(redis_url).flushdb()
    claims = await asyncio.gather(*(d.claim("msg:42") for d in [first, second] * 5))
    assert claims.count(True) == 1
    await first.finish("msg:42", "答")
    assert (await second.wait("msg:42", timeout=1)).text == "答"


async def test_only_the_first_claim_wins_even_when_concurrent(store: KeyValueStore) -> None:
    dedup = Deduplicator(store)
    results = await asyncio.gather(*(dedup.claim("msg:1") for _ in range(10)))
    assert results.count(True) == 1
    assert await dedup.claim("msg:2") is True


async def test_a_retry_waits_for_the_answer(store: KeyValueStore) -> None:
    dedup = Deduplicator(store, poll=0.01)
    await dedup.claim("msg:1")

    async def answer_later() -> None:
        await asyncio.sleep(0.1)
        await dedup.finish("msg:1", "答")

    started = time.monotonic()
    outcome, _ = await asyncio.gather(dedup.wait("msg:1", timeout=2), answer_later())
    assert (outcome.state, outcome.text) == ("done", "答") and time.monotonic() - started < 1


async def test_a_retry_gives_up_after_its_timeout_and_sees_deferred(store: KeyValueStore) -> None:
    dedup = Deduplicator(store, poll=0.01)
    await dedup.claim("msg:1")
    assert (await dedup.wait("msg:1", timeout=0.05)).state == "pending"
    await dedup.defer("msg:1")
    assert (await dedup.wait("msg:1", timeout=1)).state == DEFERRED


async def test_nonce_bound_to_its_message(store: KeyValueStore) -> None:
    dedup = Deduplicator(store)
    assert await dedup.nonce_is_new("1700000000", "n1", "msg:1")
    assert await dedup.nonce_is_new("1700000000", "n1", "msg:1")  # the same message again: a retry
    assert not await dedup.nonce_is_new("1700000000", "n1", "msg:2")  # another message with a used nonce
    assert await dedup.nonce_is_new("1700000001", "n1", "msg:2")


async def test_buttons_are_remembered_per_user(store: KeyValueStore) -> None:
    dedup = Deduplicator(store)
    await dedup.remember_buttons("oA", ["/ask_sscard_apply", "/report_manhole"])
    assert await dedup.button_payload("oA", 2) == "/report_manhole"
    assert await dedup.button_payload("oA", 3) is None and await dedup.button_payload("oA", 0) is None
    assert await dedup.button_payload("oB", 1) is None


async def test_memory_store_expires_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore(max_keys=3)
    await store.set("a", "1", ttl=10)
    now = time.monotonic()
    monkeypatch.setattr(wechat_dedup.time, "monotonic", lambda: now + 11)
    assert await store.get("a") is None
    assert await store.set_if_absent("a", "2", ttl=10)
    for key in "bcde":
        await store.set(key, key, ttl=10)
    assert len(store._data) <= 3 and await store.get("e") == "e"


async def test_store_keys_hold_no_openid() -> None:
    store = MemoryStore()
    dedup = Deduplicator(store)
    await dedup.claim("event:oSecretOpenId:1700000000:subscribe")
    await dedup.remember_buttons("oSecretOpenId", ["/greet"])
    assert not any("oSecretOpenId" in key for key in store._data)


async def test_redis_down_falls_back_to_this_process_instead_of_failing() -> None:
    from bot.channels.wechat_dedup import Deduplicator, RedisStore

    dedup = Deduplicator(RedisStore("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    assert await dedup.claim("msg-1") is True
    assert await dedup.claim("msg-1") is False
    await dedup.finish("msg-1", "答复")
    assert (await dedup.outcome("msg-1")).text == "答复"
