"""Life-safety situations found in what a resident types in a panic (a rule set, not a learnt model).

Residents in trouble do not type clean sentences: `   电梯   困人  `, 电体困人了 (homophone), 電梯困人了 (traditional),
dianti kunren le (pinyin without tones), 救命！！！🆘. Matching on the tone-less pinyin syllables of the text makes a
homophone typo and typed pinyin the same syllables as the right characters, so one pattern covers all of them.
Patterns match whole syllables (`dian ti`, not the `ti` inside `tian`). Fire is matched on characters: its pinyin
has common homophones (找活 = zhao huo). `make holdout` measures the rules on tests/holdout/emergencies.yml
(life-safety messages and look-alikes that must not raise the alarm).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.text import squeeze

# Kinds, most severe first: an elevator with someone hurt or smoke is elevator_danger, not elevator_trapped.
KINDS = ("elevator_danger", "manhole_fall", "open_hole", "fire", "elevator_trapped")
_REGEX_CHARS = set("().{}?!|*+[]\\")


@lru_cache(maxsize=1)
def _pinyin():  # type: ignore[no-untyped-def]
    from pypinyin import lazy_pinyin  # imported lazily: its phrase dictionary takes a moment to load

    return lazy_pinyin


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every tone-less syllable of the common CJK block, to split typed pinyin (kunren -> kun ren)."""
    from pypinyin import pinyin_dict

    found = {_plain(reading) for readings in pinyin_dict.pinyin_dict.values() for reading in readings.split(",")}
    return frozenset(s for s in found if s.isalpha())


def _plain(reading: str) -> str:
    decomposed = unicodedata.normalize("NFD", reading.replace("ü", "v"))
    return "".join(c for c in decomposed if c.isascii()).lower()


def split_pinyin(latin: str) -> list[str]:
    """Typed pinyin into syllables, longest syllable first (dianti -> dian ti); other letters stay as they are."""
    known, out, i = syllables(), [], 0
    while i < len(latin):
        for size in range(min(6, len(latin) - i), 0, -1):
            if latin[i : i + size] in known:
                out.append(latin[i : i + size])
                i += size
                break
        else:
            out.append(latin[i])
            i += 1
    return out


@lru_cache(maxsize=8192)
def pinyin_key(text: str) -> str:
    """Tone-less pinyin syllables of the text, one space between them (typed pinyin split the same way)."""
    words = _pinyin()(squeeze(text).lower(), errors=lambda chars: re.findall(r"[a-z]+", chars))
    return " ".join(syllable for word in words for syllable in split_pinyin(re.sub(r"[^a-z]", "", word)))


def _words(words: str) -> str:
    """Comma-and-space-separated pinyin words as one regex alternative matching whole syllables; plain words are split
    into syllables here (dianti -> `dian ti`), regex ones are written with their spaces."""
    alternatives = []
    for word in (w.strip() for w in re.split(r",\s+", words) if w.strip()):  # `{0,14}` keeps its comma
        plain = not (_REGEX_CHARS & set(word))
        alternatives.append(" ".join(split_pinyin(word.replace(" ", ""))) if plain else word)
    return r"(?<![a-z])(" + "|".join(alternatives) + r")(?![a-z])"


def _patterns() -> dict[str, re.Pattern[str]]:
    elevator = _words("dianti, diangti, zhiti, keti, huoti, dianxiang, jiaoxiang")
    # 困人/被困/关在/卡住/出不来 — not 困难 (kun nan: a hardship allowance is no emergency).
    trapped = _words(
        "kun(?! nan), guanzai, guan .{0,8}li (mian|tou), guanren, kazai, kazhu, kazhe, kale, chubulai, chubuqu, "
        "dabukai, kaibukai, tingzai, ting le .{0,20}(ren|li)"
    )
    # Right before the elevator: 被关电梯里, 困在电梯 (谁管电梯 is guan too, so not guan alone).
    trapped_before = _words("beikun, kunzai, kunjin, kunle, kun, beiguan, guanzai, guanjin, suozai, kazai, kajin")
    hurt = _words(
        "shoushang, liu .{0,14}(xue|xie), chu .{0,6}(xue|xie), hunmi, hundao, yundao, yunguoqu, shuaishang, "
        "zhuangshang, gushe, duanle, buxingle, daoxia, shuaidao, shuaile, shuaiduan, xinzangbing, fanbing, "
        "chuanbushang, chuanbuguo, jiazhu, jiashang, bushufu, touyun"
    )
    fall_into = _words(
        "diaojin, diaodao, diaoxia, diaoru, diaoli, diaojing, luoru, luojin, shuaijin, diejin, diedao, diexia, "
        "zaijin, zaixia, xianjin, xianxia, huajin, huaxia"
    )
    person = _words("youren, ren, haizi, xiaohai, haier, wawa, laoren, laotou, laotaitai, xiaopengyou, erzi, nver")
    hole = _words("jing, keng, dong, xiashuidao, wushui, yushui, kulong")
    cover = _words("jinggai, jingkou, yinjing, jiaojing, gaizi, dakeng, keng, dadong, heidong, kulong")
    gone = _words(
        "meile, meiyou, meigai, diule, bujianle, fanle, qiaole, xianle, tale, taxian, kaizhe, luozhe, changzhe, "
        "queshi, quele, suile, beitou, toule, touzou"
    )
    traffic = _words(
        "malu, lushang, luzhong, daolu, gonglu, dalu, chedao, cheliang, qiche, diandongche, diandong, motuo, "
        "zixingche, sanlun, kaiche, xingren, jiaotong, lukou, chezi, che"
    )
    # Someone may fall in now: night, children running, 快来人, 太危险.
    danger = _words("weixian, kuailairen, xiaohai, laoren, tianhei, kanbujian, chadian, chayidian")
    return {
        "elevator_danger": re.compile(rf"{elevator}.{{0,40}}{hurt}|{hurt}.{{0,40}}{elevator}"),
        "manhole_fall": re.compile(
            rf"{person}.{{0,16}}{fall_into}|{fall_into}.{{0,6}}{hole}.{{0,16}}{person}"
            rf"|{person}.{{0,6}}(diao|luo|die|zai)( jin| dao)?.{{0,8}}{hole}|{hole} li.{{0,8}}(you ren|jiu ming|hu han)"
        ),
        "open_hole": re.compile(
            rf"{traffic}.{{0,32}}{cover}.{{0,14}}{gone}|{cover}.{{0,14}}{gone}.{{0,32}}{traffic}"
            rf"|{traffic}.{{0,32}}{gone}.{{0,14}}{cover}"
            rf"|({cover}.{{0,14}}{gone}|{gone}.{{0,8}}{cover}).{{0,40}}{danger}"
            rf"|{cover}.{{0,32}}{hurt}|{hurt}.{{0,32}}{cover}|{traffic}.{{0,32}}{hurt}"
        ),
        # 卡电梯里了: ka alone only with 里/内 after the elevator (社保卡电梯老坏 is two questions, not a trapping).
        "elevator_trapped": re.compile(
            rf"{elevator}.{{0,32}}{trapped}|{trapped_before}( le)? {elevator}|(?<![a-z])ka {elevator} (li|nei)(?![a-z])"
        ),
        "elevator": re.compile(elevator),
    }


_FIRE = re.compile(
    r"着火|著火|起火|失火|火灾|冒烟|冒黑烟|冒白烟|浓烟|黑烟|烧起来|大火|火苗|冒火|烟老大|好多烟|烟很大|呛人"
)
_FIRE_PINYIN = re.compile(r"(?<![a-z])(zhao huo|zhuo huo|qi huo|huo zai|mao yan|nong yan|shi huo)(?![a-z])")
_NEARLY = re.compile(r"差点|差一点|险些|差些|快要|怕")
# A situation in the past, a complaint or the programme, not someone in danger now.
_NOT_NOW = re.compile(
    r"整治|普查|专项|安全检查|年检|维保|防治|防火|消防检查|演练|去年|上次|上个月|以前|投诉|举报|赔偿|困过|关过|预防|"
    r"多少起|几起|一共|处置了|一般|这个数|怕着火|怕有人|怕掉|怕出事|担心|万一|以防|别叫人|别让人|免得|省得"
)


@lru_cache(maxsize=1)
def patterns() -> dict[str, re.Pattern[str]]:
    return _patterns()


def emergency_in(text: str) -> str | None:
    """The life-safety situation a message describes (one of KINDS), or None."""
    plain = squeeze(text)
    if not plain or _NOT_NOW.search(plain):
        return None
    key = pinyin_key(text)
    typed_pinyin = not re.search(r"[\u4e00-\u9fff]", plain)
    fire = bool(_FIRE.search(plain) or (typed_pinyin and _FIRE_PINYIN.search(key)))
    found = patterns()
    if found["elevator_danger"].search(key) or (fire and found["elevator"].search(key)):
        return "elevator_danger"
    if found["manhole_fall"].search(key) and not _NEARLY.search(plain):
        return "manhole_fall"
    if found["open_hole"].search(key) or found["manhole_fall"].search(key):
        return "open_hole"  # nobody fell in (yet): keep people away, then the report
    if fire:
        return "fire"
    return "elevator_trapped" if found["elevator_trapped"].search(key) else None
