"""Text normalisation shared by the NLU component, the KB search and the jieba dictionary."""

from __future__ import annotations

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
