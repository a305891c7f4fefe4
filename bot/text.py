"""Text normalisation shared by the NLU component, the KB search and the jieba dictionary."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    from opencc import OpenCC  # imported lazily: loading its dictionaries takes a moment

    return OpenCC("t2s")


@lru_cache(maxsize=65536)
def _simplify_char(char: str) -> str:
    """One character in, one character out, so entity offsets in training data stay valid."""
    wide = unicodedata.normalize("NFKC", char)
    char = wide if len(wide) == 1 else char
    converted = _converter().convert(char)
    return converted if len(converted) == 1 else char


def to_simplified(text: str) -> str:
    """Traditional -> simplified and full-width -> half-width, character by character (length kept)."""
    return "".join(_simplify_char(c) for c in text)


_SPACES = re.compile(r"\s+")
_PUNCTUATION_RUN = re.compile(r"([!?,.;:~。！？，、；：…～·\-_*#@/\\|]){2,}")
_REPEATS = re.compile(r"([\u4e00-\u9fff])\1{2,}")  # 快快快, 啊啊啊 — never digits (JG-20261111-0004)


def squeeze(text: str) -> str:
    """What a message says without panic typing: simplified, one space for a run, one punctuation mark, no 快快快.

    A single space stays: it separates clauses (人才公寓盖多少套 就业今年新增多少). Not for Rasa training data (it
    changes offsets); for rule matching and prediction only.
    """
    text = _SPACES.sub(" ", to_simplified(text)).strip()
    text = _PUNCTUATION_RUN.sub(lambda match: match.group(0)[-1], text)
    return _REPEATS.sub(r"\1", text)
