"""Redis down → the single-instance behaviour of docs/security.md: WeChat dedup and rate limits count in the
process, with a warning, and residents are answered. The stack runs with REDIS_URL at a port where nothing listens;
the limiter tests use a throw-away redis-server that is killed mid-run."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from bot.limits import RateLimiter
from tests.channels.conftest import new_msg_id, new_openid, text_xml
from tests.conftest import free_port
from tests.faults.stack import CLIENT_TIMEOUT, RATE_LIMIT, Stack, fresh_window, sender


def test_wechat_answers_once_per_message_without_redis(stack: Stack) -> None:
    client, openid, msg_id = stack.wechat(), new_openid(), new_msg_id()
    xml = text_xml(openid, "社保卡咋办", msg_id)
    first = client.post(xml, mode="raw", timeout=CLIENT_TIMEOUT + 5)
    assert first.status == 200 and "驻马店市人力资源和社会保障局" in first.content
    retry = client.post(xml, mode="raw", timeout=CLIENT_TIMEOUT + 5)  # WeChat's retry of the same MsgId
    assert retry.status == 200 and retry.content == first.content
    user_turns = [e for e in stack.events(openid) if e["event"] == "user"]
    assert len(user_turns) == 1
    assert "Redis unreachable" in stack.log("rasa").read_text()


def test_rest_rate_limit_works_without_redis(stack: Stack) -> None:
    """The limiter counts in the Rasa process while Redis is down (more cases: tests/security/test_limits.py)."""
    fresh_window()
    who = sender("redis-down")
    statuses = [stack.say(who, "/greet").status_code for _ in range(RATE_LIMIT + 1)]
    assert statuses == [200] * RATE_LIMIT + [429]
    assert "rate limits count in this process" in stack.log("rasa").read_text()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (apt-get install redis-server)"
    port = free_port()
    work = tmp_path_factory.mktemp("redis-limits")
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


async def test_two_instances_share_the_count_in_redis(redis_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = redis_server
    first, second = RateLimiter(3, 60, url), RateLimiter(3, 60, url)  # as in two Rasa instances
    decisions = [await limiter.check("rest:resident") for limiter in (first, second, first, second)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after <= 60
    assert (await second.check("rest:someone-else")).allowed
    keys = redis.Redis.from_url(url).keys("*")
    assert keys and not any(b"resident" in key for key in keys)  # hashed: no sender id in Redis


async def test_redis_dying_mid_run_falls_back_to_this_process(
    redis_server: tuple[str, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    url, process = redis_server
    limiter = RateLimiter(2, 60, url)
    assert (await limiter.check("wechat:o1")).allowed
    process.terminate()
    process.wait(timeout=10)
    started = time.monotonic()
    decisions = [await limiter.check("wechat:o1") for _ in range(3)]
    assert time.monotonic() - started < 5  # no long hang per message
    assert [d.allowed for d in decisions] == [True, True, False]  # counted afresh in memory, still limited
    assert "Redis unreachable" in caplog.text


async def test_memory_counters_stay_bounded() -> None:
    limiter = RateLimiter(5, 60)
    for number in range(120_000):
        await limiter.check(f"rest:sender-{number}")
    assert len(limiter._memory) <= 100_000
