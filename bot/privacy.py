"""Mask personal data (ID, mobile and bank card numbers) before anything is stored or logged.

Residents type these in many spellings, so the text is normalised before it is matched:

- format characters (zero-width space and joiner, soft hyphen, word joiner, BOM: Unicode category Cf) are ignored;
- every digit form counts as a digit: ASCII, full-width (１３８), other scripts' decimal digits (Arabic-Indic ١٣٨),
  circled and superscript digits (①, ³), Chinese numerals (一三八, 幺, 〇, 两) and the financial ones (壹叁捌);
- digits separated by spaces (any run), dashes, " - ", ``.`` ``/`` ``_`` ``，`` ``,`` and brackets count as one
  number when the groups together make one (138 0013 8000, (138)0013-8000, 1 3 8 0 0 1 3 8 0 0 0).

A number is a run of such digit groups whose digits make a mobile number (11 digits, 1[3-9]…, optionally after
86 or 0086), an ID number (18 characters, the last one a digit or X; or 15 digits) or a bank card (16–19 digits, not
starting like a date or a mobile number). Ticket numbers (JG-20261206-4827-3915) are never masked; dates, amounts,
counts and service numbers (96333, 12345) are too short to be any of these.

`SplitNumbers` masks a number split over two consecutive messages of one conversation: a message that ends with
seven or more digits has them masked (``[号码]``), and the next message's leading digits are masked when they
complete a number with them. Masking happens at the channel boundary, so the raw value never reaches Rasa's
tracker store, logs, actions or the console; the tracker store masks every event again (`mask`).
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from kb.ticket_numbers import TICKET_NUMBER

ID_LABEL, CARD_LABEL, MOBILE_LABEL, PARTIAL_LABEL = "[身份证号]", "[银行卡号]", "[手机号]", "[号码]"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

CHINESE_DIGITS = {
    **dict.fromkeys("〇○零", "0"),
    **dict.fromkeys("一幺壹", "1"),
    **dict.fromkeys("二两贰貳", "2"),
    **dict.fromkeys("三叁參", "3"),
    **dict.fromkeys("四肆", "4"),
    **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆陸", "6"),
    **dict.fromkeys("七柒", "7"),
    **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖", "9"),
}
# Between the digit groups of one number: whitespace (any run up to MAX_GAP), dashes, dots, slashes, underscores,
# commas and brackets.
SEPARATORS = frozenset(" \t\r\n\u00a0\u3000-‐‑‒–—−﹣－._/／\\，,、()（）[]【】·")
MAX_GAP = 8
LONGEST_NUMBER = 22  # 0086 + an 11-digit mobile number is 15; a bank card at most 19
FEWEST_DIGITS = 11  # the shortest number masked (a mobile number)
PARTIAL_FROM = 7  # at the end of a message, this many digits may be the first part of a number
ID_NUMBER = re.compile(r"[1-8]\d{16}[\dX]|[1-8]\d{14}")
MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
BANK_CARD = re.compile(r"(?!19|20)[2-69]\d{15,18}")  # not a date range (2021.06.30-2021.07.30), not mobiles
SEARCHES = ((re.compile(r"[1-8]\d{16}[\dX]"), ID_LABEL), (MOBILE, MOBILE_LABEL), (BANK_CARD, CARD_LABEL))
# Every number masked has at least 11 digits; a text with fewer digit-like characters is returned as it is without
# the character-by-character work (the bot's own replies, on every save). A character is digit-like when it is a
# decimal digit (\d: ASCII, full-width, Arabic-Indic …), NFKC makes it one (², ₃, ①), or it is a Chinese numeral.
DIGIT_LIKE = re.compile(
    "[\\d\u00b2\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u24ea" + "".join(CHINESE_DIGITS) + "]"
)


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits of a resident ID number."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def digit_of(char: str) -> str | None:
    """The ASCII digit a character stands for in a number, or None."""
    if char.isascii():
        return char if char.isdigit() else None
    if char in CHINESE_DIGITS:
        return CHINESE_DIGITS[char]
    if unicodedata.category(char) == "Nd":
        return str(unicodedata.decimal(char))
    wide = unicodedata.normalize("NFKC", char)
    return wide if len(wide) == 1 and wide.isascii() and wide.isdigit() else None


@dataclass
class Group:
    """Digits written together (no separator between them), with where they stand in the original text."""

    digits: str
    start: int
    end: int


def _ticket_positions(text: str) -> set[int]:
    half = "".join(c if len(n := unicodedata.normalize("NFKC", c)) != 1 else n for c in text)
    return {i for found in TICKET_NUMBER.finditer(half) for i in range(*found.span())}


def digit_runs(text: str) -> Iterator[list[Group]]:
    """Each run of digit groups joined by separators; ticket numbers and anything else end a run."""
    protected = _ticket_positions(text) if "-" in text else set()
    run: list[Group] = []
    gap = 0  # separator characters since the last digit; -1 when the run is closed
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            continue  # invisible: neither a digit nor a break
        digit = None if index in protected else digit_of(char)
        if digit is None and char in "Xx\uff38\uff58" and run:
            digit = "X"  # an ID number's check character, after its digits
        if digit is not None:
            if run and gap == 0:
                run[-1].digits += digit
                run[-1].end = index + 1
            else:
                run.append(Group(digit, index, index + 1))
            gap = 0
        elif run and char in SEPARATORS and gap < MAX_GAP and index not in protected:
            gap += 1
        elif run:
            yield run
            run, gap = [], 0
    if run:
        yield run


def classify(digits: str) -> str | None:
    """The label for digits that make exactly one personal number, else None."""
    if ID_NUMBER.fullmatch(digits):
        return ID_LABEL
    if MOBILE.fullmatch(digits):
        return MOBILE_LABEL
    if BANK_CARD.fullmatch(digits):
        return CARD_LABEL
    return None


def _search(digits: str) -> str | None:
    """The label of a number inside a longer block of digits (一三八零零一三八零零零一下: twelve in a row)."""
    for pattern, label in SEARCHES:
        if pattern.search(digits):
            return label
    return None


def number_spans(run: list[Group]) -> Iterator[tuple[int, int, str]]:
    """(first group, last group, label) of each number in a run, longest first from the left."""
    first = 0
    while first < len(run):
        best: tuple[int, str] | None = None
        digits = ""
        for last in range(first, len(run)):
            digits += run[last].digits
            if len(digits) > LONGEST_NUMBER:
                break
            label = classify(digits)
            if label:
                best = (last, label)
        if best is None and len(run[first].digits) >= FEWEST_DIGITS:
            label = _search(run[first].digits)
            best = (first, label) if label else None
        if best is None:
            first += 1
            continue
        yield first, best[0], best[1]
        first = best[0] + 1


@lru_cache(maxsize=1)
def _number_like() -> re.Pattern[str]:
    """FEWEST_DIGITS digit-like characters with at most MAX_GAP separators or format characters between each two:
    what every number masked looks like, as one regular expression (built on first use: it lists every Cf)."""
    invisible = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf")
    gap = "[" + re.escape("".join(sorted(SEPARATORS)) + invisible) + f"]{{0,{MAX_GAP}}}"
    digit = DIGIT_LIKE.pattern
    return re.compile(f"{digit}(?:{gap}{digit}){{{FEWEST_DIGITS - 1}}}")


def _may_hold_a_number(text: str) -> bool:
    """A quick look before the character-by-character work (the bot's replies are masked on every save)."""
    enough = any(count >= FEWEST_DIGITS for count, _ in enumerate(DIGIT_LIKE.finditer(text), start=1))
    return enough and bool(_number_like().search(text))


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    for start, end, label in sorted(spans, reverse=True):
        text = text[:start] + label + text[end:]
    return text


def personal_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, label) of every ID, bank card and mobile number in the text."""
    if not text or not _may_hold_a_number(text):
        return []
    return [
        (run[first].start, run[last].end, label) for run in digit_runs(text) for first, last, label in number_spans(run)
    ]


def mask(text: str) -> str:
    """The text with every ID, bank card and mobile number replaced by a label."""
    spans = personal_spans(text)
    return _replace(text, spans) if spans else text


def contains_personal_data(text: str) -> bool:
    return bool(personal_spans(text or ""))


SPLIT_TTL_SECONDS = 600.0
SPLIT_MAX_SENDERS = 10_000


def _sender_key(sender: str) -> str:
    return hashlib.sha256(sender.encode("utf-8", "surrogatepass")).hexdigest()[:24]


class SplitNumbers:
    """Masking across the messages of a conversation: a number split over two consecutive messages.

    Remembers, per conversation (a hash of the sender id), the digits a message ended with (at most 22), in this
    process's memory only (never stored or logged), for SPLIT_TTL_SECONDS and at most SPLIT_MAX_SENDERS
    conversations (each conversation is pinned to one Rasa instance).
    """

    def __init__(self, ttl: float = SPLIT_TTL_SECONDS, max_senders: int = SPLIT_MAX_SENDERS) -> None:
        self._tails: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
        self._ttl, self._max = ttl, max_senders

    def mask(self, sender: str, text: str) -> str:
        """`text` masked, with the digits it starts with joined to the ones the previous message ended with."""
        key = _sender_key(sender)
        previous = self._tails.pop(key, None)
        tail = previous[1] if previous and time.monotonic() - previous[0] < self._ttl else []
        runs = list(digit_runs(text)) if text and DIGIT_LIKE.search(text) else []
        spans = [(run[a].start, run[b].end, label) for run in runs for a, b, label in number_spans(run)]
        leading = runs[0] if runs and _only_separators(text[: runs[0][0].start]) else []
        if tail and leading:
            spans += self._joined(tail, leading, spans)
        ending = runs[-1] if runs and _only_separators(text[runs[-1][-1].end :]) else []
        unmasked_end: list[Group] = []
        for group in reversed(ending):  # the digits the message ends with, up to the last number masked
            if any(start <= group.start < end for start, end, _ in spans):
                break
            unmasked_end.insert(0, group)
        if ending:  # masked or not: 138 0013 8000 | 0000 may be the start of an ID number
            self._remember(key, [group.digits for group in ending])
        if sum(len(group.digits) for group in unmasked_end) >= PARTIAL_FROM:
            spans.append((unmasked_end[0].start, unmasked_end[-1].end, PARTIAL_LABEL))
        return _replace(text, _merge(spans)) if spans else text

    @staticmethod
    def _joined(tail: list[str], leading: list[Group], spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """The start of this message that completes a number begun at the end of the previous one."""
        run = [Group(digits, -1, -1) for digits in tail] + leading
        for first, last, label in number_spans(run):
            if first < len(tail) <= last:
                return [(leading[0].start, run[last].end, label)]
        return []

    def _remember(self, key: str, groups: list[str]) -> None:
        kept: list[str] = []
        for digits in reversed(groups):  # the last LONGEST_NUMBER digits are enough to complete any number
            if sum(map(len, kept)) >= LONGEST_NUMBER:
                break
            kept.insert(0, digits[-LONGEST_NUMBER:])
        self._tails[key] = (time.monotonic(), kept)
        while len(self._tails) > self._max:
            self._tails.popitem(last=False)


def _only_separators(text: str) -> bool:
    return all(c in SEPARATORS or unicodedata.category(c) == "Cf" for c in text)


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans as one (the first label wins)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, label in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2])
        else:
            merged.append((start, end, label))
    return merged
