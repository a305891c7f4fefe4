"""What a message asks *about* a topic (its aspect), and whether it names a topic at all.

社保卡咋办 names a topic; 要带啥, 在哪办, 多久能拿到, 那我爸呢, 还有别的吗 name only an aspect and make sense only in
the conversation's context. The answer actions read the aspect from the entity `aspect` and the topic from the
slot `topic`. Patterns run on `bot.text.squeeze` output (simplified, no spaces).
"""

from __future__ import annotations

import re

# Order matters where two could match one phrase: cost before figures (多少钱), more before the rest (还有别的吗).
ASPECT_PATTERNS: dict[str, str] = {
    "more": (
        r"还有(没有)?(别的|其他|其它|啥|什么|哪些)(的|事|服务|业务|项目)?(吗|呢|没|不|么|嘛)?$|其他的呢|"
        r"别的呢|还有吗|还有没|还能(办|问)(啥|什么)|还管(啥|什么)"
    ),
    "cost": (
        r"要钱|收费|收钱|费用|多少钱|花钱|免费|掏钱|给钱|价格|几块钱|花多少|贵不贵|要不要钱|自费|报销多少|"
        r"交钱|缴费|交费|出钱"
    ),
    "bring": (
        r"带(啥|什么|哪些|些啥|点啥|的东西|啥东西|什么东西|什么材料|啥材料|什么证|啥证)|(要|需要|准备)(啥|什么|哪些)(材料|证件|证明|资料|手续|东西)|"
        r"材料|证件|要带|拿(啥|什么)去|准备(啥|什么)"
    ),
    "where": r"在哪|哪里|哪儿|哪办|去哪|到哪|搁哪|啥地方|什么地方|地址|地点|网点在|位置在|哪个银行|离我近",
    "how_long": (
        r"多久|多长时间|几天|多少天|几个月|啥时候能|什么时候能|时限|要等|等多久|当天|立等|多快|几个工作日|"
        r"啥时候|什么时候|多会儿|几号|几月|哪天"
    ),
    "contact": r"电话|号码|联系方式|怎么联系|咋联系|热线|打哪个|拨打|手机号|打给谁",
    "office": r"哪个部门|什么部门|啥部门|找谁|谁管|归谁|谁负责|哪个单位|哪个局|哪个机关|管这事|归哪",
    "eligible": (
        r"代办|代领|代替|代理|替(他|她|我|俺|别人|家里)|帮(他|她|我爸|我妈|俺爸|俺妈|家里人|老人)|别人(能|可以)|"
        r"家属|亲戚|(能|可以|能不能|可不可以)(办|申请|领|享受|参加)(吗|不|么)?$|条件|符合|资格|谁能|哪些人|"
        r"什么人|啥人|够不够|外地人|户口|^.{0,6}(可以|能|行|中)(吗|不|么|嘛|不行|不能|不中)$|算不算|"
        r"(能|可以)\w{0,3}(不|吗|么)$|能不能|行不行|中不中|有没有份|轮到|算不算|(她|他|俺|我|我们|俺们|咱)(有没有|算不算|够不够)"
    ),
    "figures": (
        r"多少(?!钱)|几[个家所户人套回次件场盏例名台辆处座条万千百]|数据|数量|规模|比例|百分|成功率|病害率|\w率|"
        r"进度|啥程度|什么程度|到哪一步|完成了没|弄完没|建了没|建成没|弄好没"
    ),
    "steps": (
        r"怎么办|咋办|怎么弄|咋弄|如何办|如何申请|流程|步骤|手续|怎么申请|咋申请|怎么操作|咋操作|办理方式|怎么搞|咋搞|"
        r"咋整|怎么整|怎么去办|怎么报|咋报|程序|(咋|怎么|怎样|如何)(举报|投诉|报名|理赔|赔|用|领|申请|预约|登记|查|报)"
    ),
}
ASPECTS = tuple(ASPECT_PATTERNS)
_COMPILED = {aspect: re.compile(pattern) for aspect, pattern in ASPECT_PATTERNS.items()}

# People a resident asks on behalf of: "那我爸呢" asks whether the topic applies to them.
PERSON = re.compile(
    r"我爸|我妈|俺爸|俺妈|爸爸|妈妈|父亲|母亲|老爹|老娘|我爹|俺爹|俺娘|爷爷|奶奶|姥姥|姥爷|外婆|外公|老人|老伴|孩子|小孩|娃|儿子|闺女|女儿|"
    r"老婆|媳妇|丈夫|老公|家里人|家人|亲戚|朋友|邻居|别人|老大|老二|老三|弟弟|哥哥|姐姐|妹妹|俺弟|俺哥|俺姐|俺妹|"
    r"孙子|孙女|外孙|侄子|外甥|婆婆|公公|两口子|他|她"
)
# Places and groups a question is narrowed to: "县里呢" asks the same about the counties.
SCOPE = re.compile(
    r"^(那|那么)?(俺们|我们|咱们|恁|你们)?(县里|县城|各县|县区|县|乡下|乡里|乡|农村|村里|村|城里|市里|市区|乡镇|镇上|镇|"
    r"小区|单位)\w{0,2}$"
)
# "那X呢" / "X呢": the same question about X.
WHAT_ABOUT = re.compile(r"^(那|那么|那要是|要是|如果是)?(?P<subject>.{1,16}?)(呢|咋样|怎么样)[?？。!！]*$")
# What remains once aspects, people and filler are taken out; more than a few characters means a subject.
_FILLER = re.compile(
    r"[\s\W\d_]|那么|那个|这个|请问|问一下|一下|想问|麻烦|谢谢|还是|的话|举报|投诉|报名|理赔|申请|预约|登记|一般|来人|"
    r"出去|进去|自己|现在|"
    r"[那这的了吗呢啊呀吧嘞哩么嘛我俺咱你恁他她们要需得能可以不是有没还都就也在去到给想问再个些一点儿哈中行好"
    r"嗯额哦诶呐捏多少几啥什咋怎样办理弄搞整拿领用岁十百大老腿脚方便部门管住上改修装交花算送打看查找套回盏件例场次户所台辆座条万千]|今年|去年|一共|总共|全市"
)

# Typed button texts and their one-word equivalents, as the button would send them.
BUTTON_INTENTS: dict[str, str] = {
    **dict.fromkeys(
        ("对", "对的", "对提交", "提交", "中", "可以", "是的", "是", "没错", "正确", "确认", "行", "好", "好的", "嗯"),
        "affirm",
    ),
    **dict.fromkeys(("不对", "重新填", "不对重新填", "错了", "不是", "不正确", "重填", "填错了"), "deny"),
    **dict.fromkeys(("取消", "取消报修", "不报了", "算了", "不用了", "不修了"), "stop"),
}


def aspects_in(text: str) -> list[str]:
    """Aspects asked, in ASPECTS order (at most one per aspect)."""
    found = [aspect for aspect, pattern in _COMPILED.items() if pattern.search(text)]
    if "cost" in found and "figures" in found:
        found.remove("figures")
    if "more" in found:
        return ["more"]
    if "bring" in found and "eligible" in found:  # 要带户口本不: what to bring, not who may
        found.remove("eligible")
    if "contact" in found and "figures" in found:  # 电话多少: the number to call
        found.remove("figures")
    return found


def what_about(text: str) -> str | None:
    """X of a short "那X呢", else None."""
    match = WHAT_ABOUT.match(text)
    return match.group("subject") if match and len(text) <= 20 else None


def leftover(text: str, aspect_free: bool = True) -> str:
    """The text without aspect phrases, people and filler: what would name a subject."""
    if aspect_free:
        for pattern in _COMPILED.values():
            text = pattern.sub("", text)
    return _FILLER.sub("", PERSON.sub("", text))


def button_intent(text: str) -> str | None:
    """The intent of a typed button text (不对，重新填 -> deny), only for messages that are nothing else."""
    return BUTTON_INTENTS.get(re.sub(r"[\s\W_]", "", text))
