"""`python -m bot.web`: the chat page on 127.0.0.1:$WEB_PORT (8000), talking to Rasa at $RASA_URL."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.config import settings, web_settings
from bot.http_deadlines import install as install_deadlines
from bot.serve import database_problem, rasa_token
from bot.web.app import create_app
from bot.web.sessions import secret_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.web", description="驻马店市民助手 — 居民聊天页面")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    parser.add_argument("--port", type=int, default=None, help="port (default: WEB_PORT or 8000)")
    args = parser.parse_args(argv)
    os.umask(0o077)  # what the web app writes (a SQLite database, alerts) is its owner's only
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("bot")  # Sanic configures its own loggers; ours go to stderr beside them
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    problem = database_problem()  # the console's accounts and tickets live in DATABASE_URL
    if problem:
        print(problem, file=sys.stderr)
        return 1
    app = create_app(settings().rasa_url, rasa_token(), secret_key())
    install_deadlines()  # slow clients get 408 (bot/http_deadlines.py)
    app.run(host=args.host, port=args.port or web_settings().port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
