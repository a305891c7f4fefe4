"""Conversation logs in the console (supervisors only): a filtered list, transcripts, review actions, CSV.

- ``GET  /admin/conversations``                 ?date_from=&date_to=&channel=&intent=&confidence_below=&fallback=1
                                                 &unhelpful=1&handoff=1&unreviewed=1&flagged=1&tag=&text=&sender=&page=
- ``GET  /admin/conversations/export``          the filtered list as CSV (all pages, streamed)
- ``GET  /admin/conversations/<key>``           transcript, review / tag / flag forms, the audit trail
- ``GET  /admin/conversations/<key>/export``    the transcript as CSV
- ``POST /admin/conversations/<key>/review``    ``reviewed`` = 1 | 0
- ``POST /admin/conversations/<key>/tags``      ``tag``, ``action`` = add | remove
- ``POST /admin/conversations/<key>/flag``      ``event_id``, ``note``, ``action`` = flag | unflag
- ``GET  /admin/api/conversations`` and ``/admin/api/conversations/<key>``: the same as JSON

A conversation is named by its key (a hash of the sender id, ``models.conversation_key``): a WeChat openid is
personal data and never appears in a URL or a page.
"""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache, partial
from typing import Any, Callable, Iterator, TypeVar

import yaml
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect
from sanic.response import json as sanic_json

from bot.config import ROOT, settings
from bot.conversations import export, indexer, review
from bot.conversations.models import FALLBACK_INTENTS
from bot.conversations.queries import (
    ConversationFilter,
    ConversationPage,
    ConversationRow,
    Transcript,
    TranscriptItem,
    distinct_channels,
    distinct_tags,
    find_conversations,
    get_conversation,
    to_city,
    transcript,
)
from bot.conversations.review import ReviewError
from bot.web.admin.auth import not_allowed
from bot.web.admin.pages import csrf_field, esc, link, message, options, page, table, when

T = TypeVar("T")
ROLES = ("supervisor",)
MENU_SECONDS = 60.0
LIST_HEADERS = ("会话", "开始时间", "渠道", "轮数", "话题", "未理解/低置信", "评价", "工单", "转人工", "已审阅")
CHANNEL_LABELS = {"rest": "接口", "socketio": "网页", "wechat": "微信", "web": "网页"}
RATING_LABELS = {"helpful": "有帮助", "not_helpful": "没帮助"}
DONE_TEXTS = {
    "reviewed": "已标记为已审阅。",
    "unreviewed": "已取消审阅标记。",
    "tag_add": "标签已添加。",
    "tag_remove": "标签已移除。",
    "flag": "消息已标记。",
    "unflag": "已取消消息标记。",
}
CHECKBOXES = (
    ("fallback", "仅未理解/低置信"),
    ("unhelpful", "仅“没帮助”"),
    ("handoff", "仅转人工"),
    ("unreviewed", "仅未审阅"),
    ("flagged", "仅有标记"),
)


async def _run(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Database work off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args, **kwargs))


@lru_cache(maxsize=1)
def known_intents() -> tuple[str, ...]:
    """The intents of domain.yml and the NLU's fallback, for the filter menu."""
    with (ROOT / "domain.yml").open(encoding="utf-8") as handle:
        names = {str(name) for name in yaml.safe_load(handle).get("intents") or []}
    return tuple(sorted(names | FALLBACK_INTENTS))


_menu_cache: dict[str, tuple[float, tuple[list[str], list[str]]]] = {}


def _menus(url: str | None = None) -> tuple[list[str], list[str]]:
    """Channels and tags for the filter menus, read at most once a minute (each is a scan of the summaries)."""
    key = url or settings().database_url
    cached = _menu_cache.get(key)
    if cached is None or time.monotonic() - cached[0] > MENU_SECONDS:
        cached = (time.monotonic(), (distinct_channels(url), distinct_tags(url)))
        _menu_cache[key] = cached
    return cached[1]


def _page_number(request: Request) -> int:
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def short(key: str) -> str:
    return key[:12]


def conversation_link(row: ConversationRow) -> str:
    return link(f"/admin/conversations/{row.key}", f"#{short(row.key)}")


def _channel(value: str) -> str:
    return CHANNEL_LABELS.get(value, value)


def _ticket_links(numbers: list[str]) -> str:
    return " ".join(link(f"/admin/tickets/{number}", number) for number in numbers)


def _flags(row: ConversationRow) -> str:
    if not row.fallbacks:
        return ""
    lowest = "" if row.min_confidence is None else f"（最低 {row.min_confidence:.2f}）"
    return f'<span class="badge badge-warn">{esc(row.fallbacks)} 次{esc(lowest)}</span>'


def _ratings(row: ConversationRow) -> str:
    parts = []
    if row.helpful:
        parts.append(f'<span class="badge badge-ok">有帮助 {esc(row.helpful)}</span>')
    if row.unhelpful:
        parts.append(f'<span class="badge badge-bad">没帮助 {esc(row.unhelpful)}</span>')
    return " ".join(parts)


def _list_row(row: ConversationRow) -> list[str]:
    reviewed = f"✓ {esc(row.reviewed_by)}" if row.reviewed_at else ""
    return [
        conversation_link(row) + "".join(f' <span class="tag">{esc(tag)}</span>' for tag in row.tags),
        esc(when(row.started_at)),
        esc(_channel(row.channel)),
        esc(row.turns),
        esc("、".join(row.topics[:4]) + ("…" if len(row.topics) > 4 else "")),
        _flags(row),
        _ratings(row),
        _ticket_links(row.tickets),
        "是" if row.handoff else "",
        reviewed,
    ]


def _checkbox(name: str, label: str, on: bool) -> str:
    checked = " checked" if on else ""
    return f'<label class="check"><input type="checkbox" name="{name}" value="1"{checked}>{esc(label)}</label>'


def _filters_form(wanted: ConversationFilter, channels: list[str], tags: list[str]) -> str:
    confidence = "" if wanted.confidence_below is None else f"{wanted.confidence_below:g}"
    date_from = wanted.date_from.isoformat() if wanted.date_from else ""
    date_to = wanted.date_to.isoformat() if wanted.date_to else ""
    boxes = "".join(_checkbox(name, label, bool(getattr(wanted, name))) for name, label in CHECKBOXES)
    return (
        '<form method="get" action="/admin/conversations" class="filters">'
        f'<label>开始日期（起）<input type="date" name="date_from" value="{esc(date_from)}"></label>'
        f'<label>开始日期（止）<input type="date" name="date_to" value="{esc(date_to)}"></label>'
        f'<label>渠道<select name="channel">{options(channels, wanted.channel, CHANNEL_LABELS)}</select></label>'
        f'<label>意图<select name="intent">{options(known_intents(), wanted.intent)}</select></label>'
        '<label>置信度低于<input type="number" name="confidence_below" min="0.05" max="1" step="0.05" '
        f'value="{esc(confidence)}"></label>'
        f'<label>标签<select name="tag">{options(tags, wanted.tag)}</select></label>'
        f'<label>消息内容<input type="search" name="text" value="{esc(wanted.text)}" placeholder="居民的话"></label>'
        f'<label>会话编号<input name="sender" value="{esc(wanted.sender)}" placeholder="如 3fa2c1" size="14"></label>'
        f'<div class="checks">{boxes}</div>'
        f'<button type="submit">筛选</button>{link("/admin/conversations", "清除筛选")}</form>'
    )


def _pager(wanted: ConversationFilter, result: ConversationPage) -> str:
    params: dict[str, Any] = wanted.to_args()
    parts = [f"<span>共 {result.total} 段会话，第 {result.page}/{result.pages} 页</span>"]
    if result.page > 1:
        parts.append(link("/admin/conversations", "上一页", {**params, "page": result.page - 1}))
    if result.page < result.pages:
        parts.append(link("/admin/conversations", "下一页", {**params, "page": result.page + 1}))
    parts.append(link("/admin/conversations/export", "导出 CSV（当前筛选的全部会话）", params))
    return f'<nav class="pager" aria-label="分页">{"".join(parts)}</nav>'


def _list_body(wanted: ConversationFilter, result: ConversationPage, channels: list[str], tags: list[str]) -> str:
    found = table(LIST_HEADERS, map(_list_row, result.rows))
    rows = f'<div class="conversations">{found}</div>' if result.rows else "<p>没有符合条件的会话。</p>"
    return _filters_form(wanted, channels, tags) + rows + _pager(wanted, result)


# --- the transcript page -------------------------------------------------------------------------------------------


def _lowest(confidence: float | None) -> str:
    return "" if confidence is None else f"，最低置信度 {confidence:.2f}"


def _summary(row: ConversationRow) -> str:
    items = {
        "会话编号": f"#{short(row.key)}",
        "渠道": _channel(row.channel),
        "开始时间": when(row.started_at),
        "最后时间": when(row.last_at),
        "居民消息 / 回复": f"{row.turns} / {row.replies}",
        "话题": "、".join(row.topics) or "无",
        "未理解/低置信": f"{row.fallbacks} 次" + _lowest(row.min_confidence),
        "评价": f"有帮助 {row.helpful}，没帮助 {row.unhelpful}",
        "转人工": "是" if row.handoff else "否",
        "审阅": f"{row.reviewed_by}，{when(row.reviewed_at)}" if row.reviewed_at else "未审阅",
    }
    cells = "".join(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in items.items())
    tickets = _ticket_links(row.tickets) or "无"
    return f'<dl class="summary">{cells}<dt>工单</dt><dd>{tickets}</dd></dl>'


def _post_form(action: str, csrf: str, fields: dict[str, Any], button: str, extra: str = "", css: str = "") -> str:
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items())
    return (
        f'<form method="post" action="{esc(action)}" class="{esc(css or "inline")}">{csrf_field(csrf)}{hidden}{extra}'
        f'<button type="submit">{esc(button)}</button></form>'
    )


def _review_forms(row: ConversationRow, csrf: str) -> str:
    base = f"/admin/conversations/{row.key}"
    reviewed = (
        _post_form(f"{base}/review", csrf, {"reviewed": "0"}, "取消已审阅")
        if row.reviewed_at
        else _post_form(f"{base}/review", csrf, {"reviewed": "1"}, "标记为已审阅")
    )
    remove = "".join(
        f'<li><span class="tag">{esc(tag)}</span>'
        + _post_form(f"{base}/tags", csrf, {"action": "remove", "tag": tag}, f"移除标签 {tag}")
        + "</li>"
        for tag in row.tags
    )
    add_field = '<label>新标签<input name="tag" required maxlength="30" placeholder="如 待跟进"></label>'
    add = _post_form(f"{base}/tags", csrf, {"action": "add"}, "添加标签", add_field, "filters")
    tags = f'<ul class="tags">{remove}</ul>' if remove else "<p>还没有标签。</p>"
    return f'<section class="review"><h2>审阅</h2>{reviewed}<h3>标签</h3>{tags}{add}</section>'


def _meta(item: TranscriptItem) -> str:
    parts = []
    if item.intent:
        parts.append(f"意图：{item.intent}")
    if item.confidence is not None:
        parts.append(f"置信度：{item.confidence:.2f}")
    if item.entities:
        parts.append("实体：" + "；".join(f"{e.get('entity')}={e.get('value')}" for e in item.entities))
    if item.rating:
        parts.append(f"评价：{RATING_LABELS.get(item.rating, item.rating)}")
    badge = '<span class="badge badge-warn">未理解/低置信</span> ' if item.fallback else ""
    return f'<p class="meta">{badge}{esc("　".join(parts))}</p>'


def _flag_form(key: str, item: TranscriptItem, csrf: str) -> str:
    action = f"/admin/conversations/{key}/flag"
    if item.flagged:
        note = f'<p class="flag">已标记：{esc(item.flag_note or "（无说明）")}</p>'
        return note + _post_form(action, csrf, {"event_id": item.event_id, "action": "unflag"}, "取消标记")
    note = f'<label>标记说明<input name="note" maxlength="500" id="note-{esc(item.event_id)}"></label>'
    form = _post_form(action, csrf, {"event_id": item.event_id, "action": "flag"}, "标记此消息", note, "flag-form")
    return f"<details><summary>标记</summary>{form}</details>"


def _transcript_item(key: str, item: TranscriptItem, csrf: str) -> str:
    at = f"<time>{esc(item.at.strftime('%m-%d %H:%M:%S'))}</time>"
    if item.kind == "user":
        body = f'<p class="text">{esc(item.text)}</p>{_meta(item)}{_flag_form(key, item, csrf)}'
        return f'<li class="turn user" id="m{esc(item.event_id)}"><strong>居民</strong> {at}{body}</li>'
    if item.kind == "action":
        return f'<li class="turn action">{at} 动作：<code>{esc(item.action)}</code></li>'
    buttons = "".join(f'<span class="button-title">{esc(title)}</span>' for title in item.buttons)
    return f'<li class="turn bot"><strong>助手</strong> {at}<p class="text">{esc(item.text)}</p>{buttons}</li>'


def _history(entries: list[review.AuditEntry]) -> str:
    if not entries:
        return ""
    labels = {"reviewed": "标记已审阅", "unreviewed": "取消审阅", "tag_add": "添加标签", "tag_remove": "移除标签"}
    labels.update({"flag": "标记消息", "unflag": "取消消息标记"})
    rows = [
        [esc(when(to_city(e.at))), esc(e.by_user), esc(labels.get(e.action, e.action)), esc(e.detail)] for e in entries
    ]
    return "<h2>操作记录</h2>" + table(("时间", "操作人", "操作", "内容"), rows)


def _detail_body(found: Transcript, csrf: str, history: list[review.AuditEntry], notice: str) -> str:
    row = found.conversation
    items = "".join(_transcript_item(row.key, item, csrf) for item in found.items)
    more = message("会话过长，只显示前面的部分；完整内容请导出 CSV。", "ok") if found.truncated else ""
    links = (
        f'<p class="actions">{link(f"/admin/conversations/{row.key}/export", "导出本会话 CSV")} '
        f"{link('/admin/conversations', '← 返回会话列表')}</p>"
    )
    return (
        f"{notice}{_summary(row)}{links}{_review_forms(row, csrf)}"
        f'<h2>对话记录</h2>{more}<ol class="transcript">{items}</ol>{_history(history)}'
    )


def _not_found(request: Request) -> HTTPResponse:
    if request.path.startswith("/admin/api/"):
        return sanic_json({"error": "没有找到这段会话。", "code": "not_found"}, status=404, ensure_ascii=False)
    login = request.ctx.login
    body = message("没有找到这段会话。") + f"<p>{link('/admin/conversations', '← 返回会话列表')}</p>"
    return page("没有找到会话", body, login.account, login.csrf_token, status=404)


async def _detail_page(request: Request, key: str, error: ReviewError | None = None) -> HTTPResponse:
    found = await _run(transcript, key)
    if found is None:
        return _not_found(request)
    login = request.ctx.login
    done = DONE_TEXTS.get(request.args.get("done") or "", "")
    notice = message(error.message) if error else message(done, "ok")
    history = await _run(review.history, key)
    body = _detail_body(found, login.csrf_token, history, notice)
    status = error.status if error else 200
    return page(f"会话 #{short(key)}", body, login.account, login.csrf_token, status)


def _csv_headers(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}


async def _stream_csv(request: Request, chunks: Iterator[str], name: str) -> None:
    """Send the CSV as it is read: each chunk is fetched from the database off the event loop."""
    response = await request.respond(content_type="text/csv; charset=utf-8", headers=_csv_headers(name))
    done = object()
    while (chunk := await _run(next, chunks, done)) is not done:
        await response.send(str(chunk).encode("utf-8"))
    await response.eof()


def add_routes(bp: Blueprint) -> None:
    @bp.get("/conversations")
    async def conversation_list(request: Request) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        await indexer.refresh()
        wanted = ConversationFilter.from_args(request.args)
        result = await _run(find_conversations, wanted, _page_number(request))
        channels, tags = await _run(_menus)
        login = request.ctx.login
        return page("会话记录", _list_body(wanted, result, channels, tags), login.account, login.csrf_token)

    @bp.get("/conversations/export")
    async def conversation_list_csv(request: Request) -> HTTPResponse | None:
        if refused := not_allowed(request, *ROLES):
            return refused
        await indexer.refresh()
        chunks = export.filtered_list_csv(ConversationFilter.from_args(request.args))
        await _stream_csv(request, chunks, export.filename("conversations"))
        return None

    @bp.get("/conversations/<key:str>")
    async def conversation_detail(request: Request, key: str) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        await indexer.refresh()
        return await _detail_page(request, key)

    @bp.get("/conversations/<key:str>/export")
    async def conversation_csv(request: Request, key: str) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        found = await _run(transcript, key, limit=100_000)
        if found is None:
            return _not_found(request)
        body = export.transcript_csv(found).encode("utf-8")
        name = export.filename("conversation", short(key))
        return HTTPResponse(body, headers=_csv_headers(name), content_type="text/csv; charset=utf-8")

    async def _act(request: Request, key: str, action: Callable[[str], str]) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        if await _run(get_conversation, key) is None:
            return _not_found(request)
        try:
            done = await _run(action, request.ctx.login.account.name)
        except ReviewError as error:
            return await _detail_page(request, key, error)
        return redirect(f"/admin/conversations/{key}?done={done}", status=303)

    @bp.post("/conversations/<key:str>/review")
    async def conversation_review(request: Request, key: str) -> HTTPResponse:
        reviewed = (request.form or {}).get("reviewed") != "0"

        def act(by: str) -> str:
            review.mark_reviewed(key, by, reviewed)
            return "reviewed" if reviewed else "unreviewed"

        return await _act(request, key, act)

    @bp.post("/conversations/<key:str>/tags")
    async def conversation_tags(request: Request, key: str) -> HTTPResponse:
        form = request.form or {}
        tag, remove = form.get("tag") or "", form.get("action") == "remove"

        def act(by: str) -> str:
            (review.remove_tag if remove else review.add_tag)(key, tag, by)
            _menu_cache.clear()  # the tag menu shows the new tag at once
            return "tag_remove" if remove else "tag_add"

        return await _act(request, key, act)

    @bp.post("/conversations/<key:str>/flag")
    async def conversation_flag(request: Request, key: str) -> HTTPResponse:
        form = request.form or {}
        raw_id, note, flag = form.get("event_id") or "", form.get("note") or "", form.get("action") != "unflag"

        def act(by: str) -> str:
            if not raw_id.isdigit() or len(raw_id) > 12:
                raise ReviewError("请选择要标记的消息。")
            review.flag_message(key, int(raw_id), note, by, flagged=flag)
            return "flag" if flag else "unflag"

        return await _act(request, key, act)

    @bp.get("/api/conversations")
    async def conversation_list_json(request: Request) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        await indexer.refresh()
        wanted = ConversationFilter.from_args(request.args)
        result = await _run(find_conversations, wanted, _page_number(request))
        body = {
            "filters": wanted.to_args(),
            "total": result.total,
            "page": result.page,
            "pages": result.pages,
            "conversations": [row.as_json() for row in result.rows],
        }
        return sanic_json(body, ensure_ascii=False)

    @bp.get("/api/conversations/<key:str>")
    async def conversation_json(request: Request, key: str) -> HTTPResponse:
        if refused := not_allowed(request, *ROLES):
            return refused
        await indexer.refresh()
        found = await _run(transcript, key)
        if found is None:
            return _not_found(request)
        body = {
            "conversation": found.conversation.as_json(),
            "items": [item.as_json() for item in found.items],
            "truncated": found.truncated,
        }
        return sanic_json(body, ensure_ascii=False)
