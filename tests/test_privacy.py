"""Personal data is masked in every spelling residents use (hypothesis generates them)."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.privacy import contains_personal_data, id_check_digit, mask

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 659999))
    birth = draw(st.dates(date(1900, 1, 1), date(2025, 12, 31))).strftime("%Y%m%d")
    first17 = f"{area}{birth}{draw(st.integers(0, 999)):03d}"
    valid = draw(st.booleans())
    check = id_check_digit(first17) if valid else draw(st.sampled_from("0123456789X"))
    return first17 + check


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return f"1{draw(st.sampled_from('3456789'))}{draw(st.integers(0, 999_999_999)):09d}"


@st.composite
def bank_cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(16, 19))
    return "62" + "".join(str(draw(st.integers(0, 9))) for _ in range(length - 2))


def spell(number: str, style: int, rng: random.Random) -> str:
    """The same number as residents type it: plain, grouped with spaces or dashes, or full-width."""
    if style == 1:
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    if style == 2:
        return "-".join(number[i : i + 3] for i in range(0, len(number), 3))
    if style == 3:
        return number.translate(FULL_WIDTH)
    if style == 4:
        return "".join(c + (" " if rng.random() < 0.2 else "") for c in number).strip()
    return number


def digits_of(text: str) -> str:
    return "".join(c for c in text.translate(str.maketrans("０１２３４５６７８９", "0123456789")) if c.isdigit())


@settings(max_examples=300, deadline=None)
@given(
    number=st.one_of(id_numbers(), mobiles(), bank_cards()),
    style=st.integers(0, 4),
    seed=st.integers(0, 10_000),
    before=st.sampled_from(["", "我的号码是", "身份证：", "电话 ", "卡号"]),
    after=st.sampled_from(["", "，谢谢", " 麻烦查一下", "。"]),
)
def test_no_personal_number_survives_masking(number: str, style: int, seed: int, before: str, after: str) -> None:
    text = before + spell(number, style, random.Random(seed)) + after
    masked = mask(text)
    assert number not in digits_of(masked)
    assert not contains_personal_data(masked)
    assert masked.startswith(before) and masked.endswith(after)


def test_labels_say_what_was_masked() -> None:
    assert mask("身份证410102199001011234") == "身份证[身份证号]"
    assert mask("打我电话138 1234 5678") == "打我电话[手机号]"
    assert mask("卡号6222021234567890") == "卡号[银行卡号]"


def test_service_numbers_ticket_ids_and_figures_are_kept() -> None:
    for text in ["拨打96333", "12345热线", "查询工单 JG-20260101-0001", "401730座", "2021年6月30日", "119或120"]:
        assert mask(text) == text


def test_gb11643_check_digit() -> None:
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("44052418800101001") == "4"


def test_the_shortcut_for_texts_with_few_digits_knows_every_digit_masking_sees() -> None:
    """`mask` skips texts with fewer than 11 digit-like characters: a character is one if it is a digit or NFKC
    makes it an ASCII digit (what masking normalises); the list in DIGIT_LIKE must hold all of the latter."""
    import unicodedata

    from bot.privacy import DIGIT_LIKE, FEWEST_DIGITS

    for code in range(0x110000):
        char = chr(code)
        wide = unicodedata.normalize("NFKC", char)
        if len(wide) == 1 and wide.isascii() and wide.isdigit():
            assert DIGIT_LIKE.match(char), f"U+{code:04X}"
    assert mask("电话①③⁸⁰⁰⁰⁰⁰⁰⁰⁰") == "电话[手机号]"  # circled and superscript digits still count
    assert mask("社保卡咋办，拨打12345或96333") == "社保卡咋办，拨打12345或96333"
    assert FEWEST_DIGITS == 11
