"""FAQs in the console: add and edit in Chromium, CSV upload, export, jieba preview, roles and CSRF, audit log."""

from __future__ import annotations

import csv
import io
import re
import uuid

import requests
from playwright.sync_api import BrowserContext

from kb import audit, faq
from kb.query import answer_for_intent
from tests.web.admin.conftest import Console

HEADER = "question,answer,office,paraphrases,procedure\n"


def test_staff_member_adds_and_edits_a_faq_in_the_browser(browser: BrowserContext, console: Console) -> None:
    name = console.user("staff")
    question = f"测试问题{uuid.uuid4().hex[:6]}：文化馆几点开门"
    browser.clear_cookies()
    page = browser.new_page()
    try:
        page.goto(f"{console.url}/admin/login")
        page.get_by_label("用户名").fill(name)
        page.get_by_label("密码").fill("staff-password-1")
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"{console.url}/admin/")
        page.get_by_role("link", name="FAQ", exact=True).click()
        page.get_by_role("link", name="＋ 新增 FAQ").click()
        page.get_by_label("问题（必填）").fill(question)
        page.get_by_label("其他问法（每行一个）").fill("文化馆开放时间\n文化馆周末开吗")
        page.get_by_label("答案（必填）").fill("测试答案：以市文广旅局通知为准。")
        page.get_by_label("负责部门（必填）").select_option("culture")
        page.get_by_label("办理步骤（每行一步）").fill("查看通知\n按时前往")
        page.get_by_role("button", name="保存").click()
        page.wait_for_url("**/admin/faqs/f*?saved=1")
        assert "已保存" in page.inner_text("[role=status]")
        key = page.url.rsplit("/", 1)[1].split("?")[0]
        page.get_by_label("答案（必填）").fill("测试答案（已修改）：以市文广旅局最新通知为准。")
        page.get_by_role("button", name="保存").click()
        page.wait_for_url(f"**/admin/faqs/{key}?saved=1")
        page.get_by_role("link", name="← 返回 FAQ 列表").click()
        assert question in page.inner_text("table")
    finally:
        page.close()
    answer = answer_for_intent(f"faq/{key}", url=console.database_url)
    assert answer is not None and answer.answer == "测试答案（已修改）：以市文广旅局最新通知为准。"
    assert answer.office_short == "市文广旅局" and answer.steps == ["查看通知", "按时前往"]
    events = [e for e in audit.recent(url=console.database_url) if e.target == key]
    assert [(e.actor, e.action) for e in events] == [(name, "faq.update"), (name, "faq.create")]


def upload(console: Console, client: requests.Session, text: str) -> requests.Response:
    csrf = console.csrf_of(client, "/admin/faqs")
    files = {"file": ("faqs.csv", text.encode("utf-8"), "text/csv")}
    return client.post(f"{console.url}/admin/faqs/import", data={"csrf": csrf}, files=files, timeout=30)


def test_a_bad_upload_names_the_row_and_changes_nothing(console: Console, admin: requests.Session) -> None:
    before = faq.count_faqs(console.database_url)
    rows = "测试上传问题一,测试答案,市人社局,,\n测试上传问题二,,市人社局,,\n"
    response = upload(console, admin, "\ufeff" + HEADER + rows)
    assert response.status_code == 400
    assert "导入失败，未做任何修改" in response.text and "第 3 行: 答案（answer）为空" in response.text
    assert faq.count_faqs(console.database_url) == before
    response = upload(console, admin, "\ufeff" + HEADER + "测试上传问题一,测试答案,市人社局,测试上传问法一,\n")
    assert response.status_code == 200 and "导入完成：新增 1 条" in response.text
    assert faq.count_faqs(console.database_url) == before + 1
    export = admin.get(f"{console.url}/admin/faqs/export.csv", timeout=30)
    assert export.status_code == 200 and export.content.startswith("\ufeffkey,question".encode())
    assert "测试上传问题一,测试答案,hrss,测试上传问法一" in export.content.decode("utf-8")


def test_a_gbk_upload_is_imported_with_a_row_report(console: Console, admin: requests.Session) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = f"测试GBK问题{tag}一,测试答案,市人社局,,\n测试GBK问题{tag}二,测试答案,市医保局,,\n"
    csrf = console.csrf_of(admin, "/admin/faqs")
    files = {"file": ("faqs.csv", (HEADER + rows).encode("gbk"), "text/csv")}
    response = admin.post(f"{console.url}/admin/faqs/import", data={"csrf": csrf}, files=files, timeout=30)
    assert response.status_code == 200 and "导入完成：新增 2 条" in response.text
    assert "文件编码：GBK/GB18030" in response.text
    assert re.search(rf"第 2 行：新增 f\d+ 测试GBK问题{tag}一", response.text)
    assert re.search(rf"第 3 行：新增 f\d+ 测试GBK问题{tag}二", response.text)
    questions = {view.question for view in faq.list_faqs(url=console.database_url)}
    assert {f"测试GBK问题{tag}一", f"测试GBK问题{tag}二"} <= questions


def test_the_faq_export_guards_formulas(console: Console, admin: requests.Session) -> None:
    formula = f'=HYPERLINK("http://evil.example/{uuid.uuid4().hex[:6]}","点我")'
    item = faq.FaqInput(question=formula, answer="测试答案", office="hrss")
    faq.save_one(item, "王芳", url=console.database_url)
    export = admin.get(f"{console.url}/admin/faqs/export.csv", timeout=30)
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert ["'" + formula] == [row[1] for row in rows if formula in row[1]]  # shown as text, never run


def test_posting_without_the_csrf_token_is_refused(console: Console, admin: requests.Session) -> None:
    before = faq.count_faqs(console.database_url)
    data = {"question": "没有令牌的问题", "answer": "答案", "office": "hrss"}
    response = admin.post(f"{console.url}/admin/faqs/new", data=data, timeout=30)
    assert response.status_code == 403 and faq.count_faqs(console.database_url) == before


def test_jieba_preview_and_adding_a_term(console: Console, admin: requests.Session) -> None:
    preview = admin.get(f"{console.url}/admin/jieba", params={"text": "天中晒书节在哪办"}, timeout=30)
    assert preview.status_code == 200 and "<span>" in preview.text
    csrf = console.csrf_of(admin, "/admin/jieba")
    added = admin.post(f"{console.url}/admin/jieba", data={"csrf": csrf, "terms": "天中晒书节"}, timeout=30)
    assert added.status_code == 200 and "已加入词典：天中晒书节" in added.text
    assert "天中晒书节" in faq.staff_terms(console.database_url)
    bad = admin.post(f"{console.url}/admin/jieba", data={"csrf": csrf, "terms": "有 空格"}, timeout=30)
    assert bad.status_code == 400 and "不含空格和标点" in bad.text


def test_the_models_page_shows_the_buttons_and_the_audit_log(console: Console, admin: requests.Session) -> None:
    audit.record("王芳", "faq.create", "f9999", {"question": "测试"}, url=console.database_url)
    response = admin.get(f"{console.url}/admin/models", timeout=30)
    assert response.status_code == 200
    assert "重新训练并上线" in response.text and "回滚到上一个模型" in response.text
    assert "王芳" in response.text and "新增 FAQ" in response.text and "f9999" in response.text
