"""`make run-cluster`: the production layout on one machine (docs/deploy.md).

PostgreSQL (conversation log, KB, console) and Redis (Rasa's lock store, WeChat dedup) of this machine, two Rasa
instances, one action server, the chat page, and nginx in front of the Rasa instances on the public Rasa port,
each conversation pinned to one instance (`deploy/nginx.conf.template`). Ctrl-C stops all.

Tests and the benchmark use `Cluster` directly, with their own ports, database and work folder.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.config import ROOT, VAR_DIR, limit_settings, settings, web_settings
from bot.serve import actions_command, rasa_command, rasa_token

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/zhumadian"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
# Rasa's Redis lock store keeps a dead instance's lock on a conversation for this long (Rasa's default is 60 s);
# it must stay longer than the slowest turn, or two turns of one conversation could overlap.
LOCK_LIFETIME_SECONDS = 20
START_TIMEOUT_SECONDS = 300.0
LIVE_MODEL_NAME = "model.tar.gz"
# The model server, a second `server` of the same nginx: the live model file with nginx's own ETag (its mtime and
# size), so Rasa's `If-None-Match` gets 304 until the file is replaced. Only this one URL; localhost only.
MODEL_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        location = /{name} {{
            alias {path};
            default_type application/gzip;
            add_header filename {name};
        }}
        location / {{
            return 404;
        }}
    }}
"""


class ClusterError(Exception):
    """Something the cluster needs is missing; the message says what to do."""


@dataclass
class ClusterConfig:
    """Ports and places; the defaults are `make run-cluster`'s."""

    database_url: str
    redis_url: str
    model: Path
    work_dir: Path = VAR_DIR / "cluster"
    public_port: int = 5005
    rasa_ports: tuple[int, ...] = (5011, 5012)
    action_port: int = 5055
    web_port: int | None = 8000
    token: str = ""
    max_body: str = "64k"
    read_timeout: str = "60s"
    access_log: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Rasa's model server: nginx serves the live model on this port and every instance pulls it from there
    # (endpoints.yml `models:`); None: no model server (the instances keep the model they started with).
    model_port: int | None = None
    model_pull_seconds: int = 10

    @property
    def live_model(self) -> Path:
        """The model every instance pulls: `bot.deploy.publish` replaces this file, nginx serves it."""
        return self.work_dir / "model" / LIVE_MODEL_NAME

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}/{LIVE_MODEL_NAME}"


def nginx_binary() -> str:
    """Debian's nginx (`apt-get install nginx-light`, done by `make run-cluster` if missing)."""
    found = shutil.which("nginx") or next((path for path in NGINX_CANDIDATES if Path(path).is_file()), None)
    if not found:
        raise ClusterError("nginx not found: install it with `apt-get install -y nginx-light` (make run-cluster does)")
    return found


def nginx_config(config: ClusterConfig) -> str:
    """deploy/nginx.conf.template with this cluster's ports and folders."""
    prefix = config.work_dir / "nginx"
    # max_fails > 1: nginx counts a slow connect (a busy instance's full accept queue) as a failure too, and one
    # such timeout must not take a live instance out of the ring.
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=5 fail_timeout=5s;" for port in config.rasa_ports)
    values = {
        "user": f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}",
        "prefix": str(prefix),
        "access_log": f"{prefix / 'access.log'} cluster" if config.access_log else "off",
        "max_body": config.max_body,
        "rasa_servers": servers,
        "listen": f"127.0.0.1:{config.public_port}",
        "read_timeout": config.read_timeout,
        "model_server": ""
        if config.model_port is None
        else MODEL_SERVER.format(port=config.model_port, name=LIVE_MODEL_NAME, path=config.live_model),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def endpoints_yml(config: ClusterConfig) -> str:
    """Rasa's endpoints for every instance: one action server, the masking SQL store, the Redis lock store."""
    redis = make_url(config.redis_url.replace("redis://", "redis+x://", 1)) if config.redis_url else None
    lines = [
        "# Written by bot/cluster.py for make run-cluster; docs/deploy.md explains each part.",
        "action_endpoint:",
        f'  url: "http://127.0.0.1:{config.action_port}/webhook"',
        "tracker_store:",
        "  type: bot.tracker_store.MaskingSQLTrackerStore  # DATABASE_URL",
        f'  spool_dir: "{config.work_dir / "spool"}"',
    ]
    if config.model_port is not None:
        lines += [  # Rasa's model server: each instance asks every N s and loads the model when its ETag changes
            "models:",
            f'  url: "{config.model_url}"',
            f"  wait_time_between_pulls: {config.model_pull_seconds}",
        ]
    if redis is not None:
        lines += [
            "lock_store:",
            "  type: redis",
            f'  url: "{redis.host or "127.0.0.1"}"',
            f"  port: {redis.port or 6379}",
            f"  db: {int(redis.database or 0)}",
            '  key_prefix: "zhumadian"',
        ]
        if redis.password:
            lines.append(f'  password: "{redis.password}"')
    return "\n".join(lines) + "\n"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database if it does not exist yet; say clearly when the server cannot be reached."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ClusterError(f"the cluster needs PostgreSQL: DATABASE_URL={parsed.render_as_string()} is not")
    admin = sa.create_engine(parsed.set(database="postgres"), future=True, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if not exists:
                connection.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    except sa.exc.OperationalError as error:
        raise ClusterError(
            f"PostgreSQL at DATABASE_URL={parsed.render_as_string()} is not reachable ({error.orig}); "
            "start it (.ci/run does) or set DATABASE_URL"
        ) from error
    finally:
        admin.dispose()


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as error:
        raise ClusterError(f"Redis at REDIS_URL={url} is not reachable ({error}); start it (.ci/run does)") from error


class Cluster:
    """The processes of one cluster; `start()` waits until nginx answers for every Rasa instance."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.public_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.config.database_url,
            "REDIS_URL": self.config.redis_url,
            "RASA_TOKEN": self.config.token,
            "RASA_URL": self.url,
            "SANIC_HOST": "127.0.0.1",
            "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME_SECONDS),
            **(
                {"RASA_INSTANCES": ",".join(self.instance_urls()), "LIVE_MODEL_FILE": str(self.config.live_model)}
                if self.config.model_port is not None
                else {}
            ),
            **self.config.extra_env,
        }

    def commands(self) -> dict[str, list[str]]:
        config, work = self.config, self.config.work_dir
        commands = {"actions": actions_command(config.action_port)}
        # nginx first: with a model server the instances pull their first model from it as they start.
        commands["nginx"] = [nginx_binary(), "-p", str(work / "nginx"), "-c", str(work / "nginx" / "nginx.conf")]
        commands["nginx"] += ["-g", "daemon off;"]
        for number, port in enumerate(config.rasa_ports, start=1):
            endpoints, credentials = work / "endpoints.yml", ROOT / "credentials.yml"
            commands[f"rasa{number}"] = rasa_command(config.model, port, config.token, endpoints, credentials)
        if config.web_port is not None:
            commands["web"] = [sys.executable, "-m", "bot.web"]
        return commands

    def instance_urls(self) -> list[str]:
        return [self.rasa_url(number) for number in range(1, len(self.config.rasa_ports) + 1)]

    def write_files(self) -> None:
        work = self.config.work_dir
        for folder in ("nginx/tmp", "logs", "spool"):
            (work / folder).mkdir(parents=True, exist_ok=True)
        (work / "nginx" / "nginx.conf").write_text(nginx_config(self.config), encoding="utf-8")
        (work / "endpoints.yml").write_text(endpoints_yml(self.config), encoding="utf-8")
        if self.config.model_port is not None:
            from bot.deploy import publish

            publish(self.config.model, self.config.live_model)
            # `python -m bot retrain` started in another shell finds the instances here (make run-cluster's folder
            # is var/cluster: bot.deploy.DEPLOY_FILE)
            (work / "deploy.json").write_text(json.dumps(self.deploy_settings()), encoding="utf-8")

    def deploy_settings(self) -> dict[str, object]:
        """Where a new model goes live (bot.deploy.Target reads it from RASA_INSTANCES and LIVE_MODEL_FILE, or from
        var/cluster/deploy.json while `make run-cluster` runs)."""
        return {"rasa_url": self.url, "instances": self.instance_urls(), "live_model": str(self.config.live_model)}

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        self.write_files()
        check = subprocess.run(  # noqa: S603 - our own generated file
            [nginx_binary(), "-t", "-q", "-p", str(self.config.work_dir / "nginx"), "-c", "nginx.conf"],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise ClusterError(f"nginx rejects the generated configuration: {check.stderr.strip()}")
        env = self.env()
        if self.config.web_port is not None:
            env["WEB_PORT"] = str(self.config.web_port)
        for name, command in self.commands().items():
            self.start_process(name, command, env)
        try:
            self.wait_until_up(timeout)
        except BaseException:
            self.stop()
            raise

    def start_process(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self.config.work_dir / "logs" / f"{name}.log"
        self.logs[name] = log
        with log.open("a", encoding="utf-8") as out:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - fixed commands
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def rasa_url(self, number: int) -> str:
        return f"http://127.0.0.1:{self.config.rasa_ports[number - 1]}"

    def wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        urls = [
            f"{self.rasa_url(n)}/status?token={self.config.token}" for n in range(1, len(self.config.rasa_ports) + 1)
        ]
        urls += [f"http://127.0.0.1:{self.config.action_port}/health", f"{self.url}/"]
        for url in urls:
            # an instance answers /status with 200 once it has a model (409 before: e.g. the first pull failed)
            while not _answers(url, ok=200 if "/status?" in url else 499):
                dead = [name for name, process in self.processes.items() if process.poll() is not None]
                if dead:
                    raise ClusterError(f"{', '.join(dead)} stopped while starting:\n{self.tail(dead[0])}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"{url.split('?')[0]} not up after {timeout:.0f} s")
                time.sleep(0.5)

    def tail(self, name: str, chars: int = 3000) -> str:
        log = self.logs.get(name)
        return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log and log.is_file() else ""

    def kill(self, name: str) -> None:
        """SIGKILL one process (e.g. `rasa1`), as a crash would."""
        process = self.processes[name]
        process.kill()
        process.wait(timeout=10)

    def stop(self) -> None:
        (self.config.work_dir / "deploy.json").unlink(missing_ok=True)  # nothing to deploy to any more
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _answers(url: str, ok: int = 499) -> bool:
    try:
        return requests.get(url, timeout=2).status_code <= ok
    except requests.RequestException:
        return False


def prepare(database_url: str) -> None:
    """The KB in the cluster's database (every instance and the action server read it there)."""
    code = subprocess.call(
        [sys.executable, "-m", "bot", "kb", "build"], cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url}
    )
    if code != 0:
        raise ClusterError("`python -m bot kb build` failed for the cluster's database (see above)")


def main() -> int:
    """`python -m bot cluster`: start everything, print where, wait for Ctrl-C, stop everything."""
    from bot.training import latest_model

    model = latest_model()
    if model is None:
        print("No trained model in models/: run `make train` first.", file=sys.stderr)
        return 1
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    ports = settings()
    config = ClusterConfig(database_url, redis_url, model, token=rasa_token(), public_port=ports.rasa_port)
    config.rasa_ports = (ports.rasa_port + 6, ports.rasa_port + 7)  # 5011 and 5012 by default
    config.action_port, config.web_port = ports.action_port, web_settings().port
    config.max_body = str(limit_settings().request_max_bytes)
    config.model_port = ports.rasa_port + 8  # 5013: the model server the instances pull from
    cluster = Cluster(config)
    try:
        ensure_database(database_url)
        check_redis(redis_url)
        prepare(database_url)
        cluster.start()
    except ClusterError as error:
        print(f"run-cluster: {error}", file=sys.stderr)
        return 1
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    instances = ", ".join(str(port) for port in config.rasa_ports)
    print(
        f"nginx {cluster.url} -> Rasa instances on {instances}; actions :{config.action_port}; "
        f"chat page http://127.0.0.1:{config.web_port}/; logs in {config.work_dir / 'logs'}  (Ctrl-C stops all)"
    )
    while not stopping and all(process.poll() is None for process in cluster.processes.values()):
        time.sleep(0.5)
    dead = [name for name, process in cluster.processes.items() if process.poll() is not None]
    cluster.stop()
    if dead and not stopping:
        print(f"run-cluster: {', '.join(dead)} stopped; everything else stopped too.", file=sys.stderr)
        return 1
    return 0


def register(commands: argparse._SubParsersAction, handlers: dict[str, Callable[[argparse.Namespace], int]]) -> None:
    """Add `python -m bot cluster` (make run-cluster) to the CLI."""
    commands.add_parser("cluster", help="PostgreSQL + Redis, two Rasa instances behind nginx, actions, chat page")
    handlers["cluster"] = lambda args: main()
