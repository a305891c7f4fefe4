"""`python -m bot.launch [--auth-token-file FILE] MODULE ARGS…`: run `python -m MODULE ARGS…` (Rasa, rasa-sdk) the
way every server of ours runs:

- with deadlines for slow clients (bot/http_deadlines.py);
- with umask 077: the files it writes (spool, alerts, logs of its own) are its owner's only;
- with Rasa's `--auth-token` read from FILE and handed to Rasa inside the process, so it never appears on the command
  line, which every user of the machine can read (`ps`).

bot/serve.py's `rasa_command` and `actions_command` start Rasa and the action server through this module; the web
app (`python -m bot.web`) does the same itself.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    os.umask(0o077)
    secret: list[str] = []
    if argv[:1] == ["--auth-token-file"] and len(argv) > 1:
        secret = ["--auth-token", Path(argv[1]).read_text(encoding="utf-8").strip()]
        argv = argv[2:]
    if not argv:
        raise SystemExit("usage: python -m bot.launch [--auth-token-file FILE] MODULE [ARGS…]")
    from bot.http_deadlines import install

    install()
    module, args = argv[0], argv[1:]
    sys.argv = [module, *args, *secret]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
