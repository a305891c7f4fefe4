"""Mask personal data (ID, mobile and bank card numbers) before anything is stored or logged.

Residents type these in many spellings: with spaces or dashes, in full-width digits (１３８…). Masking happens at
the channel boundary, so the raw value never reaches Rasa's tracker store, logs, actions or the console.
"""

from __future__ import annotations

import re
import unicodedata

SEP = r"[\s\-‐‑–—]?"  # one optional space or dash between digits
ID_NUMBER = re.compile(rf"(?<![0-9A-Za-z])(?:\d{SEP}){{17}}[\dXx](?![0-9A-Za-z])")
BANK_CARD = re.compile(rf"(?<![0-9])(?:\d{SEP}){{15,18}}\d(?![0-9])")
OLD_ID_NUMBER = re.compile(rf"(?<![0-9])(?:\d{SEP}){{14}}\d(?![0-9])")  # 15-digit IDs issued before 1999
MOBILE = re.compile(rf"(?<![0-9])(?:\+?86{SEP})?1{SEP}[3-9](?:{SEP}\d){{9}}(?![0-9])")

# Longest first: an 18-digit ID is also card-shaped, a card contains 15-digit runs.
MASKS = (
    (ID_NUMBER, "[身份证号]"),
    (BANK_CARD, "[银行卡号]"),
    (OLD_ID_NUMBER, "[身份证号]"),
    (MOBILE, "[手机号]"),
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits of a resident ID number."""
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def _half_width(text: str) -> str:
    """Full-width digits and letters to ASCII, one character for one, so match positions stay valid."""
    out = []
    for char in text:
        wide = unicodedata.normalize("NFKC", char)
        out.append(wide if len(wide) == 1 and wide.isascii() else char)
    return "".join(out)


# Every number masked has at least 11 digits (a mobile number); a character counts as a digit when it is one
# (\d: ASCII, full-width …) or NFKC turns it into one (², ₃, ①: `_half_width` below does). A text with fewer is
# returned as it is without the character-by-character normalisation (the bot's own replies, on every save).
FEWEST_DIGITS = 11
DIGIT_LIKE = re.compile(r"[\d\u00b2\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u24ea]")


def _may_hold_a_number(text: str) -> bool:
    return any(count >= FEWEST_DIGITS for count, _ in enumerate(DIGIT_LIKE.finditer(text), start=1))


def mask(text: str) -> str:
    """The text with every ID, bank card and mobile number replaced by a label."""
    if not text or not _may_hold_a_number(text):
        return text
    normalised = _half_width(text)
    for pattern, label in MASKS:
        spans = [m.span() for m in pattern.finditer(normalised)]
        for start, end in reversed(spans):
            text = text[:start] + label + text[end:]
            normalised = normalised[:start] + label + normalised[end:]
    return text


def contains_personal_data(text: str) -> bool:
    normalised = _half_width(text or "")
    return any(pattern.search(normalised) for pattern, _ in MASKS)
