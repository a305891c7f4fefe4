"""End to end: whole manhole-report conversations over REST (the real Rasa server, action server and model)."""

from __future__ import annotations

import re
import uuid

from kb import query
from tests.conftest import Servers

CONFIRM = "请确认报修信息"
ASK_LOCATION = "请告诉我井盖的位置"
ASK_COUNTY = "这个位置在哪个县区"
ASK_DESCRIPTION = "井盖是什么情况"
NUMBER = re.compile(r"JG-\d{8}-\d{4}-\d{4}")
CHECK_CODE = re.compile(r"查询码：(\d{6})")


def sender() -> str:
    return f"e2e-form-{uuid.uuid4().hex[:8]}"


def summary(text: str) -> dict[str, str]:
    """县区 / 位置 / 情况 of the confirmation message."""
    return dict(re.findall(r"^(县区|位置|情况)：(.*)$", text.split(CONFIRM, 1)[1], flags=re.M))


def file_report(servers: Servers, resident: str) -> str:
    confirm = servers.text_of(resident, "驿城区雪松路和开源大道交叉口西南角井盖没了")
    assert CONFIRM in confirm
    done = servers.text_of(resident, "对，提交")
    number = NUMBER.search(done)
    assert number, done
    return number.group(0)


def test_a_one_sentence_report_gets_the_office_and_safety_first_then_the_confirmation(servers: Servers) -> None:
    resident = sender()
    replies = [r.get("text", "") for r in servers.say(resident, "驿城区雪松路和开源大道交叉口西南角井盖没了")]
    intro, confirm = replies[0], replies[-1]
    assert intro.startswith("⚠️") and "120" in intro
    assert "市城管局" in intro and "谁所有、谁负责" in intro
    assert summary(confirm) == {"县区": "驿城区", "位置": "驿城区雪松路和开源大道交叉口西南角", "情况": "井盖没了"}
    done = servers.text_of(resident, "对，提交")
    number = NUMBER.search(done)
    assert number and "驻马店市城市管理局" in done
    ticket = query.get_ticket(number.group(0), url=servers.database_url)
    assert (ticket.county, ticket.location, ticket.description) == (
        "驿城区",
        "驿城区雪松路和开源大道交叉口西南角",
        "井盖没了",
    )


def test_a_question_at_the_location_prompt_is_answered_and_the_form_goes_on(servers: Servers) -> None:
    resident = sender()
    assert ASK_LOCATION in servers.text_of(resident, "我要报修井盖")
    answered = servers.text_of(resident, "社保卡咋办")
    assert "驻马店市人力资源和社会保障局" in answered and "身份证" in answered
    assert ASK_LOCATION in answered.rstrip().splitlines()[-1]  # then the form asks the same thing again
    # Whatever the NLU makes of it, a question is never stored as the location.
    assert CONFIRM not in servers.text_of(resident, "异地看病怎么报销")
    assert ASK_DESCRIPTION in servers.text_of(resident, "驿城区人民路和交通路交叉口")
    confirm = servers.text_of(resident, "整个井盖都没了，有个大坑")
    assert summary(confirm) == {
        "县区": "驿城区",
        "位置": "驿城区人民路和交通路交叉口",
        "情况": "整个井盖都没了，有个大坑",
    }


def test_corrections_at_the_confirmation_replace_whole_fields(servers: Servers) -> None:
    resident = sender()
    assert CONFIRM in servers.text_of(resident, "驿城区解放路和文化路交叉口井盖碎了")
    confirm = servers.text_of(resident, "地址说错了，是驿城区雪松路和开源大道交叉口西南角")
    assert summary(confirm)["位置"] == "驿城区雪松路和开源大道交叉口西南角"
    confirm = servers.text_of(resident, "情况说错了，是破了一半")
    assert summary(confirm) == {"县区": "驿城区", "位置": "驿城区雪松路和开源大道交叉口西南角", "情况": "破了一半"}
    confirm = servers.text_of(resident, "位置不对，应该是驿城区解放路和文化路交叉口东南角")
    assert summary(confirm)["位置"] == "驿城区解放路和文化路交叉口东南角"
    number = NUMBER.search(servers.text_of(resident, "对"))
    assert number
    ticket = query.get_ticket(number.group(0), url=servers.database_url)
    assert (ticket.location, ticket.description) == ("驿城区解放路和文化路交叉口东南角", "破了一半")


def test_typed_buttons_start_over_and_cancel(servers: Servers) -> None:
    resident = sender()
    assert CONFIRM in servers.text_of(resident, "驿城区解放路和文化路交叉口井盖碎了")
    again = servers.text_of(resident, "不对，重新填")
    assert "重新填写" in again and ASK_LOCATION in again
    assert "已取消" in servers.text_of(resident, "取消报修")
    assert query.tickets_of(resident, url=servers.database_url) == []


def test_the_county_step_takes_a_county_anywhere_and_never_gets_stuck(servers: Servers) -> None:
    resident = sender()
    servers.text_of(resident, "我要报修井盖")
    assert ASK_COUNTY in servers.text_of(resident, "雪松路和开源大道交叉口")
    moved_on = servers.text_of(resident, "驿城区雪松路和开源大道交叉口西南角")
    assert "没找到这个县区" not in moved_on and ASK_DESCRIPTION in moved_on
    confirm = servers.text_of(resident, "井盖整个没了")
    assert summary(confirm)["县区"] == "驿城区"
    assert summary(confirm)["位置"] == "驿城区雪松路和开源大道交叉口西南角"


def test_an_unknown_county_is_left_unsaid_after_two_tries(servers: Servers) -> None:
    resident = sender()
    servers.text_of(resident, "我要报修井盖")
    assert ASK_COUNTY in servers.text_of(resident, "人民路和交通路交叉口")
    assert "没找到这个县区" in servers.text_of(resident, "郑州")
    assert ASK_DESCRIPTION in servers.text_of(resident, "北京")
    assert summary(servers.text_of(resident, "井盖碎了一半"))["县区"] == "未说明"
    other = sender()
    servers.text_of(other, "我要报修井盖")
    servers.text_of(other, "人民路和交通路交叉口")
    assert ASK_DESCRIPTION in servers.text_of(other, "不知道")


def test_a_filed_ticket_can_be_added_to_cancelled_and_listed(servers: Servers) -> None:
    resident = sender()
    number = file_report(servers, resident)
    added = servers.text_of(resident, "补充一下，井盖旁边还有个坑")
    assert "已把补充内容记到工单" in added and number in added
    assert "井盖旁边还有个坑" in query.get_ticket(number, url=servers.database_url).description
    assert "只能撤销或补充在这段对话里提交的工单" in servers.text_of(sender(), f"撤销工单 {number}")  # someone else
    assert query.get_ticket(number, url=servers.database_url).status == "受理"
    cancelled = servers.text_of(resident, "撤销刚才的报修")
    assert "已撤销" in cancelled and number in cancelled
    assert query.get_ticket(number, url=servers.database_url).status == "已撤销"
    status = servers.text_of(resident, "我前两天报的井盖修了没有")
    assert number in status and "已撤销" in status and "雪松路" in status


def test_only_the_filing_conversation_or_the_check_code_opens_a_ticket(servers: Servers) -> None:
    """Issue 17.1: 查询工单 <number> from a fresh chat showed another resident's location and status."""
    resident = sender()
    confirm = servers.text_of(resident, "驿城区雪松路和开源大道交叉口西南角井盖没了")
    assert CONFIRM in confirm
    done = servers.text_of(resident, "对，提交")
    number, code = NUMBER.search(done), CHECK_CODE.search(done)
    assert number and code, done
    stranger = sender()
    refused = servers.text_of(stranger, f"查询工单 {number.group(0)}")
    assert "查询码" in refused and "雪松路" not in refused and "受理" not in refused, refused
    wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
    refused = servers.text_of(stranger, f"查询工单 {number.group(0)} 查询码 {wrong}")
    assert "雪松路" not in refused and "受理" not in refused, refused
    opened = servers.text_of(stranger, f"查询工单 {number.group(0)} 查询码 {code.group(1)}")
    assert "雪松路" in opened and "受理" in opened and number.group(0) in opened, opened
    own = servers.text_of(resident, f"查询工单 {number.group(0)}")
    assert "雪松路" in own and "受理" in own


def test_asking_about_earlier_reports_without_any_asks_for_the_number(servers: Servers) -> None:
    assert "工单编号" in servers.text_of(sender(), "我前两天报的井盖修了没有")
