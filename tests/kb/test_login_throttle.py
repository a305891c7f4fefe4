"""Console log-in throttling: growing waits per address and globally, shared by every process through the database.

The clock is injected: no test sleeps. Runs on SQLite and on PostgreSQL (the databases the project supports).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ROOT
from kb import accounts
from kb.login_throttle import ADDRESS, GLOBAL, GLOBAL_KEY, LoginThrottle, Policy, State, address_key, state_of
from tests.logs.conftest import postgres_database  # noqa: F401  (a fresh PostgreSQL database per session)

START = datetime(2026, 12, 6, 9, 0, 0)
NO_GLOBAL = Policy(free=10_000, first_wait=1.0, max_wait=15.0, forget=timedelta(minutes=15))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'throttle.sqlite3'}"
    base = str(request.getfixturevalue("postgres_database"))
    import sqlalchemy as sa

    engine = sa.create_engine(base, future=True)
    with engine.begin() as connection:  # the tables stay (cached engines), the counts go
        if sa.inspect(connection).has_table("console_login_throttle"):
            connection.execute(sa.text("DELETE FROM console_login_throttle"))
    engine.dispose()
    return base


def waits_after_each_failure(
    url: str, throttle: LoginThrottle, clock: Clock, address: str, n: int
) -> list[float | None]:
    """Fail n times from `address`, each as soon as allowed; the wait each failure started (None: no wait)."""
    waits: list[float | None] = []
    for _ in range(n):
        attempt = throttle.begin(address)
        assert attempt.allowed
        state = state_of(address_key(address), url)
        waits.append((state.wait_until - clock.now).total_seconds() if state.wait_until else None)
        if state.wait_until:
            assert not throttle.begin(address).allowed  # refused at once during the wait…
            clock.now = state.wait_until  # …and allowed again when it is over
    return waits


def test_an_address_waits_longer_after_each_failure_up_to_the_cap(url: str) -> None:
    clock = Clock()
    throttle = LoginThrottle(url, ADDRESS, NO_GLOBAL, clock)
    waits = waits_after_each_failure(url, throttle, clock, "10.0.0.7", 16)
    assert waits == [None, None, None, None, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]
    assert state_of(address_key("10.0.0.7"), url).failures == 16  # refused tries during a wait are not counted
    assert throttle.begin("10.0.0.8").allowed  # another address is not affected


def test_a_success_or_an_hour_without_failures_starts_afresh(url: str) -> None:
    clock = Clock()
    throttle = LoginThrottle(url, ADDRESS, NO_GLOBAL, clock)
    waits_after_each_failure(url, throttle, clock, "10.0.0.7", 7)
    clock.advance(3600)
    assert state_of(address_key("10.0.0.7"), url).wait_until < clock.now
    clock.advance(1)
    assert waits_after_each_failure(url, throttle, clock, "10.0.0.7", 5) == [None, None, None, None, 1]
    clock.advance(1)
    throttle.succeeded(throttle.begin("10.0.0.7"))
    assert state_of(address_key("10.0.0.7"), url).failures == 0
    assert waits_after_each_failure(url, throttle, clock, "10.0.0.7", 5) == [None, None, None, None, 1]


def test_failures_from_many_addresses_slow_everyone_a_little_never_for_long(url: str) -> None:
    clock = Clock()
    policy = Policy(free=20, first_wait=1.0, max_wait=15.0, forget=timedelta(minutes=15))
    throttle = LoginThrottle(url, ADDRESS, policy, clock)
    for i in range(19):  # one failure each from 19 addresses: nobody waits yet
        assert throttle.begin(f"10.1.0.{i}").allowed
    assert state_of(GLOBAL_KEY, url) == State(19, None)
    waits = []
    for i in range(8):
        attempt = throttle.begin(f"10.2.0.{i}")  # a new address each time, as in a distributed attack
        assert attempt.allowed
        wait_until = state_of(GLOBAL_KEY, url).wait_until
        assert wait_until is not None
        waits.append((wait_until - clock.now).total_seconds())
        refused = throttle.begin("10.9.9.9")  # the supervisor, meanwhile: asked to wait, not locked out
        assert not refused.allowed and refused.wait_until == wait_until
        clock.now = wait_until
    assert waits == [1, 2, 4, 8, 15, 15, 15, 15]
    attempt = throttle.begin("10.9.9.9")
    assert attempt.allowed
    throttle.succeeded(attempt)  # the supervisor's right password is taken off the global count
    assert state_of(GLOBAL_KEY, url).failures == 27
    clock.advance(15 * 60 + 1)  # a quarter of an hour without failures: the global count starts afresh
    assert throttle.begin("10.3.0.1").allowed and state_of(GLOBAL_KEY, url).failures == 1


def test_parallel_attempts_cannot_slip_past_a_wait(url: str) -> None:
    """Eight requests at once from an address with four failures: one is checked, the others wait."""
    clock = Clock()
    throttle = LoginThrottle(url, ADDRESS, NO_GLOBAL, clock)
    waits_after_each_failure(url, throttle, clock, "10.0.0.9", 4)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        results.append(throttle.begin("10.0.0.9").allowed)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 7 + [True]
    assert state_of(address_key("10.0.0.9"), url).failures == 5


def test_the_count_is_shared_with_another_process(url: str) -> None:
    """Two web-app processes count together: failures made by another process make this one's address wait."""
    script = (
        "from kb.login_throttle import LoginThrottle\n"
        "import sys\n"
        "t = LoginThrottle(sys.argv[1])\n"
        "print([t.begin('10.4.0.1').allowed for _ in range(6)])\n"
    )
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-c", script, url], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[True, True, True, True, True, False]"
    assert not LoginThrottle(url).begin("10.4.0.1").allowed  # this process sees the other's wait


def test_authenticate_never_locks_the_account_and_answers_alike(url: str) -> None:
    clock = Clock()
    throttle = LoginThrottle(url, ADDRESS, GLOBAL, clock)
    accounts.save_user("boss", "supervisor", "right-password-1", url=url)
    for i in range(12):  # an attacker at 10.5.0.1, as fast as the waits allow
        result = accounts.authenticate("boss", f"wrong-{i}", "10.5.0.1", url=url, throttle=throttle)
        assert result.account is None
        clock.advance(5)
    assert accounts.authenticate("nobody", "x", "10.5.0.2", url=url, throttle=throttle).account is None
    ok = accounts.authenticate("boss", "right-password-1", "10.5.0.3", url=url, throttle=throttle)
    assert ok.account is not None and ok.account.name == "boss" and not ok.throttled
    refused = accounts.authenticate("boss", "right-password-1", "10.5.0.1", url=url, throttle=throttle)
    assert refused.account is None and refused.throttled
