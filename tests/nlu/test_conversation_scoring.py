"""Scoring of the conversation hold-out (bot/evaluate_conversations.py) on hand-made tracker events, no servers;
and play() against a tiny fake of Rasa's two HTTP endpoints."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from bot.evaluate_conversations import (
    ConversationSpec,
    EmergencySpec,
    HoldoutError,
    HoldoutSets,
    Observed,
    Played,
    RasaClient,
    TurnSpec,
    TwoTopicSpec,
    format_report,
    load_sets,
    observe,
    parse_conversations,
    play,
    score,
)

SSCARD, MAIL, ELEVATOR = "ask_sscard_apply", "ask_sscard_mail", "ask_elevator_safety"


def user(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "x"}}}


def bot(text: str | None) -> dict[str, Any]:
    return {"event": "bot", "text": text}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def turn(say: str, *events: dict[str, Any]) -> Observed:
    """What observe() makes of a tracker that had an earlier, answered turn and then `say` with `events`."""
    earlier = [
        user("社保卡咋办"),
        slot("answered_topics", [SSCARD]),
        slot("aspect", "overview"),
        bot("负责部门：市人社局"),
    ]
    return observe(say, [*earlier, {"event": "action", "name": "action_listen"}, user(say), *events])


def answer(say: str, topics: list[str], aspect: str = "overview", text: str = "负责部门：某局\n…") -> Observed:
    return turn(
        say,
        slot("topic", topics[-1] if topics else None),
        slot("aspect", aspect),
        slot("answered_topics", topics),
        bot(text),
    )


# ------------------------------------------------------------------------------------------------- observe()


def test_observe_keeps_only_the_latest_turn() -> None:
    observed = turn("今天天气怎么样", bot("抱歉，这个问题我答不了"))
    assert observed.bot == ["抱歉，这个问题我答不了"]
    assert observed.slots == {}  # the earlier turn's answered_topics and aspect are not this turn's
    assert observed.answered == []


def test_observe_takes_the_last_value_of_a_slot_set_twice_and_ignores_other_slots() -> None:
    observed = turn(
        "要带什么",
        slot("aspect", "overview"),
        slot("aspect", "bring"),
        slot("requested_slot", "x"),
        slot("answered_topics", [SSCARD]),
        bot("需要带：身份证件"),
        bot(None),
    )
    assert observed.slots == {"aspect": "bring", "answered_topics": [SSCARD]}
    assert observed.bot == ["需要带：身份证件", ""]
    assert observed.first == "需要带：身份证件"


def test_observe_a_slot_reset_to_none_counts_as_no_topic() -> None:
    assert turn("嗯", slot("answered_topics", None)).answered == []


def test_observe_without_a_user_event_sees_nothing() -> None:
    assert observe("x", [bot("欢迎"), slot("topic", SSCARD)]) == Observed("x")


# ------------------------------------------------------------------------------------------- conversations


def conversation_report(turns: list[TurnSpec], played: list[Observed]) -> Any:
    sets = HoldoutSets((ConversationSpec("c1", tuple(turns)),), (), ())
    return score(sets, Played(conversations=[played]))


def test_followup_in_context_needs_exactly_the_topic_and_the_aspect() -> None:
    specs = [
        TurnSpec("社保卡咋办", topic=SSCARD),
        TurnSpec("要带什么", topic=SSCARD, aspect="bring", followup=True),
        TurnSpec("在哪办", topic=SSCARD, aspect="where", followup=True),
        TurnSpec("多久", topic=SSCARD, aspect="how_long", followup=True),
        TurnSpec("那电话呢", topic=SSCARD, followup=True),
    ]
    played = [
        answer("社保卡咋办", [SSCARD]),
        answer("要带什么", [SSCARD], "bring"),
        answer("在哪办", [SSCARD], "overview"),  # topic right, aspect wrong: not answered in context
        answer("多久", [SSCARD, MAIL], "how_long"),  # an extra topic: wrong, and a misroute
        answer("那电话呢", [SSCARD], "contact"),  # no aspect named: the topic is enough
    ]
    report = conversation_report(specs, played)
    assert (report["followups"].count, report["followups"].total) == (2, 4)
    assert (report["topic_turns"].count, report["topic_turns"].total) == (3, 5)
    assert [case["say"] for case in report["followups"].failures] == ["在哪办", "多久"]
    assert (report["misroutes"].count, report["misroutes"].total) == (1, 5)
    assert report["misroutes"].failures[0]["wrong"] == [MAIL]


def test_followup_answered_from_the_stale_tracker_slot_does_not_count() -> None:
    specs = [TurnSpec("社保卡咋办", topic=SSCARD), TurnSpec("要带什么", topic=SSCARD, followup=True)]
    played = [answer("社保卡咋办", [SSCARD]), turn("要带什么", bot("抱歉，这个问题我答不了"))]
    report = conversation_report(specs, played)
    assert (report["followups"].count, report["followups"].total) == (0, 1)
    assert report["followups"].failures[0]["got"] == {"answered_topics": []}


def test_declines_honoured_only_without_topic_and_without_an_office() -> None:
    specs = [TurnSpec(say, decline=True) for say in ("天气", "股票", "彩票")] + [TurnSpec("你好", chitchat=True)]
    played = [
        turn("天气", slot("answered_topics", []), bot("抱歉，这个问题我答不了。人工服务请拨打12345")),
        turn("股票", bot("负责部门：市人社局")),  # no topic recorded, but an office named: not honoured
        answer("彩票", [ELEVATOR]),  # a topic for a decline: not honoured, and a misroute
        answer("你好", [SSCARD]),  # chitchat: counted nowhere
    ]
    report = conversation_report(specs, played)
    assert (report["declines"].count, report["declines"].total) == (1, 3)
    assert (report["misroutes"].count, report["misroutes"].total) == (1, 3)
    assert report["misroutes"].failures[0]["expected"] == "no topic"
    assert report["topic_turns"].total == 0


def test_misroute_rate_and_goal() -> None:
    specs = [TurnSpec(f"问题{i}", topic=SSCARD) for i in range(100)]
    played = [answer(f"问题{i}", [ELEVATOR] if i < 2 else [SSCARD]) for i in range(100)]
    misroutes = conversation_report(specs, played)["misroutes"]
    assert (misroutes.count, misroutes.total, misroutes.rate, misroutes.met) == (2, 100, 0.02, False)
    played[0] = answer("问题0", [SSCARD])
    misroutes = conversation_report(specs, played)["misroutes"]
    assert (misroutes.rate, misroutes.met) == (0.01, True)


# ---------------------------------------------------------------------------------------------- emergencies


def emergency_report(specs: list[EmergencySpec], played: list[Observed]) -> Any:
    return score(HoldoutSets((), tuple(specs), ()), Played(emergencies=played))


def test_emergency_number_must_be_in_the_first_message() -> None:
    specs = [EmergencySpec("电梯里困住人了", "elevator_trapped", "96333")] * 3 + [
        EmergencySpec("着火了", "fire", "119"),
        EmergencySpec("井盖掉下去人了", "manhole_fall"),  # no number: the first message must open with ⚠️
    ]
    played = [
        turn(
            "a", slot("emergency", "elevator_trapped"), bot("⚠️ 请先这样做：…拨打96333…"), bot("负责部门：市市场监管局")
        ),
        turn("b", slot("emergency", "elevator_trapped"), bot("负责部门：市市场监管局"), bot("⚠️ 拨打96333")),  # second
        turn("c", slot("emergency", "elevator_trapped"), bot("⚠️ 请拨打963330")),  # another number
        turn("d", bot("⚠️ 立即拨打119")),  # number first, but the kind was not recorded
        turn("e", slot("emergency", "manhole_fall"), bot("⚠ 请先这样做：拨打120")),
    ]
    report = emergency_report(specs, played)
    first = report["emergencies_first"]
    assert (first.count, first.total) == (3, 5)
    assert [case["say"] for case in first.failures] == ["b", "c"]
    assert (report["emergency_kind"].count, report["emergency_kind"].total) == (4, 5)
    assert report["false_alarms"].total == 0


def test_false_alarms_come_from_the_emergency_slot_not_a_safety_first_reply() -> None:
    # A manhole report opens with its safety advice (⚠️) without being an emergency: only the slot counts.
    specs = [EmergencySpec(say, "none", context=("电梯",)) for say in ("a", "b", "c", "d")]
    played = [
        turn("a", slot("emergency", None), bot("负责部门：市市场监管局")),
        turn("b", slot("emergency", "elevator_danger"), bot("负责部门：市市场监管局")),
        turn("c", bot("  ⚠️ 请先这样做")),
        turn("d", bot("负责部门：…"), bot("⚠️ later is not first")),
    ]
    alarms = emergency_report(specs, played)["false_alarms"]
    assert (alarms.count, alarms.total, alarms.met) == (1, 4, False)
    assert [case["say"] for case in alarms.failures] == ["b"]
    assert "after ['电梯']" in alarms.failures[0]["where"]


# ------------------------------------------------------------------------------------------------ two topics


def test_two_topics_every_topic_and_order() -> None:
    specs = [TwoTopicSpec(say, (SSCARD, ELEVATOR)) for say in "abcd"]
    played = [
        answer("a", [SSCARD, ELEVATOR]),
        answer("b", [ELEVATOR, SSCARD]),  # both, resident's order not kept
        answer("c", [SSCARD]),
        answer("d", [SSCARD, MAIL, ELEVATOR]),  # both in order, plus a misroute
    ]
    report = score(HoldoutSets((), (), tuple(specs)), Played(two_topics=played))
    assert (report["two_topics"].count, report["two_topics"].total) == (3, 4)
    assert report["two_topics"].failures[0]["missing"] == [ELEVATOR]
    assert (report["two_topics_order"].count, report["two_topics_order"].total) == (2, 4)
    assert (report["misroutes"].count, report["misroutes"].total) == (1, 4)


# ------------------------------------------------------------------------------------------ report and files


def test_report_table_goals_and_json(tmp_path: Path) -> None:
    specs = [TurnSpec("社保卡咋办", topic=SSCARD), TurnSpec("要带什么", topic=SSCARD, aspect="bring", followup=True)]
    report = conversation_report(specs, [answer("社保卡咋办", [SSCARD]), answer("要带什么", [MAIL], "bring")])
    table = format_report(report)
    assert "follow-ups answered in context" in table and "0 of 1" in table and "≥ 90%" in table and "MISSED" in table
    assert "要带什么" in table and MAIL in table
    assert report["followups"].met is False and report["two_topics"].met is False  # no cases is no evidence
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))
    assert data["figures"]["misroutes"]["count"] == 1 and len(data["transcript"]) == 2


def test_failures_shown_are_capped() -> None:
    specs = [TurnSpec(f"问{i}", topic=SSCARD, followup=True) for i in range(20)]
    report = conversation_report(specs, [turn(f"问{i}") for i in range(20)])
    table = format_report(report)
    assert "(first 15)" in table and "问14" in table and "问15\n" not in table
    assert len(report["followups"].failures) == 20


def write_sets(folder: Path, conversations: str, emergencies: str, two_topics: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "conversations.yml").write_text(conversations, encoding="utf-8")
    (folder / "emergencies.yml").write_text(emergencies, encoding="utf-8")
    (folder / "two_topics.yml").write_text(two_topics, encoding="utf-8")


GOOD = (
    "conversations:\n  - id: c1\n    turns:\n      - {say: 社保卡咋办, topic: ask_sscard_apply}\n"
    "      - {say: 要带什么, followup: true, aspect: bring}\n      - {say: 谢谢, chitchat: true}\n"
    "      - {say: 今天天气, decline: true}\n",
    "emergencies:\n  - {say: 电梯困人了, kind: elevator_trapped, number: 96333}\n"
    "  - {say: 还在里面, kind: elevator_trapped, number: 96333, context: [电梯坏了]}\n"
    "  - {say: 电梯年检, kind: none}\n",
    "two_topics:\n  - {say: 社保卡和电梯, topics: [ask_sscard_apply, ask_elevator_safety]}\n",
)


def test_load_sets_and_followup_inherits_the_topic(tmp_path: Path) -> None:
    write_sets(tmp_path, *GOOD)
    sets = load_sets(tmp_path, {SSCARD, ELEVATOR})
    assert sets.conversations[0].turns[1] == TurnSpec("要带什么", SSCARD, "bring", followup=True)
    assert sets.emergencies[0].number == "96333" and sets.emergencies[1].context == ("电梯坏了",)
    assert sets.two_topics[0].topics == (SSCARD, ELEVATOR)


def test_missing_file_is_named(tmp_path: Path) -> None:
    write_sets(tmp_path, *GOOD)
    (tmp_path / "two_topics.yml").unlink()
    with pytest.raises(HoldoutError, match=r"two_topics\.yml"):
        load_sets(tmp_path)


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        ("[{say: 你好}]", "needs `topic`"),
        ("[{say: 要带什么, followup: true}]", "needs `topic`"),
        ("[{say: 社保卡, topic: ask_sscard_aply}]", "unknown topic"),
        ("[{say: 社保卡, topic: ask_sscard_apply, aspect: price}]", "unknown aspect"),
        ("[{say: 社保卡, topic: ask_sscard_apply, follow_up: true}]", "unknown keys"),
    ],
)
def test_malformed_turns_are_refused_with_the_place(turns: str, problem: str) -> None:
    import yaml

    with pytest.raises(HoldoutError, match=problem) as error:
        parse_conversations([{"id": "c9", "turns": yaml.safe_load(turns)}], "conversations.yml", {SSCARD})
    assert "conversations.yml: conversation c9 turn 1" in str(error.value)


# --------------------------------------------------------------------------------------- play() over HTTP


class FakeRasa(BaseHTTPRequestHandler):
    """Rasa's REST webhook and tracker endpoint: each message gets the scripted events of SCRIPT."""

    SCRIPT: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "社保卡咋办": [
            slot("topic", SSCARD),
            slot("aspect", "overview"),
            slot("answered_topics", [SSCARD]),
            bot("负责部门：市人社局"),
        ],
        "要带什么": [slot("aspect", "bring"), slot("answered_topics", [SSCARD]), bot("需要带：身份证件")],
        "电梯困人了": [slot("emergency", "elevator_trapped"), bot("⚠️ 拨打96333"), bot("负责部门：市市场监管局")],
        "社保卡和电梯": [slot("answered_topics", [SSCARD, ELEVATOR]), bot("负责部门：…")],
    }
    trackers: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    tokens: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the requests, not the server's log."""

    def _json(self, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        events = self.trackers.setdefault(payload["sender"], [{"event": "session_started"}])
        if payload["message"].startswith("太长"):  # refused by the channel: a reply, but no turn in the tracker
            self._json([{"recipient_id": payload["sender"], "text": "您的消息有点长了"}])
            return
        scripted = self.SCRIPT.get(payload["message"], [bot("抱歉，这个问题我答不了")])
        events += [user(payload["message"]), *scripted, {"event": "action", "name": "action_listen"}]
        self._json([{"recipient_id": payload["sender"], "text": e["text"]} for e in scripted if e["event"] == "bot"])

    def do_GET(self) -> None:
        url = urlparse(self.path)
        sender = url.path.split("/")[2]
        self.tokens.extend(parse_qs(url.query)["token"])
        self._json({"sender_id": sender, "slots": {"answered_topics": ["stale"]}, "events": self.trackers[sender]})


@pytest.fixture
def fake_rasa() -> Iterator[str]:
    FakeRasa.trackers, FakeRasa.tokens = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRasa)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_play_says_each_set_in_fresh_conversations(fake_rasa: str, tmp_path: Path) -> None:
    write_sets(tmp_path, *GOOD)
    sets = load_sets(tmp_path)
    report = play(fake_rasa, "secret", sets)
    senders = list(FakeRasa.trackers)
    assert len(senders) == 1 + 3 + 1 and len(set(senders)) == 5  # a fresh sender per conversation and message
    said = [[e["text"] for e in FakeRasa.trackers[s] if e["event"] == "user"] for s in senders]
    assert said[0] == ["社保卡咋办", "要带什么", "谢谢", "今天天气"]
    assert said[2] == ["电梯坏了", "还在里面"]  # the context first, in the same conversation
    assert set(FakeRasa.tokens) == {"secret"}
    assert (report["followups"].count, report["followups"].total) == (1, 1)
    assert (report["declines"].count, report["declines"].total) == (1, 1)
    assert (report["emergencies_first"].count, report["emergencies_first"].total) == (1, 2)  # 还在里面 unscripted
    assert (report["false_alarms"].count, report["false_alarms"].total) == (0, 1)
    assert (report["two_topics"].count, report["two_topics_order"].count) == (1, 1)
    assert report["misroutes"].count == 0


def test_a_message_without_a_turn_is_not_read_from_the_turn_before(fake_rasa: str) -> None:
    first, refused = RasaClient(fake_rasa, "secret").conversation(["社保卡咋办", "太长太长"])
    assert first.answered == [SSCARD] and first.recorded
    assert refused == Observed("太长太长", ["您的消息有点长了"], recorded=False)
    report = conversation_report([TurnSpec("太长太长", decline=True)], [refused])
    assert report["declines"].count == 0
    assert report["declines"].failures[0]["got"]["recorded"] == "no turn in the tracker"
