"""Issue 17, items 11 and 12, on the real cluster: staff retrain with a new FAQ, and

- every Rasa instance serves the new model (Rasa's model server, bot/deploy.py), not only the one nginx would have
  sent a `PUT /model` to: each instance, asked directly, answers the FAQ that only the new model knows;
- the console lists the model of each instance;
- each instance answers the whole NLU hold-out exactly as the quality gate scored the model (same intent, same
  confidence and ranking to the last digit), although each has loaded a model before (bot/model_loading.py).

One full training (the FAQ intent is new). This file runs before test_cluster.py, whose last test kills an instance.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bot.cluster import Cluster
from bot.deploy import Target, instance_models
from bot.retrain import Options, RetrainResult, gate_file, load_registry, project_copy, retrain
from bot.web.admin.faqs import instances_table
from kb import faq
from tests.faq.test_retrain_e2e import ANSWER, CSV, UNSEEN


@dataclass
class Retrained:
    result: RetrainResult
    target: Target
    before: dict[str, str]  # instance → its answer to UNSEEN with the old model
    progress: list[str]


def ask(base_url: str, message: str) -> str:
    body = {"sender": f"deploy-{uuid.uuid4().hex[:10]}", "message": message}
    response = requests.post(f"{base_url}/webhooks/rest/webhook", json=body, timeout=300)
    assert response.status_code == 200, response.text
    return "\n".join(str(reply.get("text") or "") for reply in response.json())


@pytest.fixture(scope="module")
def retrained(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Retrained:
    work = tmp_path_factory.mktemp("cluster-retrain")
    target = Target(cluster.url, cluster.config.token, tuple(cluster.instance_urls()), cluster.config.live_model)
    before = {server: ask(server, UNSEEN) for server in target.servers()}
    csv = work / "faqs.csv"
    csv.write_text(CSV, encoding="utf-8")
    assert faq.import_csv(csv, "王芳", url=cluster.config.database_url).created
    progress: list[str] = []
    options = Options(
        actor="王芳",
        root=project_copy(work / "project"),
        models_dir=work / "models",
        target=target,
        url=cluster.config.database_url,
        progress=progress.append,
    )
    return Retrained(retrain(options), target, before, progress)


def test_a_retrained_faq_is_answered_by_every_instance(cluster: Cluster, retrained: Retrained) -> None:
    record = retrained.result.record
    assert retrained.result.deployed and record.status == "live", retrained.progress
    servers = retrained.target.servers()
    assert len(servers) == 2
    for server in servers:
        assert ANSWER not in retrained.before[server]  # only the new model knows the FAQ
        status = requests.get(f"{server}/status", params={"token": cluster.config.token}, timeout=30).json()
        assert status["model_id"] == record.model_id, (server, status)
        assert ANSWER in ask(server, UNSEEN), server
    # and through nginx, whichever instance a conversation is pinned to
    assert all(ANSWER in ask(cluster.url, UNSEEN) for _ in range(6))
    assert not any("尚未加载新模型" in line for line in retrained.progress), retrained.progress


def test_the_console_shows_the_model_of_each_instance(retrained: Retrained) -> None:
    records = load_registry(Path(retrained.result.record.file).parent)
    rows = instance_models(retrained.target, records)
    name = Path(retrained.result.record.file).name
    assert [(row.server, row.model, row.live) for row in rows] == [
        (server, name, True) for server in retrained.target.servers()
    ]
    html = instances_table(rows)
    assert all(server in html for server in retrained.target.servers()) and html.count(name) == 2


def test_every_instance_answers_the_holdout_as_the_gate_scored_it(cluster: Cluster, retrained: Retrained) -> None:
    scored = json.loads(gate_file(Path(retrained.result.record.file)).read_text(encoding="utf-8"))
    assert len(scored) > 500
    session = requests.Session()
    for server in retrained.target.servers():
        differ = []
        for gate in scored:
            parsed = session.post(
                f"{server}/model/parse", params={"token": cluster.config.token}, json={"text": gate["text"]}, timeout=60
            ).json()
            ranking = [[r["name"], r["confidence"]] for r in parsed["intent_ranking"]]
            served = {"intent": parsed["intent"]["name"], "confidence": parsed["intent"]["confidence"]}
            if served != {"intent": gate["intent"], "confidence": gate["confidence"]} or ranking != gate["ranking"]:
                differ.append((gate["text"], gate["intent"], gate["confidence"], served))
        assert not differ, f"{server}: {len(differ)} of {len(scored)} differ from the gate, e.g. {differ[:3]}"
