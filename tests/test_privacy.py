"""Personal data is masked in every spelling residents use (hypothesis generates them)."""

from __future__ import annotations

import random
from datetime import date

import pytest
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


# Issue 17.2: spellings the first masker missed. Each digit may be written in any of these forms.
DIGIT_FORMS = {
    "ascii": "0123456789",
    "full_width": "０１２３４５６７８９",
    "chinese": "零一二三四五六七八九",
    "chinese_zero_yao": "〇幺二三四五六七八九",
    "financial": "零壹贰叁肆伍陆柒捌玖",
    "arabic_indic": "٠١٢٣٤٥٦٧٨٩",
    "extended_arabic_indic": "۰۱۲۳۴۵۶۷۸۹",
}
INVISIBLE = ["\u200b", "\u200d", "\u00ad", "\u2060", "\ufeff"]  # zero-width space / joiner, soft hyphen, word joiner
SEPARATORS = [" ", "  ", "   ", "-", " - ", ".", "/", "_", "，", "(", ")", "）", *INVISIBLE]
FOLD = str.maketrans({char: str(value) for digits in DIGIT_FORMS.values() for value, char in enumerate(digits)})


def fold_digits(text: str) -> str:
    return "".join(c for c in text.translate(FOLD) if c.isascii() and c.isdigit())


@st.composite
def resident_spellings(draw: st.DrawFn, number: str) -> str:
    """`number` as residents type it: every digit in one form or each in its own (138零零13八000), grouped any
    way, with separators (spaces, dots, slashes, 全角逗号, brackets, " - ") or invisible characters between."""
    mixed = draw(st.booleans())
    form = draw(st.sampled_from(sorted(DIGIT_FORMS)))
    out = []
    for position, char in enumerate(number):
        if position and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
        if char in "Xx":
            out.append(draw(st.sampled_from("XxＸ")))
            continue
        digit_form = draw(st.sampled_from(sorted(DIGIT_FORMS))) if mixed else form
        out.append(DIGIT_FORMS[digit_form][int(char)])
    return "".join(out)


numbers_and_labels = st.one_of(
    id_numbers().map(lambda n: (n, "[身份证号]")),
    mobiles().map(lambda n: (n, "[手机号]")),
    bank_cards().map(lambda n: (n, "[银行卡号]")),
)
contexts = st.sampled_from(["", "我的手机号是", "身份证：", "电话 ", "卡号", "号码是 ", "帮我查一下，", "俺的"])
endings = st.sampled_from(["", "，谢谢", " 麻烦查一下", "。", "？", "  "])


@settings(max_examples=400, deadline=None)
@given(data=st.data(), pair=numbers_and_labels, before=contexts, after=endings)
def test_no_spelling_of_a_personal_number_survives_masking(
    data: st.DataObject, pair: tuple[str, str], before: str, after: str
) -> None:
    number, label = pair
    spelled = data.draw(resident_spellings(number))
    masked = mask(before + spelled + after)
    assert masked.startswith(before) and masked.endswith(after)
    assert number.upper() not in fold_digits(masked).upper()
    assert fold_digits(masked.removeprefix(before).removesuffix(after)) == "", masked  # no piece of it either
    assert label in masked or "[" in masked
    assert not contains_personal_data(masked)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("手机一三八零零一三八零零零", "手机[手机号]"),
        ("电话幺三八零零幺三八零零零", "电话[手机号]"),
        ("壹叁捌零零壹叁捌零零零", "[手机号]"),
        ("打138零零13八000", "打[手机号]"),
        ("1 3 8 0 0 1 3 8 0 0 0", "[手机号]"),
        ("138\u200b0013\u200d8000", "[手机号]"),
        ("138\u00ad0013\u20608000", "[手机号]"),
        ("138  0013   8000", "[手机号]"),
        ("138.0013.8000 或 138/0013/8000 或 138_0013_8000", "[手机号] 或 [手机号] 或 [手机号]"),
        ("138，0013，8000", "[手机号]"),
        ("(138)0013-8000", "([手机号]"),
        ("138 - 0013 - 8000", "[手机号]"),
        ("١٣٨٠٠١٣٨٠٠٠", "[手机号]"),
        ("卡号6222 0212 3456 7890", "卡号[银行卡号]"),
        ("卡号六二二二零二一二三四五六七八九零", "卡号[银行卡号]"),
        ("身份证四一零一零二一九九零零一零一一二三四", "身份证[身份证号]"),
        ("电话13800138000 身份证410102199001011234", "电话[手机号] 身份证[身份证号]"),
        ("+86 138 0013 8000", "+[手机号]"),
        ("身份证 1100 0019 4302 1700 0 X，姓王", "身份证 [身份证号]，姓王"),  # found by a 4,000-example run
    ],
)
def test_the_spellings_from_the_audit_are_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "查询工单 JG-20261206-4827-3915 查询码 482739",
        "查询工单 JG-20261205-0001",
        "2021年6月30日，交了500元",
        "2021.06.30-2021.07.30 办理",
        "拨打96333/12345，或者110，119，120",
        "全市银行窗口共设立社会保障卡即时制卡网点255个，一站式办理，一两天就好",
        "一二三四五六七八九十",
        "9:00-17:00，共120个床位，1,500,000元",
        "俺报了三四回了，一回也没人管",
    ],
)
def test_ordinary_text_is_not_masked(text: str) -> None:
    assert mask(text) == text


@settings(max_examples=300, deadline=None)
@given(data=st.data(), pair=numbers_and_labels, before=contexts)
def test_a_number_split_over_two_messages_is_masked_in_both(
    data: st.DataObject, pair: tuple[str, str], before: str
) -> None:
    from bot.privacy import SplitNumbers

    number, _ = pair
    cut = data.draw(st.integers(1, len(number) - 1))
    first = before + data.draw(resident_spellings(number[:cut]))
    ending = data.draw(endings)
    second = data.draw(resident_spellings(number[cut:])) + ending
    turns = SplitNumbers()
    stored = turns.mask("resident-1", first), turns.mask("resident-1", second)
    assert stored[0].startswith(before) and stored[1].endswith(ending)
    shown = fold_digits(stored[0].removeprefix(before)) + fold_digits(stored[1].removesuffix(ending))
    assert number not in shown and len(shown) <= 6, stored  # at most the first six digits, in the first message


def test_split_numbers_are_joined_only_within_one_conversation() -> None:
    from bot.privacy import SplitNumbers

    turns = SplitNumbers()
    assert turns.mask("a", "我的手机号是138") == "我的手机号是138"
    assert turns.mask("b", "0013 8000，谢谢") == "0013 8000，谢谢"  # another resident's message: not joined
    assert turns.mask("a", "0013 8000") == "[手机号]"
    assert turns.mask("a", "我报的井盖是第3个") == "我报的井盖是第3个"
    assert turns.mask("a", "1380013") == "[号码]"  # the start of a number at the end of a message
    assert turns.mask("a", "8000") == "[手机号]"
