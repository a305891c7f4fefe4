"""What the curated entries say: emergency steps, dated programme sentences, cost and eligibility only when quoted."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kb.build import join_lines, load, normalise

BRIEFING = "zhumadian-briefing-2021-06-30"
STAFF = "staff-general-guidance"
HOTLINES = {"110", "119", "120", "12345", "96333"}  # national numbers from the staff note, not 2021 figures
# Permanent procedures and safety answers: they state no 2021 programme as current fact.
UNDATED = {"sscard-apply", "elevator-trapped", "emergency-elevator-danger", "emergency-manhole-fall", "hotline"}
EMERGENCIES = {
    # id: (office, numbers the steps give, in this order, the first of them by step n)
    "emergency-elevator-danger": ("samr", ["120", "119", "96333"], 1),
    "emergency-manhole-fall": ("urban", ["120", "119"], 1),
    "emergency-open-hole": ("urban", ["120", "12345"], 3),  # out of the traffic lane first, then 120 if hurt
    "emergency-fire": ("hotline", ["119"], 1),
}


@pytest.fixture(scope="module")
def entries() -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in load().entries}


def quotes(entry: dict[str, Any], source: str | None = None) -> list[str]:
    return [normalise(f["quote"]) for f in entry["facts"] if source in (None, f["source"])]


def sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[。！？])", join_lines(text)) if part]


@pytest.mark.parametrize("entry_id", sorted(EMERGENCIES))
def test_every_emergency_entry_gives_its_numbers_first_in_safety_steps(
    entries: dict[str, dict[str, Any]], entry_id: str
) -> None:
    office, numbers, by_step = EMERGENCIES[entry_id]
    entry = entries[entry_id]
    assert entry["intent"] == entry_id.replace("-", "_")
    assert entry["office"] == office
    steps = " ".join(entry["safety"])
    positions = [steps.index(number) for number in numbers]
    assert positions == sorted(positions), f"{entry_id}: call {numbers} in this order"
    assert numbers[0] in " ".join(entry["safety"][:by_step])
    assert len(join_lines(entry["answer"])) <= 120 and numbers[0] in entry["answer"]
    assert 2 <= len(entry["related"]) <= 3


@pytest.mark.parametrize("entry_id", sorted(EMERGENCIES))
def test_every_emergency_step_is_the_staff_notes_wording(entries: dict[str, dict[str, Any]], entry_id: str) -> None:
    staff = quotes(entries[entry_id], STAFF)
    for step in entries[entry_id]["safety"]:
        for clause in re.split(r"[；;]", step):
            clause = normalise(clause).rstrip("。")
            assert any(clause in quote for quote in staff), f"{entry_id}: «{clause}» is in no staff-note quote"


def test_emergency_steps_say_what_not_to_do(entries: dict[str, dict[str, Any]]) -> None:
    assert "不要乘坐电梯" in "".join(entries["emergency-elevator-danger"]["safety"])
    assert "不要下井施救" in "".join(entries["emergency-manhole-fall"]["safety"])
    assert "有毒气体" in "".join(entries["emergency-manhole-fall"]["safety"])
    assert "不要站在车道里" in "".join(entries["emergency-open-hole"]["safety"])
    fire = "".join(entries["emergency-fire"]["safety"])
    assert "不要乘坐电梯" in fire and "湿毛巾" in fire and "低姿" in fire


def test_elevator_trapped_still_starts_with_96333(entries: dict[str, dict[str, Any]]) -> None:
    steps = " ".join(entries["elevator-trapped"]["safety"])
    assert steps.index("96333") < steps.index("119")


def test_manhole_report_names_the_office_its_principle_and_safety(entries: dict[str, dict[str, Any]]) -> None:
    entry = entries["manhole-report"]
    assert "市城管局" in entry["answer"] and "谁所有、谁负责" in entry["answer"]
    safety = " ".join(entry["safety"])
    assert "绕行" in safety and "120" in safety and "119" in safety and "车道" in safety
    briefing = " ".join(quotes(entry, BRIEFING))
    assert "牵头部门" in briefing and "谁所有、谁负责" in briefing


def test_no_topic_offers_an_emergency_entry_as_a_button(entries: dict[str, dict[str, Any]]) -> None:
    """Buttons send `/<intent>`, and `emergency_*` are no Rasa intents."""
    for entry in entries.values():
        assert not [r for r in entry.get("related") or [] if r.startswith("emergency-")], entry["id"]


def test_programme_answers_are_dated_in_the_sentence_that_states_them(entries: dict[str, dict[str, Any]]) -> None:
    for entry in entries.values():
        briefing_numbers = set(re.findall(r"\d+(?:\.\d+)?", " ".join(quotes(entry, BRIEFING)))) - HOTLINES
        if entry["id"] not in UNDATED and quotes(entry, BRIEFING):
            assert "2021" in entry["answer"], f"{entry['id']}: a 2021 programme stated undated"
        for field in ("answer", "cost", "eligible"):
            for sentence in sentences(str(entry.get(field) or "")):
                stated = set(re.findall(r"\d+(?:\.\d+)?", sentence.replace("2021年6月30日", ""))) & briefing_numbers
                assert not stated or "2021" in sentence, f"{entry['id']}.{field}: «{sentence}» needs its date"


def test_answers_are_short_enough_for_a_phone(entries: dict[str, dict[str, Any]]) -> None:
    long = {i: len(join_lines(e["answer"])) for i, e in entries.items() if len(join_lines(e["answer"])) > 120}
    assert long == {}


def test_cost_and_eligible_are_filled_where_the_briefing_says_and_dated(entries: dict[str, dict[str, Any]]) -> None:
    with_cost = {i for i, e in entries.items() if e.get("cost")}
    with_eligible = {i for i, e in entries.items() if e.get("eligible")}
    assert {"sscard-mail", "child-rehab", "barrier-free", "prosthetics", "disabled-jobs"} <= with_cost
    assert "sanitation-insurance" in with_cost and "500" in entries["sanitation-insurance"]["cost"]
    assert {"barrier-free", "care-centres", "child-rehab", "inclusive-preschool"} <= with_eligible
    assert "重度残疾人" in entries["barrier-free"]["eligible"]
    for entry_id in with_cost | with_eligible:
        for field in ("cost", "eligible"):
            value = entries[entry_id].get(field)
            assert not value or "2021年6月30日" in value, f"{entry_id}.{field} is undated"
    # The briefing is silent on these: the assistant must say so rather than answer.
    assert not entries["sscard-apply"].get("eligible")  # whether a relative may apply for someone
    assert not entries["talent-apartment"].get("eligible") and not entries["culture-shows"].get("cost")
    assert not entries["care-centres"].get("cost")


def test_the_free_claims_are_quoted(entries: dict[str, dict[str, Any]]) -> None:
    for entry_id in ("sscard-mail", "child-rehab", "barrier-free", "prosthetics", "disabled-jobs"):
        assert "免费" in entries[entry_id]["cost"]
        assert any("免费" in quote for quote in quotes(entries[entry_id], BRIEFING)), entry_id
