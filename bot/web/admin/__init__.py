"""The staff/supervisor console at /admin/ (first slice: log-in and tickets), a blueprint of the web app.

``auth`` (log-in, sessions, CSRF), ``tickets`` (dashboard, list, detail, status changes), ``pages`` (HTML).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.web.admin import auth, conversations, faqs, inbox, stats, tickets


def admin_blueprint() -> Blueprint:
    """A fresh blueprint per app (tests build several apps in one process)."""
    bp = Blueprint("admin", url_prefix="/admin")
    bp.on_request(auth.guard)

    @bp.listener("before_server_start")
    async def admin_account(app: Sanic, _: Any) -> None:
        auth.ensure_admin_from_env()

    @bp.exception(SQLAlchemyError)
    async def database_unavailable(request: Request, error: SQLAlchemyError) -> HTTPResponse:
        return auth.database_unavailable(request, error)

    auth.add_routes(bp)
    tickets.add_routes(bp)
    faqs.add_routes(bp)  # FAQs, jieba dictionary, models: retrain, rollback
    conversations.add_routes(bp)
    stats.add_routes(bp)
    inbox.add_routes(bp)
    return bp


__all__ = ["admin_blueprint"]
