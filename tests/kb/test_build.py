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


def test_cost_and_eligible_load_into_the_database_and_the_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url)
    from kb.query import answer_for_intent

    mail = answer_for_intent("ask_sscard_mail", url=url)
    assert mail is not None and mail.cost and "免费邮寄" in mail.cost and mail.eligible is None
    rehab = answer_for_intent("ask_child_rehab", url=url)
    assert rehab is not None and rehab.cost and rehab.eligible and "残疾儿童" in rehab.eligible
    with new_session(url) as session:
        assert session.get(Entry, "barrier-free").eligible.count("重度残疾人") == 1


def test_cost_and_eligible_numbers_must_be_quoted_and_text(kb_copy: Path) -> None:
    text = ENTRY.format(office="hrss", id="t-1", intent="ask_t1", quote=GOOD_QUOTE)
    text = text.replace("    facts:\n", "    cost: 每人收费30元\n    eligible: [本人]\n    facts:\n")
    (kb_copy / "entries" / "test.yml").write_text(text, encoding="utf-8")
    message = problems_of(kb_copy)
    assert "the number 30 is not in any of this entry's quotes" in message
    assert "field 'eligible' must be text" in message


def test_an_entry_may_name_its_own_office(kb_copy: Path) -> None:
    text = ENTRY.format(office="hrss", id="t-1", intent="ask_t1", quote=GOOD_QUOTE)
    (kb_copy / "entries" / "mixed.yml").write_text(text.replace("office: hrss\n", ""), encoding="utf-8")
    assert "entry 't-1': unknown office 'None'" in problems_of(kb_copy)
    own = text.replace("office: hrss\n", "").replace("    intent: ask_t1\n", "    intent: ask_t1\n    office: samr\n")
    (kb_copy / "entries" / "mixed.yml").write_text(own, encoding="utf-8")
    assert [entry["office"] for entry in load(kb_copy).entries] == ["samr"]
    (kb_copy / "entries" / "mixed.yml").write_text(own.replace("office: samr", "office: fire-brigade"), "utf-8")
    assert "entry 't-1': unknown office 'fire-brigade'" in problems_of(kb_copy)


def test_an_emergency_entry_needs_safety_steps_but_no_rasa_intent(kb_copy: Path) -> None:
    write_entry(kb_copy, intent="emergency_test")
    assert "entry 't-1': an emergency entry needs its 'safety' steps" in problems_of(kb_copy)
    text = ENTRY.format(office="samr", id="t-1", intent="emergency_test", quote=GOOD_QUOTE)
    text = text.replace("    facts:\n", "    safety: [立即拨打120急救电话。]\n    facts:\n")
    text = text.replace(
        "        source: zhumadian-briefing-2021-06-30\n",
        "        source: zhumadian-briefing-2021-06-30\n"
        "      - says: 120\n"
        "        quote: 120是急救电话，有人受伤或突发疾病时拨打。\n"
        "        source: staff-general-guidance\n",
    )
    (kb_copy / "entries" / "test.yml").write_text(text, encoding="utf-8")
    assert [entry["intent"] for entry in load(kb_copy).entries] == ["emergency_test"]


def _without_new_columns(url: str) -> None:
    """Turn a freshly built database into one made before `cost` and `eligible` existed (with a staff-style row)."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE kb_entries DROP COLUMN cost")
        connection.execute("ALTER TABLE kb_entries DROP COLUMN eligible")
        connection.execute(  # a staff FAQ's entry: the build leaves it alone
            "INSERT INTO kb_entries (id, intent, office_id, title, question, answer, steps, bring, safety, figures,"
            " keywords, related, review_by, origin) VALUES ('faq-f9999', 'faq/f9999', 'hrss', '测试', '测试？',"
            " '测试答案', '[]', '[]', '[]', '[]', '[]', '[]', '2027-06-30', 'staff')"
        )
    connection.close()


def test_an_existing_database_gets_the_new_columns_on_build(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    build(f"sqlite:///{old}")
    _without_new_columns(f"sqlite:///{old}")
    moved = tmp_path / "existing.sqlite3"  # a URL no engine has seen yet, as in a fresh `python -m bot kb build`
    shutil.copy(old, moved)
    url = f"sqlite:///{moved}"
    from sqlalchemy import create_engine, inspect

    def columns() -> set[str]:
        engine = create_engine(url, future=True)
        try:
            return {column["name"] for column in inspect(engine).get_columns("kb_entries")}
        finally:
            engine.dispose()

    assert "cost" not in columns() and "eligible" not in columns()
    build(url)  # what `python -m bot kb build` runs against DATABASE_URL
    assert {"cost", "eligible"} <= columns()
    with new_session(url) as session:
        assert "免费邮寄" in session.get(Entry, "sscard-mail").cost
        staff = session.get(Entry, "faq-f9999")  # a row the build does not rewrite keeps working, its fields empty
        assert staff.origin == "staff" and staff.cost is None and staff.eligible is None


def test_adding_columns_twice_is_harmless(tmp_path: Path) -> None:
    from kb.models import add_missing_entry_columns
    from kb.session import get_engine

    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url)
    assert add_missing_entry_columns(get_engine(url)) == []
