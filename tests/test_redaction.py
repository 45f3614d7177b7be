"""Redaction properties: no secret of any kind survives, whatever text surrounds it; length and hash
describe the original text; the content policies keep exactly what they promise."""

from __future__ import annotations

import hashlib
import string
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from demo.scenario import attacks
from shipper.normalize.document import RecordContext
from shipper.normalize.redaction import PERSONAL_KINDS, SECRET_KINDS, luhn_valid, marker, redact

ROOT = Path(__file__).resolve().parent.parent

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


def chars(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def digits(count: int) -> st.SearchStrategy[str]:
    return chars(string.digits, count, count)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([13, 15, 16, 19]))
    body = draw(st.sampled_from("3456")) + draw(digits(length - 2))
    check = next(d for d in string.digits if luhn_valid(body + d))
    number = body + check
    separator = draw(st.sampled_from(["", " ", "-"]))
    if separator and length == 16:
        number = separator.join(number[i : i + 4] for i in range(0, 16, 4))
    return number


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    shape = draw(st.integers(0, 5))
    a, b, c = draw(digits(3)), draw(digits(3)), draw(digits(4))
    if shape == 0:
        return f"+{draw(chars(string.digits, 1, 3))} {a} {b} {c}"
    if shape == 1:
        return f"({a}) {b}-{c}"
    if shape == 2:
        return f"{a}-{b}-{c}"
    if shape == 3:
        return f"{a}.{b}.{c}"
    if shape == 4:
        return "+" + draw(chars(string.digits, 9, 13))
    return f"0{draw(digits(3))} {draw(chars(string.digits, 6, 8))}"


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(chars(string.ascii_lowercase + string.digits + "._+-", 1, 20))
    labels = draw(st.lists(chars(string.ascii_lowercase + string.digits, 1, 10), min_size=1, max_size=3))
    return f"{local}@{'.'.join(labels)}.{draw(chars(string.ascii_lowercase, 2, 6))}"


@st.composite
def private_keys(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""]))
    lines = draw(st.lists(chars(string.ascii_letters + string.digits + "+/", 16, 64), min_size=1, max_size=5))
    body = "\n".join(lines)
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


SECRETS: dict[str, st.SearchStrategy[str]] = {
    "email": emails(),
    "phone_number": phone_numbers(),
    "card_number": card_numbers(),
    "aws_access_key": st.builds(
        lambda p, s: p + s,
        st.sampled_from(["AKIA", "ASIA"]),
        chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16),
    ),
    "openai_key": st.builds(lambda p, s: p + s, st.sampled_from(["sk-", "sk-proj-"]), chars(B64URL, 20, 80)),
    "anthropic_key": st.builds(lambda s: "sk-ant-api03-" + s, chars(B64URL, 20, 95)),
    "github_token": st.one_of(
        st.builds(lambda s: "ghp_" + s, chars(ALNUM, 36, 36)),
        st.builds(lambda s: "github_pat_" + s, chars(ALNUM + "_", 22, 82)),
    ),
    "slack_token": st.builds(
        lambda k, s: f"xox{k}-{s}", st.sampled_from("bpas"), chars(string.digits + "-" + ALNUM, 10, 60)
    ),
    "google_api_key": st.builds(lambda s: "AIza" + s, chars(B64URL, 35, 35)),
    "bearer_token": chars(ALNUM + "._~+/=-", 8, 80),
    "private_key": private_keys(),
    "jwt": st.builds(
        lambda h, p, s: f"eyJ{h}.eyJ{p}.{s}",
        chars(B64URL, 10, 40),
        chars(B64URL, 10, 80),
        chars(B64URL, 0, 43),
    ),
}
SEPARATORS = st.sampled_from([" ", "\n", "\t", ", ", ": ", " (", ") ", "; ", '"', "'", " <", "> ", "="])
SURROUNDING = st.text(max_size=60)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    kind=st.sampled_from(sorted(SECRETS)),
    data=st.data(),
    before=SURROUNDING,
    after=SURROUNDING,
    left=SEPARATORS,
    right=SEPARATORS,
)
def test_no_secret_survives(
    kind: str, data: st.DataObject, before: str, after: str, left: str, right: str
) -> None:
    secret = data.draw(SECRETS[kind], label="secret")
    assume(secret not in before and secret not in after)
    shown = f"Bearer {secret}" if kind == "bearer_token" else secret
    text = f"{before}{left}{shown}{right}{after}"
    redacted = redact(text)
    assert secret not in redacted
    assert "[REDACTED:" in redacted
    if kind == "private_key":
        body = secret.splitlines()[1]
        assert body not in redacted or body in before + after


@settings(max_examples=40, deadline=None)
@given(prompt=st.text(max_size=300), secret=SECRETS["openai_key"])
def test_length_and_hash_describe_the_original(prompt: str, secret: str) -> None:
    original = f"{prompt} {secret}"
    for policy in ("full", "redacted", "hash"):
        llm: dict = {}
        RecordContext(content_policy=policy).content(llm, original, "done")  # type: ignore[arg-type]
        assert llm["prompt_length"] == len(original)
        assert llm["prompt_sha256"] == hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()
        if policy == "full":
            assert llm["prompt"] == original and llm["completion"] == "done"
        elif policy == "redacted":
            assert secret not in llm["prompt"]
        else:
            assert "prompt" not in llm and "completion" not in llm
    nothing: dict = {}
    RecordContext(content_policy="none").content(nothing, original, "done")
    assert nothing == {}


def test_ordinary_text_is_left_alone() -> None:
    texts = [
        "Summarise the ticket in three bullet points.",
        "On 2024-01-15 the service at 10.0.0.12 answered in 3.25 s; version 1.2.3, 42 errors.",
        "Price: 1299 EUR, order 12345, room 101, fiscal 2020-2021.",
        "user@ alone, @mention, a-b-c, sk-short, AKIA123, eyJ only",
    ]
    for text in texts:
        assert redact(text) == text


def test_each_kind_is_named() -> None:
    samples = {
        "email": "jane.doe@example.com",
        "phone_number": "+1 415 555 0100",
        "card_number": "4111 1111 1111 1111",
        "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
        "openai_key": "sk-proj-" + "a1" * 20,
        "anthropic_key": "sk-ant-api03-" + "b2" * 20,
        "github_token": "ghp_" + "c" * 36,
        "slack_token": "xoxb-1234567890-abcdefghij",
        "google_api_key": "AIza" + "d" * 35,
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\n-----END PRIVATE KEY-----",
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    }
    for kind, secret in samples.items():
        assert redact(f"x {secret} y") == f"x [REDACTED:{kind}] y"
    assert redact("Authorization: Bearer abc.def-ghi_123") == "Authorization: Bearer [REDACTED:bearer_token]"
    assert (
        redact("-----BEGIN EC PRIVATE KEY-----\ncut off mid") == "[REDACTED:private_key]"
    )  # truncated block
    assert redact("4111 1111 1111 1112") == "[REDACTED:phone_number]"  # no card (Luhn), still redacted


def textbook_luhn(number: str) -> bool:
    """Luhn as the standard states it: double every second digit from the right, sum the digits."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        total += sum(divmod(digit * 2, 10)) if position % 2 else digit
    return total % 10 == 0


@settings(max_examples=300, deadline=None)
@given(number=chars(string.digits, 1, 25))
def test_luhn_check_is_the_textbook_one(number: str) -> None:
    assert luhn_valid(number) == textbook_luhn(number)
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


@settings(max_examples=60, deadline=None)
@given(
    card=card_numbers(),
    before=st.lists(chars(string.digits, 1, 4), max_size=6),
    after=st.lists(chars(string.digits, 1, 4), max_size=6),
    separator=st.sampled_from([" ", "-"]),
)
def test_a_card_glued_to_other_digit_groups_is_found(
    card: str, before: list[str], after: list[str], separator: str
) -> None:
    text = separator.join([*before, card, *after])
    redacted = redact(f"paid with {text} today")
    assert card.replace(" ", "").replace("-", "") not in redacted.replace(" ", "").replace("-", "")
    assert card not in redacted


# ------------------------------------------------------------------------- every kind, and near misses

# One realistic text per secret kind, the secret in it, and the redacted text expected.
KIND_SAMPLES: dict[str, tuple[str, str, str]] = {
    "private_key": (
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "key:\n[REDACTED:private_key]",
    ),
    "jwt": (
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "session [REDACTED:jwt] ok",
    ),
    "url_password": (
        "DATABASE_URL=postgres://loans:Zx81kQ2pLm0a@db.internal:5432/loans",
        "Zx81kQ2pLm0a",
        "DATABASE_URL=postgres://loans:[REDACTED:url_password]@db.internal:5432/loans",
    ),
    "anthropic_key": (
        "key sk-ant-api03-abcdefghijklmnop0123 x",
        "abcdefghijklmnop0123",
        "key [REDACTED:anthropic_key] x",
    ),
    "openai_key": (
        "OPENAI_API_KEY=sk-proj-" + "Ab1" * 16,
        "Ab1" * 16,
        "OPENAI_API_KEY=[REDACTED:openai_key]",
    ),
    "stripe_key": (
        "Stripe: sk_live_51Habcdefghijklmnop",
        "51Habcdefghijklmnop",
        "Stripe: [REDACTED:stripe_key]",
    ),
    "github_token": ("GITHUB_TOKEN: ghp_" + "a1" * 18, "a1" * 18, "GITHUB_TOKEN: [REDACTED:github_token]"),
    "gitlab_token": (
        "runner glpat-abcdefghij0123456789 fails",
        "abcdefghij0123456789",
        "runner [REDACTED:gitlab_token] fails",
    ),
    "slack_webhook": (
        "post to https://hooks.slack.com/services/T0000000/B0000000/abcdefghijklmnopqrstuvwx now",
        "abcdefghijklmnopqrstuvwx",
        "post to [REDACTED:slack_webhook] now",
    ),
    "slack_token": (
        "token is xoxb-117250300000-abcdefghijklmnop.",
        "abcdefghijklmnop",
        "token is [REDACTED:slack_token].",
    ),
    "google_api_key": ("key=AIza" + "d" * 35, "d" * 35, "key=[REDACTED:google_api_key]"),
    "google_oauth_token": (
        "got ya29.a0AfH6SMBabcdefghijklmnop",
        "a0AfH6SMBabcdefghijklmnop",
        "got [REDACTED:google_oauth_token]",
    ),
    "huggingface_token": (
        "HF hf_abcdefghijklmnopqrstuvwxyzABCDEFGH.",
        "abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "HF [REDACTED:huggingface_token].",
    ),
    "aws_access_key": (
        "user AKIAIOSFODNN7EXAMPLE?",
        "AKIAIOSFODNN7EXAMPLE",
        "user [REDACTED:aws_access_key]?",
    ),
    "aws_secret_key": (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-central-1",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [REDACTED:aws_secret_key]\nregion = eu-central-1",
    ),
    "bearer_token": (
        "Authorization: Bearer abc.def-ghi_123",
        "abc.def-ghi_123",
        "Authorization: Bearer [REDACTED:bearer_token]",
    ),
    "basic_auth": (
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "dXNlcjpwYXNzd29yZA==",
        "Authorization: Basic [REDACTED:basic_auth]",
    ),
    "password": (
        '{"user": "svc", "password": "Tr0ub4dor&3"}',
        "Tr0ub4dor&3",
        '{"user": "svc", "password": "[REDACTED:password]"}',
    ),
    "secret": (
        "client_secret=9f8e7d6c5b4a&grant=x",
        "9f8e7d6c5b4a",
        "client_secret=[REDACTED:secret]&grant=x",
    ),
    "card_number": (
        "card 4111 1111 1111 1111 charged",
        "4111 1111 1111 1111",
        "card [REDACTED:card_number] charged",
    ),
}


def test_every_secret_kind_has_a_sample() -> None:
    assert set(KIND_SAMPLES) == set(SECRET_KINDS)
    assert not set(SECRET_KINDS) & set(PERSONAL_KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_SAMPLES))
def test_each_secret_kind_is_redacted_and_named(kind: str) -> None:
    text, secret, expected = KIND_SAMPLES[kind]
    assert redact(text) == expected
    assert secret not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "Backport commit 3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a to the release branch",  # 40 hex: a git SHA
        "checksum wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in the manifest",  # 40 base64, no key context
        "The password policy requires 12 characters. Forgot password? Reset it here.",
        "max_tokens=1024, input_tokens: 5, output_tokens: 7, token_count=3",
        "password_hint: the name of your first pet",  # the key does not END with the keyword
        "DB_PASSWORD=${DB_PASSWORD} and API_KEY=<your key> and secret: '***'",  # placeholders
        "Basic accounting is covered in module one.",  # `Basic` + a word that is no user:password
        "See https://example.com/docs and mailto-free text; ftp://files.example.com/pub",
        "sk-short, sk_live_ too short, glpat-x, hf_x, ya29.x, xoxb-",
        "Two-factor auth: enabled. The secret sauce: butter.",
        "Bearer of bad news",  # not followed by a token-shaped word of 8+
        "AKIAIOSFODNN7EXAMPLEX is one character too long to be a key id",
    ],
)
def test_near_misses_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_secret_assignments_in_every_shape() -> None:
    shapes = {
        "password=hunter22": "password=[REDACTED:password]",
        "PASSWORD: hunter22": "PASSWORD: [REDACTED:password]",
        "db_pass = 'hunter22'": "db_pass = '[REDACTED:password]'",
        "passwd => hunter22": "passwd => [REDACTED:password]",
        "pwd:=hunter22": "pwd:=[REDACTED:password]",
        '{"api_key": "abc123xyz"}': '{"api_key": "[REDACTED:secret]"}',
        '{\\"token\\": \\"abc123xyz\\"}': '{\\"token\\": \\"[REDACTED:secret]\\"}',  # JSON inside JSON
        "Server=db;User Id=sa;Password=Pa55w0rd;": "Server=db;User Id=sa;Password=[REDACTED:password];",
        "https://x.test/cb?access_token=abc123&x=1": "https://x.test/cb?access_token=[REDACTED:secret]&x=1",
        'secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"': 'secret_key = "[REDACTED:aws_secret_key]"',
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"': (
            '"SecretAccessKey": "[REDACTED:aws_secret_key]"'
        ),
        "mongodb+srv://app:p%40ss@c0.example.net/db": "mongodb+srv://app:[REDACTED:url_password]@c0.example.net/db",
        "redis://:hunter22@cache:6379": "redis://:[REDACTED:url_password]@cache:6379",
    }
    for text, expected in shapes.items():
        assert redact(text) == expected, text


def test_the_scenario_secrets_are_all_redacted() -> None:
    """Every credential the demo scenario plants, in the text it is planted in."""
    rng = np.random.default_rng(11)
    planted = [*attacks.pasted_secrets(rng), attacks.leaked_system_prompt(rng)]
    for text, secrets in planted:
        redacted = redact(text)
        assert secrets and not [s for s in secrets if s in redacted], redacted


def test_the_sigma_rule_matches_the_marker_of_every_secret_kind_and_no_personal_kind() -> None:
    rule = yaml.safe_load((ROOT / "sigma_rules/rules/llm/llm_secret_in_prompt.yml").read_text())
    values = {v.lower() for v in rule["detection"]["selection"]["prompt|contains"]}
    assert {f"[redacted:{kind}]" for kind in SECRET_KINDS} <= values
    assert not {f"[redacted:{kind}]" for kind in PERSONAL_KINDS} & values
    examples = yaml.safe_load((ROOT / "sigma_rules/tests/llm_secret_in_prompt.yaml").read_text())
    shown = "\n".join(p["mlsiem.llm.prompt"] for p in examples["positives"])
    assert all(marker(kind) in shown for kind in SECRET_KINDS)  # each proved on the engine by its example
