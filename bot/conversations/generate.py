"""Realistic conversation-log data for load tests: Rasa events written straight into Rasa's `events` table.

``python -m bot logs generate --events 1000000`` makes conversations spread over the last 90 days on the three
channels (rest, socketio, wechat), with the resident's words taken from the training data (`data/nlu/`), answers
from the KB, fallbacks, 有帮助/没帮助 ratings, hand-offs and manhole tickets, in the exact shape Rasa's SQL tracker
store writes (`Event.as_dict()` as JSON). Rows go in with PostgreSQL's COPY (SQLite: executemany) in large batches,
then the indexer catches up. A share of the conversations is then marked reviewed, tagged and flagged, as
supervisors would, so every list filter has something to find.

Also ``logs index`` (catch up now) and ``logs reindex`` (rebuild the log tables from the events).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from bot.config import ROOT
from bot.conversations.models import Conversation, Message, ensure_tables

CHANNELS = (("socketio", 0.55), ("wechat", 0.35), ("rest", 0.10))
ENTITY = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
FALLBACK_SHARE, HANDOFF_SHARE, RATING_SHARE, MANHOLE_SHARE = 0.08, 0.03, 0.2, 0.02
REVIEWED_SHARE, TAGGED_SHARE, FLAGGED_SHARE = 0.05, 0.02, 0.01
TAGS = ("待跟进", "答非所问", "知识库缺失", "好案例")
COUNTIES = ("驿城区", "确山县", "泌阳县", "遂平县", "西平县", "上蔡县", "汝南县", "平舆县", "新蔡县", "正阳县")
SKIP_INTENTS = frozenset({"affirm", "deny", "stop", "inform", "out_of_scope"})


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    entities: tuple[tuple[str, str, int, int], ...]


@lru_cache(maxsize=1)
def training_examples(folder: Path = ROOT / "data" / "nlu") -> dict[str, tuple[Example, ...]]:
    """The resident's words by intent, from Rasa's NLU YAML (entity mark-up resolved)."""
    found: dict[str, list[Example]] = {}
    for path in sorted(folder.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip().removeprefix("- ").strip()
                if line:
                    found.setdefault(str(block["intent"]), []).append(_example(str(block["intent"]), line))
    return {intent: tuple(items) for intent, items in found.items()}


def _example(intent: str, marked: str) -> Example:
    text, entities, last = "", [], 0
    for match in ENTITY.finditer(marked):
        text += marked[last : match.start()]
        name = match.group(2).split(":")[0].split("{")[0]
        entities.append((name, match.group(1), len(text), len(text) + len(match.group(1))))
        text += match.group(1)
        last = match.end()
    return Example(intent, text + marked[last:], tuple(entities))


@lru_cache(maxsize=1)
def kb_answers(folder: Path = ROOT / "kb" / "entries") -> dict[str, str]:
    """The first KB answer per intent, as the bot's reply text."""
    answers: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("entries") or []:
            intents = entry.get("intents") or ([entry["intent"]] if entry.get("intent") else [])
            for intent in intents:
                answers.setdefault(str(intent), str(entry.get("answer") or ""))
    return answers


def _ranking(intent: str, confidence: float, rng: random.Random, intents: list[str]) -> list[dict[str, Any]]:
    others = rng.sample(intents, 2)
    rest = (1 - confidence) * 0.8
    return [
        {"name": intent, "confidence": confidence},
        {"name": others[0], "confidence": round(rest * 0.7, 4)},
        {"name": others[1], "confidence": round(rest * 0.3, 4)},
    ]


@dataclass
class _Writer:
    """Collects event rows for one conversation at a time, with a moving clock."""

    sender: str
    channel: str
    clock: float
    rng: random.Random
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(
        self, data: dict[str, Any], intent: str | None = None, action: str | None = None, gap: float = 0.01
    ) -> None:
        self.clock += gap
        data["timestamp"] = round(self.clock, 6)
        row = (self.sender, data["event"], data["timestamp"], intent, action, json.dumps(data, ensure_ascii=False))
        self.rows.append(row)

    def action(self, name: str, policy: str | None = "RulePolicy", gap: float = 0.02) -> None:
        data = {"event": "action", "name": name, "policy": policy, "confidence": 1.0, "action_text": None}
        self.add({**data, "hide_rule_turn": False}, action=name, gap=gap)

    def bot(self, text: str, utter: str, buttons: list[dict[str, str]] | None = None) -> None:
        data = {"elements": None, "quick_replies": None, "buttons": buttons, "attachment": None, "image": None}
        body = {"event": "bot", "metadata": {"utter_action": utter}, "text": text, "data": {**data, "custom": None}}
        self.add(body, gap=self.rng.uniform(0.05, 0.6))

    def slot(self, name: str, value: Any, gap: float = 0.01) -> None:
        self.add({"event": "slot", "name": name, "value": value}, gap=gap)

    def user(self, example: Example, intent: str, confidence: float, intents: list[str], gap: float) -> None:
        message_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
        entities = [
            {"entity": e, "start": s, "end": t, "confidence_entity": 0.99, "value": v, "extractor": "DIETClassifier"}
            for e, v, s, t in example.entities
        ]
        parse = {
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities,
            "text": example.text,
            "message_id": message_id,
            "metadata": {},
            "intent_ranking": _ranking(intent, confidence, self.rng, intents),
        }
        body = {"event": "user", "text": example.text, "parse_data": parse, "input_channel": self.channel}
        self.add({**body, "message_id": message_id, "metadata": {}}, intent=intent, gap=gap)
        self.add({"event": "user_featurization", "use_text_for_featurization": False})


class Generator:
    """Makes conversations one by one; `rows()` yields event rows in time order of conversation starts."""

    def __init__(self, seed: int = 4, days: int = 90, now: float | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (test data, not security)
        self.days, self.now = days, now or time.time()
        self.examples = training_examples()
        self.answers = kb_answers()
        self.intents = sorted(self.examples)
        self.topics = [i for i in self.intents if i not in SKIP_INTENTS and not i.startswith(("report_manhole",))]
        self.tickets_per_day: dict[str, int] = {}

    def _sender(self, channel: str) -> str:
        bits = self.rng.getrandbits(128)
        if channel == "wechat":  # an openid-like id: 28 characters starting with "o"
            return "o" + f"{bits:032x}"[:27]
        return uuid.UUID(int=bits).hex if channel == "socketio" else f"rest-{bits:016x}"[:21]

    def _start(self) -> float:
        day = self.now - self.rng.uniform(0, self.days) * 86400
        moment = datetime.fromtimestamp(day, timezone.utc)
        hour = self.rng.choices(range(24), weights=[1] * 7 + [4] * 4 + [6] * 6 + [4] * 5 + [2] * 2)[0]
        city = moment.replace(hour=(hour - 8) % 24, minute=self.rng.randrange(60))  # city time is UTC+8
        return min(city.timestamp(), self.now - 3600)

    def _ticket(self, at: float) -> str:
        day = (datetime.fromtimestamp(at, timezone.utc) + timedelta(hours=8)).strftime("%Y%m%d")
        self.tickets_per_day[day] = self.tickets_per_day.get(day, 0) + 1
        return f"JG-{day}-{self.tickets_per_day[day]:04d}"

    def conversation(self, start: float) -> list[tuple[Any, ...]]:
        rng = self.rng
        channel = rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0]
        out = _Writer(self._sender(channel), channel, start, rng)
        out.action("action_session_start", policy=None, gap=0)
        out.add({"event": "session_started"})
        out.action("action_listen")
        turns = min(1 + int(rng.expovariate(0.45)), 12)
        for number in range(turns):
            self._turn(out, first=number == 0)
        return out.rows

    def _turn(self, out: _Writer, first: bool) -> None:
        rng, gap = self.rng, self.rng.uniform(5, 90)
        roll = rng.random()
        if roll < FALLBACK_SHARE:
            example = rng.choice(self.examples.get("out_of_scope") or self.examples[self.intents[0]])
            intent = rng.choice(("nlu_fallback", "out_of_scope"))
            out.user(example, intent, round(rng.uniform(0.2, 0.59), 4), self.intents, gap)
            out.action("action_kb_fallback")
            out.bot(
                "抱歉，这个问题我答不了，不想给您错误的信息。人工服务请拨打12345政务服务便民热线。",
                "utter_cannot_answer",
            )
        elif roll < FALLBACK_SHARE + HANDOFF_SHARE and "ask_human" in self.examples:
            out.user(
                rng.choice(self.examples["ask_human"]), "ask_human", round(rng.uniform(0.8, 1), 4), self.intents, gap
            )
            out.action("action_handoff")
            out.bot("好的，已为您记录转人工的需求，工作人员会跟进这段对话。", "utter_handoff_recorded")
            out.slot("handoff_requested", True)
        elif roll < FALLBACK_SHARE + HANDOFF_SHARE + MANHOLE_SHARE and "report_manhole" in self.examples:
            self._manhole(out, gap)
        else:
            intent = "greet" if first and rng.random() < 0.15 and "greet" in self.examples else rng.choice(self.topics)
            confidence = round(rng.betavariate(12, 1.2), 4)
            out.user(rng.choice(self.examples[intent]), intent, confidence, self.intents, gap)
            out.action("action_answer_topic", policy="TEDPolicy" if rng.random() < 0.1 else "RulePolicy")
            out.bot(self.answers.get(intent) or "您好！请问有什么可以帮您？", "utter_part_office")
        out.action("action_listen")
        if rng.random() < RATING_SHARE:
            rating = "helpful" if rng.random() < 0.7 else "not_helpful"
            value = {"rating": rating, "message_index": len(out.rows), "at": round(out.clock + 3, 3)}
            out.slot("feedback", value, gap=rng.uniform(2, 20))

    def _manhole(self, out: _Writer, gap: float) -> None:
        rng = self.rng
        out.user(rng.choice(self.examples["report_manhole"]), "report_manhole", 0.97, self.intents, gap)
        out.action("manhole_report_form")
        out.add({"event": "active_loop", "name": "manhole_report_form"})
        out.bot("请告诉我井盖的位置：哪个县区、哪条路或哪个小区、附近有什么明显标志？", "utter_ask_manhole_location")
        out.action("action_listen")
        place = Example("inform", f"{rng.choice(COUNTIES)}人民路和交通路交叉口", ())
        out.user(place, "inform", round(rng.uniform(0.85, 1), 4), self.intents, rng.uniform(10, 60))
        out.action("manhole_report_form")
        out.slot("manhole_location", place.text)
        out.add({"event": "active_loop", "name": None})
        out.action("action_manhole_submit")
        number = self._ticket(out.clock)
        out.bot(f"已为您生成工单，编号：{number}  处理部门：驻马店市城市管理局", "utter_manhole_ticket")
        out.slot("last_ticket_id", number)

    def rows(self, events: int) -> Iterator[list[tuple[Any, ...]]]:
        """Conversations in start-time order until `events` rows were made (the last one is cut to fit)."""
        starts = sorted(self._start() for _ in range(max(1, events // 19)))
        made, index = 0, 0
        while made < events:
            start = starts[index] if index < len(starts) else self.now - self.rng.uniform(3600, 7200)
            index += 1
            rows = self.conversation(start)[: events - made]
            made += len(rows)
            yield rows


# --- writing --------------------------------------------------------------------------------------------------------


def ensure_events_table(engine: Engine) -> None:
    """Rasa's `events` table and the console's indexes on it, as the tracker store creates them."""
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.tracker_store import ensure_indexes

    SQLTrackerStore.Base.metadata.create_all(engine)
    ensure_indexes(engine)


def _copy(engine: Engine, rows: list[tuple[Any, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["\\N" if value is None else value for value in row])
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            sql = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            cursor.copy_expert(sql, buffer)
        raw.commit()
    finally:
        raw.close()


def _insert(engine: Engine, rows: list[tuple[Any, ...]]) -> None:
    table = sa.Table("events", sa.MetaData(), *(sa.Column(name) for name in COLUMNS))
    with engine.begin() as connection:
        connection.execute(table.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows])


def write_events(
    engine: Engine,
    events: int,
    seed: int = 4,
    days: int = 90,
    batch: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Generate and store `events` rows; the number written."""
    ensure_events_table(engine)
    write = _copy if engine.dialect.name == "postgresql" else _insert
    pending: list[tuple[Any, ...]] = []
    written = 0
    for rows in Generator(seed, days).rows(events):
        pending.extend(rows)
        if len(pending) >= batch:
            write(engine, pending)
            written += len(pending)
            pending = []
            if progress:
                progress(written)
    if pending:
        write(engine, pending)
        written += len(pending)
    return written


def review_sample(engine: Engine, seed: int = 4) -> dict[str, int]:
    """Mark some conversations reviewed, tagged and flagged (as supervisors would), for the list's filters."""
    rng = random.Random(seed)  # noqa: S311 (test data)
    conv, msg = Conversation.__table__, Message.__table__
    with engine.connect() as connection:
        senders = list(connection.scalars(sa.select(conv.c.sender_id).order_by(conv.c.sender_id)))
    counts = {"reviewed": 0, "tagged": 0, "flagged": 0}
    reviewed = [s for s in senders if rng.random() < REVIEWED_SHARE]
    tagged = [s for s in senders if rng.random() < TAGGED_SHARE]
    flagged = [s for s in senders if rng.random() < FLAGGED_SHARE]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        for chunk in _chunks(reviewed):
            values = {"reviewed_by": "generator", "reviewed_at": now}
            counts["reviewed"] += connection.execute(
                conv.update().where(conv.c.sender_id.in_(chunk)).values(**values)
            ).rowcount
        for tag in TAGS:
            chosen = [s for s in tagged if rng.random() < 0.5]
            for chunk in _chunks(chosen):
                tags = sa.case((conv.c.tags == "", f",{tag},"), else_=conv.c.tags + f"{tag},")
                query = conv.update().where(conv.c.sender_id.in_(chunk), ~conv.c.tags.contains(f",{tag},"))
                counts["tagged"] += connection.execute(query.values(tags=tags)).rowcount
        for chunk in _chunks(flagged):
            first = sa.select(sa.func.min(msg.c.event_id)).where(msg.c.sender_id.in_(chunk)).group_by(msg.c.sender_id)
            note = {"flagged": True, "flag_note": "生成的示例标记"}
            connection.execute(msg.update().where(msg.c.event_id.in_(first)).values(**note))
            count = sa.select(sa.func.count()).where(msg.c.sender_id == conv.c.sender_id, msg.c.flagged.is_(True))
            moved = connection.execute(
                conv.update().where(conv.c.sender_id.in_(chunk)).values(flagged=count.scalar_subquery())
            )
            counts["flagged"] += moved.rowcount
    return counts


def _chunks(items: list[str], size: int = 1000) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- command line ---------------------------------------------------------------------------------------------------


def _engine(args: argparse.Namespace) -> Engine:
    from bot.config import settings
    from kb.session import get_engine

    engine = get_engine(args.database_url or settings().database_url)
    ensure_tables(engine)
    return engine


def _generate(args: argparse.Namespace) -> int:
    from bot.conversations.indexer import catch_up

    engine, started = _engine(args), time.monotonic()
    if args.events < 1:
        print("--events must be a positive number", flush=True)
        return 2

    def progress(done: int) -> None:
        print(f"  {done:,} events written ({time.monotonic() - started:.0f} s)", flush=True)

    written = write_events(engine, args.events, seed=args.seed, days=args.days, progress=progress)
    print(f"{written:,} events written in {time.monotonic() - started:.1f} s; indexing…", flush=True)
    indexed_at = time.monotonic()
    indexed = catch_up(engine)
    print(f"{indexed:,} events indexed in {time.monotonic() - indexed_at:.1f} s", flush=True)
    if not args.no_review:
        counts = review_sample(engine, seed=args.seed)
        print("sample review marks: " + ", ".join(f"{key} {value}" for key, value in counts.items()), flush=True)
    analyze(engine)
    return 0


def analyze(engine: Engine) -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there, later)."""
    tables = "events, log_conversations, log_messages" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as connection:
        connection.execute(sa.text(f"ANALYZE {tables}".strip()))


def _index(args: argparse.Namespace) -> int:
    from bot.conversations.indexer import catch_up, reindex

    engine, started = _engine(args), time.monotonic()
    done = reindex(engine) if args.action == "reindex" else catch_up(engine)
    print(f"{done:,} events indexed in {time.monotonic() - started:.1f} s")
    return 0


def _logs(args: argparse.Namespace) -> int:
    return _generate(args) if args.action == "generate" else _index(args)


def register(commands: Any, table: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    """`python -m bot logs generate|index|reindex`."""
    logs = commands.add_parser("logs", help="conversation log: index the events, rebuild, generate test data")
    logs.add_argument(
        "action",
        choices=["generate", "index", "reindex"],
        help="generate: write realistic events and index them; index: catch up; reindex: rebuild from the events",
    )
    logs.add_argument("--events", type=int, default=100_000, help="generate: how many events (default 100000)")
    logs.add_argument("--days", type=int, default=90, help="generate: spread over this many past days")
    logs.add_argument("--seed", type=int, default=4, help="generate: random seed (same seed, same data)")
    logs.add_argument("--no-review", action="store_true", help="generate: no sample reviews, tags and flags")
    logs.add_argument("--database-url", default=None, help="default: DATABASE_URL")
    table["logs"] = _logs
