"""The tracker a turn works on: the last few turns in full, everything before summed up as its state.

Rasa recomputes the dialogue state of every past turn on every prediction (RulePolicy's `past_states`: 38 % of
Rasa's CPU at turn 150–200 of one conversation under py-spy), replays every event to build the tracker, and copies
it several times a turn — so a turn cost more the longer the conversation. Our rules look back a few turns at most,
and what an older turn leaves behind is state: slot values, a paused conversation. So the conversation store hands
Rasa the events from the `WINDOW_TURNS`-th last resident message on, after a summary of the state before them
(`SlotSet` for every slot that is not at its initial value, `ConversationPaused` if a human took over). The log
itself keeps every event; the REST API's full tracker and the supervisors' console read that.

When a form is active at the window's start the whole conversation is used, as before: Rasa folds a form's repeated
executions together across the window, which a summary cannot reproduce.

`Summary` keeps the state at the window's start up to date event by event, so a turn costs the same at turn 300 as
at turn 15 (measured in `make bench`: turn 200 against turn 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Event, SlotSet, UserUttered
from rasa.shared.core.slots import Slot
from rasa.shared.core.trackers import DialogueStateTracker

WINDOW_TURNS = 12  # resident messages a turn sees in full; a rule here looks back one message and the form state
WINDOW_ATTRIBUTE = "_window"  # on a tracker the store built: (summary events, index of the first event kept)


def window_start(events: list[Event], turns: int = WINDOW_TURNS) -> int:
    """Index of the `action_listen` before the `turns`-th last resident message (0: keep everything)."""
    seen = 0
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            seen += 1
            if seen == turns:
                before = events[index - 1] if index > 0 else None
                listening = isinstance(before, ActionExecuted) and before.action_name == ACTION_LISTEN_NAME
                return index - 1 if listening else index
    return 0


@dataclass
class Summary:
    """The state after `events[:count]` of one conversation, advanced as the window moves on."""

    state: DialogueStateTracker | None = None
    count: int = 0

    def reset(self) -> None:
        self.state, self.count = None, 0

    def events_before(self, sender_id: str, events: list[Event], start: int, slots: list[Slot]) -> list[Event] | None:
        """Events that recreate the state before `events[start]`; None when a form is active there."""
        if self.state is None or self.count > start:
            self.state, self.count = DialogueStateTracker(sender_id, slots, max_event_history=1), 0
        for event in events[self.count : start]:
            self.state.update(event)
        self.count = start
        if self.state.active_loop_name:
            return None
        timestamp = events[start].timestamp  # the summary is older than what follows it
        summary: list[Event] = [
            SlotSet(slot.name, slot.value, timestamp=timestamp)
            for slot in self.state.slots.values()
            if slot.value != slot.initial_value
        ]
        if self.state.is_paused():
            summary.append(ConversationPaused(timestamp=timestamp))
        return summary


def windowed_tracker(sender_id: str, events: list[Event], slots: list[Slot], summary: Summary) -> DialogueStateTracker:
    """The tracker for the next turn; `WINDOW_ATTRIBUTE` says how its events map onto `events`."""
    start = window_start(events)
    before = summary.events_before(sender_id, events, start, slots) if start > 0 else None
    if before is None:
        tracker = DialogueStateTracker.from_events(sender_id, events, slots)
        setattr(tracker, WINDOW_ATTRIBUTE, (0, 0))
        return tracker
    tracker = DialogueStateTracker.from_events(sender_id, [*before, *events[start:]], slots)
    setattr(tracker, WINDOW_ATTRIBUTE, (len(before), start))
    return tracker


def new_events_from(tracker: DialogueStateTracker, stored: int) -> int:
    """Index in `tracker.events` of the first event not among the `stored` events the store holds."""
    summary_length, start = getattr(tracker, WINDOW_ATTRIBUTE, (0, 0))
    offset = summary_length + stored - start
    return offset if 0 <= offset <= len(tracker.events) else stored
