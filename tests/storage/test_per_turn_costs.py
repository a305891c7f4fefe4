"""The action server's answers are still validated after `remove_per_turn_costs()` (the schema is checked once)."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.tracker_store import MaskingSQLTrackerStore


@pytest.fixture
def action(sqlite_url: str) -> RemoteAction:
    MaskingSQLTrackerStore(host=sqlite_url).engine.dispose()  # starting the store installs it, as in `rasa run`
    return RemoteAction("action_answer_topic", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_a_valid_answer_passes(action: RemoteAction) -> None:
    answer = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{"text": "您好"}]}
    assert action._validate_action_result(answer) is True


@pytest.mark.parametrize("answer", [{"events": "nope"}, {"responses": "x"}, {"events": [{"no": "event"}]}])
def test_an_invalid_answer_is_refused_with_rasas_message(action: RemoteAction, answer: dict) -> None:
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(answer)
