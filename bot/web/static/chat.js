/* 驻马店市民助手 — chat page. Plain JS, no framework. Every piece of user or bot text goes into the page as a
   DOM text node (never innerHTML), so "<script>" in a message is shown, not run. */
(function () {
  "use strict";

  var ELDER_KEY = "zmd-chat-elder";
  var MAX_CHARS = 2000;
  var IDLE_PAUSE_MS = 15 * 60 * 1000; // normal mode only; 长辈模式 never pauses
  var PACE = { normal: 350, elder: 1400 }; // pause before each further bot message, ms
  var HANDOFF_TEXT = "转人工";
  var TEXT = {
    you: "您说：",
    bot: "助手说：",
    notice: "提示：",
    helpful: "有帮助",
    notHelpful: "没帮助",
    rateGroup: "这条回答对您有帮助吗？",
    rateHint: "，评价上面这条回答",
    thanks: "谢谢您的反馈！",
    network: "网络好像断开了，请检查网络后再试；着急的话请拨打12345政务服务便民热线。",
  };

  // Links: web addresses; phone numbers (5+ digits such as 12345 and 96333, area-code numbers, and the
  // emergency numbers 110/119/120/122) — but not counts ("120个"), ticket numbers (JG-20261206-4827-3915,
  // JG-20261126-0001), a ticket's check code ("查询码：482739") or dates.
  var URL_PART = "https?:\\/\\/[^\\s<>\"'\\u3000-\\u303f\\u4e00-\\u9fff\\uff01-\\uff0f\\uff1a-\\uff20]+";
  var PHONE_PART =
    "(?<![\\w\\-/.])(?<!码[：:\\s]{0,3})(?:0\\d{2,3}-\\d{7,8}|\\d{5,}|11[09]|12[02])(?![\\w\\-/.])" +
    "(?!\\s*(?:个|元|人|万|亿|户|名|家|所|张|次|件|台|辆|天|年|月|日|号|岁|平|米|公里|千|百|%|多|余|项|座|条|套|间|处|支|场|本|位|斤|吨|亩|分|秒|小时|周))";
  var LINK_RE = new RegExp("(" + URL_PART + ")|(" + PHONE_PART + ")", "g");

  var els = {};
  var state = { busy: false, nextIndex: 0, elder: false, idleTimer: 0, paused: false };

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.appendChild(document.createTextNode(text));
    return node;
  }

  function hidden(text) { return el("span", "visually-hidden", text); }

  /* Text with tappable links, built from text nodes and <a> elements only. */
  function linkify(parent, text) {
    var last = 0;
    text.replace(LINK_RE, function (match, url, phone, offset) {
      var a;
      if (url) {
        var trimmed = url.replace(/[.,;:!?)\]]+$/, "");
        match = trimmed;
        a = el("a", "link", trimmed);
        a.href = trimmed;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      } else {
        a = el("a", "link tel", phone);
        a.href = "tel:" + phone.replace(/-/g, "");
        a.setAttribute("aria-label", "拨打" + phone);
      }
      parent.appendChild(document.createTextNode(text.slice(last, offset)));
      parent.appendChild(a);
      last = offset + match.length;
      return match;
    });
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function scrollToEnd() {
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var smooth = !state.elder && !reduce;
    els.chat.scrollTo({ top: els.chat.scrollHeight, behavior: smooth ? "smooth" : "auto" });
  }

  function chips(buttons) {
    var group = el("div", "chips");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "可以点选的回复");
    buttons.forEach(function (button) {
      var chip = el("button", "chip", button.title);
      chip.type = "button";
      chip.addEventListener("click", function () { send(button.payload, button.title); });
      group.appendChild(chip);
    });
    return group;
  }

  function feedbackBar(index) {
    var bar = el("div", "feedback");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", TEXT.rateGroup);
    [["helpful", TEXT.helpful], ["not_helpful", TEXT.notHelpful]].forEach(function (pair) {
      var button = el("button", "rate", pair[1]);
      button.type = "button";
      button.dataset.rating = pair[0];
      button.setAttribute("aria-pressed", "false");
      button.appendChild(hidden(TEXT.rateHint));
      button.addEventListener("click", function () { rate(bar, button, pair[0], index); });
      bar.appendChild(button);
    });
    return bar;
  }

  /* One message: {role: "user"|"bot"|"system", text, buttons, index}. */
  function addMessage(message) {
    var role = message.role;
    var item = el("li", "msg msg-" + role);
    if (typeof message.index === "number") item.dataset.index = String(message.index);
    var bubble = el("div", "bubble");
    bubble.appendChild(hidden(role === "user" ? TEXT.you : role === "bot" ? TEXT.bot : TEXT.notice));
    linkify(bubble, message.text || "");
    if (message.text) item.appendChild(bubble);
    if (role === "bot" && message.buttons && message.buttons.length) item.appendChild(chips(message.buttons));
    if (role === "bot" && typeof message.index === "number") item.appendChild(feedbackBar(message.index));
    if (role === "system") item.setAttribute("role", "alert");
    els.messages.appendChild(item);
    els.intro.hidden = true;
    scrollToEnd();
    return item;
  }

  function setBusy(busy) {
    state.busy = busy;
    els.send.disabled = busy;
    els.typing.hidden = !busy;
    if (busy) scrollToEnd();
  }

  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || TEXT.network);
        return data;
      });
    }, function () { throw new Error(TEXT.network); });
  }

  function send(text, shownAs) {
    text = (text || "").trim();
    if (!text || state.busy || state.paused) return Promise.resolve();
    if (text.length > MAX_CHARS) {
      addMessage({ role: "system", text: "您的消息有点长了，请控制在" + MAX_CHARS + "字以内，可以分几次发送。" });
      return Promise.resolve();
    }
    touch();
    var userItem = addMessage({ role: "user", text: shownAs || text });
    setBusy(true);
    return api("POST", "api/message", { message: text }).then(function (data) {
      userItem.dataset.index = String(state.nextIndex++);
      return (data.messages || []).reduce(function (previous, message, i) {
        return previous.then(function () {
          if (i > 0) return wait(state.elder ? PACE.elder : PACE.normal);
        }).then(function () {
          addMessage({ role: "bot", text: message.text, buttons: message.buttons, index: state.nextIndex++ });
        });
      }, state.elder ? wait(PACE.elder) : Promise.resolve());
    }).catch(function (error) {
      addMessage({ role: "system", text: error.message });
      return resync();
    }).then(function () {
      setBusy(false);
    });
  }

  /* After a failed turn Rasa may or may not have logged it: take the message count from the server. */
  function resync() {
    return api("GET", "api/history").then(function (data) {
      state.nextIndex = (data.messages || []).length;
    }, function () {});
  }

  function rate(bar, button, rating, index) {
    var buttons = bar.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    api("POST", "api/feedback", { rating: rating, message_index: index }).then(function (data) {
      button.setAttribute("aria-pressed", "true");
      var thanks = el("span", "feedback-thanks", data.message || TEXT.thanks);
      thanks.setAttribute("role", "status");
      bar.appendChild(thanks);
    }, function (error) {
      buttons.forEach(function (b) { b.disabled = false; });
      addMessage({ role: "system", text: error.message });
    });
  }

  function loadHistory() {
    return api("GET", "api/history").then(function (data) {
      var messages = data.messages || [];
      messages.forEach(addMessage);
      state.nextIndex = messages.length;
      els.intro.hidden = messages.length > 0;
      els.chat.scrollTop = els.chat.scrollHeight;
    }, function (error) {
      els.intro.hidden = false;
      addMessage({ role: "system", text: error.message });
    }).then(function () {
      document.body.dataset.ready = "true";
    });
  }

  /* 长辈模式 */
  function setElder(on) {
    state.elder = on;
    document.body.classList.toggle("elder", on);
    els.elder.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem(ELDER_KEY, on ? "1" : "0"); } catch (e) { /* private mode: not remembered */ }
    touch();
  }

  /* Idle pause (normal mode only). */
  function touch() {
    clearTimeout(state.idleTimer);
    if (!state.elder && !state.paused) state.idleTimer = setTimeout(pause, IDLE_PAUSE_MS);
  }

  function pause() {
    if (state.elder) return;
    state.paused = true;
    els.paused.hidden = false;
    els.input.disabled = true;
    els.send.disabled = true;
    scrollToEnd();
  }

  function resume() {
    state.paused = false;
    els.paused.hidden = true;
    els.input.disabled = false;
    els.send.disabled = state.busy;
    els.messages.textContent = "";
    loadHistory().then(function () { els.input.focus(); touch(); });
  }

  function submitInput() {
    var text = els.input.value;
    if (!text.trim() || state.busy || state.paused) return;
    els.input.value = "";
    autosize();
    send(text);
  }

  function autosize() {
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight + 2, window.innerHeight * 0.4) + "px";
  }

  function init() {
    ["chat", "intro", "messages", "typing", "paused", "resume", "composer", "input", "send", "handoff"]
      .forEach(function (id) { els[id] = $(id); });
    els.elder = $("elder-toggle");

    var composing = false;
    els.input.addEventListener("compositionstart", function () { composing = true; });
    els.input.addEventListener("compositionend", function () { composing = false; });
    els.input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.shiftKey) return;
      // An IME (拼音/五笔) uses Enter to pick characters: never send while it is composing.
      if (event.isComposing || event.keyCode === 229 || composing) return;
      event.preventDefault();
      submitInput();
    });
    els.input.addEventListener("input", function () { autosize(); touch(); });
    els.composer.addEventListener("submit", function (event) {
      event.preventDefault();
      submitInput();
      els.input.focus();
    });
    els.handoff.addEventListener("click", function () { send(HANDOFF_TEXT); });
    els.elder.addEventListener("click", function () { setElder(!state.elder); });
    els.resume.addEventListener("click", resume);
    Array.prototype.forEach.call(document.querySelectorAll("#intro [data-ask]"), function (chip) {
      chip.addEventListener("click", function () { send(chip.dataset.ask); });
    });

    var remembered = "0";
    try { remembered = localStorage.getItem(ELDER_KEY) || "0"; } catch (e) { /* not available */ }
    setElder(remembered === "1");
    loadHistory();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
