"""CSV exports: UTF-8 with BOM, Chinese intact, formula-safe, masked, every matching conversation."""

from __future__ import annotations

import csv
import io

import pytest

from bot.conversations import export
from bot.conversations.queries import ConversationFilter, transcript
from tests.logs.helpers import Turn, save_conversation


def parse(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("社保卡 = 身份证", "社保卡 = 身份证"),
        (None, ""),
        (3, "3"),
    ],
)
def test_cells_are_never_formulas(value: object, cell: str) -> None:
    assert export.safe_cell(value) == cell


def test_a_transcript_csv_has_bom_chinese_and_no_formulas(database_url: str) -> None:
    turns = [
        Turn('=HYPERLINK("http://evil","点我") 社保卡咋办', rating="helpful", reply="-带身份证到银行网点"),
        Turn("俺手机 13812345678 在哪办", "ask_sscard_apply", 0.8),
    ]
    key = save_conversation(database_url, turns, "wechat")
    found = transcript(key, url=database_url)
    text = export.transcript_csv(found)
    rows = parse(text)
    assert tuple(rows[0]) == export.TRANSCRIPT_HEADER
    assert rows[1][1:5] == ["居民", '\'=HYPERLINK("http://evil","点我") 社保卡咋办', "", "ask_sscard_apply"]
    assert rows[1][8] == "有帮助"
    assert rows[2][1:4] == ["动作", "", "action_answer_topic"]
    assert rows[3][1:3] == ["助手", "'-带身份证到银行网点"]
    assert rows[4][2] == "俺手机 [手机号] 在哪办"
    assert "13812345678" not in text
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_the_list_csv_has_every_matching_conversation(database_url: str) -> None:
    keys = [save_conversation(database_url, [Turn(f"井盖问题{n}", "ask_manhole_info")], "socketio") for n in range(5)]
    other = save_conversation(database_url, [Turn("社保卡咋办")], "wechat")
    chunks = list(export.list_csv(export.iter_conversations(ConversationFilter(channel="socketio"), database_url, 2)))
    assert len(chunks) == 4  # the header, then one chunk per batch of two
    rows = parse("".join(chunks))
    assert tuple(rows[0]) == export.LIST_HEADER
    assert sorted(row[0] for row in rows[1:]) == sorted(keys) and other not in "".join(chunks)
    assert all(row[3] == "socketio" and row[6] == "ask_manhole_info" for row in rows[1:])
    whole = "".join(export.filtered_list_csv(ConversationFilter(), database_url))
    assert len(parse(whole)) == 7


def test_an_empty_list_is_just_the_header(database_url: str) -> None:
    text = "".join(export.filtered_list_csv(ConversationFilter(text="没有这句话"), database_url))
    assert parse(text) == [list(export.LIST_HEADER)]


def test_file_names_are_ascii() -> None:
    assert export.filename("conversation", 'ab12<>"cd') == "conversation-ab12cd.csv"
    assert export.filename("conversations") == "conversations.csv"
