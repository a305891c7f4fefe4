"""The audit log: who changed which FAQ or answer, who trained, which model went live, and when.

Actions recorded (``AuditEvent.action``): ``faq.create``, ``faq.update``, ``faq.disable``, ``faq.enable``,
``faq.import``, ``jieba.add``, ``train``, ``deploy``, ``gate.refused``, ``rollback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import AuditEvent
from kb.session import new_session


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def record(
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
    url: str | None = None,
) -> None:
    """Append one event; pass `session` to make it part of the caller's transaction."""
    event = AuditEvent(actor=actor, action=action, target=target, detail=detail or {}, at=datetime.utcnow())
    if session is not None:
        session.add(event)
        return
    with new_session(url) as own, own.begin():
        own.add(event)


def recent(limit: int = 100, action_prefix: str = "", url: str | None = None) -> list[AuditRecord]:
    """Newest first; `action_prefix` such as ``faq.`` narrows the list."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(AuditEvent.action.like(f"{action_prefix}%"))
    with new_session(url) as session:
        rows = session.scalars(query).all()
    return [AuditRecord(r.at, r.actor, r.action, r.target, dict(r.detail or {})) for r in rows]
