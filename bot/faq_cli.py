"""`python -m bot faq import|export|list|disable|enable|check|segment|add-term`, `retrain` and `rollback`."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

Handlers = dict[str, Callable[[argparse.Namespace], int]]


def _actor(args: argparse.Namespace) -> str:
    return str(args.by or getpass.getuser())


def _print_problems(title: str, problems: list[str]) -> int:
    print(f"{title}（{len(problems)} 处问题，未做任何修改）：", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


def _faq(args: argparse.Namespace) -> int:
    from kb import faq

    try:
        return FAQ_ACTIONS[args.action](args)
    except faq.FaqError as error:
        return _print_problems("FAQ 操作失败", error.problems)


def _import(args: argparse.Namespace) -> int:
    from kb import faq

    file = args.file or (args.keys[0] if args.keys else None)
    if file is None or not Path(file).is_file():
        print(f"找不到文件：{file}（用法：python -m bot faq import FILE.csv）", file=sys.stderr)
        return 1
    result = faq.import_csv(Path(file), _actor(args), update=args.update)
    keys = " ".join(result.created + result.updated)
    print(f"导入完成：新增 {len(result.created)} 条，更新 {len(result.updated)} 条 {keys}")
    for line in faq.import_report(result):
        print(f"  {line}")
    _check(args)
    print("新 FAQ 要在重新训练后才能被识别：python -m bot retrain（修改答案则立即生效）")
    return 0


def _export(args: argparse.Namespace) -> int:
    from kb import faq

    text = faq.export_csv()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"已导出 {faq.count_faqs()} 条 FAQ 到 {args.out}")
    else:
        sys.stdout.write(text.removeprefix("\ufeff"))
    return 0


def _list(args: argparse.Namespace) -> int:
    from kb import faq

    for view in faq.list_faqs():
        state = "启用" if view.enabled else "停用"
        print(
            f"{view.key}  [{state}] {view.office_short}  {view.question}  （{len(view.paraphrases)} 个问法，"
            f"{view.updated_by} {view.updated_at:%Y-%m-%d}）"
        )
    return 0


def _toggle(args: argparse.Namespace) -> int:
    from kb import faq

    for key in args.keys:
        faq.set_enabled(key, args.action == "enable", _actor(args))
    print(f"已{'启用' if args.action == 'enable' else '停用'}：{' '.join(args.keys)}（重新训练后问法生效）")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Flag FAQs whose questions the running model answers with another topic at high confidence."""
    import requests

    from bot.retrain import Target, server_parse
    from kb import faq

    try:
        flags = faq.collisions(faq.list_faqs(enabled_only=True), server_parse(Target.from_settings()))
    except requests.RequestException:
        print("提示：Rasa 服务器未运行，未检查与现有话题的冲突（retrain 时会再查）")
        return 0
    for flag in flags:
        print(f"冲突提示：{flag}")
    return 0


def _segment(args: argparse.Namespace) -> int:
    from kb import faq

    print(" / ".join(faq.segment(" ".join(args.keys))))
    return 0


def _add_term(args: argparse.Namespace) -> int:
    from kb import faq

    added = faq.add_terms(args.keys, _actor(args))
    faq.write_staff_dictionary()
    print(f"已加入词典：{'、'.join(added) or '（都已在词典中）'}；重新训练后生效")
    return 0


FAQ_ACTIONS: Handlers = {
    "import": _import,
    "export": _export,
    "list": _list,
    "disable": _toggle,
    "enable": _toggle,
    "check": _check,
    "segment": _segment,
    "add-term": _add_term,
}


def _retrain(args: argparse.Namespace) -> int:
    from bot.config import settings
    from bot.retrain import GateRefused, Options, RetrainError, retrain

    try:
        root = settings().training_root
        options = Options(_actor(args), root, deploy=not args.no_deploy, allow_finetune=not args.full)
        if args.progress_file:
            options.progress = _progress_to(Path(args.progress_file))
        result = retrain(options)
    except GateRefused as refused:
        return _print_problems("质量闸门未通过，新模型没有上线，当前模型继续服务", refused.reasons)
    except RetrainError as error:
        print(f"重新训练失败：{error}", file=sys.stderr)
        return 1
    record = result.record
    where = "已上线" if result.deployed else "已通过闸门（未上线：--no-deploy）"
    print(
        f"{where}：{Path(record.file).name}，留出集准确率 {record.holdout_accuracy:.3f}，"
        f"用时 {sum(result.seconds.values()):.0f} 秒"
    )
    return 0


def _progress_to(path: Path) -> Callable[[str], None]:
    """Progress lines for the console's retrain page (and the terminal)."""

    def progress(line: str) -> None:
        print(line, flush=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(f"{datetime.now():%H:%M:%S} {line}\n")

    return progress


def _rollback(args: argparse.Namespace) -> int:
    from bot.retrain import RetrainError, rollback

    try:
        record = rollback(_actor(args))
    except RetrainError as error:
        print(f"回滚失败：{error}", file=sys.stderr)
        return 1
    print(f"已回滚到 {Path(record.file).name}（留出集准确率 {record.holdout_accuracy}）")
    return 0


def register(commands: argparse._SubParsersAction, handlers: Handlers) -> None:
    """Add `faq`, `retrain` and `rollback` to `python -m bot`."""
    faq = commands.add_parser("faq", help="staff FAQs: import, export, list, disable, enable, check, jieba")
    faq.add_argument("action", choices=sorted(FAQ_ACTIONS), help="what to do")
    faq.add_argument("keys", nargs="*", help="FAQ keys (disable/enable), a phrase (segment) or terms (add-term)")
    faq.add_argument("--file", help="import: the CSV file (question,answer,office,paraphrases,procedure)")
    faq.add_argument("--update", action="store_true", help="import: update FAQs whose question or key exists")
    faq.add_argument("--out", help="export: write to this file instead of stdout")
    faq.add_argument("--by", help="who does this (recorded in the audit log; default: the login name)")
    handlers["faq"] = _faq
    retrain = commands.add_parser("retrain", help="validate, train, gate on quality and put the model live")
    retrain.add_argument("--by", help="who trains (audit log)")
    retrain.add_argument("--full", action="store_true", help="never finetune")
    retrain.add_argument("--progress-file", help="also append progress lines to this file (the console reads it)")
    retrain.add_argument("--no-deploy", action="store_true", help="gate the model but do not put it live")
    handlers["retrain"] = _retrain
    rollback = commands.add_parser("rollback", help="put the previous model back live")
    rollback.add_argument("--by", help="who rolls back (audit log)")
    handlers["rollback"] = _rollback
