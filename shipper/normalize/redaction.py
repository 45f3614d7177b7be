"""Secret and personal-data redaction for prompts, completions and error messages.

Each finding is replaced by `[REDACTED:<kind>]` (a bearer token keeps its `Bearer ` word). Most texts
hold no secret, and Python's regex engine has no literal-prefix acceleration, so every pattern is
guarded by plain substring tests of the literals it needs (`"sk-" in text`, `"@" in text`, ...) and
the number patterns by one short digit-run search: a clean prompt costs a few memchr-speed scans.

Kinds, applied in this order (the more specific first, so a private key block is not half-eaten by
the token patterns): private_key, jwt, anthropic_key, openai_key, github_token, slack_token,
google_api_key, aws_access_key, bearer_token, email, then card_number (13-19 digits passing the Luhn
check, also when glued to other digit groups) and phone_number (7+ digits in phone-like groups, with
an optional +country code or (area) code; ISO dates, IPv4 addresses and year ranges are left
alone). Over-redaction
is preferred to a leak: a long run of digit groups that is no card is redacted as a phone number.
A secret counts as one when it stands apart from the text around it (not glued to letters or digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_WORD_AFTER = r"(?![A-Za-z0-9])"
_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

# (kind, pattern, literals one of which the pattern needs)
_TOKEN_PATTERNS: Final[tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        ("-----BEGIN",),
    ),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), ("eyJ",)),
    ("anthropic_key", re.compile(_NOT_WORD_BEFORE + r"sk-ant-[A-Za-z0-9_-]{16,}"), ("sk-ant-",)),
    (
        "openai_key",
        re.compile(_NOT_WORD_BEFORE + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
        ("sk-",),
    ),
    (
        "github_token",
        re.compile(_NOT_WORD_BEFORE + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    ("slack_token", re.compile(_NOT_WORD_BEFORE + r"xox[abposre]-[A-Za-z0-9-]{10,}"), ("xox",)),
    ("google_api_key", re.compile(_NOT_WORD_BEFORE + r"AIza[0-9A-Za-z_-]{35}"), ("AIza",)),
    (
        "aws_access_key",
        re.compile(_NOT_WORD_BEFORE + r"(?:AKIA|ASIA)[A-Z0-9]{16}" + _NOT_WORD_AFTER),
        ("AKIA", "ASIA"),
    ),
    (
        "bearer_token",
        re.compile(_NOT_WORD_BEFORE + r"(?:[Bb]earer|BEARER)\s+[A-Za-z0-9._~+/=-]{8,}"),
        ("earer", "EARER"),
    ),
    (
        "email",
        # The lookbehind lets a match start only at the start of a word: linear, not quadratic.
        re.compile(rf"(?<!{_EMAIL_LOCAL}){_EMAIL_LOCAL}++@{_LABEL}(?:\.{_LABEL})+"),
        ("@",),
    ),
)

# Maximal runs of digits and number punctuation: the number patterns only ever run inside one of these
# (cheap to find; the full patterns are slow when tried at every position of a long text).
# (A pattern that starts with a plain character class is the one the engine scans fastest.)
_NUMBER_RUN = re.compile(r"[0-9][0-9 ().+-]{5,}[0-9]\)?")
_CARD = r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)"
_PHONE = (
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?(?<!\d)\d{1,5}(?:[ .-]\d{1,8}){1,5}(?!\d)"
    r"|\+\d{7,15}(?!\d)|(?<![\d.])\d{10,15}(?![\d.])"
)
# Cards and phones in one scan: at one position a card is tried before a phone number.
_NUMBERS = re.compile(f"(?P<card_number>{_CARD})|(?P<phone_number>{_PHONE})")
_PHONE_ONLY = re.compile(_PHONE)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_YEAR_RANGE = re.compile(r"(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _phone_text(text: str) -> str:
    """A phone-shaped run: redacted unless it has under 7 digits or is a date, address or year range."""
    digits = sum(c.isdigit() for c in text)
    if digits < 7 or _ISO_DATE.fullmatch(text) or _IPV4.fullmatch(text) or _YEAR_RANGE.fullmatch(text):
        return text
    return "[REDACTED:phone_number]"


def _phone_match(match: re.Match[str]) -> str:
    return _phone_text(match.group())


def _card_text(text: str) -> str:
    """A digit run: a card when the Luhn check passes for the whole run or for a part of it that starts
    and ends at a digit-group boundary (a card glued to other digit groups); else phone rules apply."""
    digits = text.replace(" ", "").replace("-", "")
    if len(digits) < 13:
        return _PHONE_ONLY.sub(_phone_match, text)
    if len(digits) <= 19 and luhn_valid(digits):
        return "[REDACTED:card_number]"
    starts = [0] + [i + 1 for i, c in enumerate(text) if c in " -"]
    ends = [i for i, c in enumerate(text) if c in " -"] + [len(text)]
    for start in starts:
        for end in reversed(ends):
            if end <= start:
                break
            part = text[start:end].replace(" ", "").replace("-", "")
            if 13 <= len(part) <= 19 and luhn_valid(part):
                return _card_text(text[:start]) + "[REDACTED:card_number]" + _card_text(text[end:])
    return _PHONE_ONLY.sub(_phone_match, text)


def _number(match: re.Match[str]) -> str:
    if match.lastgroup == "card_number":
        return _card_text(match.group())
    return _phone_text(match.group())


def _marker(kind: str) -> Callable[[re.Match[str]], str] | str:
    if kind == "bearer_token":
        return lambda match: match.group()[:6] + " [REDACTED:bearer_token]"
    return f"[REDACTED:{kind}]"


_GUARDED: Final = tuple((pattern, literals, _marker(kind)) for kind, pattern, literals in _TOKEN_PATTERNS)


def redact(text: str) -> str:
    """The text with every finding replaced by `[REDACTED:<kind>]`."""
    for pattern, literals, replacement in _GUARDED:
        for literal in literals:
            if literal in text:
                text = pattern.sub(replacement, text)
                break
    return _redact_numbers(text)


def _redact_numbers(text: str) -> str:
    """Cards and phone numbers, looked for only inside runs of digits and number punctuation."""
    parts: list[str] = []
    last = 0
    for match in _NUMBER_RUN.finditer(text):
        start, end = match.span()
        run = match.group()
        if sum(c.isdigit() for c in run) < 7:
            continue
        if start and text[start - 1] in "+(":  # a country code or area code prefix belongs to it
            start -= 1
            run = text[start:end]
        redacted = _NUMBERS.sub(_number, run)
        if redacted != run:
            parts.append(text[last:start])
            parts.append(redacted)
            last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)
