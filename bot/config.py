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
    training_root: Path  # where `retrain` writes training data and trains: this checkout, or a copy of it


def alerts_path() -> Path:
    """ALERTS_FILE: supervisors' alerts that must work without the database (bot/alerts.py); var/alerts.jsonl."""
    return Path(os.environ.get("ALERTS_FILE") or VAR_DIR / "alerts.jsonl")


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
        training_root=Path(os.environ.get("TRAINING_ROOT") or ROOT),
    )


@dataclass(frozen=True)
class WebSettings:
    """The residents' chat page (bot/web): its port, the key that signs session cookies, who may frame it."""

    port: int
    secret_key: str
    frame_ancestors: str


def web_settings() -> WebSettings:
    """WEB_PORT (default 8000), BOT_SECRET_KEY (default: a random key kept in var/web-secret), WEB_FRAME_ANCESTORS."""
    return WebSettings(
        port=int(os.environ.get("WEB_PORT", "8000")),
        secret_key=os.environ.get("BOT_SECRET_KEY", ""),
        frame_ancestors=os.environ.get("WEB_FRAME_ANCESTORS", "'self'"),
    )


@dataclass(frozen=True)
class WeChatSettings:
    """WeChat official account (公众号) channel; see docs/wechat.md. The channel is off while `token` is empty."""

    token: str
    app_id: str
    aes_key: str
    app_secret: str
    api_base: str
    redis_url: str
    reply_timeout: float


def wechat_settings() -> WeChatSettings:
    """Read the WeChat variables now. No secret has a default; `WECHAT_REPLY_TIMEOUT` is seconds (default 4)."""
    return WeChatSettings(
        token=os.environ.get("WECHAT_TOKEN", ""),
        app_id=os.environ.get("WECHAT_APPID", ""),
        aes_key=os.environ.get("WECHAT_AES_KEY", ""),
        app_secret=os.environ.get("WECHAT_APPSECRET", ""),
        api_base=(os.environ.get("WECHAT_API_BASE") or "https://api.weixin.qq.com").rstrip("/"),
        redis_url=os.environ.get("REDIS_URL", ""),
        reply_timeout=float(os.environ.get("WECHAT_REPLY_TIMEOUT") or "4"),
    )


@dataclass(frozen=True)
class AdminSettings:
    """BOT_ADMIN_USER / BOT_ADMIN_PASSWORD: a supervisor account created or updated when the web app starts.

    ADMIN_SESSION_MAX_HOURS: a console session ends this many hours after the log-in however busy it is (default
    12; it also ends after 8 idle hours and when the account's password changes).
    """

    user: str
    password: str
    session_max_hours: float = 12.0


def admin_settings() -> AdminSettings:
    """Both unset (the default) means no account is touched; no password has a default."""
    return AdminSettings(
        user=os.environ.get("BOT_ADMIN_USER", "").strip(),
        password=os.environ.get("BOT_ADMIN_PASSWORD", ""),
        session_max_hours=float(os.environ.get("ADMIN_SESSION_MAX_HOURS") or "12"),
    )


def reviewed_nlu_path() -> Path:
    """REVIEWED_NLU_PATH: the NLU file the misunderstood inbox writes labels to (default data/nlu/reviewed.yml).

    Retraining reads everything under data/, so labels there are trained on; tests point it at a temporary folder.
    """
    return Path(os.environ.get("REVIEWED_NLU_PATH") or ROOT / "data" / "nlu" / "reviewed.yml")


@dataclass(frozen=True)
class LimitSettings:
    """Bad input and faults (bot/limits.py, bot/channels/faults.py); see docs/security.md.

    RATE_LIMIT_MESSAGES messages per RATE_LIMIT_WINDOW seconds per sender (0 turns the limit off; benchmarks that
    send hundreds of turns from one sender set it to 0), RATE_LIMIT_IP_MESSAGES per window per client address on the
    chat page, shared through REDIS_URL when it is set. REQUEST_MAX_BYTES caps every request body to Rasa's server.
    ACTION_TIMEOUT: seconds a call to the action server may take before the resident gets the apology.
    WEB_PROXIES_COUNT / WEB_FORWARDED_SECRET: trust X-Forwarded-* (or Forwarded) from that many reverse proxies.
    """

    rate_limit_messages: int
    rate_limit_ip_messages: int
    rate_limit_window: float
    request_max_bytes: int
    action_timeout: float
    redis_url: str
    proxies_count: int
    forwarded_secret: str


def limit_settings() -> LimitSettings:
    """Defaults: 30 messages a minute per sender, 300 per client address, 1 MiB bodies, 5-second action calls."""
    return LimitSettings(
        rate_limit_messages=int(os.environ.get("RATE_LIMIT_MESSAGES") or "30"),
        rate_limit_ip_messages=int(os.environ.get("RATE_LIMIT_IP_MESSAGES") or "300"),
        rate_limit_window=float(os.environ.get("RATE_LIMIT_WINDOW") or "60"),
        request_max_bytes=int(os.environ.get("REQUEST_MAX_BYTES") or str(1024 * 1024)),
        action_timeout=float(os.environ.get("ACTION_TIMEOUT") or "5"),
        redis_url=os.environ.get("REDIS_URL", ""),
        proxies_count=int(os.environ.get("WEB_PROXIES_COUNT") or "0"),
        forwarded_secret=os.environ.get("WEB_FORWARDED_SECRET", ""),
    )
