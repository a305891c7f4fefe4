"""bot/alerts.py: supervisors' alerts kept in a file, shared by processes, without any database."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import bot.alerts
from bot.alerts import active_alerts, record_alert, resolve_alert


@pytest.fixture(autouse=True)
def alerts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("ALERTS_FILE", str(path))
    return path


def test_no_file_means_no_alerts() -> None:
    assert active_alerts() == []


def test_an_alert_stays_open_until_resolved_and_counts_repeats() -> None:
    record_alert("conversation_db", "对话数据库连接中断")
    record_alert("conversation_db", "对话数据库连接中断：本机暂存 3 条")
    record_alert("redis", "Redis 不可用")
    alerts = {alert.kind: alert for alert in active_alerts()}
    assert set(alerts) == {"conversation_db", "redis"}
    assert alerts["conversation_db"].count == 2
    assert alerts["conversation_db"].text.endswith("本机暂存 3 条")
    assert alerts["conversation_db"].first_at <= alerts["conversation_db"].last_at
    assert active_alerts()[0].kind == "redis"  # newest first

    resolve_alert("conversation_db", "已恢复")
    assert [alert.kind for alert in active_alerts()] == ["redis"]
    record_alert("conversation_db", "又断了")
    assert {alert.kind: alert.count for alert in active_alerts()}["conversation_db"] == 1


def _raise_many(path: str, worker: int) -> None:
    import os

    os.environ["ALERTS_FILE"] = path
    for number in range(50):
        record_alert(f"kind-{worker}", f"第 {number} 次")


def test_processes_write_the_same_file_without_losing_lines(alerts_file: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_raise_many, args=(str(alerts_file), worker)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted((alert.kind, alert.count) for alert in active_alerts()) == [(f"kind-{n}", 50) for n in range(4)]


def test_a_long_file_is_compacted_to_the_open_alerts(alerts_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.alerts, "COMPACT_BYTES", 2000)
    for number in range(100):
        record_alert("conversation_db", f"第 {number} 次")
    resolve_alert("conversation_db")
    record_alert("redis", "Redis 不可用")
    assert alerts_file.stat().st_size < 4000
    assert [(alert.kind, alert.count) for alert in active_alerts()] == [("redis", 1)]
