"""Tickets in the console: dashboard, list with filters, detail with history, status changes.

- ``GET /admin/``                          counts by status, newest tickets
- ``GET /admin/tickets``                   ?status=&kind=&county=&number=&page=
- ``GET /admin/tickets/<number>``          detail, history, the status form
- ``POST /admin/tickets/<number>/status``  ``status``, ``note`` (required), ``expected`` (the status shown)
- ``GET /admin/api/tickets/<number>``      the same as JSON
"""

from __future__ import annotations

import re
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect
from sanic.response import json as sanic_json

from bot.conversations.models import conversation_key
from bot.web.admin.pages import (
    KIND_LABELS,
    csrf_field,
    esc,
    kind_label,
    link,
    message,
    options,
    page,
    short_sender,
    table,
    when,
)
from kb import ticket_admin
from kb.models import Ticket
from kb.query import get_ticket, office_of
from kb.ticket_admin import NEXT_STATUSES, STATUSES, StatusChangeError, TicketFilter
from kb.ticket_numbers import TICKET_NUMBER_PATTERN

TICKET_NUMBER = re.compile(rf"^{TICKET_NUMBER_PATTERN}$")
LIST_HEADERS = ("编号", "类型", "县区", "位置", "状态", "提交时间", "更新时间")


def _ticket_row(ticket: Ticket) -> list[str]:
    return [
        link(f"/admin/tickets/{ticket.number}", ticket.number),
        esc(kind_label(ticket.kind)),
        esc(ticket.county),
        esc(ticket.location),
        esc(ticket.status),
        esc(when(ticket.created_at)),
        esc(when(ticket.updated_at)),
    ]


def _filter_of(request: Request) -> TicketFilter:
    args = {key: (request.args.get(key) or "").strip()[:64] for key in ("status", "kind", "county", "number")}
    return TicketFilter(**args)


def _page_number(request: Request) -> int:
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def _filters_form(wanted: TicketFilter) -> str:
    kinds, counties = ticket_admin.distinct_values("kind"), ticket_admin.distinct_values("county")
    return (
        '<form method="get" action="/admin/tickets" class="filters">'
        f'<label>状态<select name="status">{options(STATUSES, wanted.status)}</select></label>'
        f'<label>类型<select name="kind">{options(kinds, wanted.kind, KIND_LABELS)}</select></label>'
        f'<label>县区<select name="county">{options(counties, wanted.county)}</select></label>'
        f'<label>编号<input name="number" value="{esc(wanted.number)}" placeholder="如 JG-20261206"></label>'
        "<button type=submit>筛选</button></form>"
    )


def _pager(wanted: TicketFilter, result: ticket_admin.TicketPage) -> str:
    params: dict[str, Any] = dict(vars(wanted))
    parts = [f"<span>共 {result.total} 件，第 {result.page}/{result.pages} 页</span>"]
    if result.page > 1:
        parts.append(link("/admin/tickets", "上一页", {**params, "page": result.page - 1}))
    if result.page < result.pages:
        parts.append(link("/admin/tickets", "下一页", {**params, "page": result.page + 1}))
    return f'<nav class="pager" aria-label="分页">{"".join(parts)}</nav>'


def _history(number: str) -> str:
    events = ticket_admin.events_of(number)
    if not events:
        return "<p>暂无状态变更记录。</p>"
    rows = [[esc(when(e.at)), esc(e.by_user), esc(f"{e.from_status} → {e.to_status}"), esc(e.note)] for e in events]
    return table(("时间", "操作人", "状态变更", "处理说明"), rows)


def _status_form(ticket: Ticket, csrf: str, note: str = "") -> str:
    choices = NEXT_STATUSES.get(str(ticket.status), ())
    if not choices:
        return f"<p>工单{esc(ticket.status)}，状态不能再更改。</p>"  # 已办结, or 已撤销 by the resident
    return (
        f'<form method="post" action="/admin/tickets/{esc(ticket.number)}/status" class="status">{csrf_field(csrf)}'
        f'<input type="hidden" name="expected" value="{esc(ticket.status)}">'
        f'<label>新状态<select name="status" required>{options(choices, "", blank="")}</select></label>'
        f'<label>处理说明（必填）<textarea name="note" required maxlength="500">{esc(note)}</textarea></label>'
        "<button type=submit>更改状态</button></form>"
    )


def _details(ticket: Ticket, log_reader: bool = False) -> str:
    office = office_of(ticket.office_id)
    rows = {
        "类型": kind_label(ticket.kind),
        "状态": ticket.status,
        "处理部门": office.name if office else ticket.office_id,
        "县区": ticket.county or "未填写",
        "位置": ticket.location,
        "情况描述": ticket.description,
        "提交时间": when(ticket.created_at),
        "更新时间": when(ticket.updated_at),
    }
    items = "".join(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in rows.items())
    key = conversation_key(ticket.sender_id)  # supervisors read the log; staff see only its short id
    shown = f"会话 #{short_sender(ticket.sender_id)}"
    conversation = link(f"/admin/conversations/{key}", shown) if log_reader else esc(shown)
    return f"<dl>{items}<dt>来源会话</dt><dd>{conversation}</dd></dl>"


def _detail_page(request: Request, ticket: Ticket, text: str = "", status: int = 200, note: str = "") -> HTTPResponse:
    login = request.ctx.login
    notice = message("状态已更新。", "ok") if request.args.get("changed") == "1" and not text else message(text)
    reader = login.account.role == "supervisor"  # may open the conversation log
    body = (
        f"{notice}{_details(ticket, reader)}<h2>更改状态</h2>{_status_form(ticket, login.csrf_token, note)}"
        f"<h2>处理记录</h2>{_history(ticket.number)}<p>{link('/admin/tickets', '← 返回工单列表')}</p>"
    )
    return page(f"工单 {ticket.number}", body, login.account, login.csrf_token, status)


def _find(number: str) -> Ticket | None:
    number = number.strip().upper()
    return get_ticket(number) if TICKET_NUMBER.match(number) else None


def _not_found(request: Request, number: str) -> HTTPResponse:
    login = request.ctx.login
    body = message(f"没有找到工单 {number}。") + f"<p>{link('/admin/tickets', '← 返回工单列表')}</p>"
    return page("没有找到工单", body, login.account, login.csrf_token, status=404)


def add_routes(bp: Blueprint) -> None:
    @bp.get("/")
    async def dashboard(request: Request) -> HTTPResponse:
        login = request.ctx.login
        counts = ticket_admin.status_counts()
        items = "".join(
            f"<li>{link('/admin/tickets', status, {'status': status})}<br><strong>{count}</strong></li>"
            for status, count in counts.items()
        )
        latest = ticket_admin.find_tickets(TicketFilter()).tickets[:5]
        body = (
            f'<h2>工单</h2><ul class="counts">{items}</ul><p>{link("/admin/tickets", "查看全部工单 →")}</p>'
            f"<h2>最新工单</h2>{table(LIST_HEADERS, map(_ticket_row, latest))}"
        )
        return page("管理后台", body, login.account, login.csrf_token)

    @bp.get("/tickets")
    async def ticket_list(request: Request) -> HTTPResponse:
        login, wanted = request.ctx.login, _filter_of(request)
        result = ticket_admin.find_tickets(wanted, _page_number(request))
        rows = (
            table(LIST_HEADERS, map(_ticket_row, result.tickets)) if result.tickets else "<p>没有符合条件的工单。</p>"
        )
        body = _filters_form(wanted) + rows + _pager(wanted, result)
        return page("工单列表", body, login.account, login.csrf_token)

    @bp.get("/tickets/<number:str>")
    async def ticket_detail(request: Request, number: str) -> HTTPResponse:
        ticket = _find(number)
        return _detail_page(request, ticket) if ticket else _not_found(request, number)

    @bp.post("/tickets/<number:str>/status")
    async def ticket_status(request: Request, number: str) -> HTTPResponse:
        ticket = _find(number)
        if ticket is None:
            return _not_found(request, number)
        form = request.form or {}
        note = form.get("note") or ""
        try:
            ticket_admin.change_status(
                ticket.number, form.get("status") or "", note, request.ctx.login.account.name, form.get("expected")
            )
        except StatusChangeError as error:
            return _detail_page(request, _find(number) or ticket, error.message, error.status, note)
        return redirect(f"/admin/tickets/{ticket.number}?changed=1", status=303)

    @bp.get("/api/tickets/<number:str>")
    async def ticket_json(request: Request, number: str) -> HTTPResponse:
        ticket = _find(number)
        if ticket is None:
            return sanic_json(
                {"error": f"没有找到工单 {number}。", "code": "not_found"}, status=404, ensure_ascii=False
            )
        events = [
            {"at": when(e.at), "by": e.by_user, "from": e.from_status, "to": e.to_status, "note": e.note}
            for e in ticket_admin.events_of(ticket.number)
        ]
        body = {
            "number": ticket.number,
            "status": ticket.status,
            "updated_at": when(ticket.updated_at),
            "events": events,
        }
        return sanic_json(body, ensure_ascii=False)
