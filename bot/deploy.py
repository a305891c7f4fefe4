"""Putting a model live on every Rasa instance, and asking each instance which model it serves.

One instance (`make run`): ``PUT /model`` with the server's token (bot/channels/model_swap.py loads it beside the
running one, then swaps).

Several instances behind nginx (`make run-cluster`, docs/deploy.md): a ``PUT /model`` to nginx reaches one instance
only. Instead the cluster uses Rasa's own model server: nginx serves the live model file (`LIVE_MODEL_FILE`) with
an ETag, every instance asks for it every few seconds (endpoints.yml ``models:`` ``url``, ``wait_time_between_pulls``,
``If-None-Match``) and loads it when it changed. `deploy` replaces that file (atomically) and waits until every
instance (`RASA_INSTANCES`) reports the new model's id in ``/status``. An instance that was down, or restarts,
pulls the live model as it starts, whatever ``--model`` its command line names.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bot.config import VAR_DIR, settings

# `make run-cluster` writes where its model server and instances are, for `python -m bot retrain` in another shell.
DEPLOY_FILE = VAR_DIR / "cluster" / "deploy.json"
STATUS_TIMEOUT = 5.0


class DeployError(RuntimeError):
    """The model could not be put live; the message says where."""


@dataclass
class Target:
    """The running Rasa server(s) to deploy to: `url` (nginx with several instances), the API token, and with a
    model server the instances' own URLs and the file the model server serves."""

    url: str
    token: str
    instances: tuple[str, ...] = ()
    live_model: Path | None = None

    @classmethod
    def from_settings(cls) -> Target:
        """RASA_URL and RASA_TOKEN (or var/rasa-token); RASA_INSTANCES (comma-separated) and LIVE_MODEL_FILE, or what
        a running `make run-cluster` wrote into var/cluster/deploy.json for this RASA_URL."""
        from bot.serve import rasa_token

        url, token = settings().rasa_url.rstrip("/"), rasa_token()
        instances = [part.strip().rstrip("/") for part in os.environ.get("RASA_INSTANCES", "").split(",")]
        live = os.environ.get("LIVE_MODEL_FILE", "")
        if not any(instances) and DEPLOY_FILE.is_file():
            data = json.loads(DEPLOY_FILE.read_text(encoding="utf-8"))
            if str(data.get("rasa_url", "")).rstrip("/") == url:
                instances, live = [str(i) for i in data.get("instances") or []], str(data.get("live_model") or "")
        found = tuple(i for i in instances if i)
        return cls(url, token, found, Path(live) if live and found else None)

    def servers(self) -> list[str]:
        """Each Rasa instance's own URL (the one server when there is no model server)."""
        return list(self.instances) or [self.url]


def model_id(model: Path) -> str:
    """The id Rasa gave the model at training (its metadata.json), which `/status` reports as `model_id`."""
    with tarfile.open(model, "r:gz") as archive:
        for member in archive:
            if member.name.lstrip("./") == "metadata.json":
                handle = archive.extractfile(member)
                if handle is not None:
                    return str(json.load(handle).get("model_id") or "")
    return ""


def publish(model: Path, live: Path) -> None:
    """Make `model` the file the model server serves: a copy (its own mtime, so nginx gives it a new ETag) that
    replaces the old one in one rename, so an instance never downloads half a file."""
    live.parent.mkdir(parents=True, exist_ok=True)
    temporary = live.with_name(f".{live.name}.{os.getpid()}.tmp")
    shutil.copyfile(model, temporary)
    os.replace(temporary, live)


def status(target: Target, server: str) -> dict[str, Any]:
    """An instance's `/status` (model_file, model_id), or {"error": why}."""
    try:
        response = requests.get(f"{server}/status", params={"token": target.token}, timeout=STATUS_TIMEOUT)
    except requests.RequestException as error:
        return {"error": f"不可达（{type(error).__name__}）"}
    if response.status_code != 200:
        return {"error": f"HTTP {response.status_code}"}
    return dict(response.json())


def put_model(target: Target, model: Path, timeout: float) -> None:
    """PUT /model: Rasa loads the new model beside the old one and then swaps; requests keep being answered."""
    response = requests.put(
        f"{target.url}/model",
        params={"token": target.token},
        json={"model_file": str(model.resolve())},
        timeout=timeout,
    )
    if response.status_code != 204:
        raise DeployError(f"Rasa 服务器拒绝加载模型 {model.name}：HTTP {response.status_code} {response.text[:300]}")


def deploy(target: Target, model: Path, timeout: float = 300) -> list[str]:
    """Put `model` live on every instance; returns the instances that had not loaded it after `timeout` seconds
    (down, or slow: they load it when they come back). Without a model server: PUT /model to the one server."""
    if target.live_model is None:
        put_model(target, model, timeout)
        return []
    wanted = model_id(model)
    publish(model, target.live_model)
    return wait_for(target, wanted, timeout)


def wait_for(target: Target, wanted: str, timeout: float) -> list[str]:
    """Wait until every instance reports model `wanted`; the ones that did not, when time is up."""
    deadline = time.monotonic() + timeout
    waiting = target.servers()
    while waiting:
        waiting = [server for server in waiting if status(target, server).get("model_id") != wanted]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return waiting


@dataclass
class InstanceModel:
    """What one instance serves, for the console."""

    server: str
    model: str  # the registry's file name for its model id, else the file name Rasa reports, else why unknown
    model_id: str
    live: bool  # the registry's live model


def instance_models(target: Target, records: list[Any]) -> list[InstanceModel]:
    """Each instance's model, named as in the registry (`records`: bot.retrain.ModelRecord) when its id is known."""
    names = {record.model_id: Path(record.file).name for record in records if getattr(record, "model_id", "")}
    live = {record.model_id for record in records if record.status == "live" and record.model_id}
    rows = []
    for server in target.servers():
        answer = status(target, server)
        found = str(answer.get("model_id") or "")
        name = names.get(found) or str(answer.get("model_file") or answer.get("error") or "未知")
        rows.append(InstanceModel(server, name, found, found in live))
    return rows
