"""Every environment variable the project reads, in one place (listed in README.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"


@dataclass(frozen=True)
class Settings:
    """Runtime settings, read from the environment when asked for (never at import time)."""

    database_url: str
    rasa_url: str
    action_port: int
    rasa_port: int
    rasa_token: str
    models_dir: Path
    jieba_dir: Path


def _default_database_url() -> str:
    return f"sqlite:///{VAR_DIR / 'assistant.sqlite3'}"


def settings() -> Settings:
    """Read the environment now; cheap enough to call per use, and tests can change it."""
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or _default_database_url(),
        rasa_url=os.environ.get("RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        action_port=int(os.environ.get("ACTION_PORT", "5055")),
        rasa_port=rasa_port,
        rasa_token=os.environ.get("RASA_TOKEN", ""),
        models_dir=Path(os.environ.get("MODELS_DIR", str(ROOT / "models"))),
        jieba_dir=VAR_DIR / "jieba",
    )
