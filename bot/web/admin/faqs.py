"""FAQs, the jieba dictionary and models in the console (staff and supervisors).

- ``GET /admin/faqs``                      list, import form, export link
- ``GET/POST /admin/faqs/new``             add a FAQ: question, paraphrases, answer, office, procedure, source…
- ``GET/POST /admin/faqs/<key>``           edit; an edited answer is live at once (read from the KB when answering)
- ``POST /admin/faqs/<key>/toggle``        disable / enable
- ``POST /admin/faqs/import``              CSV upload (the same checks as ``python -m bot faq import``)
- ``GET /admin/faqs/export.csv``           every FAQ, for version control or Excel
- ``GET/POST /admin/jieba``                how jieba segments a phrase; add domain terms
- ``GET /admin/models``                    the last five models with their scores, retrain progress, audit log
- ``POST /admin/models/retrain``           starts ``python -m bot retrain`` in the background
- ``POST /admin/models/rollback``          puts the previous model back live
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect
from sanic.response import text as sanic_text

from bot.config import ROOT, VAR_DIR, settings
from bot.web.admin.auth import not_allowed
from bot.web.admin.pages import csrf_field, esc, link, message, options, page, table, when
from kb import audit, faq

if TYPE_CHECKING:
    from bot.deploy import InstanceModel

ROLES = ("supervisor", "staff")
PROGRESS_FILE = VAR_DIR / "retrain-progress.txt"
MAX_UPLOAD = 5 * 1024 * 1024
AUDIT_LABELS = {
    "faq.create": "新增 FAQ",
    "faq.update": "修改 FAQ",
    "faq.disable": "停用 FAQ",
    "faq.enable": "启用 FAQ",
    "faq.import": "导入 FAQ",
    "jieba.add": "添加词条",
    "train": "训练",
    "gate.refused": "闸门拒绝",
    "deploy": "模型上线",
    "rollback": "回滚",
}


def _offices() -> dict[str, str]:
    from kb.models import Office
    from kb.session import new_session

    with new_session() as session:
        return {str(o.id): f"{o.short}（{o.name}）" for o in session.query(Office).order_by(Office.id)}


def _form(request: Request, item: faq.FaqInput, action: str, problems: list[str] | None = None) -> str:
    csrf = request.ctx.login.csrf_token
    errors = "".join(message(p) for p in problems or [])
    offices = _offices()
    return (
        f'{errors}<form method="post" action="{esc(action)}" class="faq">{csrf_field(csrf)}'
        f'<label>问题（必填）<input name="question" required maxlength="{faq.MAX_QUESTION_CHARS}" '
        f'value="{esc(item.question)}"></label>'
        f'<label>其他问法（每行一个）<textarea name="paraphrases" rows="5">{esc(chr(10).join(item.paraphrases))}'
        "</textarea></label>"
        f'<label>答案（必填）<textarea name="answer" required rows="5" maxlength="{faq.MAX_ANSWER_CHARS}">'
        f"{esc(item.answer)}</textarea></label>"
        f'<label>负责部门（必填）<select name="office" required>'
        f"{options(offices, item.office, offices, blank='请选择')}</select></label>"
        f'<label>办理步骤（每行一步）<textarea name="procedure" rows="4">{esc(chr(10).join(item.procedure))}'
        "</textarea></label>"
        f'<label>答案出处（如通知文号、与部门核实的日期）<input name="source" value="{esc(item.source)}"></label>'
        f'<label>复核日期<input type="date" name="review_by" value="{esc(item.review_by)}"></label>'
        "<button type=submit>保存</button></form>"
    )


def _input_of(request: Request, key: str = "") -> faq.FaqInput:
    form = request.form or {}

    def field(name: str) -> str:
        return str(form.get(name) or "").strip()

    return faq.FaqInput(
        question=field("question"),
        answer=field("answer"),
        office=field("office"),
        paraphrases=faq.split_list(field("paraphrases")),
        procedure=faq.split_list(field("procedure")),
        review_by=field("review_by"),
        source=field("source"),
        key=key,
        enabled=True,
    )


def _faq_row(view: faq.FaqView) -> list[str]:
    return [
        link(f"/admin/faqs/{view.key}", view.key),
        esc(view.question),
        esc(view.office_short),
        esc(len(view.paraphrases)),
        esc("启用" if view.enabled else "停用"),
        esc(f"{view.updated_by} {when(view.updated_at)}"),
        esc(view.review_by),
    ]


def _report(lines: list[str]) -> str:
    """An import's row-numbered report (or its problems), one line per row."""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f'<ul class="import-report">{items}</ul>' if lines else ""


def _list_page(
    request: Request, text: str = "", kind: str = "error", status: int = 200, report: list[str] | None = None
) -> HTTPResponse:
    login = request.ctx.login
    views = faq.list_faqs()
    rows = table(("编号", "问题", "部门", "问法数", "状态", "最后修改", "复核日期"), map(_faq_row, views))
    body = (
        f"{message(text, kind)}{_report(report or [])}<p>{link('/admin/faqs/new', '＋ 新增 FAQ')} · "
        f"{link('/admin/faqs/export.csv', '导出全部 FAQ（CSV）')} · {link('/admin/models', '训练与上线 →')}</p>"
        f"{rows if views else '<p>还没有 FAQ。</p>'}"
        '<h2>从 CSV 文件导入</h2><form method="post" action="/admin/faqs/import" enctype="multipart/form-data">'
        f"{csrf_field(login.csrf_token)}"
        "<label>CSV 文件（UTF-8 或 Excel 默认的 GBK 编码；"
        "列：question,answer,office,paraphrases,procedure；问法用 | 分隔）"
        '<input type="file" name="file" accept=".csv,text/csv" required></label>'
        '<label><input type="checkbox" name="update" value="1"> 已有的问题按文件更新</label>'
        "<button type=submit>导入</button></form>"
        "<p>新增或修改问法后需要重新训练才能识别；修改答案立即生效。</p>"
    )
    return page("常见问题（FAQ）", body, login.account, login.csrf_token, status)


def _edit_page(request: Request, key: str, item: faq.FaqInput, problems: list[str] | None = None) -> HTTPResponse:
    login = request.ctx.login
    view = faq.get_faq(key)
    toggle = ""
    if view is not None:
        label = "停用此 FAQ" if view.enabled else "重新启用此 FAQ"
        toggle = (
            f'<form method="post" action="/admin/faqs/{esc(key)}/toggle">{csrf_field(login.csrf_token)}'
            f"<button type=submit>{esc(label)}</button></form>"
            f"<p>作者 {esc(view.author)}，创建于 {esc(when(view.created_at))}；"
            f"最后由 {esc(view.updated_by)} 修改于 {esc(when(view.updated_at))}</p>"
        )
    saved = message("已保存。答案立即生效；新的问法在重新训练后生效。", "ok") if request.args.get("saved") else ""
    body = saved + _form(request, item, f"/admin/faqs/{key}", problems) + toggle
    body += f"<p>{link('/admin/faqs', '← 返回 FAQ 列表')}</p>"
    return page(f"FAQ {key}", body, login.account, login.csrf_token, 400 if problems else 200)


def _input_from_view(view: faq.FaqView) -> faq.FaqInput:
    return faq.FaqInput(
        question=view.question,
        answer=view.answer,
        office=view.office_id,
        paraphrases=view.paraphrases,
        procedure=view.procedure,
        review_by=view.review_by,
        source=view.source,
        key=view.key,
        enabled=view.enabled,
    )


def retrain_running() -> bool:
    from bot.retrain import is_running

    return is_running(settings().models_dir)


async def _instances_section() -> str:
    """Which model each Rasa instance serves now (asked in a worker thread: an instance may be slow or down)."""
    from bot.deploy import Target, instance_models
    from bot.retrain import load_registry

    target = await asyncio.get_running_loop().run_in_executor(None, Target.from_settings)
    records = load_registry(settings().models_dir)
    found = await asyncio.get_running_loop().run_in_executor(None, instance_models, target, records)
    return instances_table(found)


def instances_table(found: list[InstanceModel]) -> str:
    """The console's table of bot.deploy.InstanceModel rows."""
    rows = [[esc(i.server), esc(i.model), esc(i.model_id[:12]), esc("是" if i.live else "否")] for i in found]
    return "<h2>各实例当前模型</h2>" + table(("实例", "模型", "模型 ID", "是注册表中的在线模型"), rows)


def _models_page(
    request: Request, text: str = "", kind: str = "error", status: int = 200, instances: str = ""
) -> HTTPResponse:
    from bot.retrain import load_registry

    login = request.ctx.login
    running = retrain_running()
    progress = PROGRESS_FILE.read_text(encoding="utf-8") if PROGRESS_FILE.is_file() else ""
    rows = [
        [
            esc(Path(r.file).name),
            esc({"live": "当前在线", "previous": "可回滚", "refused": "未通过闸门"}.get(r.status, r.status)),
            esc(f"{r.holdout_accuracy:.3f}" if r.holdout_accuracy is not None else "未测"),
            esc(f"{r.faq_recognised}/{r.faq_checked}"),
            esc(r.mode),
            esc(f"{r.trained_by} {r.trained_at}"),
            esc(r.deployed_at),
        ]
        for r in reversed(load_registry(settings().models_dir))
    ]
    refresh = '<meta http-equiv="refresh" content="3">' if running else ""
    csrf = csrf_field(login.csrf_token)
    buttons = (
        "<p>训练进行中，本页每 3 秒刷新一次……</p>"
        if running
        else f'<form method="post" action="/admin/models/retrain">{csrf}<button type=submit>重新训练并上线</button>'
        f'</form><form method="post" action="/admin/models/rollback">{csrf}<button type=submit>回滚到上一个模型'
        "</button></form>"
    )
    events = [
        [esc(when(e.at)), esc(e.actor), esc(AUDIT_LABELS.get(e.action, e.action)), esc(e.target), esc(_detail(e))]
        for e in audit.recent(50)
    ]
    body = (
        f"{refresh}{message(text, kind)}{buttons}<h2>训练进度</h2>"
        f'<pre class="progress" role="log">{esc(progress) or "尚未训练。"}</pre>'
        "<h2>模型（保留最近五个已上线的模型）</h2>"
        f"{table(('模型', '状态', '留出集准确率', '新 FAQ 识别', '方式', '训练', '上线时间'), rows)}"
        f"{instances}"
        f"<h2>操作记录</h2>{table(('时间', '操作人', '操作', '对象', '详情'), events)}"
    )
    return page("训练与上线", body, login.account, login.csrf_token, status)


def _detail(event: audit.AuditRecord) -> str:
    if event.action == "gate.refused":
        return "；".join(event.detail.get("reasons", []))
    if event.action == "faq.update":
        return "、".join(event.detail) or "无变化"
    return ", ".join(f"{k}={v}" for k, v in event.detail.items())[:200]


def _start_retrain(actor: str) -> None:
    """`python -m bot retrain` as a child process: training takes minutes and must not block the web app."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    PROGRESS_FILE.write_text("", encoding="utf-8")
    command = [sys.executable, "-m", "bot", "retrain", "--by", actor, "--progress-file", str(PROGRESS_FILE)]
    with (VAR_DIR / "retrain-console.log").open("w", encoding="utf-8") as log:
        subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603


def add_routes(bp: Blueprint) -> None:
    @bp.get("/faqs")
    async def faq_list(request: Request) -> HTTPResponse:
        return not_allowed(request, *ROLES) or _list_page(request)

    @bp.get("/faqs/new")
    async def faq_new(request: Request) -> HTTPResponse:
        login = request.ctx.login
        body = _form(request, faq.FaqInput("", "", ""), "/admin/faqs/new")
        return not_allowed(request, *ROLES) or page("新增 FAQ", body, login.account, login.csrf_token)

    @bp.post("/faqs/new")
    async def faq_create(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        item, login = _input_of(request), request.ctx.login
        try:
            key = faq.save_one(item, login.account.name)
        except faq.FaqError as error:
            body = _form(request, item, "/admin/faqs/new", error.problems)
            return page("新增 FAQ", body, login.account, login.csrf_token, 400)
        return redirect(f"/admin/faqs/{key}?saved=1", status=303)

    @bp.get("/faqs/export.csv")
    async def faq_export(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        headers = {"Content-Disposition": 'attachment; filename="staff-faqs.csv"', "Cache-Control": "no-store"}
        return sanic_text(faq.export_csv(), content_type="text/csv; charset=utf-8", headers=headers)

    @bp.get("/faqs/<key:str>")
    async def faq_edit(request: Request, key: str) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        view = faq.get_faq(key)
        if view is None:
            return _list_page(request, f"没有编号为 {key} 的 FAQ。", status=404)
        return _edit_page(request, key, _input_from_view(view))

    @bp.post("/faqs/<key:str>")
    async def faq_update(request: Request, key: str) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        view = faq.get_faq(key)
        if view is None:
            return _list_page(request, f"没有编号为 {key} 的 FAQ。", status=404)
        item = _input_of(request, key)
        item.enabled = view.enabled
        try:
            faq.save_one(item, request.ctx.login.account.name)
        except faq.FaqError as error:
            return _edit_page(request, key, item, error.problems)
        return redirect(f"/admin/faqs/{key}?saved=1", status=303)

    @bp.post("/faqs/<key:str>/toggle")
    async def faq_toggle(request: Request, key: str) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        view = faq.get_faq(key)
        if view is None:
            return _list_page(request, f"没有编号为 {key} 的 FAQ。", status=404)
        faq.set_enabled(key, not view.enabled, request.ctx.login.account.name)
        return redirect(f"/admin/faqs/{key}", status=303)

    @bp.post("/faqs/import")
    async def faq_import(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        upload = request.files.get("file") if request.files else None
        if upload is None or not upload.body:
            return _list_page(request, "请选择要导入的 CSV 文件。", status=400)
        if len(upload.body) > MAX_UPLOAD:
            return _list_page(request, "文件超过 5 MB，请分批导入。", status=400)
        try:
            actor, update = request.ctx.login.account.name, (request.form or {}).get("update") == "1"
            result = faq.import_bytes(upload.body, actor, update)
            audit.record(actor, "faq.import", upload.name, {"created": result.created, "updated": result.updated})
        except faq.FaqError as error:
            text = f"导入失败，未做任何修改（{len(error.problems)} 处问题）："
            return _list_page(request, text, status=400, report=error.problems[:200])
        done = f"导入完成：新增 {len(result.created)} 条，更新 {len(result.updated)} 条。新问法在重新训练后生效。"
        return _list_page(request, done, "ok", report=faq.import_report(result))

    @bp.get("/jieba")
    async def jieba_page(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        return _jieba_page(request, str(request.args.get("text") or "")[:200])

    @bp.post("/jieba")
    async def jieba_add(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        form = request.form or {}
        terms = faq.split_list(str(form.get("terms") or "").replace("，", "|").replace(",", "|"))
        try:
            added = faq.add_terms(terms, request.ctx.login.account.name)
        except faq.FaqError as error:
            return _jieba_page(request, str(form.get("text") or ""), "；".join(error.problems), status=400)
        faq.write_staff_dictionary()
        text = f"已加入词典：{'、'.join(added) or '（都已在词典中）'}。重新训练后模型使用新词典。"
        return _jieba_page(request, str(form.get("text") or ""), text, "ok")

    @bp.get("/models")
    async def models_page(request: Request) -> HTTPResponse:
        return not_allowed(request, *ROLES) or _models_page(request, instances=await _instances_section())

    @bp.post("/models/retrain")
    async def models_retrain(request: Request) -> HTTPResponse:
        if denied := not_allowed(request, *ROLES):
            return denied
        if retrain_running():
            return _models_page(request, "已有一次训练正在进行。", status=409)
        _start_retrain(request.ctx.login.account.name)
        await asyncio.sleep(1)  # let the child take the lock, so the page shows it running
        return redirect("/admin/models", status=303)

    @bp.post("/models/rollback")
    async def models_rollback(request: Request) -> HTTPResponse:
        from bot.retrain import RetrainError, rollback

        if denied := not_allowed(request, *ROLES):
            return denied
        actor = request.ctx.login.account.name
        try:
            record = await asyncio.get_running_loop().run_in_executor(None, rollback, actor)
        except RetrainError as error:
            return _models_page(request, f"回滚失败：{error}", status=409)
        text = f"已回滚到 {Path(record.file).name}。"
        return _models_page(request, text, "ok", instances=await _instances_section())


def _jieba_page(request: Request, text: str, notice: str = "", kind: str = "error", status: int = 200) -> HTTPResponse:
    login = request.ctx.login
    tokens = faq.segment(text) if text.strip() else []
    preview = f'<p class="tokens">{" / ".join(f"<span>{esc(t)}</span>" for t in tokens)}</p>' if tokens else ""
    terms = faq.staff_terms()
    body = (
        f"{message(notice, kind)}"
        '<form method="get" action="/admin/jieba"><label>要切分的句子'
        f'<input name="text" value="{esc(text)}" maxlength="200"></label><button type=submit>预览切分</button></form>'
        f"{preview}<h2>添加领域词条</h2>"
        f'<form method="post" action="/admin/jieba">{csrf_field(login.csrf_token)}'
        f'<input type="hidden" name="text" value="{esc(text)}">'
        '<label>词条（多个用逗号分隔）<input name="terms" required maxlength="400"></label>'
        "<button type=submit>加入词典</button></form>"
        f"<h2>工作人员添加的词条（{len(terms)}）</h2><p>{esc('、'.join(terms)) or '暂无'}</p>"
    )
    return page("分词词典", body, login.account, login.csrf_token, status)
