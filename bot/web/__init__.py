"""The residents' web chat page (`python -m bot.web`; `make run` starts it on 127.0.0.1:8000)."""

from bot.web.app import create_app

__all__ = ["create_app"]
