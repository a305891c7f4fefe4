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
        r"还有(没有)?(别的|别哩|其他|其它|啥|什么|哪些)(的|哩|事|服务|业务|项目|要注意|需要注意|注意)?\w{0,3}(吗|呢|没|不|么|嘛)?$|"
        r"其他的呢|别的呢|别哩呢|还有吗|还有没|还能(办|问)(啥|什么)|还管(啥|什么)|还有啥别|要注意(啥|什么|哩|的)"
    ),
    "cost": (
        r"要钱|收费|收钱|费用|多少钱|花钱|免费|全免|掏钱|给钱|价格|几块钱|花多少|贵不贵|要不要钱|自费|报销多少|"
        r"交钱|缴费|交费|出钱|谁出|谁掏|谁拿钱|摊钱|补多少|补贴多少|补助多少|给多少钱|租金|房租|学费|保费|手续费|快递费|"
        r"邮费|运费|买票|门票|收不收钱|交多少|掏多少|出多少"
    ),
    "bring": (
        r"带(啥|什么|哪些|些啥|点啥|的东西|啥东西|什么东西|什么材料|啥材料|什么证|啥证)|"
        r"(要|需要|准备|得)(啥|什么|哪些)(材料|证件|证明|资料|手续|东西)|材料|证件|要带|拿(啥|什么)(去|证)|"
        r"准备(啥|什么)|(拿|带)(他|她|我|俺)(哩|的)?(身份证|户口本)|(要|得)(开|办)?(残疾证|身份证|户口本|证明)(不|吗|么)|"
        r"(拿|要|得)啥证|身份证还是|户口本不"
    ),
    "where": (
        r"在哪|哪里|哪儿|哪办|去哪|到哪|搁哪|啥地方|什么地方|地址|地点|网点在|位置在|哪个银行|离(我|俺)\w{0,3}近|"
        r"最近(的|哩)?(点|网点|地方)|附近|哪几(所|个地方|家|个点)|哪个(乡|镇|县|区|医院|学校|幼儿园|app|APP|软件|平台)|"
        r"用哪个|在那办|在那边办|是哪(几|些)所"
    ),
    "how_long": (
        r"多久|多长时间|几天|多少天|几个月|啥时候能|什么时候能|时限|要等|等多久|当天|立等|多快|几个工作日|"
        r"啥时候|什么时候|多会儿|几号|几月|哪天|几分钟|几个小时|几小时|快了没|快不快|慢不慢|恁慢|这么慢|"
        r"(年底|月底|年内|今年)(能|可以)?(弄完|完成|建成|修好|干完|搞完)|等(仨|三|几)个?月|来得及"
    ),
    "contact": (
        r"电话|号码|联系方式|怎么联系|咋联系|热线|打哪个|拨打|手机号|打给谁|(打|拨)(啥|什么|哪个)号|啥号|"
        r"什么号|哪个号|号多少|打不通"
    ),
    "office": (
        r"哪个部门|什么部门|啥部门|哪些部门|找谁|谁管|归谁|谁负责|哪个单位|哪个局|哪个机关|管这事|归哪|谁来(修|管|办|处理)|"
        r"谁(修|赔)|(是|归)\w{1,6}管(的|哩)?(不|吗|么)|\w{2,6}(管|负责)(的|哩)?(不|吗|么)$"
    ),
    "eligible": (
        r"代办|代领|代替|代理|替(他|她|我|俺|别人|家里)|帮(他|她|我爸|我妈|俺爸|俺妈|家里人|老人|着)|别人(能|可以)|"
        r"家属|亲戚|(能|可以|能不能|可不可以)(办|申请|领|享受|参加|去|用|改|调|住|分到|报|约)(吗|不|么)?$|条件|符合|资格|"
        r"谁能|哪些人|什么人|啥人|够不够|外地人|外地(哩|的)?户口|户口|^.{0,6}(可以|能|行|中)(吗|不|么|嘛|不行|不能|不中)$|"
        r"算不算|能不能|行不行|有没有份|轮到|收不收(?!费|钱)|要不要(俺|我|他|她)|"
        r"也(能|可以|中|行|有|算|收|管)|(中|行)吧$|(她|他|俺|我|我们|俺们|咱)(有没有|算不算|够不够)|(俺|我)是(?!想|问|说)\w{1,8}(哩|的)?\W|"
        r"(给|帮)(她|他|俺|我)\w{0,6}(了没|没有|吗|不)$"
    ),
    "figures": (
        r"多少(?!钱)|几[个家所户人套回次件场盏例名台辆处座条万千百起]|数据|数量|规模|比例|百分|成功率|病害率|\w率|"
        r"进度|啥程度|什么程度|到哪一步|完成了没|弄完没|建了没|建成没|弄好没|统计|成(的|哩)多不|多不多|目标"
    ),
    "steps": (
        r"怎么办|咋办|怎么弄|咋弄|如何办|如何申请|流程|步骤|手续(?!费)|怎么申请|咋申请|怎么操作|咋操作|办理方式|怎么搞|咋搞|"
        r"咋整|怎么整|怎么去办|怎么报|咋报|程序|"
        r"(咋|怎么|怎样|如何)(举报|投诉|报名|理赔|赔|用|领|申请|预约|登记|查|报|反映|反应|处理|解决|补|换|开通|找|约)|"
        r"先(得|要)?(弄|干|做|办)(啥|什么)|先\w{1,4}还是先|网上(就)?(能|中|行|可以)|跑(现场|一趟)|有啥用|有什么用|"
        r"按哪个|(爬|扒|钻)\w{0,4}出去"
    ),
}
ASPECTS = tuple(ASPECT_PATTERNS)
_COMPILED = {aspect: re.compile(pattern) for aspect, pattern in ASPECT_PATTERNS.items()}
# A bare yes/no "can it be done" question (能在这办不, 中不中, 也能用吗): who may, unless a more specific aspect
# is asked too (当天能拿到手不 asks how long, 能免费配不 the cost).
YES_NO = re.compile(r"(能|可以)\w{0,8}(不|吗|么|没)$|中不中|(能|可以|中|行)(吗|不|么|嘛)$")
# ... when it is about a person, the resident, "also" or doing the thing itself (扫了能看维保记录不 asks what the
# service does: no aspect).
YES_NO_WHO = re.compile(r"也|(俺|我|咱)(们)?(能|可以)|(能|可以)(办|申请|领|用|去|住|报|改|约|参加|享受)")

# People a resident asks on behalf of: "那我爸呢" asks whether the topic applies to them.
PERSON = re.compile(
    r"我爸|我妈|俺爸|俺妈|爸爸|妈妈|父亲|母亲|老爹|老娘|我爹|俺爹|俺娘|爷爷|奶奶|姥姥|姥爷|外婆|外公|老人|老伴|孩子|小孩|娃|儿子|闺女|女儿|"
    r"老婆|媳妇|丈夫|老公|家里人|家人|亲戚|朋友|邻居|别人|老大|老二|老三|弟弟|哥哥|姐姐|妹妹|俺弟|俺哥|俺姐|俺妹|"
    r"孙子|孙女|外孙|侄子|外甥|婆婆|公公|两口子|表哥|表姐|表弟|表妹|堂哥|堂弟|姑|姨|舅|叔|婶|伯|儿女|子女|同事|老乡|"
    r"工友|会计|他|她"
)
# Places and groups a question is narrowed to: "县里呢" asks the same about the counties.
_PLACES = (
    r"县里|县城|各县|县区|县|乡下|乡里|乡|农村|村里|村|城里|市里|市区|乡镇|镇上|镇|小区|单位|驿城区|西平县?|上蔡县?|"
    r"平舆县?|正阳县?|确山县?|泌阳县?|汝南县?|遂平县?|新蔡县?"
)
SCOPE = re.compile(
    rf"^(那|那么)?(俺们|我们|咱们|恁|你们|俺|我)?(那|这)?({_PLACES})"
    r"(这边|那边|里|哩|上|下)?(加起来|合起来|一共|总共)?(呢|咋样|怎么样|也是|也这样|也有|也一样)?\W*$"
)
SCOPE_WORDS = re.compile(_PLACES)
# "那X呢" / "X呢": the same question about X.
WHAT_ABOUT = re.compile(r"^(那|那么|那要是|要是|如果是)?(?P<subject>.{1,16}?)(呢|咋样|怎么样)[?？。!！]*$")
# What remains once aspects, people and filler are taken out; more than a few characters means a subject.
_FILLER = re.compile(
    r"[\s\W\d_]|那么|那个|这个|请问|问一下|一下|想问|麻烦|谢谢|还是|的话|举报|投诉|报名|理赔|申请|预约|登记|一般|来人|"
    r"出去|进去|自己|现在|负责|管理|处理|"
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
    if not found and YES_NO.search(text) and (YES_NO_WHO.search(text) or PERSON.search(text)):
        found = ["eligible"]
    if "office" in found and "where" in found and re.search(r"归|管|部门|负责", text):  # 这归哪儿管
        found.remove("where")
    if "where" in found and "figures" in found and "哪几" in text:  # 在哪几个地方: where, not how many
        found.remove("figures")
    if "where" in found and "steps" in found:  # 离俺家最近哩点咋找: the place is what is asked
        found.remove("steps")
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
