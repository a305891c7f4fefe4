"""Database engine and sessions, created lazily from configuration (nothing runs at import)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import settings
from kb.models import Base


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per URL; SQLite files get their folder created."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or settings().database_url)


def session_factory(url: str | None = None) -> sessionmaker:
    return sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    return session_factory(url)()
