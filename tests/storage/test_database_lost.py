"""The conversation database goes away while Rasa runs: retried, spooled, alerted, written back in order.

A real PostgreSQL database is made unavailable (`ALLOW_CONNECTIONS false` and its sessions terminated), then
restored. Also: two stores (two Rasa instances) on one database see each other's events without duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.alerts import active_alerts
from bot.tracker_store import ALERT_KIND, MaskingSQLTrackerStore
from tests.storage.conftest import MOBILE, POSTGRES_ADMIN_URL, event_rows

DOMAIN = Domain.empty()


@pytest.fixture(autouse=True)
def alerts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("ALERTS_FILE", str(path))
    monkeypatch.setattr("bot.tracker_store.RETRY_PAUSE_SECONDS", 0.01)
    return path


class Outage:
    """Switches a PostgreSQL database off (no new connections, existing ones terminated) and on again."""

    def __init__(self, url: str) -> None:
        self.name = make_url(url).database
        self.admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": self.name},
            )

    def end(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))


@pytest.fixture
def outage(postgres_url: str) -> Iterator[Outage]:
    switch = Outage(postgres_url)
    try:
        yield switch
    finally:
        switch.end()
        switch.admin.dispose()


def store_on(url: str, spool: Path) -> MaskingSQLTrackerStore:
    return MaskingSQLTrackerStore(domain=DOMAIN, host=url, spool_dir=str(spool))


def turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered(f"答：{text}"))
    tracker.update(ActionExecuted("action_listen"))


async def say(store: MaskingSQLTrackerStore, sender: str, text: str) -> DialogueStateTracker:
    """One turn as Rasa does it: retrieve (or create), add events, save."""
    tracker = await store.get_or_create_tracker(sender)
    turn(tracker, text)
    await store.save(tracker)
    return tracker


def texts(rows: list[dict], sender: str) -> list[str]:
    mine = [row for row in rows if row["sender_id"] == sender and row["type_name"] == "user"]
    return [json.loads(row["data"]).get("text") for row in mine]


async def test_lost_database_is_retried_spooled_alerted_and_written_back_in_order(
    postgres_url: str, outage: Outage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_on(postgres_url, tmp_path / "spool")
    await say(store, "known", "第一句")
    outage.begin()

    tracker = await say(store, "known", f"第二句 电话{MOBILE}")  # the conversation goes on from memory
    said = [event.text for event in tracker.events if isinstance(event, UserUttered)]
    assert said == ["第一句", f"第二句 电话{MOBILE}"]
    await say(store, "stranger", "陌生人第一句")  # never seen by this process: starts afresh, spooled too
    await say(store, "known", "第三句")

    alerts = active_alerts()
    assert [alert.kind for alert in alerts] == [ALERT_KIND]
    assert "对话数据库" in alerts[0].text and str(store.spool.path) in alerts[0].text
    spooled = [json.loads(line) for line in store.spool.path.read_text(encoding="utf-8").splitlines()]
    assert texts(spooled, "known") == ["第二句 电话[手机号]", "第三句"]
    assert texts(spooled, "stranger") == ["陌生人第一句"]
    assert MOBILE not in json.dumps(spooled, ensure_ascii=False)

    outage.end()
    monkeypatch.setattr("bot.tracker_store.CIRCUIT_OPEN_SECONDS", 0.0)
    store._down_until = 0.0
    await say(store, "known", "第四句")  # the spool goes in first, then this turn

    rows = event_rows(postgres_url)
    assert texts(rows, "known") == ["第一句", "第二句 电话[手机号]", "第三句", "第四句"]
    assert texts(rows, "stranger") == ["陌生人第一句"]
    assert MOBILE not in json.dumps(rows, ensure_ascii=False)
    assert active_alerts() == []
    assert store.spool.path.read_text(encoding="utf-8") == ""

    reread = await store_on(postgres_url, tmp_path / "other-spool").retrieve("known")  # another instance
    assert reread is not None
    assert [event.text for event in reread.events if isinstance(event, UserUttered)] == [
        "第一句",
        "第二句 电话[手机号]",
        "第三句",
        "第四句",
    ]
    store.engine.dispose()


async def test_a_stopped_processs_spool_is_written_at_the_next_start(postgres_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    row = {"sender_id": "orphan", "type_name": "user", "timestamp": 1.0, "intent_name": None, "action_name": None}
    row["data"] = json.dumps({"event": "user", "text": "进程停了也不丢", "timestamp": 1.0})
    (spool / "events-1-dead.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")

    store = store_on(postgres_url, spool)
    store.engine.dispose()
    assert texts(event_rows(postgres_url), "orphan") == ["进程停了也不丢"]
    assert not (spool / "events-1-dead.jsonl").exists()


async def test_two_instances_share_one_conversation_without_duplicates(database_url: str, tmp_path: Path) -> None:
    """A conversation that moves between instances (failover): each reads only what it has not seen."""
    first, second = store_on(database_url, tmp_path / "a"), store_on(database_url, tmp_path / "b")
    await say(first, "moving", "一")
    await say(first, "moving", "二")
    await say(second, "moving", "三")
    tracker = await say(first, "moving", "四")
    rows = event_rows(database_url)
    assert texts(rows, "moving") == ["一", "二", "三", "四"]
    assert len(rows) == len(tracker.events)
    assert [event.text for event in tracker.events if isinstance(event, UserUttered)] == ["一", "二", "三", "四"]
    first.engine.dispose()
    second.engine.dispose()
