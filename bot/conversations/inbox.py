"""The misunderstood inbox: resident messages the bot got wrong, grouped by similarity, labelled or dismissed.

A message is open while `review_state` is empty and it fell back, had low confidence (< `LOW_CONFIDENCE`) or was
rated 没帮助. Open messages are grouped by the Jaccard similarity of their jieba token sets (the project's KB
dictionary in `var/jieba/`, search-mode cuts, stop words removed). A label sets `review_state='labelled'`,
`label_intent`, who and when, and regenerates the reviewed NLU file (`REVIEWED_NLU_PATH`, default
`data/nlu/reviewed.yml`) from every labelled row, so the next retraining learns from it. Texts of the NLU hold-out
(`tests/nlu_holdout.yml`) and texts already in the training data are never written to that file, and ID, mobile and
bank card numbers are masked (`bot.privacy.mask`) before a line is written, whatever the stored row holds.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection, Engine

from bot.config import ROOT, reviewed_nlu_path, settings
from bot.conversations.models import LOW_CONFIDENCE, Message
from bot.conversations.stats import ready
from bot.privacy import mask
from bot.text import to_simplified

MAX_ITEMS = 1000  # newest open messages grouped per page view
COUNT_CAP = 10_000  # open messages counted at most
SIMILARITY = 0.4  # Jaccard of token sets at or above which two messages are "the same question"
REPRESENTATIVES = 5  # distinct token sets per group a new message is compared with
HOLDOUT_PATH = ROOT / "tests" / "nlu_holdout.yml"
TRAINING_DIR = ROOT / "data" / "nlu"
DOMAIN_PATH = ROOT / "domain.yml"
# `python -m bot retrain` writes the same rows to data/nlu/reviewed.yml even when REVIEWED_NLU_PATH points
# elsewhere: that copy is not "other training data" for this file.
LABEL_COPIES = frozenset({"reviewed.yml"})
LABELLED, DISMISSED = "labelled", "dismissed"
# Function words, question words and dialect particles (俺、咋、啥、恁、中不中) that say nothing about the topic.
_STOP_TEXT = (
    "的 了 吗 呢 啊 吧 呀 么 嘛 哦 噢 哈 嗯 哎 呗 啦 俺 我 你 您 他 她 它 们 咱 "
    "咱们 我们 你们 他们 是 在 有 和 与 就 都 也 还 要 想 请问 请 问 问问 一下 咋 啥 "
    "怎么 怎么办 怎么样 咋办 咋样 咋弄 咋整 什么 哪 哪里 哪儿 哪个 能 能不能 不能 可以 "
    "中不中 中 恁 这 那 这个 那个 个 一个 去 给 谁 找 几 为啥 为什么 怎样 如何 没 不 "
    "会 得 地 着 过 把 被 让 对 从 向 到 里 上 下 来 说 知道 帮 帮忙 一 办 办理 "
    "哪办 嘞 哩 滴 俺们 恁们 弄 搞 需要 现在 今天 请问下 "
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
PUNCTUATION_ONLY = re.compile(r"^[\W_]+$")
PLAIN_DROP = re.compile(r"[\s\W_]+")
ENTITY_LOOKALIKE = re.compile(r"\](?=[\(\{\[])")  # Rasa reads "[x](y)", "[x]{…}", "[x][…]" as an entity

messages = Message.__table__
_write_lock = threading.Lock()


class InboxError(ValueError):
    """A request the inbox cannot carry out; the message is shown as is."""


@dataclass(frozen=True)
class Item:
    event_id: int
    sender_id: str
    at: datetime
    channel: str
    text: str
    intent: str | None
    confidence: float | None
    fallback: bool
    rating: str | None

    @property
    def reasons(self) -> list[str]:
        found = ["未识别"] if self.fallback else []
        if self.confidence is not None and self.confidence < LOW_CONFIDENCE:
            found.append("低置信度")
        if self.rating == "not_helpful":
            found.append("没帮助")
        return found


@dataclass
class Group:
    items: list[Item] = field(default_factory=list)
    token_sets: list[frozenset[str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def tokens(self) -> list[str]:
        counted = Counter(token for tokens in self.token_sets for token in tokens)
        return [token for token, _ in counted.most_common(6)]

    def guess(self) -> tuple[str | None, float | None]:
        """The NLU's most frequent intent for these messages and its mean confidence."""
        intents = Counter(item.intent for item in self.items if item.intent)
        if not intents:
            return None, None
        intent = intents.most_common(1)[0][0]
        scores = [item.confidence for item in self.items if item.intent == intent and item.confidence is not None]
        return intent, (sum(scores) / len(scores) if scores else None)


@lru_cache(maxsize=1)
def _tokenizer(folder: str) -> Any:
    """A jieba tokenizer of its own with the KB dictionary (every file in the folder, as `JiebaTokenizer` loads)."""
    import jieba

    tokenizer = jieba.Tokenizer()
    path = Path(folder)
    for dictionary in sorted(path.glob("*")) if path.is_dir() else []:
        if dictionary.is_file():
            tokenizer.load_userdict(str(dictionary))
    return tokenizer


def normalise(text: str) -> str:
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def plain(text: str) -> str:
    """The text without spaces and punctuation, for "is this the same sentence" comparisons."""
    return PLAIN_DROP.sub("", normalise(text))


def tokenizer() -> Any:
    return _tokenizer(str(settings().jieba_dir))


def tokens(text: str, cutter: Any = None) -> frozenset[str]:
    """The jieba search-mode words of a message (sub-words included), without stop words and punctuation."""
    return _tokens(text, cutter or tokenizer())


@lru_cache(maxsize=20_000)  # the same open messages are grouped again on every page view
def _tokens(text: str, cutter: Any) -> frozenset[str]:
    words = cutter.lcut_for_search(normalise(text))
    kept = (word.strip() for word in words)
    return frozenset(word for word in kept if word and word not in STOP_WORDS and not PUNCTUATION_ONLY.match(word))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def group_items(items: Iterable[Item], threshold: float = SIMILARITY) -> list[Group]:
    """Greedy grouping: each message joins the group it is most similar to (≥ threshold), else starts one.

    The same sentence (ignoring punctuation and spaces) always joins its group. Candidates come from an inverted
    index token → groups, so the work grows with the overlap, not with groups × messages.
    """
    groups: list[Group] = []
    by_plain: dict[str, Group] = {}
    by_token: dict[str, set[int]] = {}
    numbers: dict[int, int] = {}  # id(group) → its position in `groups`
    cutter = tokenizer()
    for item in items:
        key, found = plain(item.text), tokens(item.text, cutter)
        group = by_plain.get(key)
        if group is None and found:
            candidates = set().union(*(by_token.get(token, set()) for token in found))
            scored = [(max(jaccard(found, s) for s in groups[g].token_sets), -g) for g in candidates]
            best = max(scored, default=None)
            if best is not None and best[0] >= threshold:
                group = groups[-best[1]]
        if group is None:
            group = Group()
            numbers[id(group)] = len(groups)
            groups.append(group)
        group.items.append(item)
        by_plain.setdefault(key, group)
        if found and found not in group.token_sets and len(group.token_sets) < REPRESENTATIVES:
            group.token_sets.append(found)
            for token in found:
                by_token.setdefault(token, set()).add(numbers[id(group)])
    return sorted(groups, key=lambda g: (-g.count, -max(item.at for item in g.items).timestamp()))


def is_open(dialect: str = "") -> sa.ColumnElement:
    """Open: not yet labelled or dismissed, and it fell back, had low confidence or was rated 没帮助.

    Nearly every message has no review_state, so an index on it only slows the newest-first scan. SQLite (no
    statistics) picks that index for ``IS NULL`` and sorts every open message; ``coalesce`` keeps it on
    ix_log_msg_at. PostgreSQL knows the column is mostly NULL and does the right thing with ``IS NULL``.
    """
    unreviewed = (
        sa.func.coalesce(messages.c.review_state, "") == ""
        if dialect == "sqlite"
        else messages.c.review_state.is_(None)
    )
    return sa.and_(
        unreviewed,
        sa.or_(
            messages.c.fallback.is_(True),
            messages.c.confidence < LOW_CONFIDENCE,
            messages.c.rating == "not_helpful",
        ),
    )


def open_items(connection: Connection, channel: str = "", limit: int = MAX_ITEMS) -> list[Item]:
    """The newest open messages, newest first."""
    columns = [messages.c[name] for name in Item.__dataclass_fields__]
    query = sa.select(*columns).where(is_open(connection.dialect.name))
    if channel:
        query = query.where(messages.c.channel == channel)
    query = query.order_by(messages.c.at.desc()).limit(limit)  # newest first, along ix_log_msg_at
    # Shown to staff: masked again (rows indexed before the masker knew a spelling may hold a number).
    return [Item(**{**row._mapping, "text": mask(str(row.text or ""))}) for row in connection.execute(query)]


def count_open(connection: Connection, cap: int = COUNT_CAP) -> int:
    """How many messages are open, counted up to `cap` (the page says "more than" beyond it)."""
    capped = sa.select(messages.c.event_id).where(is_open(connection.dialect.name)).limit(cap + 1).subquery()
    return int(connection.scalar(sa.select(sa.func.count()).select_from(capped)) or 0)


def load_groups(engine: Engine, channel: str = "") -> tuple[list[Group], int]:
    """The open messages grouped, and how many messages are open in all (the groups hold at most MAX_ITEMS)."""
    ready(engine)
    with engine.connect() as connection:
        items, total = open_items(connection, channel), count_open(connection)
    return group_items(items), total


@lru_cache(maxsize=4)
def _domain_intents(path: str, mtime: float) -> tuple[str, ...]:
    domain = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return tuple(str(i if isinstance(i, str) else next(iter(i))) for i in domain.get("intents") or [])


def domain_intents() -> tuple[str, ...]:
    """The intents of domain.yml, in its order: what a message may be labelled with."""
    return _domain_intents(str(DOMAIN_PATH), DOMAIN_PATH.stat().st_mtime)


def _example_texts(path: Path) -> list[str]:
    """Example sentences of a Rasa NLU YAML file, entity annotations reduced to their text."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for block in document.get("nlu") or []:
        examples = block.get("examples") if isinstance(block, dict) else None
        for line in str(examples or "").splitlines():
            if line.strip().startswith("- "):
                text = line.strip()[2:]
                found.append(re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", text))
    return found


@lru_cache(maxsize=8)
def _plain_texts(paths: tuple[str, ...], stamp: tuple[float, ...]) -> frozenset[str]:
    return frozenset(plain(text) for path in paths for text in _example_texts(Path(path)))


def _plain_set(paths: list[Path]) -> frozenset[str]:
    existing = sorted(p for p in paths if p.is_file())
    return _plain_texts(tuple(map(str, existing)), tuple(p.stat().st_mtime for p in existing))


def holdout_texts() -> frozenset[str]:
    """The hold-out's sentences (plain form): never trained on, so never written to the reviewed file."""
    return _plain_set([HOLDOUT_PATH])


def training_texts(reviewed: Path) -> frozenset[str]:
    """Sentences already in the training data, apart from the reviewed file itself and `LABEL_COPIES`."""
    paths = [p for p in TRAINING_DIR.glob("*.yml") if p.resolve() != reviewed.resolve() and p.name not in LABEL_COPIES]
    return _plain_set(paths)


def _decide(connection: Connection, ids: list[int], values: dict[str, Any]) -> int:
    if not ids:
        raise InboxError("请至少选择一条消息。")
    still_open = is_open(connection.dialect.name)
    statement = messages.update().where(messages.c.event_id.in_(ids), still_open).values(**values)
    return int(connection.execute(statement).rowcount or 0)


def _clean_ids(ids: Iterable[Any]) -> list[int]:
    clean = sorted({int(i) for i in ids if str(i).strip().isdigit() and len(str(i).strip()) < 19})
    if len(clean) > MAX_ITEMS:
        raise InboxError(f"一次最多处理 {MAX_ITEMS} 条消息。")
    return clean


@dataclass(frozen=True)
class LabelResult:
    labelled: int
    in_holdout: int  # of those labelled: hold-out texts, kept out of the training file
    written: int  # examples now in the reviewed NLU file
    path: Path


def label(engine: Engine, ids: Iterable[Any], intent: str, by: str, path: Path | None = None) -> LabelResult:
    """Label open messages with `intent` (one of domain.yml's) and regenerate the reviewed NLU file."""
    if intent not in domain_intents():
        raise InboxError("请选择 domain.yml 中已有的意图。")
    clean, holdout = _clean_ids(ids), holdout_texts()
    ready(engine)
    with engine.begin() as connection:
        texts = connection.scalars(
            sa.select(messages.c.text).where(messages.c.event_id.in_(clean), is_open(connection.dialect.name))
        ).all()
        done = _decide(
            connection,
            clean,
            {"review_state": LABELLED, "label_intent": intent, "reviewed_by": by, "reviewed_at": datetime.utcnow()},
        )
    target = path or reviewed_nlu_path()
    written = write_reviewed_nlu(engine, target)
    return LabelResult(done, sum(1 for text in texts if plain(text) in holdout), written, target)


def dismiss(engine: Engine, ids: Iterable[Any], by: str) -> int:
    """Take open messages out of the inbox without a label (nothing is written for training)."""
    ready(engine)
    with engine.begin() as connection:
        values = {"review_state": DISMISSED, "label_intent": None, "reviewed_by": by, "reviewed_at": datetime.utcnow()}
        return _decide(connection, _clean_ids(ids), values)


def _one_line(text: str) -> str:
    """A message as one safe line of a Rasa YAML example: no control characters, no entity look-alikes."""
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return ENTITY_LOOKALIKE.sub("] ", " ".join(text.split()))


def reviewed_examples(engine: Engine, reviewed: Path) -> dict[str, list[str]]:
    """intent → sorted example texts from the labelled rows (the latest label of a sentence wins)."""
    skip = holdout_texts() | training_texts(reviewed)
    intents = set(domain_intents())
    latest: dict[str, tuple[datetime, int, str, str]] = {}
    query = sa.select(messages.c.event_id, messages.c.text, messages.c.label_intent, messages.c.reviewed_at).where(
        messages.c.review_state == LABELLED
    )
    with engine.connect() as connection:
        for event_id, text, intent, at in connection.execute(query):
            masked = mask(str(text or ""))  # rows indexed before the masker knew a spelling may still hold it
            line, key = _one_line(masked), plain(masked)
            if not key or key in skip or intent not in intents:
                continue
            candidate = (at or datetime.min, int(event_id), str(intent), line)
            if key not in latest or candidate[:2] > latest[key][:2]:
                latest[key] = candidate
    chosen: dict[str, set[str]] = {}
    for _, _, intent, line in latest.values():
        chosen.setdefault(intent, set()).add(line)
    return {intent: sorted(lines) for intent, lines in sorted(chosen.items())}


def render_nlu(examples: dict[str, list[str]]) -> str:
    """Rasa 3 NLU YAML, sorted, so the same labels always give the same bytes."""
    head = (
        "# Generated by the console's misunderstood inbox (bot/conversations/inbox.py) from the labelled messages\n"
        "# in log_messages. Do not edit: the next label rewrites it. Hold-out texts are never written here.\n"
        'version: "3.1"\n'
    )
    if not examples:
        return head + "nlu: []\n"
    blocks = [
        f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {line}\n" for line in lines)
        for intent, lines in examples.items()
    ]
    return head + "nlu:\n" + "".join(blocks)


def write_reviewed_nlu(engine: Engine, path: Path | None = None) -> int:
    """Regenerate the reviewed NLU file from the database (atomically); the number of examples in it."""
    target = path or reviewed_nlu_path()
    with _write_lock:
        examples = reviewed_examples(engine, target)
        content = render_nlu(examples)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text(encoding="utf-8") != content:
            handle, temporary = tempfile.mkstemp(prefix=".reviewed-", suffix=".yml", dir=target.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(content)
            os.chmod(temporary, 0o644)  # training data, readable like the rest of data/nlu
            os.replace(temporary, target)
    return sum(len(lines) for lines in examples.values())
