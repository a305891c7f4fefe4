"""KB queries: answers by intent, keyword search, tickets."""

from __future__ import annotations

import re

from kb import query


def test_answer_for_intent_names_the_office(kb_url: str) -> None:
    answer = query.answer_for_intent("ask_sscard_apply")
    assert answer is not None
    assert answer.office_name == "驻马店市人力资源和社会保障局"
    assert answer.office_short == "市人社局"
    assert "身份证" in "".join(answer.bring + answer.steps + [answer.answer])


def test_unknown_intent_has_no_answer(kb_url: str) -> None:
    assert query.answer_for_intent("ask_weather") is None


def test_search_finds_close_topics_by_keyword(kb_url: str) -> None:
    assert query.search("我的社保卡丢了")[0].id == "sscard-apply"
    assert query.search("马路上的井盖坏了")[0].intent in {"report_manhole", "ask_manhole_info"}
    assert query.search("今天天气怎么样") == []


def test_search_understands_traditional_characters(kb_url: str) -> None:
    assert any(a.office_short == "市市场监管局" for a in query.search("電梯安全誰管"))


def test_ticket_numbers_have_a_random_part_and_a_check_code(kb_url: str) -> None:
    """Issue 17.1: numbers counted up from 0001 each day, so anyone could guess the neighbours' tickets."""
    first = query.create_ticket("manhole", "urban", "r1", "解放路", "井盖没了", "驿城区")
    second = query.create_ticket("manhole", "urban", "r2", "雪松路", "井盖碎了", None)
    more = [query.create_ticket("manhole", "urban", "r3", "人民路", "井盖碎了", None) for _ in range(20)]
    numbers = [t.number for t in [first, second, *more]]
    # JG-YYYYMMDD-NNNN-NNNN: the day, then eight random digits in two groups of four, read aloud like a phone number.
    assert all(re.fullmatch(r"JG-\d{8}-\d{4}-\d{4}", number) for number in numbers), numbers
    random_parts = [int(number[12:].replace("-", "")) for number in numbers]
    assert len(set(random_parts)) == len(numbers)
    assert random_parts != sorted(random_parts) and max(random_parts) > 10_000  # not a counter
    assert all(re.fullmatch(r"\d{6}", t.check_code or "") for t in [first, second])
    assert query.check_code_matches(first.number, first.check_code or "")
    assert not query.check_code_matches(first.number, second.check_code or "") or first.check_code == second.check_code
    assert not query.check_code_matches(second.number, "")
    assert query.get_ticket(first.number.lower()).location == "解放路"
    assert query.latest_ticket_of("r2").number == second.number


def test_an_answer_and_its_related_topics_come_together(kb_url: str) -> None:
    answer, related = query.answer_with_related("ask_sscard_apply")
    assert answer == query.answer_for_intent("ask_sscard_apply")
    assert answer is not None and related == query.answers_by_id(answer.related) and related
    assert query.answer_with_related("ask_weather") == (None, [])


def test_grounded_in_needs_every_word_in_the_topics_entry(kb_url: str) -> None:
    card = query.answer_for_intent("ask_sscard_apply")
    assert card is not None
    assert query.grounded_in("身份证", card)  # the entry lists 身份证件 to bring
    assert not query.grounded_in("身份证过期", card)  # 过期 is nowhere in it
    assert not query.grounded_in("", card)
