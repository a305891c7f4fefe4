"""Guards that rasa-sdk and Rasa only log: misspelt validators, topics without an entry or a rule."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import yaml
from rasa_sdk import Action, FormValidationAction

import actions
from bot.config import ROOT
from kb.build import EMERGENCY_PREFIX, load

# Set by bot.nlu.dialogue_acts (not learnt) and answered from other entries: the emergency_* ones, the topic slot.
DIALOGUE_ACTS = {"report_emergency", "ask_followup"}


def action_classes() -> dict[str, type[Action]]:
    for module in pkgutil.walk_packages(actions.__path__, "actions."):
        importlib.import_module(module.name)
    found: dict[str, type[Action]] = {}
    stack: list[type] = [Action]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("actions.") and not getattr(cls, "__abstractmethods__", None):
            found[cls().name()] = cls
    return found


def test_every_form_has_its_validator_with_a_method_per_slot(domain: dict[str, Any]) -> None:
    classes = action_classes()
    for form, spec in domain["forms"].items():
        validator = classes[f"validate_{form}"]
        assert issubclass(validator, FormValidationAction)
        for slot in spec["required_slots"]:
            assert callable(getattr(validator, f"validate_{slot}", None)), f"validate_{slot} missing"


def test_every_custom_action_in_the_domain_exists(domain: dict[str, Any]) -> None:
    assert set(domain["actions"]) <= set(action_classes())


def test_every_topic_intent_has_an_entry_and_a_rule(domain: dict[str, Any]) -> None:
    rules = yaml.safe_load((ROOT / "data/rules/answers.yml").read_text(encoding="utf-8"))["rules"]
    answered = {rule["steps"][0]["intent"] for rule in rules}
    entries = {entry["intent"] for entry in load().entries}
    topics = {i for i in domain["intents"] if re.match(r"(ask|report)_", i)} - {"ask_human", "report_manhole"}
    topics -= DIALOGUE_ACTS
    assert topics <= answered
    assert topics <= entries


def test_every_entry_answers_a_domain_intent_or_is_an_emergency_read_by_id(domain: dict[str, Any]) -> None:
    """`emergency_*` entries need no Rasa intent or rule: action_emergency reads them by id."""
    intents = {entry["intent"] for entry in load().entries}
    assert {i for i in intents - set(domain["intents"]) if not i.startswith(EMERGENCY_PREFIX)} == set()
    if "report_emergency" in domain["intents"]:
        assert any(i.startswith(EMERGENCY_PREFIX) for i in intents)


def test_every_response_is_used_by_a_rule_story_form_or_action(domain: dict[str, Any]) -> None:
    used = " ".join(
        p.read_text(encoding="utf-8")
        for p in [*ROOT.glob("data/**/*.yml"), *ROOT.glob("actions/**/*.py"), *ROOT.glob("bot/**/*.py")]
    )
    asked = {f"utter_ask_{slot}" for spec in domain["forms"].values() for slot in spec["required_slots"]}
    said_by_rasa = {"utter_default"}  # action_default_fallback, the core fallback in config.yml
    unused = {name for name in domain["responses"] if name not in used and name not in asked | said_by_rasa}
    assert unused == set()
