"""`python -m bot user add NAME --role supervisor|staff`: console accounts (the password is never an argument)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Callable

from kb.accounts import ROLES, AccountError, save_user


def _read_password() -> str:
    """Asked twice on a terminal; otherwise the first line of stdin (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再输入一次 / again: ") != first:
        raise AccountError("两次输入的密码不一致，账号没有保存。")
    return first


def _user(args: argparse.Namespace) -> int:
    try:
        created = save_user(args.name, args.role, _read_password())
    except AccountError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{'created' if created else 'updated'} {args.role} {args.name}")
    return 0


def register(commands: argparse._SubParsersAction, handlers: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    """Add the `user` subcommand to `python -m bot` and its handler to the CLI's command table."""
    user = commands.add_parser("user", help="console accounts (/admin/)")
    user.add_argument("action", choices=["add"], help="create an account, or set the role and password of one")
    user.add_argument("name", help="login name")
    user.add_argument("--role", choices=ROLES, default="staff", help="supervisor or staff (default: staff)")
    handlers["user"] = _user
