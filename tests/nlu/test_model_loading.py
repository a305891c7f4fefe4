"""bot.model_loading: a model loaded for prediction only answers exactly as Rasa's own loading does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.config import ROOT
from tests.nlu.subprocess_json import run_json

# One load per fresh process: loading a second model in the same process registers the jieba dictionary twice,
# which moves some confidences by itself.
PARSE = """
import asyncio, json, sys
from bot.evaluate import load_examples, _quiet_rasa
from rasa.core.agent import Agent
from rasa.utils.tensorflow.models import RasaModel
from bot import model_loading
from tests.nlu.subprocess_json import emit

_quiet_rasa()
if sys.argv[3] == "lean":
    model_loading.install()
    assert RasaModel.load.__func__ is model_loading.lean_load
agent = Agent.load(sys.argv[1])

async def run():
    return [await agent.parse_message(text) for text, _ in load_examples(sys.argv[2])]

emit([
    {"intent": p["intent"]["name"], "ranking": {r["name"]: r["confidence"] for r in p["intent_ranking"]},
     "entities": [[e["entity"], e["value"]] for e in p["entities"]]}
    for p in asyncio.run(run())
])
"""


def _parses(model: Path, loading: str) -> list[dict[str, Any]]:
    holdout = ROOT / "tests" / "nlu_holdout.yml"
    return list(run_json(PARSE, str(model), str(holdout), loading))


def test_lean_loading_predicts_what_rasa_loading_predicts(model_path: Path) -> None:
    rasa_way, lean = _parses(model_path, "rasa"), _parses(model_path, "lean")
    assert len(rasa_way) == len(lean) > 500
    for ours, theirs in zip(lean, rasa_way, strict=True):
        assert ours["intent"] == theirs["intent"]
        assert ours["entities"] == theirs["entities"]
        assert ours["ranking"].keys() == theirs["ranking"].keys()
        assert max(abs(ours["ranking"][name] - theirs["ranking"][name]) for name in ours["ranking"]) < 1e-5


def test_our_channels_install_it_before_rasa_loads_the_model() -> None:
    """`rasa run` builds the channels' blueprints before it loads the model; ours put the loader in."""
    script = (
        "from bot.channels.rest import MaskedRestInput; "
        "from rasa.utils.tensorflow.models import RasaModel; from bot import model_loading; "
        "assert RasaModel.load.__func__ is not model_loading.lean_load; "
        "MaskedRestInput().blueprint(lambda message: None); "
        "print(RasaModel.load.__func__ is model_loading.lean_load)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "True"
