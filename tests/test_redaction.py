"""Redaction properties: no secret of any kind survives, whatever text surrounds it; length and hash
describe the original text; the content policies keep exactly what they promise."""

from __future__ import annotations

import hashlib
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shipper.normalize.document import RecordContext
from shipper.normalize.redaction import luhn_valid, redact

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
