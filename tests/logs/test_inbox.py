"""The misunderstood inbox on a real event log (tracker store → indexer), on SQLite and PostgreSQL: which messages
are open, how they are grouped, labelling into a Rasa NLU file, the hold-out kept out, dismissing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.nlu.training_data.loading import load_data

from bot.config import ROOT
from bot.conversations import inbox
from bot.conversations.inbox import InboxError, Item, group_items, tokens
from bot.conversations.models import Message
from tests.logs.fixtures_stats import index, rating, save, turn
from tests.storage.conftest import database_url, postgres_url, sqlite_url  # noqa: F401 (fixtures)

T0 = datetime(2026, 4, 1, 2, 0).timestamp()
HOLDOUT_TEXT = "土豆丝咋炒才脆"  # tests/nlu_holdout.yml, out_of_scope
TRAINING_TEXT = "免费装假肢"  # data/nlu/disabled.yml, ask_prosthetics
STREETLIGHTS = ("俺家门口的路灯坏了", "俺家门口路灯坏了咋办", "门口路灯坏了找谁管")
FUND = ("公积金怎么提取", "公积金提取要啥材料")


def inbox_log(url: str) -> None:
    """Messages the inbox should show (fell back, low confidence, 没帮助) and one it should not."""
    events = [
        *turn(STREETLIGHTS[0], "nlu_fallback", 0.4, T0, "rest", 100, "action_kb_fallback"),
        *turn(STREETLIGHTS[1], "nlu_fallback", 0.45, T0 + 10, "rest", 100, "action_kb_fallback"),
        *turn(STREETLIGHTS[2], "ask_runan_streetlights", 0.5, T0 + 20, "rest", 100),
        *turn(FUND[0], "nlu_fallback", 0.3, T0 + 30, "rest", 100, "action_kb_fallback"),
        *turn(FUND[1], "out_of_scope", 0.85, T0 + 40, "rest", 100, "action_kb_fallback"),
    ]
    save(url, "inbox-a", events)
    save(
        url,
        "inbox-b",
        [
            *turn("社保卡该咋个办", "ask_sscard_apply", 0.97, T0 + 50, "wechat", 100),
            rating("not_helpful", T0 + 55),
            *turn("井盖没了", "report_manhole", 0.98, T0 + 60, "wechat", 100),  # understood: not in the inbox
            *turn(HOLDOUT_TEXT, "nlu_fallback", 0.2, T0 + 70, "wechat", 100, "action_kb_fallback"),
            *turn(TRAINING_TEXT, "ask_prosthetics", 0.6, T0 + 80, "wechat", 100),
            *turn("电话[手机号](x)", "nlu_fallback", 0.1, T0 + 90, "wechat", 100, "action_kb_fallback"),
        ],
    )
    assert index(url) > 0


def groups_by_text(url: str) -> list[set[str]]:
    groups, _ = inbox.load_groups(sa.create_engine(url, future=True))
    return [{item.text for item in group.items} for group in groups]


def ids_of(url: str, *texts: str) -> list[int]:
    engine = sa.create_engine(url, future=True)
    with engine.connect() as connection:
        query = sa.select(Message.text, Message.event_id).where(Message.text.in_(texts))
        found = dict(connection.execute(query).all())
    engine.dispose()
    assert len(found) == len(texts), texts
    return [found[text] for text in texts]


def row_of(url: str, text: str) -> dict:
    engine = sa.create_engine(url, future=True)
    with engine.connect() as connection:
        row = connection.execute(sa.select(Message.__table__).where(Message.text == text)).one()
    engine.dispose()
    return dict(row._mapping)


@pytest.fixture
def reviewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nlu" / "reviewed.yml"
    monkeypatch.setenv("REVIEWED_NLU_PATH", str(path))
    return path


def examples_in(path: Path) -> set[tuple[str, str]]:
    data = load_data(str(path))
    return {(m.get("text"), m.get("intent")) for m in data.intent_examples}


def test_open_messages_are_grouped_by_similarity(database_url: str) -> None:  # noqa: F811
    inbox_log(database_url)
    groups = groups_by_text(database_url)
    assert set(STREETLIGHTS) in groups and set(FUND) in groups
    singles = {"社保卡该咋个办", HOLDOUT_TEXT, TRAINING_TEXT, "电话[手机号](x)"}
    assert all({text} in groups for text in singles)
    assert len(groups) == 6
    assert all("井盖没了" not in group for group in groups)  # confident, not rated 没帮助
    engine = sa.create_engine(database_url, future=True)
    first, total = inbox.load_groups(engine)
    assert total == 9 and first[0].count == 3  # the biggest group first
    assert first[0].guess() == ("nlu_fallback", pytest.approx(0.425))  # the NLU's usual answer, mean confidence
    wechat, _ = inbox.load_groups(engine, channel="wechat")
    assert sorted(g.items[0].text for g in wechat) == sorted(singles)
    engine.dispose()


def test_labelling_a_group_writes_a_rasa_nlu_file_and_empties_the_group(
    database_url: str,  # noqa: F811
    reviewed: Path,
) -> None:
    inbox_log(database_url)
    engine = sa.create_engine(database_url, future=True)
    result = inbox.label(engine, ids_of(database_url, *STREETLIGHTS), "ask_runan_streetlights", "wang")
    assert (result.labelled, result.in_holdout, result.written, result.path) == (3, 0, 3, reviewed)
    second = inbox.label(engine, [str(i) for i in ids_of(database_url, *FUND)], "out_of_scope", "li")
    assert second.labelled == 2 and second.written == 5
    assert examples_in(reviewed) == {(text, "ask_runan_streetlights") for text in STREETLIGHTS} | {
        (text, "out_of_scope") for text in FUND
    }
    content = reviewed.read_text(encoding="utf-8")
    assert content.index("ask_runan_streetlights") < content.index("out_of_scope")  # sorted by intent
    assert inbox.write_reviewed_nlu(engine) == 5 and reviewed.read_text(encoding="utf-8") == content  # stable
    row = row_of(database_url, STREETLIGHTS[0])
    assert row["review_state"] == "labelled" and row["label_intent"] == "ask_runan_streetlights"
    assert row["reviewed_by"] == "wang" and row["reviewed_at"] is not None
    remaining = groups_by_text(database_url)
    assert not any(text in group for group in remaining for text in STREETLIGHTS + FUND)
    again = inbox.label(engine, ids_of(database_url, *STREETLIGHTS), "ask_programme", "zhao")
    assert again.labelled == 0  # already handled: a second click changes nothing
    assert row_of(database_url, STREETLIGHTS[0])["label_intent"] == "ask_runan_streetlights"
    engine.dispose()


def test_hold_out_and_training_texts_are_never_written(database_url: str, reviewed: Path) -> None:  # noqa: F811
    inbox_log(database_url)
    engine = sa.create_engine(database_url, future=True)
    ids = ids_of(database_url, HOLDOUT_TEXT, TRAINING_TEXT, "社保卡该咋个办", "电话[手机号](x)")
    result = inbox.label(engine, ids[:2], "out_of_scope", "wang")
    assert (result.labelled, result.in_holdout, result.written) == (2, 1, 0)
    assert examples_in(reviewed) == set()
    assert row_of(database_url, HOLDOUT_TEXT)["review_state"] == "labelled"  # out of the inbox all the same
    inbox.label(engine, ids[2:], "ask_sscard_apply", "wang")
    # the masked placeholder stays text: no entity is read out of "[手机号](x)"
    assert examples_in(reviewed) == {("社保卡该咋个办", "ask_sscard_apply"), ("电话[手机号] (x)", "ask_sscard_apply")}
    assert all(not m.get("entities") for m in load_data(str(reviewed)).intent_examples)
    engine.dispose()


AUDIT_SPELLINGS = (  # issue 17.3: what reviewed.yml received (zero-width spaces became spaces on the way)
    "电话1\u200b3\u200b8\u200b0\u200b0\u200b1\u200b3\u200b8\u200b0\u200b0\u200b0",
    "卡号6222\u200b0212\u200b3456\u200b7890",
    "手机一三八零零一三八零零零",
)


def test_labelled_numbers_never_reach_the_training_data(database_url: str, reviewed: Path) -> None:  # noqa: F811
    """Rows indexed before the masker knew these spellings still hold them: the writer masks too."""
    save(
        database_url,
        "inbox-numbers",
        [
            *turn("占位一", "nlu_fallback", 0.1, T0, "rest", 100),
            *turn("占位二", "nlu_fallback", 0.1, T0 + 10, "rest", 100),
            *turn("占位三", "nlu_fallback", 0.1, T0 + 20, "rest", 100),
        ],
    )
    assert index(database_url) > 0
    engine = sa.create_engine(database_url, future=True)
    with engine.begin() as connection:  # as stored by the old masker
        for placeholder, raw in zip(("占位一", "占位二", "占位三"), AUDIT_SPELLINGS, strict=True):
            connection.execute(sa.update(Message.__table__).where(Message.text == placeholder).values(text=raw))
    shown = {text for group in groups_by_text(database_url) for text in group}
    assert {"电话[手机号]", "卡号[银行卡号]", "手机[手机号]"} <= shown and not shown & set(AUDIT_SPELLINGS)
    assert inbox.label(engine, ids_of(database_url, *AUDIT_SPELLINGS), "ask_human", "wang").written == 3
    content = reviewed.read_text(encoding="utf-8")
    assert examples_in(reviewed) == {
        ("电话[手机号]", "ask_human"),
        ("卡号[银行卡号]", "ask_human"),
        ("手机[手机号]", "ask_human"),
    }, content
    for leaked in ("1 3 8", "6222", "0212", "一三八", "13800138000"):
        assert leaked not in content
    engine.dispose()


def test_dismiss_takes_messages_out_without_training(database_url: str, reviewed: Path) -> None:  # noqa: F811
    inbox_log(database_url)
    engine = sa.create_engine(database_url, future=True)
    assert inbox.dismiss(engine, ids_of(database_url, *FUND), "wang") == 2
    row = row_of(database_url, FUND[0])
    assert row["review_state"] == "dismissed" and row["label_intent"] is None and row["reviewed_by"] == "wang"
    assert set(FUND) not in groups_by_text(database_url)
    assert not reviewed.exists()
    assert inbox.label(engine, ids_of(database_url, *FUND), "out_of_scope", "wang").labelled == 0
    engine.dispose()


def test_bad_requests_are_refused(sqlite_url: str, reviewed: Path) -> None:  # noqa: F811
    inbox_log(sqlite_url)
    engine = sa.create_engine(sqlite_url, future=True)
    with pytest.raises(InboxError, match="意图"):
        inbox.label(engine, ids_of(sqlite_url, FUND[0]), "nlu_fallback", "wang")  # not a domain intent
    with pytest.raises(InboxError, match="至少选择"):
        inbox.label(engine, ["x", "", "-1"], "out_of_scope", "wang")
    with pytest.raises(InboxError, match="至少选择"):
        inbox.dismiss(engine, [], "wang")
    assert not reviewed.exists() and row_of(sqlite_url, FUND[0])["review_state"] is None
    engine.dispose()


def test_an_empty_label_set_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "reviewed.yml"
    path.write_text(inbox.render_nlu({}), encoding="utf-8")
    assert load_data(str(path)).intent_examples == []


def item(number: int, text: str, intent: str = "nlu_fallback") -> Item:
    return Item(number, "s", datetime(2026, 4, 1, 0, number), "rest", text, intent, 0.3, True, None)


def test_grouping_puts_near_duplicates_together_and_unrelated_apart() -> None:
    texts = [
        "社保卡丢了咋补办",
        "社保卡丢了怎么补办啊？",
        "社保卡丢了，咋补办",
        "社保卡遺失了咋補辦",  # traditional characters
        "明天天气怎么样",
        "明天天气咋样",
        "孩子上学咋报名",
        "孩子上学报名要啥",
        "井盖没了",
        "嗯",  # only a stop word: no tokens, its own group
    ]
    groups = group_items([item(n, text) for n, text in enumerate(texts)])
    found = sorted(sorted(i.text for i in g.items) for g in groups)
    assert found == sorted([sorted(texts[:4]), sorted(texts[4:6]), sorted(texts[6:8]), ["井盖没了"], ["嗯"]])
    assert [g.count for g in groups] == [4, 2, 2, 1, 1]


def test_tokens_use_the_kb_dictionary_and_drop_stop_words() -> None:
    terms = {line.split()[0] for line in (ROOT / "var" / "jieba" / "kb_terms.txt").read_text().splitlines()}
    found = tokens("俺想问问社保卡丢了咋办")
    assert "社保卡丢了" in terms and "社保卡丢了" in found  # a KB term from the project's dictionary, kept whole
    assert not {"俺", "想", "问问", "咋办"} & found
    assert tokens("。。。！！") == frozenset()
