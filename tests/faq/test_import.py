"""FAQ import from CSV: every error is reported with its row and reason, and nothing is half-imported."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from kb import audit, faq
from kb.build import build
from kb.models import Entry, Faq
from kb.query import answer_for_intent
from kb.session import new_session

HEADER = "question,answer,office,paraphrases,procedure\n"
GOOD = (
    "市图书馆几点开门,测试答案：开放时间以市文广旅局通知为准。,市文广旅局,"
    "图书馆开放时间|图书馆周末开不开,先查通知|再出门\n"
)


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "faqs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def staff_rows(url: str) -> tuple[int, int]:
    with new_session(url) as session:
        faqs = session.scalar(select(func.count()).select_from(Faq))
        entries = session.scalar(select(func.count()).select_from(Entry).where(Entry.origin == "staff"))
    return int(faqs or 0), int(entries or 0)


def problems_of(path: Path, url: str, update: bool = False) -> list[str]:
    with pytest.raises(faq.FaqError) as error:
        faq.import_csv(path, "tester", update=update, url=url)
    return error.value.problems


def test_a_good_file_with_a_bom_is_imported_with_author_office_and_procedure(tmp_path: Path, kb_url: str) -> None:
    result = faq.import_csv(write(tmp_path, "\ufeff" + HEADER + GOOD), "王芳", url=kb_url)
    assert result.created == ["f0001"]
    [view] = faq.list_faqs(kb_url)
    assert (view.question, view.office_id, view.author) == ("市图书馆几点开门", "culture", "王芳")
    assert view.paraphrases == ["图书馆开放时间", "图书馆周末开不开"] and view.procedure == ["先查通知", "再出门"]
    answer = answer_for_intent("faq/f0001", url=kb_url)
    assert answer is not None and answer.office_name == "驻马店市文化广电和旅游局"
    assert answer.steps == ["先查通知", "再出门"]
    events = audit.recent(url=kb_url)
    assert [(e.actor, e.action) for e in events] == [("王芳", "faq.import"), ("王芳", "faq.create")]


def test_missing_column_is_reported_and_nothing_changes(tmp_path: Path, kb_url: str) -> None:
    problems = problems_of(write(tmp_path, "question,office\n问题,市人社局\n"), kb_url)
    assert problems == ["缺少必填列 answer（第 1 行是表头：question,answer,office…）"]
    assert staff_rows(kb_url) == (0, 0)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("市图书馆几点开门,,市文广旅局,,\n", "第 3 行: 答案（answer）为空"),
        ("市图书馆几点开门,答案,市气象局,,\n", "第 3 行: 未知部门“市气象局”"),
        (",答案,hrss,,\n", "第 3 行: 问题（question）为空"),
        ("市图书馆几点开门,答案,hrss,,,多出来的一列\n", "第 3 行: 列数比表头多"),
    ],
)
def test_a_bad_row_is_named_and_the_good_row_before_it_is_not_imported(
    tmp_path: Path, kb_url: str, row: str, expected: str
) -> None:
    good = "公园几点关门,测试答案,市城管局,公园啥时候关门,\n"
    problems = problems_of(write(tmp_path, HEADER + good + row), kb_url)
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    assert staff_rows(kb_url) == (0, 0)


def test_duplicate_questions_in_one_file_name_both_rows(tmp_path: Path, kb_url: str) -> None:
    text = HEADER + GOOD + "市图书馆几点开门？,另一个答案,市文广旅局,,\n"
    problems = problems_of(write(tmp_path, text), kb_url)
    assert problems == ["第 3 行: “市图书馆几点开门？”与第 2 行重复"]
    assert staff_rows(kb_url) == (0, 0)


def test_a_question_already_a_faq_needs_update_and_update_changes_the_answer(tmp_path: Path, kb_url: str) -> None:
    faq.import_csv(write(tmp_path, HEADER + GOOD), "王芳", url=kb_url)
    changed = GOOD.replace("测试答案：", "测试答案（已修改）：")
    problems = problems_of(write(tmp_path, HEADER + changed, name="again.csv"), kb_url)
    assert problems == ["第 2 行: 问题“市图书馆几点开门”已有 FAQ f0001，要修改请加 --update"]
    result = faq.import_csv(write(tmp_path, HEADER + changed, name="again.csv"), "李强", update=True, url=kb_url)
    assert result.updated == ["f0001"] and result.created == []
    answer = answer_for_intent("faq/f0001", url=kb_url)
    assert answer is not None and answer.answer.startswith("测试答案（已修改）")
    update = next(e for e in audit.recent(url=kb_url) if e.action == "faq.update")
    assert update.actor == "李强" and update.detail["answer"]["to"].startswith("测试答案（已修改）")


def test_a_phrase_that_is_already_another_intents_example_is_refused(tmp_path: Path, kb_url: str) -> None:
    row = "社保卡咋补办,测试答案,市人社局,社保卡咋办,\n"  # 社保卡咋办 is an example of ask_sscard_apply
    problems = problems_of(write(tmp_path, HEADER + row), kb_url)
    expected = "第 2 行: “社保卡咋办”已是意图 ask_sscard_apply 的例句（data/nlu/hrss.yml），同一句话不能答两个话题"
    assert problems == [expected]


@pytest.mark.parametrize(
    ("encoding", "prefix", "label"),
    [
        ("gbk", b"", "GBK/GB18030"),
        ("gb18030", b"", "GBK/GB18030"),
        ("utf-8", b"", "UTF-8"),
        ("utf-8", b"\xef\xbb\xbf", "UTF-8"),
    ],
)
def test_gbk_and_utf8_files_with_or_without_bom_are_imported_with_a_row_report(
    tmp_path: Path, kb_url: str, encoding: str, prefix: bytes, label: str
) -> None:
    """Chinese Excel saves "CSV (逗号分隔)" in GBK: the import detects it and converts."""
    second = "公园几点关门,测试答案：以市城管局公告为准。,市城管局,公园啥时候关门,\n"
    path = tmp_path / "faqs.csv"
    path.write_bytes(prefix + (HEADER + GOOD + second).encode(encoding))
    result = faq.import_csv(path, "王芳", url=kb_url)
    assert result.encoding == label
    assert faq.import_report(result) == [
        f"文件编码：{label}",
        "第 2 行：新增 f0001 市图书馆几点开门",
        "第 3 行：新增 f0002 公园几点关门",
    ]
    views = {view.key: view for view in faq.list_faqs(kb_url)}
    assert views["f0001"].paraphrases == ["图书馆开放时间", "图书馆周末开不开"]
    assert views["f0002"].answer == "测试答案：以市城管局公告为准。" and views["f0002"].office_id == "urban"


def test_a_file_in_no_known_encoding_says_how_to_save_it(tmp_path: Path, kb_url: str) -> None:
    path = tmp_path / "faqs.csv"
    path.write_bytes(HEADER.encode() + b"\x81\x20\xff\xfe,answer,hrss\n")
    problems = problems_of(path, kb_url)
    assert len(problems) == 1 and "UTF-8" in problems[0] and "GBK" in problems[0] and "CSV UTF-8" in problems[0]
    assert staff_rows(kb_url) == (0, 0)


def test_a_refused_file_reports_every_bad_row_and_that_nothing_was_imported(tmp_path: Path, kb_url: str) -> None:
    rows = GOOD + "公园几点关门,,市城管局,,\n" + "公园几点开门,答案,市气象局,,\n"
    problems = problems_of(write(tmp_path, HEADER + rows, encoding="gbk"), kb_url)
    assert [p[:9] for p in problems] == ["第 3 行: 答案", "第 4 行: 未知"]
    assert staff_rows(kb_url) == (0, 0)


FORMULAS = {
    "question": '=HYPERLINK("http://evil.example/","点我查看")',
    "answer": "+cmd|' /C calc'!A0",
    "paraphrases": ["-2+3+cmd /C calc!A0", "@SUM(1+1)*cmd /C calc!A0"],
    "procedure": ["=1+1", "带身份证"],
    "source": '=IMPORTXML("http://evil.example/")',
}


def test_the_export_never_hands_a_spreadsheet_a_formula_and_round_trips(tmp_path: Path, kb_url: str) -> None:
    item = faq.FaqInput(
        question=FORMULAS["question"],
        answer=FORMULAS["answer"],
        office="hrss",
        paraphrases=FORMULAS["paraphrases"],
        procedure=FORMULAS["procedure"],
        source=FORMULAS["source"],
    )
    key = faq.save_one(item, "王芳", url=kb_url)
    exported = faq.export_csv(kb_url)
    cells = next(row for row in csv.reader(io.StringIO(exported.removeprefix("\ufeff"))) if row[0] == key)
    assert cells[1] == "'" + FORMULAS["question"] and cells[2] == "'" + FORMULAS["answer"]
    assert cells[4] == "'" + "|".join(FORMULAS["paraphrases"]) and cells[5] == "'=1+1|带身份证"
    assert cells[7] == "'" + FORMULAS["source"]
    assert not [c for row in csv.reader(io.StringIO(exported)) for c in row if c[:1] in "=+-@\t\r" and c]
    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")
    assert faq.import_csv(path, "李强", update=True, url=kb_url).updated == [key]
    [view] = faq.list_faqs(kb_url)  # the guard's apostrophe does not come back in
    assert (view.question, view.answer, view.source) == (FORMULAS["question"], FORMULAS["answer"], FORMULAS["source"])
    assert view.paraphrases == FORMULAS["paraphrases"] and view.procedure == FORMULAS["procedure"]


def test_a_10000_row_file_is_refused_as_a_whole(tmp_path: Path, kb_url: str) -> None:
    rows = "".join(f"第{i}个测试问题是什么,测试答案{i},市人社局,,\n" for i in range(10_000))
    problems = problems_of(write(tmp_path, HEADER + rows), kb_url)
    assert problems == [f"文件超过 {faq.MAX_ROWS} 条 FAQ：请分批导入（每个 FAQ 都要训练，数量过多会拖慢上线）"]
    assert staff_rows(kb_url) == (0, 0)


def test_one_bad_row_deep_in_a_large_file_is_found_and_nothing_is_imported(tmp_path: Path, kb_url: str) -> None:
    rows = [f"第{i}个测试问题是什么,测试答案{i},市人社局,第{i}个测试问题咋办,\n" for i in range(1999)]
    rows[1900] = "第1900个测试问题是什么,测试答案,没有这个部门,,\n"
    problems = problems_of(write(tmp_path, HEADER + "".join(rows)), kb_url)
    assert len(problems) == 1 and problems[0].startswith("第 1902 行: 未知部门“没有这个部门”")
    assert staff_rows(kb_url) == (0, 0)


def test_rebuilding_the_kb_keeps_staff_faqs(tmp_path: Path, kb_url: str) -> None:
    faq.import_csv(write(tmp_path, HEADER + GOOD), "王芳", url=kb_url)
    build(kb_url)
    assert staff_rows(kb_url) == (1, 1)
    assert answer_for_intent("faq/f0001", url=kb_url) is not None


def test_export_then_import_with_update_round_trips(tmp_path: Path, kb_url: str) -> None:
    faq.import_csv(write(tmp_path, HEADER + GOOD), "王芳", url=kb_url)
    exported = faq.export_csv(kb_url)
    assert exported.startswith("\ufeffkey,question,answer,office")
    row = "f0001,市图书馆几点开门,测试答案：开放时间以市文广旅局通知为准。,culture,图书馆开放时间|图书馆周末开不开"
    assert row in exported
    path = tmp_path / "export.csv"
    path.write_text(exported.replace("测试答案：", "新答案："), encoding="utf-8")
    assert faq.import_csv(path, "李强", update=True, url=kb_url).updated == ["f0001"]
    assert faq.list_faqs(kb_url)[0].answer.startswith("新答案：")


def test_a_disabled_faq_is_not_answered(tmp_path: Path, kb_url: str) -> None:
    faq.import_csv(write(tmp_path, HEADER + GOOD), "王芳", url=kb_url)
    faq.set_enabled("f0001", False, "李强", url=kb_url)
    assert answer_for_intent("faq/f0001", url=kb_url) is None
    assert faq.training_examples(faq.list_faqs(kb_url)) == {}
    faq.set_enabled("f0001", True, "李强", url=kb_url)
    assert answer_for_intent("faq/f0001", url=kb_url) is not None


def test_the_cli_imports_a_file_and_reports_rows(tmp_path: Path, kb_url: str, capsys: pytest.CaptureFixture) -> None:
    bad = write(tmp_path, HEADER + GOOD + "公园几点关门,,市城管局,,\n", name="bad.csv")
    assert main(["faq", "import", str(bad), "--by", "王芳"]) == 1
    assert "第 3 行: 答案（answer）为空" in capsys.readouterr().err
    assert main(["faq", "import", str(write(tmp_path, HEADER + GOOD, encoding="gbk")), "--by", "王芳"]) == 0
    out = capsys.readouterr().out
    assert "新增 1 条" in out and "文件编码：GBK/GB18030" in out and "第 2 行：新增 f0001 市图书馆几点开门" in out
    assert main(["faq", "list"]) == 0
    assert "f0001  [启用] 市文广旅局  市图书馆几点开门" in capsys.readouterr().out
