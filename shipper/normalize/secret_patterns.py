"""The secret shapes redaction looks for: one table of (kind, pattern, guard literals, replacement).

Kept apart from the engine that applies them (`shipper.normalize.redaction`) so the table reads as the
list of what is covered. Order matters: the more specific first, so a private key block is not
half-eaten by the token patterns, a vendor token is named by its vendor before the generic
`key = value` rule sees it, and URL credentials go before e-mail addresses (`user:pw@host` looks like
one). Most texts hold no secret, so the cheap tests come first: a pattern runs only when one of its
guard literals occurs in the text (or in the lower-cased text for `lower` patterns), and the `run`
patterns only when the text has a run of 15+ token characters (`LONG_RUN`). A pattern without guard
literals starts with a literal of its own, which the regex engine scans for quickly.

Decisions (over-redaction is preferred to a leak, but ordinary prose must survive):
- AWS secret access keys are 40 base64 characters with no prefix of their own: redacted only in a key
  context (`aws_secret_access_key = ...`, `SecretAccessKey: ...`, `secret_key = "..."`), so a 40-digit
  git SHA or a hash in free text stays.
- `password`/`secret`/`token`/`api_key`-named assignments (`k=v`, `k: v`, `"k": "v"`, `k => v`) lose
  their value, whatever it looks like; placeholders (`${VAR}`, `<password>`, `***`, `%s`, `{{ x }}`)
  and values that are already markers stay. A name must END with the keyword (`max_tokens=100`,
  `password_hint: x` are no secrets).
- `Basic <base64>` is redacted only when it decodes to `user:password` (not the word "Basic ...").
- URLs and connection strings keep scheme, user and host; only the password goes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_WORD_AFTER = r"(?![A-Za-z0-9])"
_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"  # ASCII only; the domain's characters are among them
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
MARKER_PREFIX: Final = "[REDACTED:"
# Every vendor token, key id and secret key is a run of 15+ characters of this set; ordinary prose
# has none, so one scan for such a run lets a clean prompt skip all their patterns at once.
TOKEN_CHAR: Final = r"[A-Za-z0-9_\-+/=.]"
LONG_RUN_CHARS: Final = 15
LONG_RUN: Final = re.compile(f"{TOKEN_CHAR}{{{LONG_RUN_CHARS}}}")

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """One kind of finding: the pattern, the literals one of which it needs (none: always run), and
    its replacement.

    `lower` patterns are case-insensitive: their literals are looked for in the lower-cased text, and
    so are their matches (by `finder`, the same pattern without its `(?i:...)` groups: a
    case-insensitive alternation is tried character by character and costs five times more); each
    place found is then matched again on the original text, where the replacement is made.
    """

    kind: str
    pattern: re.Pattern[str]
    literals: tuple[str, ...]
    lower: bool = False
    replace: Replacement | None = None  # default: the whole match becomes the marker
    run: bool = False  # the secret holds 15+ token characters in a row (see LONG_RUN)
    # A character class (ASCII only) that, with the one literal, holds every character of a match and
    # of the lookbehind's class: the pattern then runs only on the runs of these characters around
    # each occurrence of the literal (`shipper.normalize.redaction._sub_within`).
    within: str | None = None

    @property
    def finder(self) -> re.Pattern[str]:
        return _finder(self.pattern)


@functools.cache
def _finder(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(pattern.pattern.replace("(?i:", "(?:"))


def marker(kind: str) -> str:
    """What a finding is replaced with: it names the kind, so the analyst knows what was there."""
    return f"{MARKER_PREFIX}{kind}]"


def _keep_group_prefix(kind: str) -> Callable[[re.Match[str]], str]:
    """Replace only the `secret` group, keeping the context (key name, separator, user, host)."""

    def replace(match: re.Match[str]) -> str:
        start, end = match.span("secret")
        whole = match.group()
        offset = match.start()
        return whole[: start - offset] + marker(kind) + whole[end - offset :]

    return replace


_PLACEHOLDER = re.compile(
    r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^<>]*>|\*+|x{3,}|X{3,}|%s|\{\{[^{}]*\}\}|\.{3}|…"
    r"|(?i:null|none|nil|true|false|undefined|changeme|redacted|hidden|secret|password|\[redacted\])"
)


def _assignment(match: re.Match[str]) -> str:
    """`key = value` with a secret-named key: the value goes (whichever quoting it had), the key stays."""
    group = "dq" if match.group("dq") is not None else "sq" if match.group("sq") is not None else "bare"
    value = match.group(group)
    if value.startswith(MARKER_PREFIX) or _PLACEHOLDER.fullmatch(value):
        return match.group()
    key = match.group("key").lower()
    kind = "password" if ("pass" in key or "pwd" in key) else "secret"
    start, end = match.span(group)
    whole, offset = match.group(), match.start()
    return whole[: start - offset] + marker(kind) + whole[end - offset :]


def _basic_auth(match: re.Match[str]) -> str:
    token = match.group("secret")
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group()
    if b":" not in decoded:
        return match.group()
    return _keep_group_prefix("basic_auth")(match)


_SECRET_NAME = (
    r"(?:password|passwd|passphrase|pwd|[_-]pass|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|auth[_-]?key|private[_-]?key|client[_-]?secret)"
)
# A value in double quotes (also JSON-escaped ones, as in a raw line kept in event.original), in single
# quotes, or bare up to a space, quote or separator.
_ASSIGNMENT_VALUE = (
    r"""(?:\\?"(?P<dq>[^"\\\n]{1,512})\\?"|'(?P<sq>[^'\n]{1,512})'"""
    r"""|(?P<bare>(?!\$\{)[^\s"'`,;&<>(){}\\]{1,512}))"""
)

PATTERNS: Final[tuple[SecretPattern, ...]] = (
    SecretPattern(
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        ("-----BEGIN",),
    ),
    SecretPattern(
        "jwt", re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), ("eyJ",), run=True
    ),
    SecretPattern(
        "url_password",
        # scheme://user:password@host: basic auth in URLs and connection strings (postgres, mongodb+srv).
        re.compile(r"://[^\s:/@\[\]]{0,256}:(?P<secret>[^\s/@\[\]]{1,256})@"),
        ("://",),
        replace=_keep_group_prefix("url_password"),
    ),
    SecretPattern(
        "anthropic_key", re.compile(_NOT_WORD_BEFORE + r"sk-ant-[A-Za-z0-9_-]{16,}"), ("sk-ant-",), run=True
    ),
    SecretPattern(
        "openai_key",
        re.compile(_NOT_WORD_BEFORE + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
        ("sk-",),
        run=True,
    ),
    SecretPattern(
        "stripe_key",
        re.compile(_NOT_WORD_BEFORE + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("_live_", "_test_"),
        run=True,
    ),
    SecretPattern(
        "github_token",
        re.compile(r"g(?<![A-Za-z0-9]g)(?:h[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{22,})"),
        (),
        run=True,
    ),
    SecretPattern(
        "gitlab_token",
        # Starts with its literal (the word-start check comes after it): the regex engine's own prefix
        # scan is then the guard, cheaper than eight substring tests.
        re.compile(r"gl(?<![A-Za-z0-9]gl)(?:pat|dt|rt|ptt|cbt|ft|soat|oas)-[A-Za-z0-9_-]{20,}"),
        (),
        run=True,
    ),
    SecretPattern(
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),
        ("hooks.slack.com",),
        run=True,
    ),
    SecretPattern(
        "slack_token", re.compile(_NOT_WORD_BEFORE + r"xox[abposre]-[A-Za-z0-9-]{10,}"), ("xox",), run=True
    ),
    SecretPattern(
        "google_api_key", re.compile(_NOT_WORD_BEFORE + r"AIza[0-9A-Za-z_-]{35}"), ("AIza",), run=True
    ),
    SecretPattern(
        "google_oauth_token", re.compile(_NOT_WORD_BEFORE + r"ya29\.[0-9A-Za-z_-]{20,}"), ("ya29.",), run=True
    ),
    SecretPattern(
        "huggingface_token",
        re.compile(_NOT_WORD_BEFORE + r"hf_[A-Za-z0-9]{30,}" + _NOT_WORD_AFTER),
        ("hf_",),
        run=True,
    ),
    SecretPattern(
        "aws_access_key",
        re.compile(_NOT_WORD_BEFORE + r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}" + _NOT_WORD_AFTER),
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        run=True,
    ),
    SecretPattern(
        "aws_secret_key",
        re.compile(
            r"(?i:(?:aws[_ .-]?)?secret[_ .-]?(?:access[_ .-]?)?key|aws[_ .-]?secret)"
            r"""\\?["']?\s*(?:=>|:=|=|:)\s*\\?["']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"""
        ),
        ("secret",),
        lower=True,
        replace=_keep_group_prefix("aws_secret_key"),
        run=True,
    ),
    SecretPattern(
        "bearer_token",
        re.compile(_NOT_WORD_BEFORE + r"(?:[Bb]earer|BEARER)\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})"),
        ("earer", "EARER"),
        replace=_keep_group_prefix("bearer_token"),
    ),
    SecretPattern(
        "basic_auth",
        re.compile(
            _NOT_WORD_BEFORE + r"(?:Basic|BASIC) (?P<secret>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"
        ),
        ("Basic ", "BASIC "),
        replace=_basic_auth,
    ),
    SecretPattern(
        "password",  # or "secret", by the key's name: see _assignment
        re.compile(
            r"(?i:(?P<key>"
            + _SECRET_NAME
            + r"))"
            + _NOT_WORD_AFTER
            + r"""\\?["']?[ \t]*(?:=>|:=|=|:)[ \t]*"""
            + _ASSIGNMENT_VALUE
        ),
        (
            "pass",
            "pwd",
            "secret",
            "token",
            "key",
        ),
        lower=True,
        replace=_assignment,
    ),
    SecretPattern(
        "email",
        # The lookbehind lets a match start only at the start of a word: linear, not quadratic.
        re.compile(rf"(?<!{_EMAIL_LOCAL}){_EMAIL_LOCAL}++@{_LABEL}(?:\.{_LABEL})+"),
        ("@",),
        within=_EMAIL_LOCAL,
    ),
)
