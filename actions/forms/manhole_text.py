"""Reading a manhole report in the resident's own words: place, condition, county, corrections, typed buttons.

Pure functions over the simplified text (`bot.text.to_simplified`), so each rule is testable without Rasa. They are
heuristics for one narrow job (where is the cover, what is wrong with it); `actions/forms/manhole.py` decides what
to do with the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import to_simplified

COUNTIES = {
    "驿城区": ("驿城区", "驿城"),
    "确山县": ("确山县", "确山"),
    "泌阳县": ("泌阳县", "泌阳"),
    "遂平县": ("遂平县", "遂平"),
    "西平县": ("西平县", "西平"),
    "上蔡县": ("上蔡县", "上蔡"),
    "汝南县": ("汝南县", "汝南"),
    "平舆县": ("平舆县", "平舆", "平与"),
    "新蔡县": ("新蔡县", "新蔡"),
    "正阳县": ("正阳县", "正阳"),
}
UNKNOWN_COUNTY = "未说明"  # the county slot's value when the resident does not know it (the form goes on)
MAX_TEXT = 200  # a location or description longer than this is cut, not rejected

# A place name is made of these characters; function words and pronouns end it (雪松路, not 井盖松了路).
_NAME_CHAR = (
    r"(?:(?![了的个那这有在是和与跟及就还都也很太被把给着过吧呢啊吗嘛呀哦我你他她它俺咱恁们])[0-9A-Za-z\u4e00-\u9fff])"
)
_ANCHOR = (
    r"(?:大道|大街|胡同|小区|社区|花园|家园|公寓|学校|小学|中学|大学|学院|幼儿园|医院|卫生院|广场|超市|商场|市场|"
    r"公园|车站|大厦|酒店|宾馆|银行|政府|家属院|中心|路|街|巷|村|庄|镇|乡|区|县|桥|站|厂|城|苑|湾|府)"
)
NAMED_PLACE = re.compile(rf"(?P<name>{_NAME_CHAR}{{1,8}}?)(?P<anchor>{_ANCHOR})")
# A name made only of these says where nothing is (马路, 大街, 东边路, 小区): it does not make a place.
_VAGUE_NAME = set("马大小老新旧东西南北中上下前后左右里外边头条段口门县区市哪")
# A landmark without a name is enough with a side or a gate (学校门口, 医院对面, 小区东门).
LANDMARK_NEAR = re.compile(
    r"(?:学校|小学|中学|幼儿园|医院|广场|超市|商场|市场|菜市场|公园|桥|车站|火车站|汽车站|小区|社区|村|银行)的?"
    r"(?:门口|对面|附近|旁边|边上|[东西南北](?:门口|门|边|侧|面)|出口|入口|路口|拐角)"
)
_RELATIVE = (
    r"(?:交叉口|十字路口|丁字路口|路口|门口|出口|入口|对面|附近|旁边|边上|拐角|中段|"
    r"(?:往|向)?[东西南北]{1,2}(?:角|侧|边|面|门口|门|口|头)?(?:[一二三四五六七八九十百几两0-9]+米)?)"
)
_RELATIVE_TAIL = re.compile(rf"(?:[和与的]?{_RELATIVE})*")
# What a cover is called; a description starts at it (…交叉口西南角|井盖没了).
COVER = re.compile(
    r"下水道井盖|下水道盖子|下水道盖|污水井盖|雨水井盖|污水井|雨水井|雨水篦子|窨井盖|窖井盖|井盖子|井盖|篦子|盖子|井口|窨井|窖井"
)
# What can be wrong with a cover.
CONDITION = re.compile(
    r"没了|没有了|没盖|不见|丢|偷|破|碎|裂|塌|陷|下沉|沉下|松|晃|响|翻|翘|歪|凹|凸|缺|盖不严|露着|敞着|掉|坑|洞|窟窿|"
    r"坏|断|移位|错位|冒水|变形|损|高出|一半|半拉|空了|漏|堵|锈|不平|鼓起|拱起"
)
_LEAD_FILLER = re.compile(
    r"^(?:我要报修|我想报修|俺想报修|我要举报|我想反映一下|我想反映|我要报|帮我报个|报修|举报|俺们|我们|咱们|俺家|我家|"
    r"俺|我|咱|就在|在|是|那个|这个)+"
)
_TRAIL_FILLER = re.compile(
    r"(?:那个|这个|有个|有一个|一个|的|上|里|那儿|这儿|那里|这里|那边|这边|那块|这块|处|上面|那|这|有)+$"
)
_CLAUSE = re.compile(r"[，,。.！!？?；;、\s]+")
_NOT_WORDS = re.compile(r"[^0-9a-z\u4e00-\u9fff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FULL_WIDTH = str.maketrans(",:;!?()", "，：；！？（）")
# 补充一下，… / 补充：… (an addition to a report, or to a ticket filed earlier)
ADDITION_PREFIX = re.compile(r"^(?:我|俺)?(?:再|还要|还想|想)?(?:补充|追加|加)(?:一下|一点|一句|说明|几句)?[，,：:\s]*")

# Typed equivalents of the confirmation buttons (对，提交 / 不对，重新填 / 取消报修), compared without punctuation.
AFFIRM_TEXTS = frozenset(
    {
        "对",
        "对的",
        "对提交",
        "提交",
        "确认",
        "确认提交",
        "是",
        "是的",
        "中",
        "中中中",
        "可以",
        "没错",
        "没问题",
        "好",
        "好的",
        "行",
        "嗯",
        "对着哩",
        "ok",
        "yes",
    }
)
DENY_TEXTS = frozenset({"不对", "重新填", "不对重新填", "重填", "不是", "错了", "不中", "no"})
CANCEL_TEXTS = frozenset({"取消", "取消报修", "不报了", "算了", "不弄了", "先不报了", "cancel"})
DUNNO = re.compile(r"不知道|不清楚|不确定|说不清|说不好|记不清|不记得|不晓得|搞不清|弄不清|不了解|没注意")
# Someone fell in: life safety comes before any field (the NLU's report_emergency normally catches it first).
PERSON_FELL = re.compile(
    r"(?:有人|人|小孩|孩子|娃|老人|老头|老太太)\S{0,4}(?:掉|摔|跌|栽|陷)(?:进|下|到|了)|救命|受伤|流血"
)
_NEARLY = re.compile(r"差点|差一点|险些|差些|快要|怕")

# 地址说错了，是… / 位置不对，应该是… / 情况说错了，是… / 县区选错了，是确山县
_FIELDS = {
    "地址": "location",
    "位置": "location",
    "地点": "location",
    "地方": "location",
    "县区": "county",
    "区县": "county",
    "县": "county",
    "情况": "description",
    "描述": "description",
    "状况": "description",
}
_WRONG = (
    r"(?:也|好像)?(?:说|写|填|选|打|弄|搞|记)?(?:错了|错|不对|有误|不准确|不准|反了)|要改一下|要改|改一下|更正一下|更正"
)
CORRECTION = re.compile(
    r"(?P<field>地址|位置|地点|地方|县区|区县|情况|描述|状况)(?:信息)?(?P<verb>"
    + _WRONG
    + r"|应该是|应该在|改成|改为|换成|其实是|是|在)|(?P<county_field>县)(?P<county_verb>"
    + _WRONG
    + r"|应该是|改成|改为|换成)"
)
_VALUE_LEAD = re.compile(r"^(?:[，,：:\s]|了|应该是|应该在|其实是|实际是|是在|是|在|改成|改为|换成|为|成)+")
_DENY_LEAD = re.compile(r"^(?:不对|不是|错了|说错了)")


@dataclass(frozen=True)
class Report:
    """What one message says: the place (without the county alone), the condition, the county it names."""

    place: str = ""
    condition: str = ""
    county: str | None = None


@dataclass(frozen=True)
class Correction:
    """地址说错了，是X: the field (location, county, description) and the new value ("" when none was given)."""

    field: str
    value: str


def simplified(text: str) -> str:
    return " ".join(to_simplified(str(text or "")).split())


def clean(value: object) -> str:
    """One line, no surrounding spaces, at most MAX_TEXT characters; Chinese text keeps its full-width punctuation
    (the reading works on half-width: `to_simplified` turns ， into ,)."""
    text = " ".join(str(value or "").split())[:MAX_TEXT]
    return text.translate(_FULL_WIDTH) if _CJK.search(text) else text


def county_in(text: str) -> str | None:
    """The county or district a text names (short forms and traditional characters too)."""
    text = simplified(text)
    for county, spellings in COUNTIES.items():
        if any(spelling in text for spelling in spellings):
            return county
    return None


def only_a_county(text: str) -> bool:
    """驿城区 / 那确山呢: a county and at most a couple of filler characters."""
    return county_in(text) is not None and len(_NOT_WORDS.sub("", _without_counties(simplified(text)))) <= 2


def _without_counties(text: str) -> str:
    for spellings in COUNTIES.values():
        for spelling in spellings:
            text = text.replace(spelling, " " * len(spelling))  # same length: offsets stay valid
    return text


def _named_places(text: str) -> list[re.Match[str]]:
    return [m for m in NAMED_PLACE.finditer(text) if set(m.group("name")) - _VAGUE_NAME]


def looks_like_place(text: str) -> bool:
    """A road, estate, village or named landmark (雪松路, 世纪华庭小区, 人民医院), or a landmark with a side (学校门口).

    A county alone is not a place to send someone to, nor is 门口 or 马路上.
    """
    rest = _without_counties(simplified(text))
    return bool(_named_places(rest) or LANDMARK_NEAR.search(rest))


def looks_like_condition(text: str) -> bool:
    """Something wrong with a cover (没了, 碎了, 塌, 松, 响 …), not counting words inside place names (雪松路)."""
    rest = NAMED_PLACE.sub(" ", _without_counties(simplified(text)))
    return bool(CONDITION.search(rest))


def clean_place(text: str) -> str:
    """A place without the words around it: 俺们确山盘古路那个 -> 确山盘古路."""
    previous = None
    text = simplified(text).strip(" ，,：:")
    while previous != text:
        previous = text
        text = _TRAIL_FILLER.sub("", _LEAD_FILLER.sub("", text)).strip(" ，,：:")
    return clean(text)


def _place_end(clause: str) -> int:
    spans = [m.end() for m in [*_named_places(clause), *LANDMARK_NEAR.finditer(clause)]]
    end = max(spans, default=0)
    tail = _RELATIVE_TAIL.match(clause, end)
    return tail.end() if tail else end


def _split_clause(clause: str) -> tuple[str, str]:
    """(place, condition) of one clause: the place is what comes before the cover (…西南角|井盖没了)."""
    cover = COVER.search(clause)
    if cover:
        place, rest = clean_place(clause[: cover.start()]), clause[cover.start() :]
    elif looks_like_place(clause):
        end = _place_end(_without_counties(clause))
        place, rest = clean_place(clause[:end]), clause[end:]
    else:
        place, rest = "", clause
    place = place if looks_like_place(place) else ""
    return place, (rest if looks_like_condition(rest) else "")


def read_report(text: str) -> Report:
    """Place and condition of a whole message, clause by clause: the first place, every condition."""
    text = simplified(text)
    places, conditions = [], []
    for clause in _CLAUSE.split(text):
        place, condition = _split_clause(clause)
        places += [place] if place else []
        conditions += [condition] if condition else []
    return Report(places[0] if places else "", clean("，".join(conditions)), county_in(text))


def button_text(text: str) -> str:
    """A message compared with the buttons' texts: lower case, no punctuation or spaces (对，提交 -> 对提交)."""
    return _NOT_WORDS.sub("", simplified(text).lower())


def is_yes_no_or_cancel(text: str) -> bool:
    return button_text(text) in AFFIRM_TEXTS | DENY_TEXTS | CANCEL_TEXTS


def says_dunno(text: str) -> bool:
    return bool(DUNNO.search(simplified(text)))


def someone_fell(text: str) -> bool:
    text = simplified(text)
    return bool(PERSON_FELL.search(text)) and not _NEARLY.search(text)


def without_addition_prefix(text: str) -> str:
    """补充一下，井盖旁边还有个坑 -> 井盖旁边还有个坑."""
    return clean(ADDITION_PREFIX.sub("", simplified(text)))


def correction_in(text: str) -> Correction | None:
    """地址说错了，是驿城区雪松路… -> Correction("location", "驿城区雪松路…"); the value is the whole rest."""
    text = simplified(text)
    match = CORRECTION.search(text)
    if match is None:
        return None
    word = match.group("field") or match.group("county_field")
    value = _VALUE_LEAD.sub("", text[match.end() :]).strip(" 。.！!")
    return Correction(_FIELDS[word], clean(value))


def after_denial(text: str) -> str:
    """不对，是解放路 -> 解放路; 不是人民路，是解放路 -> 解放路; text without a denial -> as it is."""
    text = simplified(text)
    if not _DENY_LEAD.match(text):
        return text
    clauses = [c for c in _CLAUSE.split(text) if c and not _DENY_LEAD.match(c)]
    return clean(_VALUE_LEAD.sub("", "，".join(clauses)))
