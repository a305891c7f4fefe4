"""Ticket numbers and check codes: what a resident reads aloud, and what proves a ticket is theirs elsewhere.

A number is ``JG-20261206-4827-3915``: the kind, the day it was filed, and eight random digits in two groups of four
(read aloud like a phone number). Numbers from before (``JG-20261205-0001``, counted up each day) stay valid.
A ticket's details go to the conversation that filed it; any other conversation needs the six-digit check code
(查询码) given at filing, which is stored only as a hash (``kb.models.TicketCheckCode``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

# The one pattern for a ticket number, old (…-0001) and new (…-4827-3915); data/nlu/entities.yml has the same regex.
TICKET_NUMBER_PATTERN = r"[A-Za-z]{2}-\d{8}-\d{4}(?:-\d{4})?"
TICKET_NUMBER = re.compile(rf"(?<![A-Za-z0-9]){TICKET_NUMBER_PATTERN}(?![0-9])")
CHECK_CODE_DIGITS = 6
# 查询码 482739, 校验码：482739, or six digits standing alone beside the number.
CHECK_CODE = re.compile(r"(?<![0-9])(\d{6})(?![0-9])")


def new_ticket_number(prefix: str, filed: datetime) -> str:
    """``JG-20261206-4827-3915``: unguessable (10⁸ per day), short enough to read out on the phone."""
    random_part = f"{secrets.randbelow(10**8):08d}"
    return f"{prefix}-{filed:%Y%m%d}-{random_part[:4]}-{random_part[4:]}"


def new_check_code() -> str:
    return f"{secrets.randbelow(10**CHECK_CODE_DIGITS):0{CHECK_CODE_DIGITS}d}"


def check_code_hash(number: str, code: str) -> str:
    """What the database keeps of a check code (salted with the ticket number)."""
    return hashlib.sha256(f"{number.upper()}:{code}".encode()).hexdigest()


def code_matches(stored_hash: str, number: str, code: str) -> bool:
    return bool(code) and hmac.compare_digest(stored_hash, check_code_hash(number, code))


def find_ticket_number(text: str) -> str | None:
    found = TICKET_NUMBER.search(text or "")
    return found.group(0).upper() if found else None


def find_check_code(text: str) -> str | None:
    """The six-digit check code typed beside a ticket number (the number itself does not count)."""
    rest = TICKET_NUMBER.sub(" ", text or "")
    found = CHECK_CODE.search(rest)
    return found.group(1) if found else None
