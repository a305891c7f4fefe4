"""The conversation list's filters and the transcript, on SQLite and PostgreSQL, with data saved the real way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from bot.conversations import review
from bot.conversations.queries import ConversationFilter, find_conversations, iter_conversations, transcript
from tests.logs.conftest import LOG_TABLES
from tests.logs.helpers import Turn, city_timestamp, save_conversation

DAY = date.today() - timedelta(days=3)  # a city date; the fixtures' conversations happen on it


def at(day: date, hour: int, minute: int = 0) -> float:
    return city_timestamp(datetime.combine(day, time(hour, minute)))


def build(url: str) -> dict[str, str]:
    """Six conversations that each filter tells apart; name → console key."""
    keys = {
        "sscard": save_conversation(
            url, [Turn("社保卡咋办", "ask_sscard_apply", 0.95, rating="helpful")], "wechat", at(DAY, 10)
        ),
        "manhole": save_conversation(
            url,
            [Turn("门口井盖没了", "report_manhole", 0.92, action="action_manhole_submit", ticket="JG-20260101-0007")],
            "socketio",
            at(DAY, 11),
        ),
        "fallback": save_conversation(
            url,
            [Turn("今天天气怎么样", "nlu_fallback", 0.35, action="action_kb_fallback", rating="not_helpful")],
            "rest",
            at(DAY, 12),
        ),
        "handoff": save_conversation(
            url, [Turn("俺要找人工", "ask_human", 0.88, handoff=True)], "socketio", at(DAY, 13)
        ),
        "lowconf": save_conversation(
            url,
            [Turn("找工作咋弄", "ask_employment", 0.62), Turn("社保卡补办", "ask_sscard_apply", 0.9)],
            "wechat",
            at(DAY - timedelta(days=40), 9),
        ),
        "late": save_conversation(  # 23:30 city time is 15:30 UTC: still DAY in the city
            url, [Turn("残疾人辅具 APP 咋用", "ask_assistive_devices", 0.99)], "rest", at(DAY, 23, 30)
        ),
    }
    review.mark_reviewed(keys["sscard"], "chief", url=url)
    review.add_tag(keys["handoff"], "待跟进", "chief", url=url)
    first = transcript(keys["fallback"], url=url)
    assert first is not None
    review.flag_message(keys["fallback"], first.items[0].event_id, "天气问题要加兜底", "chief", url=url)
    return keys


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'log.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
        engine = sa.create_engine(url, future=True)
        with engine.begin() as connection:
            existing = set(sa.inspect(connection).get_table_names())
            names = [f'"{table}"' for table in LOG_TABLES if table in existing]
            if names:
                connection.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
        engine.dispose()
    yield url, build(url)


def names_of(dataset: tuple[str, dict], wanted: ConversationFilter) -> set[str]:
    url, keys = dataset
    by_key = {key: name for name, key in keys.items()}
    result = find_conversations(wanted, url=url)
    found = {by_key[row.key] for row in result.rows}
    assert result.total == len(found)
    return found


ALL = {"sscard", "manhole", "fallback", "handoff", "lowconf", "late"}
CASES = [
    ({}, ALL),
    ({"date_from": DAY, "date_to": DAY}, ALL - {"lowconf"}),
    ({"date_from": DAY + timedelta(days=1)}, set()),
    ({"date_to": DAY - timedelta(days=1)}, {"lowconf"}),
    ({"date_from": DAY - timedelta(days=40), "date_to": DAY - timedelta(days=40)}, {"lowconf"}),
    ({"channel": "wechat"}, {"sscard", "lowconf"}),
    ({"channel": "socketio"}, {"manhole", "handoff"}),
    ({"intent": "ask_sscard_apply"}, {"sscard", "lowconf"}),
    ({"intent": "report_manhole"}, {"manhole"}),
    ({"intent": "nlu_fallback"}, {"fallback"}),
    ({"intent": "ask_sscard"}, set()),
    ({"confidence_below": 0.7}, {"fallback", "lowconf"}),
    ({"confidence_below": 0.5}, {"fallback"}),
    ({"fallback": True}, {"fallback", "lowconf"}),
    ({"unhelpful": True}, {"fallback"}),
    ({"handoff": True}, {"handoff"}),
    ({"unreviewed": True}, ALL - {"sscard"}),
    ({"tag": "待跟进"}, {"handoff"}),
    ({"tag": "待"}, set()),
    ({"flagged": True}, {"fallback"}),
    ({"text": "社保卡"}, {"sscard", "lowconf"}),
    ({"text": "井盖"}, {"manhole"}),
    ({"text": "app"}, {"late"}),
    ({"text": "辅具"}, {"late"}),  # two characters: PostgreSQL's character-pair index
    ({"text": "具 "}, {"late"}),
    ({"text": "Pp"}, {"late"}),
    ({"text": "井"}, {"manhole"}),
    ({"text": "100%"}, set()),
    ({"channel": "wechat", "intent": "ask_sscard_apply", "date_from": DAY}, {"sscard"}),
    ({"channel": "wechat", "unreviewed": True, "text": "社保"}, {"lowconf"}),
    ({"fallback": True, "unhelpful": True, "flagged": True, "channel": "rest"}, {"fallback"}),
    ({"handoff": True, "channel": "wechat"}, set()),
]


@pytest.mark.parametrize(("given", "expected"), CASES, ids=[str(sorted(c[0])) for c in CASES])
def test_each_filter_finds_exactly_its_conversations(dataset, given: dict, expected: set[str]) -> None:
    assert names_of(dataset, ConversationFilter(**given)) == expected


def test_the_short_id_finds_its_conversation(dataset) -> None:
    keys = dataset[1]
    assert names_of(dataset, ConversationFilter(sender=keys["manhole"][:8])) == {"manhole"}
    assert names_of(dataset, ConversationFilter(sender=keys["manhole"])) == {"manhole"}


def test_newest_first_with_the_summary_columns(dataset) -> None:
    url, keys = dataset
    rows = find_conversations(ConversationFilter(), url=url).rows
    assert [row.key for row in rows] == [
        keys[n] for n in ("late", "handoff", "fallback", "manhole", "sscard", "lowconf")
    ]
    by_key = {row.key: row for row in rows}
    manhole, lowconf = by_key[keys["manhole"]], by_key[keys["lowconf"]]
    assert manhole.tickets == ["JG-20260101-0007"] and manhole.channel == "socketio" and manhole.turns == 1
    assert lowconf.turns == 2 and lowconf.topics == ["ask_employment", "ask_sscard_apply"]
    assert lowconf.min_confidence == pytest.approx(0.62)
    assert by_key[keys["sscard"]].reviewed_by == "chief" and by_key[keys["sscard"]].helpful == 1
    assert by_key[keys["handoff"]].handoff and by_key[keys["handoff"]].tags == ["待跟进"]
    assert by_key[keys["late"]].started_at == datetime.combine(DAY, time(23, 30))  # shown in city time


def test_from_args_reads_the_query_string_and_ignores_nonsense() -> None:
    wanted = ConversationFilter.from_args(
        {
            "date_from": "2026-11-01",
            "date_to": "bad",
            "channel": "wechat",
            "confidence_below": "0.6",
            "fallback": "1",
            "handoff": "0",
            "tag": "a,b",
            "sender": "#ABC123",
            "text": " 井盖 ",
        }
    )
    assert wanted == ConversationFilter(
        date_from=date(2026, 11, 1), channel="wechat", confidence_below=0.6, fallback=True, sender="abc123", text="井盖"
    )
    assert ConversationFilter.from_args({"confidence_below": "7", "sender": "xyz"}) == ConversationFilter()
    stats_link = ConversationFilter.from_args({"from": "2026-03-01", "to": "2026-03-03", "unhelpful": "1"})
    assert stats_link == ConversationFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 3), unhelpful=True)
    assert ConversationFilter.from_args(wanted.to_args()) == wanted


def test_pages_of_twenty_newest_first(database_url: str) -> None:
    start = at(DAY, 8)
    keys = [save_conversation(database_url, [Turn(f"第{n}个问题")], start=start + n * 60) for n in range(23)]
    first = find_conversations(ConversationFilter(), page=1, url=database_url)
    second = find_conversations(ConversationFilter(), page=2, url=database_url)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (23, 2, 20, 3)
    assert [row.key for row in first.rows + second.rows] == keys[::-1]
    assert find_conversations(ConversationFilter(), page=9, url=database_url).page == 2
    batches = list(iter_conversations(ConversationFilter(), url=database_url, batch=7))
    assert [len(b) for b in batches] == [7, 7, 7, 2]
    assert [row.key for batch in batches for row in batch] == keys[::-1]


def test_the_transcript_has_every_message_action_and_reply_in_order(database_url: str) -> None:
    county = {"entity": "county", "value": "驿城区", "start": 0, "end": 3}
    turns = [
        Turn(
            "驿城区社保卡咋办", "ask_sscard_apply", 0.93, [county], reply="请带身份证到银行网点", rating="not_helpful"
        ),
        Turn("今天天气咋样", "nlu_fallback", 0.4, action="action_kb_fallback", reply="抱歉，这个问题我答不了"),
    ]
    key = save_conversation(database_url, turns, "wechat", at(DAY, 9))
    found = transcript(key, url=database_url)
    assert found is not None and not found.truncated
    kinds = [(item.kind, item.text or item.action) for item in found.items]
    assert kinds == [
        ("user", "驿城区社保卡咋办"),
        ("action", "action_answer_topic"),
        ("bot", "请带身份证到银行网点"),
        ("user", "今天天气咋样"),
        ("action", "action_kb_fallback"),
        ("bot", "抱歉，这个问题我答不了"),
    ]
    first, second = found.items[0], found.items[3]
    assert (first.intent, first.confidence, first.rating, first.fallback) == (
        "ask_sscard_apply",
        0.93,
        "not_helpful",
        False,
    )
    assert first.entities[0]["entity"] == "county" and first.entities[0]["value"] == "驿城区"
    assert (second.intent, second.fallback, second.rating) == ("nlu_fallback", True, None)
    assert found.conversation.channel == "wechat" and found.conversation.fallbacks == 1
    assert transcript("0" * 16, url=database_url) is None and transcript("not-a-key", url=database_url) is None


def test_personal_data_is_masked_in_the_log(database_url: str) -> None:
    key = save_conversation(database_url, [Turn("俺电话13812345678，身份证号码问题")])
    found = transcript(key, url=database_url)
    assert found is not None and found.items[0].text == "俺电话[手机号]，身份证号码问题"
    assert names_of((database_url, {"x": key}), ConversationFilter(text="[手机号]")) == {"x"}
    assert names_of((database_url, {"x": key}), ConversationFilter(text="13812345678")) == set()
