"""A real cluster for these tests: a fresh PostgreSQL database, Redis, two Rasa instances, the action server, nginx."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.cluster import Cluster, ClusterConfig
from kb.build import build
from tests.conftest import free_port

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def cluster_database() -> Iterator[str]:
    """A new PostgreSQL database for this test session, dropped at the end."""
    name = f"test_cluster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def cluster(model_path: Path, cluster_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two Rasa instances behind nginx on free ports; the nginx access log shows which instance served whom."""
    build(cluster_database)
    config = ClusterConfig(
        database_url=cluster_database,
        redis_url=REDIS_URL,
        model=model_path,
        work_dir=tmp_path_factory.mktemp("cluster"),
        public_port=free_port(),
        rasa_ports=(free_port(), free_port()),
        action_port=free_port(),
        web_port=None,
        token="cluster-" + uuid.uuid4().hex,
        access_log=True,
        read_timeout="600s",  # a loaded 2-core machine answers slowly; nginx must not cut a running turn
        extra_env={"ALERTS_FILE": str(tmp_path_factory.mktemp("alerts") / "alerts.jsonl")},
        model_port=free_port(),  # the model server the instances pull from (a retrained model reaches them all)
        model_pull_seconds=2,
    )
    running = Cluster(config)
    running.start(timeout=900)  # loading the model takes ~15 s on an idle machine, minutes on a busy one
    try:
        yield running
    finally:
        running.stop()
