"""bot.nlu.fast_predict: calling the traced prediction graph directly answers exactly as Rasa's call does."""

from __future__ import annotations

from pathlib import Path

from bot.config import ROOT
from tests.nlu.subprocess_json import run_json

# One process: parse the hold-out file with the direct call, then with Rasa's own, on the same loaded model.
PARSE = """
import asyncio, json, sys
from bot.evaluate import load_agent, load_examples, _quiet_rasa
from bot.nlu import fast_predict
from bot.nlu.fast_predict import FastPredict
from tests.nlu.subprocess_json import emit

direct_calls = []
fits = fast_predict._fits
fast_predict._fits = lambda batch, inputs: direct_calls.append(fits(batch, inputs)) or direct_calls[-1]
_quiet_rasa()
agent = load_agent(sys.argv[1])
texts = [text for text, _ in load_examples(sys.argv[2])]

async def parses():
    return [await agent.parse_message(text) for text in texts]

def summary(parsed):
    return [{"intent": p["intent"]["name"], "ranking": {r["name"]: r["confidence"] for r in p["intent_ranking"]},
             "entities": [[e["entity"], e["value"], e["start"], e["end"]] for e in p["entities"]]} for p in parsed]

direct = summary(asyncio.run(parses()))
used = sum(direct_calls)
FastPredict.enabled = False
rasa = summary(asyncio.run(parses()))
emit({"direct": direct, "rasa": rasa, "direct_calls": used})
"""


def test_direct_calls_predict_what_rasas_call_predicts(model_path: Path) -> None:
    parsed = run_json(PARSE, str(model_path), str(ROOT / "tests" / "nlu_holdout.yml"))
    assert len(parsed["direct"]) == len(parsed["rasa"]) > 500
    assert parsed["direct_calls"] >= len(parsed["rasa"]) - 1  # all but the first (which traces) went direct
    assert parsed["direct"] == parsed["rasa"]  # the same graph on the same inputs: equal to the last bit
