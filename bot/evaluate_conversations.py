"""Measure whole conversations on the hold-out sets in tests/holdout/ (issue 16 §6), against the real servers.

Three files, written separately and never trained on:

- `conversations.yml`: `conversations: [{id, turns: [{say, topic?, aspect?, followup?, decline?, chitchat?}]}]`
- `emergencies.yml`: `emergencies: [{say, kind, number?, context?: [messages said before, same conversation]}]`
- `two_topics.yml`: `two_topics: [{say, topics: [intent, ...]}]`

`play()` says every message over the REST channel (a fresh sender per conversation), reads the tracker after each
turn and keeps what *that* turn did: the bot texts after the latest user event and the last value of each slot the
answer actions set in it (`answered_topics`, `topic`, `aspect`, `emergency`). A slot not set in the turn counts as
not set; the tracker's current slot values are never read, so an answer from an earlier turn cannot pass for this
one. `score()` turns that into the figures:

- follow-ups answered in context: follow-up turns (not declines) with answered_topics == [topic] and, when the turn
  names an aspect, the aspect slot set this turn equal to it (goal ≥ 90 %);
- topic turns answered right: the same test over every turn that expects a topic (follow-ups or first questions);
- declines honoured: decline turns with no topic answered and no 负责部门 (an office) in the reply;
- misroutes: turns that answered a topic they should not have (any topic, for a decline), over every non-chitchat
  conversation turn and every two-topic message (goal ≤ 1 %);
- emergencies first: emergency messages (kind ≠ none, after their `context` in the same conversation) whose FIRST
  bot message holds the expected number (no number given: starts with ⚠️) (goal ≥ 95 %); also, without a goal,
  whether the `emergency` slot named the kind;
- emergency false alarms: kind none where the `emergency` slot was set that turn or the first message starts with
  ⚠️ (goal 0);
- two-topic messages with every topic answered (goal ≥ 80 %), and how many kept the resident's order.

Every further `conversations_<name>.yml` holds conversations written later, after the rules were tuned on the
sets before it (`unseen`, then `fresh`); its follow-ups, topic turns, declines and misroutes are scored apart
(`<name>_*`). The newest set is the honest estimate for residents nobody has seen.

A turn with no expected topic (a chitchat turn, or a follow-up before any topic) is a format error of the file, not
a pass: `load_sets()` refuses the file and says where.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.config import ROOT, VAR_DIR

HOLDOUT_DIR = ROOT / "tests" / "holdout"
REPORT_FILE = VAR_DIR / "holdout-conversations.json"
FILES = {"conversations": "conversations.yml", "emergencies": "emergencies.yml", "two_topics": "two_topics.yml"}
# Optional: conversations written after the rules were tuned on the sets before them (scored apart, per file).
LATER_SETS = "conversations_*.yml"
TURN_SLOTS = ("answered_topics", "topic", "aspect", "emergency")
ASPECTS = {
    "bring",
    "where",
    "steps",
    "how_long",
    "cost",
    "eligible",
    "contact",
    "office",
    "figures",
    "more",
    "overview",
}
EMERGENCY_KINDS = {"elevator_trapped", "elevator_danger", "manhole_fall", "open_hole", "fire", "none"}
WARNING = "⚠"  # ⚠️ is U+26A0 and an optional variation selector: the bare sign matches both spellings
OFFICE_MARK = "负责部门"
SHOWN_FAILURES = 15
TURN_KEYS = {"say", "topic", "aspect", "followup", "decline", "chitchat"}


class HoldoutError(ValueError):
    """A hold-out file is missing or not in the expected format; the message names the file and the place."""


# ---------------------------------------------------------------------------------------------------- the sets


@dataclass(frozen=True)
class TurnSpec:
    say: str
    topic: str | None = None  # the topic this turn is about (inherited from the turn before for a follow-up)
    aspect: str | None = None
    followup: bool = False
    decline: bool = False
    chitchat: bool = False


@dataclass(frozen=True)
class ConversationSpec:
    id: str
    turns: tuple[TurnSpec, ...]


@dataclass(frozen=True)
class EmergencySpec:
    say: str
    kind: str
    number: str | None = None
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class TwoTopicSpec:
    say: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class HoldoutSets:
    conversations: tuple[ConversationSpec, ...]
    emergencies: tuple[EmergencySpec, ...]
    two_topics: tuple[TwoTopicSpec, ...]
    later: dict[str, tuple[ConversationSpec, ...]] = field(default_factory=dict)  # conversations_<name>.yml


def _read_list(path: Path, key: str) -> list[Any]:
    if not path.is_file():
        raise HoldoutError(
            f"Hold-out file missing: {path} (expected `{key}: [...]`, see bot/evaluate_conversations.py)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise HoldoutError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get(key), list) or not data[key]:
        raise HoldoutError(f"{path}: expected a non-empty list under `{key}:`")
    return list(data[key])


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise HoldoutError(f"{where}: `{name}` must be a non-empty string, got {value!r}")
    return str(value)


def _flag(item: dict[str, Any], name: str, where: str) -> bool:
    value = item.get(name, False)
    if not isinstance(value, bool):
        raise HoldoutError(f"{where}: `{name}` must be true or false, got {value!r}")
    return value


def _topic(value: Any, where: str, known: set[str] | None) -> str:
    topic = _text(value, where, "topic")
    if known is not None and topic not in known:
        raise HoldoutError(f"{where}: unknown topic intent {topic!r} (not in domain.yml)")
    return topic


def _parse_turn(item: Any, where: str, current: str | None, known: set[str] | None) -> TurnSpec:
    if not isinstance(item, dict):
        raise HoldoutError(f"{where}: a turn must be a mapping with `say`, got {item!r}")
    unknown = set(item) - TURN_KEYS
    if unknown:
        raise HoldoutError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(TURN_KEYS)})")
    say = _text(item.get("say"), where, "say")
    followup, decline, chitchat = (_flag(item, name, where) for name in ("followup", "decline", "chitchat"))
    topic = _topic(item["topic"], where, known) if item.get("topic") is not None else None
    aspect = item.get("aspect")
    if aspect is not None and aspect not in ASPECTS:
        raise HoldoutError(f"{where}: unknown aspect {aspect!r} (one of {sorted(ASPECTS)})")
    if topic is None and followup:
        topic = current  # a follow-up is about the conversation's topic unless it says otherwise
    if topic is None and not (decline or chitchat):
        raise HoldoutError(f"{where}: a turn needs `topic`, `decline: true` or `chitchat: true` ({say!r})")
    return TurnSpec(say, topic, aspect, followup, decline, chitchat)


def parse_conversations(items: list[Any], source: str, known: set[str] | None = None) -> tuple[ConversationSpec, ...]:
    conversations, seen = [], set()
    for index, item in enumerate(items):
        where = f"{source}: conversation #{index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("turns"), list) or not item["turns"]:
            raise HoldoutError(f"{where}: expected {{id, turns: [...]}} with at least one turn")
        conversation_id = _text(item.get("id", f"#{index + 1}"), where, "id")
        if conversation_id in seen:
            raise HoldoutError(f"{where}: duplicate id {conversation_id!r}")
        seen.add(conversation_id)
        turns: list[TurnSpec] = []
        current: str | None = None
        for number, raw in enumerate(item["turns"]):
            turn = _parse_turn(raw, f"{source}: conversation {conversation_id} turn {number + 1}", current, known)
            current = turn.topic or current
            turns.append(turn)
        conversations.append(ConversationSpec(conversation_id, tuple(turns)))
    return tuple(conversations)


def parse_emergencies(items: list[Any], source: str) -> tuple[EmergencySpec, ...]:
    emergencies = []
    for index, item in enumerate(items):
        where = f"{source}: emergency #{index + 1}"
        if not isinstance(item, dict):
            raise HoldoutError(f"{where}: expected {{say, kind, number?, context?}}, got {item!r}")
        kind = item.get("kind")
        if kind not in EMERGENCY_KINDS:
            raise HoldoutError(f"{where}: `kind` must be one of {sorted(EMERGENCY_KINDS)}, got {kind!r}")
        number = _text(item["number"], where, "number") if item.get("number") is not None else None
        context = item.get("context") or []
        if not isinstance(context, list):
            raise HoldoutError(f"{where}: `context` must be a list of messages")
        said = tuple(_text(message, where, "context") for message in context)
        emergencies.append(EmergencySpec(_text(item.get("say"), where, "say"), kind, number, said))
    return tuple(emergencies)


def parse_two_topics(items: list[Any], source: str, known: set[str] | None = None) -> tuple[TwoTopicSpec, ...]:
    messages = []
    for index, item in enumerate(items):
        where = f"{source}: two-topic message #{index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("topics"), list) or len(item["topics"]) < 2:
            raise HoldoutError(f"{where}: expected {{say, topics: [intent, intent, ...]}} with two or more topics")
        topics = tuple(_topic(topic, where, known) for topic in item["topics"])
        if len(set(topics)) != len(topics):
            raise HoldoutError(f"{where}: a topic is listed twice: {list(topics)}")
        messages.append(TwoTopicSpec(_text(item.get("say"), where, "say"), topics))
    return tuple(messages)


def domain_intents(domain: Path = ROOT / "domain.yml") -> set[str]:
    data = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
    return {next(iter(i)) if isinstance(i, dict) else str(i) for i in data.get("intents", [])}


def load_sets(folder: Path = HOLDOUT_DIR, known_topics: set[str] | None = None) -> HoldoutSets:
    """The three files in `folder`; HoldoutError naming the file when one is missing or malformed."""
    paths = {key: folder / name for key, name in FILES.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise HoldoutError("Hold-out file missing: " + ", ".join(missing))
    later = {
        path.stem.removeprefix("conversations_"): parse_conversations(
            _read_list(path, "conversations"), path.name, known_topics
        )
        for path in sorted(folder.glob(LATER_SETS))
    }
    return HoldoutSets(
        later=later,
        conversations=parse_conversations(
            _read_list(paths["conversations"], "conversations"), paths["conversations"].name, known_topics
        ),
        emergencies=parse_emergencies(_read_list(paths["emergencies"], "emergencies"), paths["emergencies"].name),
        two_topics=parse_two_topics(
            _read_list(paths["two_topics"], "two_topics"), paths["two_topics"].name, known_topics
        ),
    )


# ------------------------------------------------------------------------------------------- what a turn did


@dataclass
class Observed:
    """One turn as the tracker recorded it: the bot texts and the slots set in that turn (last value each)."""

    say: str
    bot: list[str] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    recorded: bool = True  # False: the tracker got no user event for this message (nothing of it can pass)

    @property
    def answered(self) -> list[str]:
        value = self.slots.get("answered_topics")
        if not value:
            return []
        return [str(topic) for topic in value] if isinstance(value, list) else [str(value)]

    @property
    def first(self) -> str:
        return self.bot[0] if self.bot else ""

    @property
    def reply(self) -> str:
        return "\n".join(self.bot)


def observe(say: str, events: Sequence[dict[str, Any]], slots: Sequence[str] = TURN_SLOTS) -> Observed:
    """The events after the latest `user` event: bot texts in order, and the last value of each of `slots`."""
    starts = [index for index, event in enumerate(events) if event.get("event") == "user"]
    turn = Observed(say)
    for event in events[starts[-1] + 1 :] if starts else []:
        if event.get("event") == "bot":
            turn.bot.append(event.get("text") or "")
        elif event.get("event") == "slot" and event.get("name") in slots:
            turn.slots[event["name"]] = event.get("value")
        elif event.get("event") in {"reset_slots", "restart"}:
            turn.slots.clear()
    return turn


# --------------------------------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """`count` of `total`: passes for a goal with a minimum, offences (misroutes, false alarms) for a maximum."""

    key: str
    label: str
    minimum: float | None = None
    maximum: float | None = None
    count: int = 0
    total: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offence(self) -> bool:
        return self.maximum is not None

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def met(self) -> bool | None:
        if self.minimum is not None:
            return self.total > 0 and self.rate >= self.minimum
        if self.maximum is not None:
            return self.total > 0 and self.rate <= self.maximum
        return None

    @property
    def goal(self) -> str:
        if self.minimum is not None:
            return f"≥ {self.minimum:.0%}"
        if self.maximum is not None:
            return "= 0" if self.maximum == 0 else f"≤ {self.maximum:.0%}"
        return "—"

    def tally(self, hit: bool, failure: dict[str, Any]) -> None:
        """One case: `hit` counts it (a pass, or an offence); the failing ones are kept to show."""
        self.total += 1
        self.count += hit
        if hit == self.offence:
            self.failures.append(failure)


def _figures() -> dict[str, Figure]:
    figures = [
        Figure("followups", "follow-ups answered in context", minimum=0.90),
        Figure("topic_turns", "topic turns answered right"),
        Figure("declines", "declines honoured"),
        Figure("misroutes", "misroutes (a topic not asked about)", maximum=0.01),
        Figure("emergencies_first", "emergencies first (number in 1st message)", minimum=0.95),
        Figure("emergency_kind", "emergencies: kind recognised"),
        Figure("false_alarms", "emergency false alarms", maximum=0.0),
        Figure("two_topics", "two-topic: every topic answered", minimum=0.80),
        Figure("two_topics_order", "two-topic: answered in order"),
    ]
    return {figure.key: figure for figure in figures}


def later_figures(name: str) -> dict[str, Figure]:
    """The conversation figures of one later set, conversations_<name>.yml."""
    figures = [
        Figure(f"{name}_followups", f"{name} set: follow-ups in context", minimum=0.90),
        Figure(f"{name}_topic_turns", f"{name} set: topic turns answered right"),
        Figure(f"{name}_declines", f"{name} set: declines honoured"),
        Figure(f"{name}_misroutes", f"{name} set: misroutes", maximum=0.01),
    ]
    return {figure.key: figure for figure in figures}


@dataclass
class ConversationReport:
    figures: dict[str, Figure]
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def __getitem__(self, key: str) -> Figure:
        return self.figures[key]

    def to_json(self) -> dict[str, Any]:
        return {
            "figures": {
                key: {**asdict(f), "rate": f.rate, "goal": f.goal, "met": f.met} for key, f in self.figures.items()
            },
            "transcript": self.transcript,
        }


def _got(turn: Observed) -> dict[str, Any]:
    got = {"answered_topics": turn.answered, **{k: v for k, v in turn.slots.items() if k != "answered_topics"}}
    return got if turn.recorded else {**got, "recorded": "no turn in the tracker"}


def _snippet(text: str, length: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


def _case(where: str, turn: Observed, expected: Any, **more: Any) -> dict[str, Any]:
    return {
        "where": where,
        "say": turn.say,
        "expected": expected,
        "got": _got(turn),
        **more,
        "reply": _snippet(turn.reply, 160),
    }


def answered_right(spec: TurnSpec, turn: Observed) -> bool:
    """Exactly the expected topic, and the named aspect (as the `aspect` slot set this turn) when there is one."""
    return turn.answered == [spec.topic] and (spec.aspect is None or turn.slots.get("aspect") == spec.aspect)


def declined(turn: Observed) -> bool:
    """An honest "I can't answer": a turn was taken, no topic answered and no office named in the reply."""
    return turn.recorded and not turn.answered and OFFICE_MARK not in turn.reply


def wrong_topics(expected: Sequence[str], turn: Observed) -> list[str]:
    """Topics answered that the resident did not ask about (for a decline, `expected` is empty: any topic)."""
    return [topic for topic in turn.answered if topic not in expected]


def number_in(number: str, text: str) -> bool:
    return re.search(rf"(?<!\d){re.escape(number)}(?!\d)", text) is not None


def emergency_first(spec: EmergencySpec, turn: Observed) -> bool:
    if spec.number is not None:
        return number_in(spec.number, turn.first)
    return turn.first.lstrip().startswith(WARNING)


def false_alarm(turn: Observed) -> bool:
    """The `emergency` slot set to a kind this turn (None or "none" is a reset). A reply that opens with ⚠️ is not
    enough: every manhole report gives its safety advice first, emergency or not."""
    return turn.slots.get("emergency") not in (None, "", "none")


def order_kept(expected: Sequence[str], turn: Observed) -> bool:
    seen: list[str] = []
    for topic in turn.answered:
        if topic in expected and topic not in seen:
            seen.append(topic)
    return seen == list(expected)


def score_conversations(
    conversations: Sequence[ConversationSpec],
    played: Sequence[Sequence[Observed]],
    figures: dict[str, Figure],
    prefix: str = "",
) -> None:
    """Tally into figures[prefix + name]: "" for conversations.yml, "fresh_" for conversations_fresh.yml."""
    figures = {key.removeprefix(prefix): figure for key, figure in figures.items() if key.startswith(prefix)}
    for conversation, turns in zip(conversations, played, strict=True):
        for number, (spec, turn) in enumerate(zip(conversation.turns, turns, strict=True), start=1):
            where = f"{conversation.id} turn {number}"
            if spec.chitchat:
                continue
            expected: dict[str, Any] = {"topic": spec.topic, **({"aspect": spec.aspect} if spec.aspect else {})}
            if spec.decline:
                figures["declines"].tally(declined(turn), _case(where, turn, "decline: no topic, no 负责部门"))
            else:
                right = answered_right(spec, turn)
                figures["topic_turns"].tally(right, _case(where, turn, expected))
                if spec.followup:
                    figures["followups"].tally(right, _case(where, turn, expected))
            allowed = [] if spec.decline or spec.topic is None else [spec.topic]
            wrong = wrong_topics(allowed, turn)
            figures["misroutes"].tally(bool(wrong), _case(where, turn, allowed or "no topic", wrong=wrong))


def score_emergencies(
    emergencies: Sequence[EmergencySpec], played: Sequence[Observed], figures: dict[str, Figure]
) -> None:
    for index, (spec, turn) in enumerate(zip(emergencies, played, strict=True), start=1):
        where = f"emergency #{index}" + (f" after {list(spec.context)}" if spec.context else "")
        if spec.kind == "none":
            figures["false_alarms"].tally(
                false_alarm(turn), _case(where, turn, "no emergency", first=_snippet(turn.first))
            )
            continue
        expected = {"kind": spec.kind, "number in first message": spec.number or WARNING}
        figures["emergencies_first"].tally(
            emergency_first(spec, turn), _case(where, turn, expected, first=_snippet(turn.first))
        )
        figures["emergency_kind"].tally(turn.slots.get("emergency") == spec.kind, _case(where, turn, expected))


def score_two_topics(messages: Sequence[TwoTopicSpec], played: Sequence[Observed], figures: dict[str, Figure]) -> None:
    for index, (spec, turn) in enumerate(zip(messages, played, strict=True), start=1):
        where = f"two-topic #{index}"
        expected = list(spec.topics)
        every = set(expected) <= set(turn.answered)
        missing = [topic for topic in expected if topic not in turn.answered]
        figures["two_topics"].tally(every, _case(where, turn, expected, missing=missing))
        figures["two_topics_order"].tally(every and order_kept(expected, turn), _case(where, turn, expected))
        wrong = wrong_topics(expected, turn)
        figures["misroutes"].tally(bool(wrong), _case(where, turn, expected, wrong=wrong))


@dataclass
class Played:
    conversations: list[list[Observed]] = field(default_factory=list)
    emergencies: list[Observed] = field(default_factory=list)
    two_topics: list[Observed] = field(default_factory=list)
    later: dict[str, list[list[Observed]]] = field(default_factory=dict)


def score(sets: HoldoutSets, played: Played) -> ConversationReport:
    figures = _figures()
    score_conversations(sets.conversations, played.conversations, figures)
    score_emergencies(sets.emergencies, played.emergencies, figures)
    score_two_topics(sets.two_topics, played.two_topics, figures)
    for name, conversations in sets.later.items():
        figures.update(later_figures(name))
        score_conversations(conversations, played.later[name], figures, prefix=f"{name}_")
    sets_played = {
        "conversations": [t for c in played.conversations for t in c],
        "emergencies": played.emergencies,
        "two_topics": played.two_topics,
        **{name: [t for c in later for t in c] for name, later in played.later.items()},
    }
    transcript = [
        {"set": name, "say": turn.say, "bot": turn.bot, "slots": turn.slots, "recorded": turn.recorded}
        for name, turns in sets_played.items()
        for turn in turns
    ]
    return ConversationReport(figures, transcript)


# ------------------------------------------------------------------------------------------------- playing


class RasaClient:
    """Says messages over the REST channel and reads back what the turn did from the tracker."""

    def __init__(self, rasa_url: str, token: str, timeout: float = 60) -> None:
        self.rasa_url, self.token, self.timeout = rasa_url.rstrip("/"), token, timeout
        self.http = requests.Session()
        self.users: dict[str, int] = {}  # user events seen in each sender's tracker so far

    def say(self, sender: str, message: str) -> Observed:
        response = self.http.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=self.timeout
        )
        if response.status_code != 200:
            raise RuntimeError(f"REST webhook answered {response.status_code} to {message!r}: {response.text[:300]}")
        tracker = self.http.get(
            f"{self.rasa_url}/conversations/{sender}/tracker",
            params={"token": self.token, "include_events": "ALL"},
            timeout=self.timeout,
        )
        if tracker.status_code != 200:
            raise RuntimeError(f"tracker of {sender} answered {tracker.status_code}: {tracker.text[:300]}")
        events = tracker.json().get("events") or []
        users = sum(event.get("event") == "user" for event in events)
        if users <= self.users.get(sender, 0):  # no turn (e.g. a refused message): the last user event is older
            texts = [str(reply.get("text") or "") for reply in response.json() if isinstance(reply, dict)]
            return Observed(message, texts, recorded=False)
        self.users[sender] = users
        return observe(message, events)

    def conversation(self, messages: Sequence[str]) -> list[Observed]:
        sender = f"holdout-{uuid.uuid4().hex}"
        return [self.say(sender, message) for message in messages]


def play(rasa_url: str, token: str, sets: HoldoutSets) -> ConversationReport:
    """Play every hold-out conversation and message against the running Rasa server and score what happened."""
    client = RasaClient(rasa_url, token)
    played = Played(
        conversations=[client.conversation([turn.say for turn in c.turns]) for c in sets.conversations],
        emergencies=[client.conversation([*e.context, e.say])[-1] for e in sets.emergencies],
        two_topics=[client.conversation([m.say])[-1] for m in sets.two_topics],
        later={
            name: [client.conversation([turn.say for turn in c.turns]) for c in conversations]
            for name, conversations in sets.later.items()
        },
    )
    return score(sets, played)


# ------------------------------------------------------------------------------------------------- output


def format_report(report: ConversationReport, shown: int = SHOWN_FAILURES) -> str:
    lines = [f"{'conversation figure':<40} {'n of N':>11} {'rate':>7}  {'goal':<6} ", "-" * 72]
    for figure in report.figures.values():
        mark = {True: "ok", False: "MISSED", None: ""}[figure.met]
        count = f"{figure.count} of {figure.total}"
        lines.append(f"{figure.label:<40} {count:>11} {figure.rate:>7.1%}  {figure.goal:<6} {mark}")
    for figure in report.figures.values():
        if not figure.failures:
            continue
        heading = "misrouted" if figure.key == "misroutes" else "false alarms" if figure.offence else "failed"
        lines.append(
            f"\n{figure.label}: {len(figure.failures)} {heading}"
            + (f" (first {shown})" if len(figure.failures) > shown else "")
        )
        for case in figure.failures[:shown]:
            lines.append(f"  [{case['where']}] {case['say']}")
            lines.append(f"      expected {json.dumps(case['expected'], ensure_ascii=False)}")
            extra = {k: case[k] for k in ("wrong", "missing", "first") if case.get(k)}
            got = {**case["got"], **extra}
            lines.append(f"      got      {json.dumps(got, ensure_ascii=False)}  reply: {case['reply']}")
    return "\n".join(lines)


def write_report(report: ConversationReport, path: Path = REPORT_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the servers, CLI


@contextlib.contextmanager
def running_stack(model: Path, work: Path) -> Iterator[tuple[str, str]]:
    """The action server and Rasa on free ports with a fresh KB database in `work` (as the tests' `servers`).

    Yields (Rasa URL, token); logs stay in `work` for a look afterwards."""
    from bot.serve import actions_command, free_port, rasa_command, stack_endpoints, stop_processes, wait_until_ready
    from kb.build import build

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database_url = f"sqlite:///{work / 'assistant.sqlite3'}"
    build(database_url)
    action_port, rasa_port = free_port(), free_port()
    endpoints = stack_endpoints(work / "endpoints.yml", action_port, database_url)
    token = "holdout-" + secrets.token_hex(8)
    # One sender says a whole conversation quickly: no rate limit here (the benchmarks do the same).
    env = {**os.environ, "DATABASE_URL": database_url, "SANIC_HOST": "127.0.0.1", "RATE_LIMIT_MESSAGES": "0"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in (
            ("actions", actions_command(action_port)),
            ("rasa", rasa_command(model, rasa_port, token, endpoints, ROOT / "credentials.yml")),
        ):
            with (work / f"{name}.log").open("w") as log:
                processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603
        wait_until_ready(f"http://127.0.0.1:{action_port}/health", processes[0], 60, work / "actions.log")
        wait_until_ready(f"http://127.0.0.1:{rasa_port}/status?token={token}", processes[1], 300, work / "rasa.log")
        yield f"http://127.0.0.1:{rasa_port}", token
    finally:
        stop_processes(processes, grace=20)


def main(folder: str | Path = HOLDOUT_DIR, model: str | None = None) -> int:
    """`python -m bot evaluate --conversations`: start the servers, play the three sets, print and write the report."""
    from bot.training import latest_model

    try:
        sets = load_sets(Path(folder), domain_intents())
    except HoldoutError as error:
        print(f"Conversation hold-out: {error}", file=sys.stderr)
        return 1
    chosen = Path(model) if model else latest_model()
    if chosen is None:
        print("No trained model: run `make train` first.", file=sys.stderr)
        return 1
    turns = sum(len(c.turns) for c in sets.conversations)
    print(
        f"\nConversation hold-out: {len(sets.conversations)} conversations ({turns} turns), "
        f"{len(sets.emergencies)} emergency messages, {len(sets.two_topics)} two-topic messages"
        + "".join(f", {len(c)} conversations in conversations_{name}.yml" for name, c in sets.later.items())
        + "; starting the servers…",
        flush=True,
    )
    try:
        with running_stack(chosen, VAR_DIR / "holdout-servers") as (rasa_url, token):
            report = play(rasa_url, token, sets)
    except (RuntimeError, requests.RequestException) as error:
        print(f"Conversation hold-out failed: {error}", file=sys.stderr)
        return 1
    path = write_report(report)
    print(format_report(report))
    print(f"\nWhole report: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
