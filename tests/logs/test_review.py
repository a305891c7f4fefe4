"""Review actions: reviewed (who, when), tags, flags with a note, each in the audit trail with the account name."""

from __future__ import annotations

import pytest

from bot.conversations import review
from bot.conversations.queries import ConversationFilter, find_conversations, get_conversation, transcript
from bot.conversations.review import ReviewError
from tests.logs.helpers import Turn, save_conversation


def test_mark_reviewed_records_who_and_when_and_can_be_undone(database_url: str) -> None:
    key = save_conversation(database_url, [Turn("社保卡咋办")])
    before = review.utcnow()
    review.mark_reviewed(key, "wang", url=database_url)
    row = get_conversation(key, database_url)
    assert row is not None and row.reviewed_by == "wang" and row.reviewed_at is not None
    assert find_conversations(ConversationFilter(unreviewed=True), url=database_url).total == 0
    review.mark_reviewed(key, "li", reviewed=False, url=database_url)
    row = get_conversation(key, database_url)
    assert row is not None and row.reviewed_by is None and row.reviewed_at is None
    trail = review.history(key, database_url)
    assert [(e.action, e.by_user) for e in trail] == [("reviewed", "wang"), ("unreviewed", "li")]
    assert all(e.at >= before.replace(microsecond=0) for e in trail)


def test_tags_are_added_once_and_removed(database_url: str) -> None:
    key = save_conversation(database_url, [Turn("社保卡咋办")])
    assert review.add_tag(key, "待跟进", "wang", url=database_url) == ["待跟进"]
    assert review.add_tag(key, "答非所问", "wang", url=database_url) == ["待跟进", "答非所问"]
    assert review.add_tag(key, "待跟进", "wang", url=database_url) == ["待跟进", "答非所问"]
    assert review.remove_tag(key, "待跟进", "li", url=database_url) == ["答非所问"]
    assert get_conversation(key, database_url).tags == ["答非所问"]
    assert find_conversations(ConversationFilter(tag="待跟进"), url=database_url).total == 0
    assert find_conversations(ConversationFilter(tag="答非所问"), url=database_url).total == 1
    trail = [(e.action, e.detail, e.by_user) for e in review.history(key, database_url)]
    assert trail == [("tag_add", "待跟进", "wang"), ("tag_add", "答非所问", "wang"), ("tag_remove", "待跟进", "li")]


@pytest.mark.parametrize("tag", ["", "a,b", "有 空格", "<b>", "x" * 31])
def test_a_bad_tag_is_refused(database_url: str, tag: str) -> None:
    key = save_conversation(database_url, [Turn("社保卡咋办")])
    with pytest.raises(ReviewError):
        review.add_tag(key, tag, "wang", url=database_url)
    assert get_conversation(key, database_url).tags == []


def test_flag_a_message_with_a_note_then_clear_it(database_url: str) -> None:
    key = save_conversation(database_url, [Turn("社保卡咋办"), Turn("天气咋样", "nlu_fallback", 0.3)])
    found = transcript(key, url=database_url)
    second = [item for item in found.items if item.kind == "user"][1]
    review.flag_message(key, second.event_id, "应转12345", "wang", url=database_url)
    flagged = [item for item in transcript(key, url=database_url).items if item.flagged]
    assert [(item.text, item.flag_note) for item in flagged] == [("天气咋样", "应转12345")]
    assert get_conversation(key, database_url).flagged == 1
    review.flag_message(key, second.event_id, "", "li", flagged=False, url=database_url)
    assert not any(item.flagged for item in transcript(key, url=database_url).items)
    assert get_conversation(key, database_url).flagged == 0
    trail = [(e.action, e.detail, e.by_user, e.event_id) for e in review.history(key, database_url)]
    assert trail == [("flag", "应转12345", "wang", second.event_id), ("unflag", "", "li", second.event_id)]


def test_a_message_of_another_conversation_cannot_be_flagged(database_url: str) -> None:
    mine = save_conversation(database_url, [Turn("社保卡咋办")])
    other = save_conversation(database_url, [Turn("井盖没了")])
    their_message = transcript(other, url=database_url).items[0].event_id
    with pytest.raises(ReviewError) as refused:
        review.flag_message(mine, their_message, "x", "wang", url=database_url)
    assert refused.value.status == 404
    assert get_conversation(other, database_url).flagged == 0
    with pytest.raises(ReviewError):
        review.mark_reviewed("f" * 16, "wang", url=database_url)
