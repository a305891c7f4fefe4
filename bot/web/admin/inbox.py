"""The misunderstood inbox for staff and supervisors: messages the bot got wrong, grouped, labelled or dismissed.

- ``GET /admin/inbox``                 ?channel=&page=  groups of similar messages (20 a page)
- ``POST /admin/inbox/label``          ``id`` (one or more), ``intent``: label, then rewrite the reviewed NLU file
- ``POST /admin/inbox/dismiss``        ``id`` (one or more): out of the inbox, nothing written for training
- ``GET /admin/api/inbox``             the groups as JSON
- ``POST /admin/api/inbox/label``      ``{"ids": [...], "intent": "..."}`` (header ``X-CSRF-Token``)
- ``POST /admin/api/inbox/dismiss``    ``{"ids": [...]}``
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any, Callable, TypeVar

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect
from sanic.response import json as sanic_json

from bot.config import ROOT, reviewed_nlu_path
from bot.conversations import inbox
from bot.conversations.indexer import refresh
from bot.conversations.models import LOW_CONFIDENCE
from bot.conversations.stats import CHANNEL_LABELS, CITY_OFFSET, channels_seen, intent_titles
from bot.web.admin.auth import not_allowed
from bot.web.admin.pages import csrf_field, esc, link, message, options, page, when
from kb.session import get_engine

ROLES = ("supervisor", "staff")
GROUPS_PER_PAGE = 20
VISIBLE_EXAMPLES = 5
T = TypeVar("T")


async def _run(work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _titles() -> dict[str, str]:
    engine = get_engine()
    with engine.connect() as connection:
        return intent_titles(connection)


def _intent_name(intent: str | None, titles: dict[str, str]) -> str:
    if not intent:
        return "无"
    title = titles.get(intent)
    return f"{title}（{intent}）" if title else intent


def _intent_select(titles: dict[str, str], field_id: str) -> str:
    intents = inbox.domain_intents()
    labels = {intent: _intent_name(intent, titles) for intent in intents}
    return (
        f'<label for="{esc(field_id)}">正确意图</label>'
        f'<select id="{esc(field_id)}" name="intent" required>{options(intents, "", labels, blank="请选择…")}</select>'
    )


def _item(item: inbox.Item, holdout: frozenset[str], titles: dict[str, str]) -> str:
    reasons = "".join(f'<span class="badge">{esc(reason)}</span>' for reason in item.reasons)
    if inbox.plain(item.text) in holdout:
        reasons += '<span class="badge badge-holdout">测试集句子：不会写入训练文件</span>'
    confidence = "" if item.confidence is None else f"，置信度 {item.confidence:.2f}"
    meta = (
        f"NLU：{_intent_name(item.intent, titles)}{confidence} · {CHANNEL_LABELS.get(item.channel, item.channel)} · "
        f"{when(item.at + CITY_OFFSET)}"
    )
    return (
        f'<li><label class="inbox-item"><input type="checkbox" name="id" value="{item.event_id}" checked>'
        f'<span class="inbox-text">{esc(item.text)}</span></label>{reasons}'
        f'<div class="inbox-meta">{esc(meta)}</div></li>'
    )


def _group(number: int, group: inbox.Group, csrf: str, holdout: frozenset[str], titles: dict[str, str]) -> str:
    intent, confidence = group.guess()
    guess = _intent_name(intent, titles) + ("" if confidence is None else f"，平均置信度 {confidence:.2f}")
    items = [_item(item, holdout, titles) for item in group.items]
    shown = "".join(items[:VISIBLE_EXAMPLES])
    more = ""
    if len(items) > VISIBLE_EXAMPLES:
        rest = "".join(items[VISIBLE_EXAMPLES:])
        summary = f"<summary>本组其余 {len(items) - VISIBLE_EXAMPLES} 条</summary>"
        more = f'<details>{summary}<ul class="inbox-items">{rest}</ul></details>'
    first = group.items[0].text if len(group.items[0].text) <= 40 else group.items[0].text[:39] + "…"
    heading = f"“{first}” 等 {group.count} 条" if group.count > 1 else f"“{first}”"
    return (
        f'<section class="inbox-group" aria-labelledby="group-{number}-title">'
        f'<h2 id="group-{number}-title">{esc(heading)}</h2>'
        f'<p class="inbox-meta">共 {group.count} 条 · 常见词：{esc("、".join(group.tokens) or "（无）")} · '
        f"NLU 猜测：{esc(guess)}</p>"
        f'<form method="post" action="/admin/inbox/label" class="inbox-form">{csrf_field(csrf)}'
        f'<ul class="inbox-items">{shown}</ul>{more}'
        f'<div class="inbox-actions">{_intent_select(titles, f"intent-{number}")}'
        '<button type="submit">标注所选</button>'
        '<button type="submit" formaction="/admin/inbox/dismiss" formnovalidate class="secondary">忽略所选</button>'
        "</div></form></section>"
    )


def _intro(total: int, path: Path) -> str:
    shown_total = f"超过 {inbox.COUNT_CAP}" if total > inbox.COUNT_CAP else str(total)
    more = f"（按相似度分组的是最新的 {inbox.MAX_ITEMS} 条）" if total > inbox.MAX_ITEMS else ""
    return (
        f"<p>机器人没答好的居民消息（未识别、置信度低于 {LOW_CONFIDENCE} 或被评为“没帮助”），按相似度（结巴分词）"
        f"分组。勾选消息、选择正确意图后点“标注所选”：标注会记录在会话日志中，并写入重新训练使用的 NLU 文件"
        f"（{esc(_shown_path(path))}）；“忽略所选”只把消息移出收件箱。</p>"
        '<p class="note">与测试集（tests/nlu_holdout.yml）相同的句子即使标注也不会写入训练文件：测试集永远不能用于'
        "训练，否则测得的准确率就不可信了。已在训练数据中的句子也不会重复写入。</p>"
        f"<p>待处理：<strong>{shown_total}</strong> 条{more}。</p>"
    )


def _choices() -> list[str]:
    with get_engine().connect() as connection:
        return channels_seen(connection)


def _filters(channel: str, choices: list[str]) -> str:
    return (
        '<form method="get" action="/admin/inbox" class="filters">'
        f'<label>渠道<select name="channel">{options(choices, channel, CHANNEL_LABELS)}</select></label>'
        "<button type=submit>筛选</button></form>"
    )


def _pager(channel: str, number: int, pages: int) -> str:
    parts = [f"<span>第 {number}/{pages} 页</span>"]
    if number > 1:
        parts.append(link("/admin/inbox", "上一页", {"channel": channel, "page": number - 1}))
    if number < pages:
        parts.append(link("/admin/inbox", "下一页", {"channel": channel, "page": number + 1}))
    return f'<nav class="pager" aria-label="分页">{"".join(parts)}</nav>'


def _notice(request: Request) -> str:
    args = request.args
    labelled, dismissed, holdout = args.get("labelled", ""), args.get("dismissed", ""), args.get("holdout", "0")
    if labelled.isdigit():
        text = f"已标注 {labelled} 条，训练文件已更新。"
        if holdout.isdigit() and int(holdout):
            text += f"其中 {holdout} 条是测试集句子，没有写入训练文件。"
        return message(text, "ok")
    if dismissed.isdigit():
        return message(f"已忽略 {dismissed} 条。", "ok")
    return ""


def _page_number(request: Request) -> int:
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1


async def _inbox_page(request: Request, text: str = "", status: int = 200) -> HTTPResponse:
    login = request.ctx.login
    channel = (request.args.get("channel") or "").strip()[:40]
    await refresh()
    groups, total = await _run(partial(inbox.load_groups, get_engine(), channel))
    titles, holdout = await _run(_titles), inbox.holdout_texts()
    pages = max(1, -(-len(groups) // GROUPS_PER_PAGE))
    number = min(_page_number(request), pages)
    shown = groups[(number - 1) * GROUPS_PER_PAGE : number * GROUPS_PER_PAGE]
    sections = "".join(
        _group((number - 1) * GROUPS_PER_PAGE + n, g, login.csrf_token, holdout, titles) for n, g in enumerate(shown)
    )
    body = (
        (message(text) if text else _notice(request))
        + _intro(total, reviewed_nlu_path())
        + _filters(channel, await _run(_choices))
        + (sections or "<p>收件箱是空的：没有待处理的消息。</p>")
        + (_pager(channel, number, pages) if groups else "")
    )
    return page("待标注消息", body, login.account, login.csrf_token, status)


def _ids_of(request: Request) -> list[str]:
    form = request.form
    return [str(value) for value in form.getlist("id") or []] if form else []


def _group_json(group: inbox.Group, holdout: frozenset[str], titles: dict[str, str]) -> dict[str, Any]:
    intent, confidence = group.guess()
    examples = [
        {
            "id": item.event_id,
            "text": item.text,
            "intent": item.intent,
            "confidence": item.confidence,
            "reasons": item.reasons,
            "channel": item.channel,
            "at": when(item.at + CITY_OFFSET),
            "in_holdout": inbox.plain(item.text) in holdout,
        }
        for item in group.items
    ]
    guess = {"intent": intent, "title": titles.get(intent or ""), "confidence": confidence}
    return {"count": group.count, "tokens": group.tokens, "guess": guess, "examples": examples}


def _json_error(error: inbox.InboxError) -> HTTPResponse:
    return sanic_json({"error": str(error), "code": "bad_request"}, status=400, ensure_ascii=False)


def add_routes(bp: Blueprint) -> None:
    @bp.get("/inbox")
    async def inbox_page(request: Request) -> HTTPResponse:
        return not_allowed(request, *ROLES) or await _inbox_page(request)

    @bp.post("/inbox/label")
    async def inbox_label(request: Request) -> HTTPResponse:
        refused = not_allowed(request, *ROLES)
        if refused:
            return refused
        intent = ((request.form or {}).get("intent") or "").strip()
        work = partial(inbox.label, get_engine(), _ids_of(request), intent, request.ctx.login.account.name)
        try:
            result = await _run(work)
        except inbox.InboxError as error:
            return await _inbox_page(request, str(error), 400)
        return redirect(f"/admin/inbox?labelled={result.labelled}&holdout={result.in_holdout}", status=303)

    @bp.post("/inbox/dismiss")
    async def inbox_dismiss(request: Request) -> HTTPResponse:
        refused = not_allowed(request, *ROLES)
        if refused:
            return refused
        work = partial(inbox.dismiss, get_engine(), _ids_of(request), request.ctx.login.account.name)
        try:
            done = await _run(work)
        except inbox.InboxError as error:
            return await _inbox_page(request, str(error), 400)
        return redirect(f"/admin/inbox?dismissed={done}", status=303)

    @bp.get("/api/inbox")
    async def inbox_json(request: Request) -> HTTPResponse:
        refused = not_allowed(request, *ROLES)
        if refused:
            return refused
        await refresh()
        channel = (request.args.get("channel") or "").strip()[:40]
        groups, total = await _run(partial(inbox.load_groups, get_engine(), channel))
        titles, holdout = await _run(_titles), inbox.holdout_texts()
        body = {
            "open": total,
            "groups": [_group_json(group, holdout, titles) for group in groups],
            "intents": [{"intent": i, "title": titles.get(i)} for i in inbox.domain_intents()],
            "reviewed_file": _shown_path(reviewed_nlu_path()),
        }
        return sanic_json(body, ensure_ascii=False)

    @bp.post("/api/inbox/label")
    async def inbox_label_json(request: Request) -> HTTPResponse:
        refused = not_allowed(request, *ROLES)
        if refused:
            return refused
        data = request.json if isinstance(request.json, dict) else {}
        ids, intent = data.get("ids") or [], str(data.get("intent") or "")
        work = partial(
            inbox.label, get_engine(), ids if isinstance(ids, list) else [], intent, request.ctx.login.account.name
        )
        try:
            result = await _run(work)
        except inbox.InboxError as error:
            return _json_error(error)
        body = {"labelled": result.labelled, "in_holdout": result.in_holdout, "written": result.written}
        return sanic_json(body, ensure_ascii=False)

    @bp.post("/api/inbox/dismiss")
    async def inbox_dismiss_json(request: Request) -> HTTPResponse:
        refused = not_allowed(request, *ROLES)
        if refused:
            return refused
        data = request.json if isinstance(request.json, dict) else {}
        ids = data.get("ids") or []
        work = partial(
            inbox.dismiss, get_engine(), ids if isinstance(ids, list) else [], request.ctx.login.account.name
        )
        try:
            done = await _run(work)
        except inbox.InboxError as error:
            return _json_error(error)
        return sanic_json({"dismissed": done}, ensure_ascii=False)
