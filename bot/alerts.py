"""Alerts for supervisors that must work while the conversation database is down (the console shows them as a banner).

An alert has a `kind` (e.g. ``conversation_db``): raising it again updates its text and count, `resolve_alert(kind)`
clears it. Alerts live in a JSON-lines file (``ALERTS_FILE``, default ``var/alerts.jsonl``), one line per change,
appended under an exclusive `flock`, so every process on the machine (Rasa instances, the action server, the web
app) writes and reads the same alerts without any database.

    from bot.alerts import active_alerts, record_alert, resolve_alert

    record_alert("conversation_db", "对话数据库不可用：3 条对话记录暂存在本机，恢复后自动补写。")
    for alert in active_alerts():  # newest first
        print(alert.kind, alert.text, alert.count, alert.first_at, alert.last_at)
    resolve_alert("conversation_db", "对话数据库已恢复，暂存记录已补写。")
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.config import alerts_path

logger = logging.getLogger(__name__)

# The file is compacted (one line per open alert) when it grows past this many bytes.
COMPACT_BYTES = 1_000_000


@dataclass(frozen=True)
class Alert:
    """One open alert: what kind, the latest text, how often it was raised, first and last time (epoch seconds)."""

    kind: str
    text: str
    count: int
    first_at: float
    last_at: float


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replay(lines: list[str]) -> dict[str, Alert]:
    """The open alerts after applying every line in order; unreadable lines are skipped."""
    open_alerts: dict[str, Alert] = {}
    for line in lines:
        try:
            entry: dict[str, Any] = json.loads(line)
            kind, at = str(entry["kind"]), float(entry["at"])
        except (ValueError, KeyError, TypeError):
            continue
        if entry.get("resolved"):
            open_alerts.pop(kind, None)
            continue
        previous = open_alerts.get(kind)
        count = (previous.count if previous else 0) + int(entry.get("count", 1))
        first = previous.first_at if previous else float(entry.get("first_at", at))
        open_alerts[kind] = Alert(kind, str(entry.get("text", "")), count, first, at)
    return open_alerts


def _read(handle: IO[str]) -> list[str]:
    handle.seek(0)
    return [line for line in handle.read().splitlines() if line.strip()]


def _append(handle: IO[str], entry: dict[str, Any]) -> None:
    handle.seek(0, os.SEEK_END)
    if handle.tell() > COMPACT_BYTES:
        alerts = _replay(_read(handle))
        handle.seek(0)
        handle.truncate()
        for alert in alerts.values():
            handle.write(json.dumps({**alert.__dict__, "at": alert.last_at}, ensure_ascii=False) + "\n")
    handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    handle.flush()


def record_alert(kind: str, text: str) -> None:
    """Raise (or raise again) the alert `kind`; it stays active until `resolve_alert(kind)`. Never raises itself."""
    try:
        with _locked(alerts_path()) as handle:
            _append(handle, {"kind": kind, "text": text, "at": time.time()})
    except OSError as error:  # the alert file itself is unusable: the log is all that is left
        logger.error("Alert %s not recorded in %s (%s): %s", kind, alerts_path(), error, text)
    logger.error("ALERT %s: %s", kind, text)


def resolve_alert(kind: str, text: str = "") -> None:
    """Close the alert `kind` if it is open; `text` (optional) says how it ended, for the log."""
    try:
        with _locked(alerts_path()) as handle:
            if kind not in _replay(_read(handle)):
                return
            _append(handle, {"kind": kind, "text": text, "at": time.time(), "resolved": True})
    except OSError as error:
        logger.error("Alert %s not resolved in %s (%s)", kind, alerts_path(), error)
        return
    logger.warning("RESOLVED %s: %s", kind, text)


def active_alerts() -> list[Alert]:
    """The open alerts, most recently raised first; empty when there is no alert file."""
    path = alerts_path()
    if not path.is_file():
        return []
    with _locked(path) as handle:
        alerts = _replay(_read(handle))
    return sorted(alerts.values(), key=lambda alert: alert.last_at, reverse=True)
