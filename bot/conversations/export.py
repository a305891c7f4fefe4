"""CSV exports of the conversation log: the filtered list and one transcript.

UTF-8 with a byte-order mark (so Excel shows Chinese), produced chunk by chunk (the list can be long), and safe to
open in a spreadsheet: a cell that starts with ``= + - @`` (or a tab / carriage return) gets a leading apostrophe,
so it is never run as a formula. Texts are masked again on the way out (`bot.privacy.mask`), and a conversation is
named by its key, never by the sender id.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

from bot.conversations.queries import ConversationFilter, ConversationRow, Transcript, iter_conversations
from bot.privacy import mask

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LIST_HEADER = (
    "会话编号",
    "开始时间",
    "最后时间",
    "渠道",
    "居民消息数",
    "回复数",
    "话题",
    "最低置信度",
    "未理解/低置信度次数",
    "有帮助",
    "没帮助",
    "转人工",
    "工单",
    "标记消息数",
    "标签",
    "审阅人",
    "审阅时间",
)
TRANSCRIPT_HEADER = ("时间", "角色", "内容", "动作", "意图", "置信度", "实体", "未理解", "评价", "标记", "标记说明")
ROLE_LABELS = {"user": "居民", "bot": "助手", "action": "动作"}
RATING_LABELS = {"helpful": "有帮助", "not_helpful": "没帮助"}


def safe_cell(value: Any) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _yes(value: bool) -> str:
    return "是" if value else ""


def list_cells(row: ConversationRow) -> list[Any]:
    return [
        row.key,
        _when(row.started_at),
        _when(row.last_at),
        row.channel,
        row.turns,
        row.replies,
        "、".join(row.topics),
        "" if row.min_confidence is None else f"{row.min_confidence:.2f}",
        row.fallbacks,
        row.helpful,
        row.unhelpful,
        _yes(row.handoff),
        "、".join(row.tickets),
        row.flagged,
        mask("、".join(row.tags)),
        row.reviewed_by or "",
        _when(row.reviewed_at),
    ]


def list_csv(batches: Iterable[list[ConversationRow]]) -> Iterator[str]:
    """The BOM and header, then one chunk of lines per batch of conversations."""
    yield BOM + _line(LIST_HEADER)
    for batch in batches:
        yield "".join(_line(list_cells(row)) for row in batch)


def filtered_list_csv(wanted: ConversationFilter, url: str | None = None) -> Iterator[str]:
    return list_csv(iter_conversations(wanted, url))


def _entities(entities: list[dict[str, Any]]) -> str:
    return "；".join(f"{item.get('entity')}={item.get('value')}" for item in entities)


def transcript_rows(found: Transcript) -> Iterator[list[Any]]:
    for item in found.items:
        text = item.text + ("".join(f" [{title}]" for title in item.buttons) if item.buttons else "")
        yield [
            _when(item.at),
            ROLE_LABELS.get(item.kind, item.kind),
            mask(text),
            item.action,
            item.intent or "",
            "" if item.confidence is None else f"{item.confidence:.2f}",
            mask(_entities(item.entities)),
            _yes(item.fallback),
            RATING_LABELS.get(item.rating or "", ""),
            _yes(item.flagged),
            mask(item.flag_note or ""),
        ]


def transcript_csv(found: Transcript) -> str:
    return BOM + _line(TRANSCRIPT_HEADER) + "".join(_line(cells) for cells in transcript_rows(found))


def filename(prefix: str, suffix: str = "") -> str:
    """An ASCII file name for Content-Disposition (the Chinese is inside the file)."""
    safe = "".join(ch for ch in suffix if ch.isalnum() or ch in "-_")
    return f"{prefix}{'-' + safe if safe else ''}.csv"
