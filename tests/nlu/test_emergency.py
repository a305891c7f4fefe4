"""Life-safety situations typed in a panic (bot/nlu/emergency.py): each kind however it is typed, and the look-alikes
that must not raise the alarm. Messages here are written for this file, not taken from tests/holdout/."""

from __future__ import annotations

import pytest

from bot.nlu.emergency import KINDS, emergency_in, pinyin_key, split_pinyin

PANIC: dict[str, list[str]] = {
    "elevator_trapped": [
        "  电梯  困人了  快  ",  # extra spaces
        "电梯 困 人 了 ！！ ！ ！",  # spaces and a broken punctuation run
        "电梯困人了！！！！？？",  # punctuation run
        "电梯困人了啊啊啊啊啊",  # repeated characters
        "电梯卡住了快快快快快来人",
        "電梯困人了，快來人",  # traditional
        "電梯裡關著人出不來",
        "电体困住人了",  # homophone typo
        "dianti kunren le",  # tone-less pinyin
        "DIANTI KUNREN LE",
        "dian ti ka zhu le",
        "dianti guanren",
        "救命🆘电梯卡住了出不来",  # emoji
        "我被困在电梯里了😭😭",
        "被困电梯了",  # trapped before the elevator
        "直梯困人了",
        "货梯关人了",
        "电梯停了里面有人",
    ],
    "elevator_danger": [
        "电梯里有人晕倒了快来",
        "电梯冒烟了，里头还有俩人",
        "电梯里老人晕过去了！！！",
        "電梯裡有人受傷了",
        "电体里有人受伤了",
        "dianti li you ren shoushang le",
        "电梯困人 有人心脏病犯了",
        "电梯里起火了🔥🔥",
        "电梯卡住了 孩子喘不上气",
        "电梯里我妈流了好多血",
        # 流血/出血 are read `liu xie`/`chu xie` by pypinyin; the `hurt` pattern knows only `xue`.
        "电梯里有人流血了",
        "电梯卡住了有人出血",
    ],
    "manhole_fall": [
        "有人掉进窖井里了",  # 窖井: homophone of 窨井 typed in a hurry
        "有个小孩掉井里了！！！！",
        "我儿子掉到井里去了",
        "有人掉进下水道了😱",
        "一个老人掉到窨井里了",
        "有人掉進井裡了",
        "you ren diao jin jing li le",
        "有人摔进坑里了 快来",
    ],
    "open_hole": [
        "马路上窖井盖没了车来车往的",
        "路中间井盖没了，，，车都开过去了",
        "井盖没了天黑看不见太危险了",
        "大马路上的井盖不见了",
        "公交车站旁边井盖没了好多车",
        "路口井盖缺了一个，车开过去很危险",
        "井盖坏了有人摔伤了",
        "小孩差点掉进窨井",  # nearly: nobody fell in, but the hole is there
        "马路上的井盖被偷了，电动车差点掉进去",  # 被偷 is not in the `gone` list
    ],
    "fire": [
        "楼下着火了",
        "厨房着火了！！！！",
        "我家著火了",
        "qihuo la",
        "lou xia zhao huo le",
        "楼道里冒烟了🔥🔥",
        "起火了  快来人",
        "冒黑烟了啊啊啊",
    ],
}

LOOK_ALIKES = [
    "电梯老坏找谁",
    "电梯年检",
    "电梯年检什么时候",
    "电梯维保找谁",
    "电梯坏了找谁修",
    "小区电梯故障了找谁修",
    "电梯困人多少起",
    "困难补助",
    "困难户补助",
    "井盖整治进度",
    "井盖整治到哪一步了",
    "井盖是谁管的",
    "找活干",
    "我想找活干",
    "多少了",
    "门口井盖没了",  # no danger named: the report form, not the alarm
    "小区里井盖没了",
    "去年被困过电梯想投诉",
    "上次被关在电梯里想投诉",
    "怕着火",
    "消防检查",
    "防火知识",
    "万一困在电梯里怎么办",
    "担心孩子掉井里",
    "天天困在家里",
    "电视坏了",
    # 管理 is `guan li`, which the `trapped` list has (for 关里): who manages elevators.
    "电梯管理找谁",
    "电梯管理归哪个部门",
    "你好",
    "",
    "   ",
]


@pytest.mark.parametrize(
    ("text", "kind"), [(text, kind) for kind, texts in PANIC.items() for text in texts], ids=lambda v: str(v)
)
def test_panic_message_is_recognised_as_its_kind(text: str, kind: str) -> None:
    assert emergency_in(text) == kind


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alike_raises_no_alarm(text: str) -> None:
    assert emergency_in(text) is None


def test_every_kind_is_covered_and_known() -> None:
    assert set(PANIC) == set(KINDS)


def test_danger_wins_over_trapped() -> None:
    """Someone hurt or smoke in a stuck elevator is elevator_danger (120/119 first), not the plain entrapment."""
    assert emergency_in("电梯卡住了") == "elevator_trapped"
    assert emergency_in("电梯卡住了，里面有人受伤了") == "elevator_danger"
    assert emergency_in("电梯卡住了，里面冒烟了") == "elevator_danger"


def test_nearly_falling_is_not_a_fall() -> None:
    assert emergency_in("有人掉进井里了") == "manhole_fall"
    assert emergency_in("差点有人掉井里") == "open_hole"


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("电体卡住了", "电梯卡住了"),
        ("電梯困人了", "电梯困人了"),
        ("dianti kunren le", "电梯困人了"),
        ("DianTi KunRen Le", "电梯困人了"),
        ("  电梯  困人了！！！", "电梯困人了"),
        ("有人掉进窖井里了", "有人掉进叫井里了"),
    ],
)
def test_pinyin_key_makes_typos_and_pinyin_the_same_syllables(typed: str, clean: str) -> None:
    assert pinyin_key(typed) == pinyin_key(clean)


def test_pinyin_key_is_spaced_tone_less_syllables() -> None:
    assert pinyin_key("电梯困人了") == "dian ti kun ren le"
    assert pinyin_key("救命🆘") == "jiu ming"
    assert pinyin_key("") == ""


@pytest.mark.parametrize(
    ("latin", "syllables"),
    [
        ("dianti", ["dian", "ti"]),
        ("kunren", ["kun", "ren"]),
        ("tian", ["tian"]),  # `tian` does not contain `ti`
        ("tianti", ["tian", "ti"]),
        ("xiangqi", ["xiang", "qi"]),
        ("zhaohuo", ["zhao", "huo"]),
    ],
)
def test_split_pinyin_takes_the_longest_syllable(latin: str, syllables: list[str]) -> None:
    assert split_pinyin(latin) == syllables


def test_patterns_match_whole_syllables_only() -> None:
    """`dian ti` is not found inside `dian tian`, nor `kun` inside `kun nan` (困难)."""
    assert pinyin_key("diantian kunren le") == "dian tian kun ren le"
    assert emergency_in("diantian kunren le") is None
    assert emergency_in("dian tian kun ren") is None
    assert emergency_in("天体困人") is None
    assert emergency_in("电梯困难") is None
    assert emergency_in("dianti kunren le") == "elevator_trapped"
