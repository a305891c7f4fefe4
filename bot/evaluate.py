"""Measure the NLU on a hold-out file: accuracy, out-of-scope recall and misroutes.

A misroute is the worst answer: a topic intent the resident did not ask about (sending them to the wrong office)
or a topic intent for an out-of-scope question. Falling back to "please call 12345" is not a misroute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.config import VAR_DIR
from bot.training import latest_model

REJECTED = {"out_of_scope", "nlu_fallback"}
CONVERSATIONAL = {
    "greet",
    "goodbye",
    "thanks",
    "bot_challenge",
    "ask_human",
    "affirm",
    "deny",
    "stop",
    "inform",
    "check_ticket_status",
    "ask_followup",  # names only an aspect: answered for the conversation's topic (tests/holdout/ measures that)
}
# bot.nlu.dialogue_acts puts every life-safety situation under one intent; the entity says which, and these are
# the topic intents that handle the same situation (an open hole is also a manhole report).
EMERGENCY_TOPICS = {
    "elevator_trapped": "report_elevator_trapped",
    "elevator_danger": "report_elevator_trapped",
    "manhole_fall": "report_manhole",
    "open_hole": "report_manhole",
}


@dataclass
class Report:
    examples: int = 0
    accuracy: float = 0.0
    in_scope_accuracy: float = 0.0
    oos_examples: int = 0
    oos_recall: float = 0.0
    misroutes: int = 0
    misroute_rate: float = 0.0
    errors: list[dict[str, str]] = field(default_factory=list)
    per_intent: dict[str, float] = field(default_factory=dict)


def _is_topic(intent: str) -> bool:
    return intent not in REJECTED and intent not in CONVERSATIONAL


def score(pairs: list[tuple[str, str, str]]) -> Report:
    """pairs: (text, expected intent, predicted intent)."""
    report = Report(examples=len(pairs))
    correct: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    in_scope, in_scope_ok = 0, 0
    for text, expected, predicted in pairs:
        ok = predicted == expected or (expected == "out_of_scope" and predicted in REJECTED)
        totals[expected] += 1
        correct[expected] += ok
        if expected != "out_of_scope":
            in_scope += 1
            in_scope_ok += ok
        if not ok:
            report.errors.append({"text": text, "expected": expected, "predicted": predicted})
            report.misroutes += _is_topic(predicted)
    report.accuracy = sum(correct.values()) / max(1, len(pairs))
    report.in_scope_accuracy = in_scope_ok / max(1, in_scope)
    report.oos_examples = totals["out_of_scope"]
    report.oos_recall = correct["out_of_scope"] / max(1, totals["out_of_scope"])
    report.misroute_rate = report.misroutes / max(1, len(pairs))
    report.per_intent = {intent: correct[intent] / totals[intent] for intent in sorted(totals)}
    return report


def _quiet_rasa() -> None:
    """Rasa logs every parse at debug level; the report is what matters here."""
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)


def load_agent(model: Path) -> Any:
    """A Rasa agent for `model`, quiet and loaded for prediction only (bot.model_loading), as the server does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rasa.core.agent import Agent

    from bot import model_loading

    _quiet_rasa()
    model_loading.install()
    return Agent.load(str(model))


async def predict(model: Path, examples: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    agent = load_agent(model)
    pairs = []
    for text, expected in examples:
        parsed = await agent.parse_message(text)
        pairs.append((text, expected, routed_intent(parsed)))
    return pairs


def routed_intent(parsed: dict[str, Any]) -> str:
    """The intent a parse is answered as (an emergency by the topic that handles that situation)."""
    intent = str(parsed["intent"]["name"])
    if intent != "report_emergency":
        return intent
    kind = next((e["value"] for e in parsed.get("entities", []) if e.get("entity") == "emergency"), "")
    return EMERGENCY_TOPICS.get(kind, intent)


def load_examples(path: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def evaluate(path: Path, model: Path) -> Report:
    return score(asyncio.run(predict(model, load_examples(path))))


def main(file: str, model: str | None) -> int:
    chosen = Path(model) if model else latest_model()
    if chosen is None:
        print("No trained model: run `make train` first.")
        return 1
    report = evaluate(Path(file), chosen)
    VAR_DIR.mkdir(exist_ok=True)
    (VAR_DIR / "holdout-report.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    print(
        f"examples {report.examples}  accuracy {report.accuracy:.3f}  in-scope {report.in_scope_accuracy:.3f}  "
        f"out-of-scope recall {report.oos_recall:.3f} ({report.oos_examples})  "
        f"misroutes {report.misroutes} ({report.misroute_rate:.1%})"
    )
    for error in report.errors:
        print(f"  {error['expected']:>28} -> {error['predicted']:<28} {error['text']}")
    return 0
