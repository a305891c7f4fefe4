"""`make run`: the action server, Rasa and the web chat page as child processes; Ctrl-C stops all cleanly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import requests
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from bot.config import ROOT, VAR_DIR, settings, web_settings
from bot.training import latest_model


def rasa_token() -> str:
    """RASA_TOKEN, or a random one kept in var/ (mode 600) so our own tools can call the API."""
    token = settings().rasa_token
    if token:
        return token
    path = VAR_DIR / "rasa-token"
    if not path.is_file():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def private_folder(path: Path) -> Path:
    """`path` as a folder only its owner can enter (mode 700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def token_file(token: str) -> Path:
    """A file (mode 600) holding `token`, for `python -m bot.launch --auth-token-file`: every user of the machine can
    read a process's command line (`ps`), so the token itself is never an argument."""
    folder = private_folder(VAR_DIR / "run")
    path = folder / f"rasa-token-{hashlib.sha256(token.encode()).hexdigest()[:16]}"
    if not path.is_file() or path.read_text() != token:
        temporary = folder / f".{path.name}.{os.getpid()}"
        temporary.touch(mode=0o600)
        temporary.chmod(0o600)
        temporary.write_text(token)
        temporary.replace(path)
    return path


def database_problem(url: str | None = None) -> str | None:
    """None when DATABASE_URL answers `SELECT 1`; else what is wrong, naming DATABASE_URL (password hidden)."""
    url = url or settings().database_url
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args: dict[str, int] = {}
        else:
            connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
        engine = sa.create_engine(parsed, future=True, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
        if parsed.get_backend_name() == "sqlite" and parsed.database and Path(parsed.database).is_file():
            Path(parsed.database).chmod(0o600)  # conversations, tickets, accounts: the owner's only
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as error:
        where = locals().get("shown") or "(not a database URL)"
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return (
            f"Cannot reach the database DATABASE_URL = {where}: {reason}. Start that database or set DATABASE_URL "
            "to a reachable one (e.g. postgresql://user:password@host:5432/dbname or sqlite:///var/assistant.sqlite3)."
        )
    return None


def actions_command(port: int) -> list[str]:
    """The rasa-sdk action server on `port` (it listens where SANIC_HOST says: environment() sets localhost), with
    deadlines for slow clients (bot/launch.py)."""
    return [sys.executable, "-m", "bot.launch", "rasa_sdk", "--actions", "actions", "--port", str(port)]


def rasa_command(
    model: Path,
    port: int,
    token: str,
    endpoints: Path | str | None = "endpoints.yml",
    credentials: Path | str | None = "credentials.yml",
) -> list[str]:
    """`rasa run` as every server of ours starts it: the HTTP API on, behind the token, on localhost only, with
    deadlines for slow clients (bot/launch.py)."""
    command = [sys.executable, "-m", "bot.launch", "--auth-token-file", str(token_file(token))]
    command += ["rasa", "run", "--model", str(model), "--enable-api"]
    command += ["--interface", "127.0.0.1", "--port", str(port)]
    if endpoints is not None:
        command += ["--endpoints", str(endpoints)]
    if credentials is not None:
        command += ["--credentials", str(credentials)]
    return command


def commands(model: Path) -> list[list[str]]:
    config = settings()
    return [
        actions_command(config.action_port),
        rasa_command(model, config.rasa_port, rasa_token()),
        # The chat page (:8000) reads RASA_URL and RASA_TOKEN from the environment serve() passes it.
        [sys.executable, "-m", "bot.web"],
    ]


def environment() -> dict[str, str]:
    """The children's environment. Every server listens on localhost only (the action server reads SANIC_HOST;
    Rasa gets --interface, the web app its --host default). The web app calls Rasa's API with the same token and
    URL Rasa was started with."""
    return {**os.environ, "SANIC_HOST": "127.0.0.1", "RASA_TOKEN": rasa_token(), "RASA_URL": settings().rasa_url}


def free_port() -> int:
    """A port nobody listens on now (tests, `make holdout`)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Wait for `url` to answer 200, or raise with the end of the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early; {log}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):  # not listening yet
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s; {log}:\n{log.read_text(errors='replace')[-3000:]}")


def stack_endpoints(path: Path, action_port: int, database_url: str) -> Path:
    """An endpoints.yml for a throw-away stack: our action server and the masking store on `database_url`."""
    path.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f'tracker_store:\n  type: bot.tracker_store.MaskingSQLTrackerStore\n  url: "{database_url}"\n'
    )
    return path


def stop_processes(processes: list[subprocess.Popen], grace: float = 15) -> None:
    """SIGTERM to all, then wait up to `grace` seconds in all before killing what is left."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def serve() -> int:
    model = latest_model()
    if model is None:
        print("No trained model in models/: run `make train` first.", file=sys.stderr)
        return 1
    problem = database_problem()
    if problem:  # the action server, Rasa and the web app all need it: stop before starting any of them
        print(problem, file=sys.stderr)
        return 1
    env = environment()
    processes = [subprocess.Popen(command, cwd=ROOT, env=env) for command in commands(model)]
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(
        f"Chat page http://127.0.0.1:{web_settings().port}/  Rasa http://127.0.0.1:{settings().rasa_port}  "
        f"actions :{settings().action_port}  (Ctrl-C stops all)"
    )
    while not stopping and all(p.poll() is None for p in processes):
        time.sleep(0.5)
    stop_processes(processes)
    return 0 if stopping else 1
