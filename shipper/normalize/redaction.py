"""Secret and personal-data redaction for prompts, completions and error messages (on by default).

Each finding is replaced by `[REDACTED:<kind>]`, which names what was removed; where the context
helps the analyst (`Bearer `, a key name, `scheme://user:` ... `@host`), the context stays. The kinds
and their patterns are in `shipper.normalize.secret_patterns` (private keys, JWTs, URL/connection
string passwords, vendor API keys and tokens, AWS key ids and secret keys, bearer and basic auth,
password/secret/token assignments, e-mail addresses); after them come card_number (13-19 digits
passing the Luhn check, also when glued to other digit groups) and phone_number (7+ digits in
phone-like groups, with an optional +country code or (area) code; ISO dates, IPv4 addresses and year
ranges are left alone). Over-redaction is preferred to a leak: a long run of digit groups that is no
card is redacted as a phone number. A secret counts as one when it stands apart from the text around
it (not glued to letters or digits).

`SECRET_KINDS` are the credentials and payment data whose markers the Sigma rule
`llm_secret_in_prompt` matches (a test holds rule and list together); `PERSONAL_KINDS` (e-mail
addresses, phone numbers) are redacted too but raise no alert: they are everyday prompt content.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from shipper.normalize.secret_patterns import (
    LONG_RUN_CHARS,
    MARKER_PREFIX,
    PATTERNS,
    TOKEN_CHAR,
    Replacement,
    marker,
)

PERSONAL_KINDS: Final[tuple[str, ...]] = ("email", "phone_number")
SECRET_KINDS: Final[tuple[str, ...]] = (
    *(p.kind for p in PATTERNS if p.kind not in PERSONAL_KINDS),
    "secret",  # the `password` pattern names non-password keys (token, api_key, ...) this way
    "card_number",
)
KINDS: Final[tuple[str, ...]] = (*SECRET_KINDS, *PERSONAL_KINDS)
__all__ = ["KINDS", "MARKER_PREFIX", "PERSONAL_KINDS", "SECRET_KINDS", "luhn_valid", "marker", "redact"]

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


_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # a digit doubled, its two digits summed


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (`digits`: ASCII digits only, as the
    number runs are). Byte slices and a translation table, summed in C: a digit-dense text asks this
    for many candidate runs, and a per-digit Python loop was most of redaction's time there."""
    backwards = digits[::-1].encode()
    total = sum(backwards[0::2]) + sum(backwards[1::2].translate(_DOUBLED)) - 48 * len(backwards)
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
    separators = [i for i, c in enumerate(text) if c in " -"]
    starts = [0] + [i + 1 for i in separators]
    ends = [*separators, len(text)]
    # digits_before[k]: digits in text[:ends[k]] (between two separators there are only digits)
    digits_before = [end - k for k, end in enumerate(ends)]
    for first, start in enumerate(starts):
        before_start = start - first
        for k in range(len(ends) - 1, first - 1, -1):
            count = digits_before[k] - before_start
            if count < 13:
                break
            if count > 19:
                continue
            end = ends[k]
            if luhn_valid(text[start:end].replace(" ", "").replace("-", "")):
                return _card_text(text[:start]) + "[REDACTED:card_number]" + _card_text(text[end:])
    return _PHONE_ONLY.sub(_phone_match, text)


def _number(match: re.Match[str]) -> str:
    if match.lastgroup == "card_number":
        return _card_text(match.group())
    return _phone_text(match.group())


def _byte_table(char_class: str) -> bytes:
    """A `bytes.translate` table mapping the bytes of an ASCII character class to 0, all others to 1.

    Why: the guards below ask "is there a run of 15 token characters?" and "are there 7 digits?" of
    every prompt; as regex searches they cost ~10 µs for a 500-character prompt (the engine tries
    every position), a translation of the UTF-8 bytes and a substring test cost a few hundred ns.
    Non-ASCII characters encode to bytes >= 0x80, which are never in the (ASCII) classes."""
    single = re.compile(char_class)
    return bytes(0 if b < 128 and single.fullmatch(chr(b)) else 1 for b in range(256))


_TOKEN_BYTES = _byte_table(TOKEN_CHAR)
_LONG_RUN_BYTES = bytes(LONG_RUN_CHARS)  # LONG_RUN_CHARS zero bytes: a long run, translated
_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)  # deleted: the ASCII digits remain
_MIN_DIGITS: Final = 7  # fewer digits make no card nor phone number (see _redact_numbers)


class _Within:
    """The runs a `within` pattern is confined to: its characters plus the pattern's literal."""

    __slots__ = ("chars", "literal", "run")

    def __init__(self, char_class: str, literal: str) -> None:
        single = re.compile(char_class)
        self.literal = literal
        self.chars = frozenset(chr(c) for c in range(128) if single.fullmatch(chr(c))) | {literal}
        self.run = re.compile(f"(?:{char_class}|{re.escape(literal)})*")


def _sub_within(pattern: re.Pattern[str], replacement: Replacement, text: str, within: _Within) -> str:
    """`pattern.sub` run only on the maximal runs of `within`'s characters that hold its literal.

    Why: the e-mail pattern, searched through a whole prompt, costs ~20 µs per 500 characters (its
    lookbehind is tried at every position); the runs around each `@` are a few dozen characters.
    Equivalent because every match consists of run characters and holds the literal, and the
    pattern's lookbehind only rejects run characters: at a run's start the character before it is
    outside the run (the lookbehind passes there, as it does at the start of the cut-out run)."""
    return _splice(text, _runs(text, within), lambda window: pattern.sub(replacement, window))


def _runs(text: str, within: _Within) -> Iterator[tuple[int, int]]:
    """The maximal runs of `within`'s characters that hold its literal, in order."""
    literal, chars = within.literal, within.chars
    done = 0  # end of the last run: the next run starts after it
    at = text.find(literal)
    while at >= 0:
        start = at
        while start > done and text[start - 1] in chars:
            start -= 1
        end = within.run.match(text, at).end()  # type: ignore[union-attr]
        yield start, end
        done = end
        at = text.find(literal, end)


def _splice(text: str, windows: Iterable[tuple[int, int]], substitute: Callable[[str], str]) -> str:
    """`text` with each window (start, end: in order, not overlapping) replaced by `substitute(window)`;
    the text itself, not a copy, when nothing changed."""
    parts: list[str] = []
    last = 0  # end of the text already copied to `parts`
    for start, end in windows:
        window = text[start:end]
        redacted = substitute(window)
        if redacted != window:
            parts.append(text[last:start])
            parts.append(redacted)
            last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


# (pattern, finder or None, guard literals, replacement, within or None), in the table's order: all of
# them for a text with a long run of token characters, the others only for the rest (most prompts).
_ALL_STEPS: Final = tuple(
    (
        p.pattern,
        p.finder if p.lower else None,
        p.literals,
        p.replace or marker(p.kind),
        _Within(p.within, p.literals[0]) if p.within else None,
    )
    for p in PATTERNS
)
_SHORT_STEPS: Final = tuple(step for step, p in zip(_ALL_STEPS, PATTERNS, strict=True) if not p.run)
_DIGIT_MARKS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))  # a digit becomes "0", the rest " "


def redact(text: str) -> str:
    """The text with every finding replaced by `[REDACTED:<kind>]`."""
    lowered: str | None = None
    data = text.encode("utf-8", "surrogatepass")
    steps = _ALL_STEPS if _LONG_RUN_BYTES in data.translate(_TOKEN_BYTES) else _SHORT_STEPS
    for pattern, finder, literals, replacement, within in steps:
        if finder is None:
            if literals:
                for literal in literals:
                    if literal in text:
                        break
                else:
                    continue
            if within is not None:
                redacted = _sub_within(pattern, replacement, text, within)
                if redacted is not text:
                    text, lowered = redacted, None
                continue
            redacted, found = pattern.subn(replacement, text)
            if found:
                text, lowered = redacted, None
            continue
        if lowered is None:
            lowered = text.lower()
        for literal in literals:
            if literal in lowered:
                redacted = _caseless_sub(pattern, finder, replacement, text, lowered)
                if redacted is not text:
                    text, lowered = redacted, None
                break
    # Replacements add no digits: a text that had fewer than 7 still has, and holds no number to redact.
    if len(data.translate(None, _NOT_DIGITS)) < _MIN_DIGITS:
        return text
    if not text.isascii():
        return _redact_numbers(text, 0, len(text))
    # In ASCII text byte and character positions agree: the number runs lie between the first and the
    # last digit (and a closing parenthesis after it), and only that span is searched.
    marks = text.encode("ascii").translate(_DIGIT_MARKS)
    return _redact_numbers(text, marks.find(b"0"), marks.rfind(b"0") + 2)


def _caseless_sub(
    pattern: re.Pattern[str], finder: re.Pattern[str], replacement: Replacement, text: str, lowered: str
) -> str:
    """`pattern.sub` for a case-insensitive pattern, found in the lower-cased text (same positions for
    ASCII text; other text is searched directly, as lower-casing may change its length)."""
    if not text.isascii():
        redacted, found = pattern.subn(replacement, text)
        return redacted if found else text
    parts: list[str] = []
    last = 0
    for found in finder.finditer(lowered):
        match = pattern.match(text, found.start())
        if match is None or match.start() < last:
            continue
        parts.append(text[last : match.start()])
        parts.append(replacement if isinstance(replacement, str) else replacement(match))
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _redact_numbers(text: str, pos: int, endpos: int) -> str:
    """Cards and phone numbers, looked for only inside runs of digits and number punctuation (in
    `text[pos:endpos]`, with the characters around it seen: a prefix `+` or `(`)."""
    return _splice(text, _number_runs(text, pos, endpos), lambda run: _NUMBERS.sub(_number, run))


def _number_runs(text: str, pos: int, endpos: int) -> Iterator[tuple[int, int]]:
    for match in _NUMBER_RUN.finditer(text, pos, endpos):
        start, end = match.span()
        if sum(c.isdigit() for c in match.group()) < _MIN_DIGITS:
            continue
        if start and text[start - 1] in "+(":  # a country code or area code prefix belongs to it
            start -= 1
        yield start, end
