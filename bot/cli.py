"""`python -m bot …`: the project's command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from bot.config import ROOT, settings

KB_DIR = ROOT / "kb"


def _kb_build(args: argparse.Namespace) -> int:
    from bot.nlu.jieba_dict import write_dictionary
    from kb.build import KBBuildError, build

    try:
        loaded = build(kb_dir=args.kb_dir)
    except KBBuildError as error:
        print(f"知识库构建失败 / KB build failed ({len(error.problems)} problems):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    path = write_dictionary(loaded, settings().jieba_dir)
    facts = sum(len(entry["facts"]) for entry in loaded.entries)
    print(
        f"KB built: {len(loaded.entries)} entries, {facts} quoted facts, {len(loaded.offices)} offices; "
        f"jieba dictionary {path}"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.training import train

    return train(force=args.force)


def _run(args: argparse.Namespace) -> int:
    from bot.serve import serve

    return serve()


def _evaluate(args: argparse.Namespace) -> int:
    from bot.evaluate import main as evaluate

    status = evaluate(args.file, args.model)
    if status != 0 or not args.conversations:
        return status
    from bot.evaluate_conversations import main as evaluate_conversations

    return evaluate_conversations(args.holdout_dir, args.model)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "kb": _kb_build,
    "train": _train,
    "run": _run,
    "evaluate": _evaluate,
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bot", description="驻马店市民助手")
    commands = root.add_subparsers(dest="command", required=True)
    kb = commands.add_parser("kb", help="knowledge base")
    kb.add_argument("action", choices=["build"], help="check every quote and load the entries")
    kb.add_argument("--kb-dir", type=Path, default=KB_DIR, help="folder with offices.yml, entries/ and sources/")
    train = commands.add_parser("train", help="train the Rasa model if data, config or domain changed")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    commands.add_parser("run", help="start the action server and Rasa; Ctrl-C stops both")
    evaluate = commands.add_parser("evaluate", help="intent accuracy, out-of-scope recall and misroutes")
    evaluate.add_argument("--file", default="tests/nlu_holdout.yml", help="NLU YAML never used for training")
    evaluate.add_argument("--model", default=None, help="model file (default: newest in models/)")
    evaluate.add_argument(
        "--conversations",
        action="store_true",
        help="then start the servers and play the conversation hold-out (tests/holdout/): follow-ups, emergencies, "
        "two-topic messages, misroutes; writes var/holdout-conversations.json",
    )
    evaluate.add_argument(
        "--holdout-dir",
        type=Path,
        default=ROOT / "tests" / "holdout",
        help="folder with conversations.yml, emergencies.yml and two_topics.yml (with --conversations)",
    )
    from bot.users import register  # `user add NAME --role …`: console accounts

    register(commands, COMMANDS)
    from bot.purge import register as register_purge  # `purge --older-than 180d`: old conversations

    register_purge(commands, COMMANDS)
    from bot.conversations.generate import register as register_logs  # `logs generate|index|reindex`

    register_logs(commands, COMMANDS)
    from bot.faq_cli import register as register_faq  # `faq import|export|list…`, `retrain`, `rollback`

    register_faq(commands, COMMANDS)
    from bot.cluster import register as register_cluster  # `cluster`: make run-cluster (docs/deploy.md)

    register_cluster(commands, COMMANDS)
    return root


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # databases, models, logs and secrets we write are the owner's only (docs/security.md)
    args = parser().parse_args(argv)
    return COMMANDS[args.command](args)
