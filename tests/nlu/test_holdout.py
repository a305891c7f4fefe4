"""NLU quality on tests/nlu_holdout.yml, a file written separately and never trained on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.evaluate import Report, evaluate, load_examples

HOLDOUT = ROOT / "tests" / "nlu_holdout.yml"


def _plain(text: str) -> str:
    return re.sub(r"[\s，。！？,.!?~～、]", "", text)


@pytest.fixture(scope="module")
def report(model_path: Path) -> Report:
    return evaluate(HOLDOUT, model_path)


def test_holdout_is_never_trained_on() -> None:
    training = {_plain(text) for path in (ROOT / "data" / "nlu").glob("*.yml") for text, _ in load_examples(path)}
    overlap = [text for text, _ in load_examples(HOLDOUT) if _plain(text) in training]
    assert overlap == []


def test_holdout_covers_every_topic_intent_with_ten_examples() -> None:
    counts: dict[str, int] = {}
    for _, intent in load_examples(HOLDOUT):
        counts[intent] = counts.get(intent, 0) + 1
    topics = {
        line.split("|")[1].strip()
        for line in (ROOT / "docs/intents.md").read_text().splitlines()
        if line.startswith(("| ask_", "| report_"))
    }
    assert {t: counts.get(t, 0) for t in topics if counts.get(t, 0) < 10} == {}


def test_intent_accuracy(report: Report) -> None:
    assert report.in_scope_accuracy >= 0.95, report.errors


def test_out_of_scope_recall(report: Report) -> None:
    assert report.oos_recall >= 0.9, [e for e in report.errors if e["expected"] == "out_of_scope"]


def test_few_misroutes(report: Report) -> None:
    """A confident wrong office is the worst answer: at most 2% of the hold-out."""
    assert report.misroute_rate <= 0.02, [
        e for e in report.errors if e["predicted"] not in {"nlu_fallback", "out_of_scope"}
    ]
