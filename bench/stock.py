"""The stock-Rasa bot of the benchmark: our NLU data and config, plain responses, no custom actions, memory store.

Generated into var/bench/stock/ and trained there once; trained again only when what it is made from changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot.config import ROOT, VAR_DIR

STOCK_DIR = VAR_DIR / "bench" / "stock"
# What the stock bot is built from: a change to any of these trains it again.
INPUTS = ("config.yml", "domain.yml", "data/nlu", "var/jieba", "bot/nlu", "requirements.lock", "bench/stock.py")


def _digest(paths: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in paths:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def stock_domain(domain: dict[str, Any]) -> dict[str, Any]:
    """Our intents and entities; one plain response per intent, nothing else (no slots, forms or actions)."""
    intents = [next(iter(i)) if isinstance(i, dict) else i for i in domain["intents"]]
    responses = {f"utter_{intent}": [{"text": f"（标准回复）{intent}"}] for intent in intents}
    responses["utter_default"] = [{"text": "抱歉，我没有理解。请拨打12345。"}]
    return {
        "version": "3.1",
        "intents": intents,
        "entities": list(domain.get("entities") or []),
        "responses": responses,
        "session_config": domain.get("session_config", {}),
    }


def stock_rules(intents: list[str]) -> dict[str, Any]:
    rules = [
        {"rule": f"answer {intent}", "steps": [{"intent": intent}, {"action": f"utter_{intent}"}]} for intent in intents
    ]
    rules.append({"rule": "fallback", "steps": [{"intent": "nlu_fallback"}, {"action": "utter_default"}]})
    return {"version": "3.1", "rules": rules}


def write_project(folder: Path = STOCK_DIR) -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    stock = stock_domain(domain)
    data = folder / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(ROOT / "data" / "nlu", data / "nlu")
    (data / "rules.yml").write_text(yaml.safe_dump(stock_rules(stock["intents"]), allow_unicode=True), "utf-8")
    (folder / "domain.yml").write_text(yaml.safe_dump(stock, allow_unicode=True, sort_keys=False), "utf-8")
    # Same pipeline, but Rasa's own DIETClassifier and ResponseSelector: ours (bot/nlu/diet.py,
    # bot/nlu/faq_selector.py) train and finetune faster, and the committed data has no staff FAQs to select.
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    config = config.replace("name: bot.nlu.diet.DIETClassifier", "name: DIETClassifier")
    config = config.replace("name: bot.nlu.faq_selector.FaqSelector", "name: ResponseSelector")
    config = re.sub(r"\n +finetune_epochs: .*", "", config)  # our selector's option
    (folder / "config.yml").write_text(config, "utf-8")
    (folder / "endpoints.yml").write_text("# stock Rasa: in-memory tracker store, no action server\n", "utf-8")
    (folder / "credentials.yml").write_text("rest:\n", "utf-8")


def stock_model(force: bool = False) -> tuple[Path, float | None]:
    """The trained stock model and, if it was trained in this call, how long training took (seconds)."""
    STOCK_DIR.mkdir(parents=True, exist_ok=True)
    stamp = STOCK_DIR / "fingerprint.json"
    fingerprint = _digest(INPUTS)
    if not force and stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get("fingerprint") == fingerprint and Path(saved.get("model", "-")).is_file():
            return Path(saved["model"]), None
    write_project()
    models = STOCK_DIR / "models"
    started = time.monotonic()
    command = [sys.executable, "-m", "rasa", "train", "--config", str(STOCK_DIR / "config.yml")]
    command += ["--domain", str(STOCK_DIR / "domain.yml"), "--data", str(STOCK_DIR / "data"), "--out", str(models)]
    command += ["--fixed-model-name", "stock"]
    print("bench: training the stock-Rasa bot in var/bench/stock/ (once; reused while its inputs are unchanged)")
    with (STOCK_DIR / "train.log").open("w", encoding="utf-8") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    seconds = time.monotonic() - started
    model = models / "stock.tar.gz"
    if code != 0 or not model.is_file():
        raise RuntimeError(f"training the stock bot failed; see {STOCK_DIR / 'train.log'}")
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "model": str(model), "train_seconds": seconds}))
    return model, seconds
