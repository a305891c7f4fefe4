"""Train the Rasa model only when something it is built from changed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from bot.config import ROOT, settings

# Everything a trained model depends on; a change to any of these retrains.
INPUTS = ("config.yml", "domain.yml", "data", "var/jieba", "bot/nlu", "requirements.lock")


def fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def latest_model(models_dir: Path | None = None) -> Path | None:
    folder = models_dir or settings().models_dir
    models = sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def _stamp_path() -> Path:
    return settings().models_dir / "fingerprint.json"


def is_current() -> bool:
    stamp = _stamp_path()
    if not stamp.is_file():
        return False
    saved = json.loads(stamp.read_text())
    return saved.get("fingerprint") == fingerprint() and Path(saved.get("model", "-")).is_file()


def train(force: bool = False) -> int:
    if not force and is_current():
        print(f"Model is up to date: {latest_model()}")
        return 0
    models_dir = settings().models_dir
    command = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(models_dir),
    ]
    code = subprocess.call(command, cwd=ROOT)
    model = latest_model(models_dir)
    if code == 0 and model:
        stamp = {"fingerprint": fingerprint(), "model": str(model.resolve())}
        _stamp_path().write_text(json.dumps(stamp))
    return code
