"""The chat page in Debian's headless Chromium, against the web app and the real Rasa and action servers."""

from __future__ import annotations

import re
import struct
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from bot.config import ROOT
from tests.web.conftest import PHONE, Web, open_chat, session_id

SCREENSHOT = ROOT / "docs" / "screenshot-chat.png"
BOT = "#messages li.msg-bot"
USER = "#messages li.msg-user"


def ask(page: Page, text: str) -> None:
    """Type a question and press Enter, then wait until every reply has arrived."""
    bots = page.locator(BOT).count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    expect(page.locator(BOT)).not_to_have_count(bots, timeout=60_000)
    wait_idle(page)


def wait_idle(page: Page) -> None:
    expect(page.locator("#typing")).to_be_hidden(timeout=60_000)
    expect(page.locator("#send")).to_be_enabled()


def bot_text(page: Page) -> str:
    return "\n".join(page.locator(f"{BOT} .bubble").all_inner_texts())


def test_asking_about_the_social_security_card_names_the_bureau(page: Page) -> None:
    ask(page, "社保卡咋办")
    expect(page.locator(USER).last).to_contain_text("社保卡咋办")
    expect(page.locator(BOT).first).to_contain_text("市人社局")
    assert page.input_value("#input") == ""
    expect(page.locator("#intro")).to_be_hidden()


def test_typing_indicator_shows_while_waiting(page: Page) -> None:
    # Hold the reply back so the indicator can be seen, then let it through.
    held = []
    page.route("**/api/message", lambda route: held.append(route))
    page.fill("#input", "社保卡咋办")
    page.press("#input", "Enter")
    expect(page.locator("#typing")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    expect(page.locator("#typing")).to_be_visible()
    held[0].continue_()
    wait_idle(page)
    expect(page.locator(BOT).last).to_be_visible()


def test_a_quick_reply_chip_sends_its_payload_and_shows_its_title(page: Page, web: Web) -> None:
    ask(page, "社保卡咋办")
    # The first answer's quick replies are the topic's other aspects (docs/conversation.md).
    chip = page.locator(f"{BOT} .chip", has_text="要带什么").first
    expect(chip).to_be_visible()
    bots = page.locator(BOT).count()
    chip.click()
    expect(page.locator(USER).last).to_have_text("您说：要带什么")
    expect(page.locator(BOT)).not_to_have_count(bots, timeout=60_000)
    wait_idle(page)
    answer = "\n".join(page.locator(f"{BOT} .bubble").all_inner_texts()[bots:])
    assert "身份证件" in answer and "市人社局" in answer
    # Rasa received the payload (a follow-up kept in the conversation's topic).
    events = web.tracker_events(session_id(page.context))
    assert [e["text"] for e in events if e["event"] == "user"] == ["社保卡咋办", "要带什么"]


def test_reload_shows_the_conversation_so_far(page: Page) -> None:
    ask(page, "社保卡咋办")
    page.locator(f"{BOT} .chip", has_text="要带什么").first.click()
    wait_idle(page)
    before = page.locator("#messages li").all_inner_texts()
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    after = page.locator("#messages li").all_inner_texts()
    assert after == before
    assert "要带什么" in page.locator(USER).last.inner_text()
    expect(page.locator("#intro")).to_be_hidden()


def keydown_enter(page: Page, **init: object) -> None:
    """A synthetic Enter keydown on the input, as an IME produces it (isComposing, keyCode 229)."""
    page.eval_on_selector(
        "#input",
        """(el, init) => el.dispatchEvent(new KeyboardEvent('keydown',
            Object.assign({key: 'Enter', code: 'Enter', bubbles: true, cancelable: true}, init)))""",
        init,
    )


def test_enter_does_not_send_while_an_ime_is_composing(page: Page) -> None:
    page.fill("#input", "社保卡咋办")
    keydown_enter(page, isComposing=True)  # isComposing alone
    page.dispatch_event("#input", "compositionstart", {"data": ""})
    keydown_enter(page, isComposing=True, keyCode=229)
    keydown_enter(page)  # a plain Enter between compositionstart and compositionend
    page.dispatch_event("#input", "compositionend", {"data": "社保卡咋办"})
    keydown_enter(page, keyCode=229)  # keyCode 229 alone: Safari sends it just after compositionend
    page.wait_for_timeout(800)
    expect(page.locator(USER)).to_have_count(0)
    assert page.input_value("#input") == "社保卡咋办"
    page.press("#input", "Enter")
    expect(page.locator(USER)).to_have_count(1)
    expect(page.locator(USER).first).to_contain_text("社保卡咋办")
    wait_idle(page)
    expect(page.locator(BOT).first).to_contain_text("市人社局")


def test_shift_enter_makes_a_new_line(page: Page) -> None:
    page.fill("#input", "第一行")
    page.press("#input", "Shift+Enter")
    page.wait_for_timeout(300)
    expect(page.locator(USER)).to_have_count(0)
    assert "\n" in page.input_value("#input")


def test_elder_mode_is_large_high_contrast_and_remembered(page: Page) -> None:
    toggle = page.locator("#elder-toggle")
    normal = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("body")).to_have_class("elder")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    large = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert large >= 22 and large > normal
    assert page.evaluate("getComputedStyle(document.body).color") == "rgb(0, 0, 0)"
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("body")).to_have_class("elder")
    expect(page.locator("#elder-toggle")).to_have_attribute("aria-pressed", "true")
    # Keyboard works too: Space on the focused toggle turns it off.
    page.focus("#elder-toggle")
    page.keyboard.press("Space")
    expect(page.locator("body")).not_to_have_class("elder")
    assert page.evaluate("localStorage.getItem('zmd-chat-elder')") == "0"


def test_not_helpful_is_logged_in_the_rasa_tracker(page: Page, web: Web) -> None:
    ask(page, "社保卡咋办")
    answer = page.locator(BOT).first
    index = int(answer.get_attribute("data-index") or "-1")
    answer.get_by_role("button", name="没帮助").click()
    expect(answer.locator(".feedback")).to_contain_text("谢谢您的反馈")
    expect(answer.get_by_role("button", name="没帮助")).to_have_attribute("aria-pressed", "true")
    events = web.tracker_events(session_id(page.context))
    feedback = [e["value"] for e in events if e["event"] == "slot" and e["name"] == "feedback"]
    assert len(feedback) == 1
    assert feedback[0]["rating"] == "not_helpful" and feedback[0]["message_index"] == index == 1


def test_handoff_button_is_always_there_and_sends_zhuan_rengong(page: Page, web: Web) -> None:
    ask(page, "社保卡咋办")
    handoff = page.locator("#handoff")
    expect(handoff).to_have_accessible_name(re.compile(r"^转人工\s*：请工作人员跟进"))
    expect(handoff).to_be_in_viewport()
    handoff.click()
    expect(page.locator(USER).last).to_have_text("您说：转人工")
    wait_idle(page)
    events = web.tracker_events(session_id(page.context))
    assert [e["text"] for e in events if e["event"] == "user"][-1] == "转人工"


def test_script_in_messages_is_shown_as_text(page: Page, web: Web) -> None:
    attack = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
    ask(page, attack)
    expect(page.locator(USER).last).to_have_text("您说：" + attack)
    web.add_bot_message(session_id(page.context), "回答 " + attack)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator(BOT).last).to_contain_text("回答 " + attack)
    assert page.locator("#messages script, #messages img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_urls_and_phone_numbers_are_tappable_links(page: Page, web: Web) -> None:
    ask(page, "你好")
    text = (
        "请拨打12345或96333，紧急时拨119，座机0396-1234567，详见https://www.zhumadian.gov.cn/ 办理。"
        "工单JG-20261126-0001，共255个网点、120个床位，截至2021年6月30日。"
        "新工单JG-20261206-4827-3915，查询码：482739，查询码 105362。"
    )
    web.add_bot_message(session_id(page.context), text)
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    last = page.locator(BOT).last
    hrefs = last.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["tel:12345", "tel:96333", "tel:119", "tel:03961234567", "https://www.zhumadian.gov.cn/"]
    expect(last.locator(".bubble")).to_contain_text(text)


def test_keyboard_focus_order(page: Page) -> None:
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert order[:3] == ["skip-link", "elder-toggle", "handoff"]
    page.focus("#input")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "send"
    labels = page.evaluate("Array.from(document.querySelectorAll('button')).map(b => b.innerText.trim()).join('|')")
    assert "长辈模式" in labels and "转人工" in labels and "发送" in labels
    assert page.locator("#messages").get_attribute("aria-live") == "polite"
    assert page.locator("label[for='input']").count() == 1


def test_rasa_down_shows_a_polite_message(browser: BrowserContext, web_without_rasa: Web) -> None:
    page = open_chat(browser, web_without_rasa.url)
    try:
        page.fill("#input", "社保卡咋办")
        page.press("#input", "Enter")
        notice = page.locator("#messages li.msg-system")
        expect(notice).to_contain_text("12345")
        expect(page.locator("#send")).to_be_enabled()
    finally:
        page.close()


def test_phone_screenshot(page: Page) -> None:
    assert page.viewport_size == PHONE
    ask(page, "社保卡咋办")
    page.evaluate("document.getElementById('chat').scrollTop = 0")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (390, 844)
    assert len(data) < 300_000, "keep the committed screenshot small"


def test_each_browser_gets_its_own_conversation(browser: BrowserContext, web: Web) -> None:
    first = open_chat(browser, web.url)
    marker = f"社保卡咋办 {uuid.uuid4().hex[:6]}"
    try:
        ask(first, marker)
    finally:
        first.close()
    second = open_chat(browser, web.url)
    try:
        assert marker not in second.locator("#messages").inner_text()
        expect(second.locator("#intro")).to_be_visible()
    finally:
        second.close()
