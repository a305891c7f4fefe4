"""bot.per_turn: action server answers are still validated (the schema checked once); the action server gets
the recent events of a long conversation, and everything else of the tracker as Rasa sends it."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker

from bot.tracker_store import MaskingSQLTrackerStore

DOMAIN = """
version: "3.1"
intents: [greet, inform]
responses:
  utter_greet:
    - text: 您好
"""


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


def long_tracker(turns: int) -> DialogueStateTracker:
    events: list = [SessionStarted(), ActionExecuted("action_listen"), SlotSet("manhole_location", "解放大道")]
    for number in range(turns):
        events += [UserUttered(f"第{number}句", {"name": "greet", "confidence": 0.9}), ActionExecuted("utter_greet")]
        events += [BotUttered("您好"), ActionExecuted("action_listen")]
    events += [UserUttered("最后一句", {"name": "inform", "confidence": 0.9}), SlotSet("manhole_detail", "缺了")]
    return DialogueStateTracker.from_events(
        "r1", events, [TextSlot(n, []) for n in ("manhole_location", "manhole_detail")]
    )


def test_the_action_server_gets_the_recent_events_and_the_whole_state(action: RemoteAction) -> None:
    tracker = long_tracker(200)
    payload = action._action_call_format(tracker, Domain.from_yaml(DOMAIN))
    state = payload["tracker"]
    texts = [e.get("text") for e in state["events"] if e["event"] == "user"]
    assert texts == ["第199句", "最后一句"]  # the last ACTION_CALL_TURNS (2) resident messages
    assert state["slots"]["manhole_location"] == "解放大道"  # set 200 turns ago: still there
    assert state["latest_message"]["text"] == "最后一句" and payload["domain"]["responses"]
    sdk = Tracker.from_dict(state)
    assert sdk.slots_to_validate() == {"manhole_detail": "缺了"} and sdk.get_slot("manhole_location") == "解放大道"


def test_a_short_conversation_goes_to_the_action_server_whole(action: RemoteAction) -> None:
    tracker = long_tracker(0)  # one resident message, fewer than ACTION_CALL_TURNS
    state = action._action_call_format(tracker, Domain.from_yaml(DOMAIN))["tracker"]
    assert len(state["events"]) == len(tracker.events)


@pytest.mark.parametrize("seed", range(5))
def test_sparse_features_join_entry_for_entry_as_scipy_does(seed: int) -> None:
    import numpy as np
    import scipy.sparse

    from bot.per_turn import hstack_coo

    generator = np.random.default_rng(seed)
    rows = int(generator.integers(1, 20))
    left = scipy.sparse.random(rows, 300, density=0.05, format="coo", dtype=np.float32, random_state=seed)
    right = scipy.sparse.random(rows, 7, density=0.3 * (seed % 2), format="csr", random_state=seed)  # float64
    ours, scipys = hstack_coo(left, right), scipy.sparse.hstack([left, right])
    assert ours.format == scipys.format == "coo" and ours.shape == scipys.shape and ours.dtype == scipys.dtype
    for part in ("row", "col", "data"):
        assert np.array_equal(getattr(ours, part), getattr(scipys, part))


def test_rasa_features_are_combined_with_the_fast_join() -> None:
    import numpy as np
    import scipy.sparse
    from rasa.shared.nlu.training_data.features import Features

    from bot import per_turn

    per_turn.install()
    first = Features(scipy.sparse.coo_matrix(np.eye(3, 4, dtype=np.float32)), "sequence", "text", "a")
    first.combine_with_features(Features(scipy.sparse.coo_matrix(np.ones((3, 2))), "sequence", "text", "b"))
    assert first.features.toarray().tolist() == np.hstack([np.eye(3, 4), np.ones((3, 2))]).tolist()
    with pytest.raises(ValueError, match="sequence dimensions do not match: 3 != 2"):
        first.combine_with_features(Features(scipy.sparse.coo_matrix(np.ones((2, 2))), "sequence", "text", "c"))
