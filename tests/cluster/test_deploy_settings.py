"""Where a deploy goes (bot/deploy.py), without servers: the instances and the model server's file come from the
environment `make run-cluster` gives its processes, or from var/cluster/deploy.json for a `python -m bot retrain`
started in another shell; without either, the one server of `make run` gets `PUT /model`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot import deploy
from bot.cluster import ClusterConfig, endpoints_yml
from bot.deploy import Target, publish


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("RASA_INSTANCES", "LIVE_MODEL_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:5005")
    monkeypatch.setenv("RASA_TOKEN", "t")
    monkeypatch.setattr(deploy, "DEPLOY_FILE", tmp_path / "deploy.json")
    return tmp_path / "deploy.json"


def test_one_server_without_a_model_server(no_cluster: Path) -> None:
    target = Target.from_settings()
    assert (target.url, target.instances, target.live_model) == ("http://127.0.0.1:5005", (), None)
    assert target.servers() == ["http://127.0.0.1:5005"]


def test_the_cluster_environment_names_every_instance(no_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_INSTANCES", "http://127.0.0.1:5011, http://127.0.0.1:5012/")
    monkeypatch.setenv("LIVE_MODEL_FILE", "/srv/model/model.tar.gz")
    target = Target.from_settings()
    assert target.servers() == ["http://127.0.0.1:5011", "http://127.0.0.1:5012"]
    assert target.live_model == Path("/srv/model/model.tar.gz")


def test_a_running_cluster_is_found_for_its_own_url_only(no_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"rasa_url": "http://127.0.0.1:5005", "instances": ["http://a:1", "http://b:2"], "live_model": "/m"}
    no_cluster.write_text(json.dumps(settings), encoding="utf-8")
    assert Target.from_settings().servers() == ["http://a:1", "http://b:2"]
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:6005")  # another stack on this machine
    assert Target.from_settings().live_model is None


def test_publishing_replaces_the_live_file_in_one_rename(tmp_path: Path) -> None:
    first, second, live = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", tmp_path / "model" / "model.tar.gz"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    publish(first, live)
    inode = live.stat().st_ino
    publish(second, live)
    assert live.read_bytes() == b"second" and live.stat().st_ino != inode  # a new file: nginx gives a new ETag
    assert sorted(os.listdir(live.parent)) == ["model.tar.gz"]  # no temporary left behind


def test_the_instances_pull_from_the_model_server(tmp_path: Path) -> None:
    config = ClusterConfig("postgresql://x/y", "", Path("m"), work_dir=tmp_path, model_port=5999)
    text = endpoints_yml(config)
    assert 'models:\n  url: "http://127.0.0.1:5999/model.tar.gz"\n  wait_time_between_pulls: 10' in text
    assert "models:" not in endpoints_yml(ClusterConfig("postgresql://x/y", "", Path("m"), work_dir=tmp_path))
