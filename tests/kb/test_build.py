"""The KB builder loads good data and rejects each kind of bad entry with a message naming file and entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from kb.build import KBBuildError, build, load
from kb.models import Entry, Fact, Ticket
from kb.session import new_session

KB_DIR = Path(__file__).resolve().parents[2] / "kb"
ENTRY = """office: {office}
entries:
  - id: {id}
    intent: {intent}
    title: 测试
    question: 测试问题
    answer: 全市银行窗口共设立社会保障卡即时制卡网点255个。
    facts:
      - says: 255 个网点
        quote: {quote}
        source: zhumadian-briefing-2021-06-30
    review_by: 2027-06-30
"""
GOOD_QUOTE = "目前,我们在全市银行窗口共设立社会保障卡即时制卡网点255个"


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR / "sources", copy / "sources")
    shutil.copy(KB_DIR / "offices.yml", copy / "offices.yml")
    (copy / "entries").mkdir()
    return copy


def write_entry(kb_dir: Path, name: str = "test.yml", **fields: str) -> None:
    values = {"office": "hrss", "id": "t-1", "intent": "ask_t1", "quote": GOOD_QUOTE, **fields}
    (kb_dir / "entries" / name).write_text(ENTRY.format(**values), encoding="utf-8")


def problems_of(kb_dir: Path) -> str:
    with pytest.raises(KBBuildError) as caught:
        load(kb_dir)
    return "\n".join(caught.value.problems)


def test_the_real_kb_loads_and_covers_every_topic_intent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    loaded = build(url)
    intents = {entry["intent"] for entry in loaded.entries}
    documented = {
        line.split("|")[1].strip()
        for line in (KB_DIR.parent / "docs/intents.md").read_text().splitlines()
        if line.startswith("| ask_") or line.startswith("| report_")
    }
    assert documented <= intents
    with new_session(url) as session:
        assert session.scalar(select(Entry).where(Entry.id == "sscard-apply")).office_id == "hrss"
        assert session.query(Fact).count() >= len(loaded.entries)


def test_full_width_and_half_width_punctuation_match(kb_copy: Path) -> None:
    write_entry(kb_copy, quote="目前，我们在全市银行窗口共设立社会保障卡即时制卡网点255个")
    assert [e["id"] for e in load(kb_copy).entries] == ["t-1"]


def test_wrong_quote_is_rejected_naming_file_and_entry(kb_copy: Path) -> None:
    write_entry(kb_copy, quote="全市共设立社保卡网点300个")
    message = problems_of(kb_copy)
    assert "kb/entries/test.yml, entry 't-1'" in message
    assert "quote not found verbatim" in message


def test_unknown_office_is_rejected(kb_copy: Path) -> None:
    write_entry(kb_copy, office="weather-bureau")
    assert "unknown office 'weather-bureau'" in problems_of(kb_copy)


def test_missing_field_is_rejected(kb_copy: Path) -> None:
    text = ENTRY.format(office="hrss", id="t-1", intent="ask_t1", quote=GOOD_QUOTE).replace("    title: 测试\n", "")
    (kb_copy / "entries" / "test.yml").write_text(text, encoding="utf-8")
    assert "entry 't-1': missing field 'title'" in problems_of(kb_copy)


def test_duplicate_id_is_rejected(kb_copy: Path) -> None:
    write_entry(kb_copy, name="a.yml")
    write_entry(kb_copy, name="b.yml", intent="ask_t2")
    assert "id 't-1' repeats (first in kb/entries/a.yml" in problems_of(kb_copy)


def test_a_number_no_quote_states_is_rejected(kb_copy: Path) -> None:
    write_entry(kb_copy, quote="社会保障卡即时制卡网点")
    assert "the number 255 is not in any of this entry's quotes" in problems_of(kb_copy)


def test_rebuild_keeps_tickets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url)
    from kb.query import create_ticket

    ticket = create_ticket("manhole", "urban", "s1", "解放路", "井盖没了", "驿城区", url=url)
    build(url)
    with new_session(url) as session:
        assert session.get(Ticket, ticket.number) is not None


def test_cli_reports_problems_as_a_message_not_a_traceback(kb_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_entry(kb_copy, quote="编造的引文")
    assert main(["kb", "build", "--kb-dir", str(kb_copy)]) == 1
    err = capsys.readouterr().err
    assert "KB build failed" in err and "kb/entries/test.yml" in err and "Traceback" not in err


def test_folded_chinese_lines_are_joined_without_spaces() -> None:
    from kb.build import join_lines

    assert join_lines("到全市银行网点，\n信息采集、制卡 一站式") == "到全市银行网点，信息采集、制卡一站式"
    assert join_lines("scan the QR code 扫码") == "scan the QR code扫码"
    assert join_lines("call 12345 now") == "call 12345 now"
