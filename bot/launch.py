"""`python -m bot.launch MODULE ARGS…`: run `python -m MODULE ARGS…` (Rasa, rasa-sdk) the way every server of ours
runs: with deadlines for slow clients (bot/http_deadlines.py).

bot/serve.py's `rasa_command` and `actions_command` start Rasa and the action server through this module; the web
app (`python -m bot.web`) does the same itself.
"""

from __future__ import annotations

import runpy
import sys


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m bot.launch MODULE [ARGS…]")
    from bot.http_deadlines import install

    install()
    module, args = argv[0], argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
