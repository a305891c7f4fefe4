"""HTML for the console, rendered on the server. Every value goes through `esc` (html.escape) on its way in.

There is no template engine: pages are small, and these helpers keep the escaping in one place.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from html import escape
from typing import Iterable, Mapping
from urllib.parse import urlencode

from sanic.response import HTTPResponse, html

from bot.alerts import active_alerts
from kb.accounts import Account

KIND_LABELS = {"manhole": "井盖报修"}
# The console's menu: (path, label, roles that see it). Each console module adds its own line here.
NAV_LINKS: list[tuple[str, str, tuple[str, ...]]] = [
    ("/admin/", "首页", ("supervisor", "staff")),
    ("/admin/tickets", "工单", ("supervisor", "staff")),
    ("/admin/faqs", "FAQ", ("supervisor", "staff")),
    ("/admin/jieba", "分词词典", ("supervisor", "staff")),
    ("/admin/models", "训练与上线", ("supervisor", "staff")),
    ("/admin/conversations", "会话记录", ("supervisor",)),
    ("/admin/stats", "统计", ("supervisor",)),
    ("/admin/inbox", "待标注消息", ("supervisor", "staff")),
]
ROLE_LABELS = {"supervisor": "主管", "staff": "工作人员"}


def esc(value: object) -> str:
    """Text → HTML text (quotes too, so it is safe in attributes); None → empty."""
    return escape("" if value is None else str(value), quote=True)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", kind or "")


def short_sender(sender_id: str) -> str:
    """A conversation's id shown shortened and hashed: enough to tell conversations apart, no raw id on screen."""
    return hashlib.sha256(sender_id.encode()).hexdigest()[:12]


def link(path: str, label: str, params: Mapping[str, object] | None = None) -> str:
    query = {key: value for key, value in (params or {}).items() if value not in ("", None)}
    href = path + ("?" + urlencode(query) if query else "")
    return f'<a href="{esc(href)}">{esc(label)}</a>'


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def options(values: Iterable[str], selected: str, labels: Mapping[str, str] | None = None, blank: str = "全部") -> str:
    items = [f'<option value="">{esc(blank)}</option>'] if blank else []
    for value in values:
        chosen = " selected" if value == selected else ""
        items.append(f'<option value="{esc(value)}"{chosen}>{esc((labels or {}).get(value, value))}</option>')
    return "".join(items)


def table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """`rows` hold HTML already made safe by the caller (via `esc` or `link`)."""
    head = "".join(f"<th scope='col'>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def message(text: str, kind: str = "error") -> str:
    role = "alert" if kind == "error" else "status"
    return f'<p class="msg msg-{esc(kind)}" role="{role}">{esc(text)}</p>' if text else ""


def _header(account: Account | None, csrf: str) -> str:
    if account is None:
        return ""
    logout = (
        f'<form method="post" action="/admin/logout" class="logout">{csrf_field(csrf)}<button>退出登录</button></form>'
    )
    role = ROLE_LABELS.get(account.role, account.role)
    items = " ".join(link(path, label) for path, label, roles in NAV_LINKS if account.role in roles)
    nav = f"<nav>{items}</nav>"
    return f'<header>{nav}<span class="who">{esc(account.name)}（{esc(role)}）</span>{logout}</header>'


def alerts_banner() -> str:
    """Open alerts (e.g. the conversation database is down) on top of every console page, for supervisors to act."""
    items = "".join(
        f"<li>{esc(alert.text)}（{esc(when(datetime.fromtimestamp(alert.last_at)))}，共 {alert.count} 次）</li>"
        for alert in active_alerts()
    )
    return f'<section class="alerts" role="alert"><h2>系统告警</h2><ul>{items}</ul></section>' if items else ""


def page(title: str, body: str, account: Account | None = None, csrf: str = "", status: int = 200) -> HTTPResponse:
    """A whole console page; `body` is HTML built with the helpers above."""
    body = alerts_banner() + body
    document = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)} · 驻马店市民助手 管理后台</title><link rel="stylesheet" href="/static/admin.css">'
        f"</head><body>{_header(account, csrf)}<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )
    return html(document, status=status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})
