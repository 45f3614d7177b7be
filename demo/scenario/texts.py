"""Ordinary prompts and answers for the LLM services, assembled from parts so that no two are alike.

Ordinary text must never look like an attack: no instruction overrides, persona games, requests for
instructions, secrets, encodings, control tokens or refusals. Every prompt carries its own details
(case numbers, amounts, names), so the same prompt never arrives from many addresses (that is what
the prompt-spam rule looks for).
"""

from __future__ import annotations

import numpy as np

from demo.scenario.common import pick

BANK = "Northwind Bank"
ASSISTANT_SYSTEM = (
    f"You are {BANK}'s internal assistant for employees. Be concise, name the internal policy when one "
    "applies, and never include customer personal data in answers."
)
WEBCHAT_SYSTEM = (
    f"You are Nora, the virtual assistant of {BANK}. Help customers with everyday banking questions in a "
    "friendly tone. Only discuss the customer's own products. Hand over to a human agent for disputes."
)

PRODUCTS = (
    "credit card",
    "savings account",
    "mortgage",
    "mobile app",
    "debit card",
    "personal loan",
    "current account",
    "travel insurance",
)
ISSUES = (
    "was charged twice",
    "payment has not arrived",
    "was declined abroad",
    "shows an unknown fee",
    "login keeps failing",
    "address change was not applied",
    "standing order ran on the wrong day",
)
METRICS = (
    "number of new accounts",
    "average balance",
    "total card spend",
    "count of failed logins",
    "median loan amount",
    "share of mobile payments",
)
DIMENSIONS = ("branch", "region", "product", "week", "customer segment", "channel")
TABLES = ("accounts", "transactions", "card_payments", "loan_applications", "login_events")
PERIODS = ("last month", "Q4 2024", "the last 30 days", "2024", "January and February")
COLUMNS = ("customer_id", "branch_code", "txn_amount", "segment", "region_id", "opened_at")
LANGUAGES = ("German", "French", "Spanish", "Polish", "Italian", "Dutch", "Portuguese")
SENTENCES = (
    "Your new card will arrive within five working days.",
    "The branch will be closed on the public holiday.",
    "Please confirm the transfer in the mobile app.",
    "We have received your documents and will review them shortly.",
    "Your standing order has been updated as requested.",
)
CONCEPTS = (
    "loan-to-value ratio",
    "chargeback",
    "SEPA instant transfer",
    "credit score",
    "KYC refresh",
    "amortization schedule",
    "interest rate swap",
    "overdraft buffer",
)
TASKS = (
    "update the branch FAQ",
    "send the audit checklist",
    "review the fee table",
    "book the training room",
    "collect the survey results",
    "prepare the board slides",
    "call the card processor",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
NAMES = ("Anna", "Ben", "Chloe", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kemal", "Lena")
CITIES = ("Leeds", "Lyon", "Porto", "Gdansk", "Utrecht", "Graz", "Malmo", "Bilbao")
RISKS = (
    "storing customer documents in shared drives",
    "manual overrides in loan approval",
    "exporting reports to personal devices",
    "approving payments without a second reviewer",
    "keeping test data in production systems",
)
CUSTOMER_TASKS = (
    "order a replacement card",
    "change my PIN",
    "increase my card limit",
    "set up a standing order",
    "download last year's statements",
    "add my partner to the account",
    "report a lost phone",
    "switch to paperless statements",
    "open a savings pot",
    "dispute a card payment",
)


def _case(rng: np.random.Generator) -> str:
    return f"CS-{int(rng.integers(100_000, 999_999))}"


def employee_prompt(rng: np.random.Generator, team: str) -> tuple[str, str]:
    """(user message, answer) of an employee using the internal assistant."""
    kind = int(rng.integers(10))
    product, issue, case = pick(rng, PRODUCTS), pick(rng, ISSUES), _case(rng)
    if kind == 0:
        day = int(rng.integers(1, 28))
        prompt = (
            f"Summarize this customer complaint in three bullet points for the {team} team: the customer "
            f"says their {product} {issue} on March {day}, they called twice without an answer and now "
            f"want a refund of {int(rng.integers(12, 480))} EUR. Case {case}."
        )
        answer = (
            f"- The customer's {product} {issue} (March {day}).\n- Two calls went unanswered.\n"
            f"- They ask for a refund; check the amount against case {case} before replying."
        )
    elif kind == 1:
        prompt = f"Draft a short, polite reply to a customer whose {product} {issue}. Reference case {case}."
        answer = (
            f"Dear customer, thank you for letting us know that your {product} {issue}. We have opened "
            f"case {case} and a colleague will contact you within two working days. Kind regards."
        )
    elif kind == 2:
        metric, dimension, table = pick(rng, METRICS), pick(rng, DIMENSIONS), pick(rng, TABLES)
        period = pick(rng, PERIODS)
        prompt = (
            f"Write a SQL query that returns the {metric} per {dimension} from the {table} table "
            f"for {period}."
        )
        answer = (
            f"SELECT {dimension.replace(' ', '_')}, COUNT(*) AS n\nFROM {table}\n"
            f"WHERE period = '{period}'\nGROUP BY {dimension.replace(' ', '_')}\nORDER BY n DESC;\n"
            f"Adjust the aggregate to compute the {metric}."
        )
    elif kind == 3:
        column, other = pick(rng, COLUMNS), pick(rng, COLUMNS)
        prompt = (
            f"Why does this pandas code raise KeyError: '{column}'? "
            f"df.groupby('{column}')['{other}'].sum() on the export from {pick(rng, TABLES)}"
        )
        answer = (
            f"The frame has no column named '{column}': print df.columns to check the exact name; exports "
            "often add spaces or change the case. Rename it first, then group."
        )
    elif kind == 4:
        language, sentence = pick(rng, LANGUAGES), pick(rng, SENTENCES)
        prompt = f'Translate into {language} for letter {case}: "{sentence}"'
        answer = f"Here is the {language} version for letter {case}, keeping the formal tone."
    elif kind == 5:
        first, second = pick(rng, NAMES), pick(rng, NAMES)
        prompt = (
            f"Turn these meeting notes into action items with owners: {first} to {pick(rng, TASKS)} by "
            f"{pick(rng, DAYS)}; {second} to {pick(rng, TASKS)} before the review on the "
            f"{int(rng.integers(1, 28))}th."
        )
        answer = f"1. {first}: first task, due as noted.\n2. {second}: second task, before the review."
    elif kind == 6:
        concept = pick(rng, CONCEPTS)
        prompt = f"Explain in plain words what a {concept} is, for a new colleague in {team} (ticket {case})."
        answer = (
            f"A {concept} is a standard banking term. In short: it describes how we measure or handle "
            f"one part of a customer's product. The {team} handbook has a worked example."
        )
    elif kind == 7:
        prompt = (
            f"Rewrite this paragraph to be clearer and shorter: 'Due to the fact that the {product} "
            f"process has been changed, customers whose {product} {issue} should at this point in time "
            f"contact the branch in {pick(rng, CITIES)} rather than the hotline, ref {case}.'"
        )
        answer = (
            f"Because the {product} process changed, customers whose {product} {issue} should now "
            f"contact the {pick(rng, CITIES)} branch, not the hotline."
        )
    elif kind == 8:
        version = f"{int(rng.integers(3, 9))}.{int(rng.integers(0, 20))}"
        prompt = f"Give me five subject lines for an email announcing the {product} update {version}."
        answer = "\n".join(
            f"{n}. The {product} update {version}: {w}"
            for n, w in enumerate(
                ("what is new", "faster and simpler", "now live", "your questions", "a quick tour"), start=1
            )
        )
    else:
        risk = pick(rng, RISKS)
        prompt = f"What are the main risks of {risk}? Keep it under {int(rng.integers(8, 20)) * 10} words."
        answer = (
            f"The main risks of {risk} are data exposure, missing audit trails and regulatory findings. "
            "Mitigate with access reviews, logging and a clear owner."
        )
    return prompt, answer


def customer_prompt(rng: np.random.Generator) -> tuple[str, str]:
    """(user message, answer) of a customer in the web chat."""
    kind = int(rng.integers(4))
    task, product = pick(rng, CUSTOMER_TASKS), pick(rng, PRODUCTS)
    amount = int(rng.integers(5, 3000))
    if kind == 0:
        prompt = f"Hi, how do I {task}? I'm using the app on my phone."
        answer = (
            f"You can {task} in the app under Settings > My products. If the option is missing, update "
            "the app or visit any branch."
        )
    elif kind == 1:
        prompt = f"What does it cost to {task}? My {product} is about {amount} EUR."
        answer = (
            f"For your {product}, this is free of charge in the app; at a branch the standard fee applies."
        )
    elif kind == 2:
        prompt = f"My {product} {pick(rng, ISSUES)} ({amount} EUR), what should I do?"
        answer = (
            "I'm sorry to hear that. Please check the transaction in the app first; if it is still "
            "wrong, I can connect you with a colleague who can open a case."
        )
    else:
        prompt = (
            f"Can I {task} without visiting a branch? I have a {product} with you since {2000 + amount % 24}."
        )
        answer = f"Yes, you can {task} online. You will need to confirm it with your banking app."
    return prompt, answer


def support_question(rng: np.random.Generator) -> tuple[str, str, str]:
    """(question, retrieved context, answer) for the RAG support assistant."""
    task, product = pick(rng, CUSTOMER_TASKS), pick(rng, PRODUCTS)
    article = f"KB-{int(rng.integers(1000, 9999))}"
    question = f"How can I {task} for my {product}? (order ref {_case(rng)})"
    context = (
        f"[{article}] {product.capitalize()}: customers can {task} in online banking or the app. "
        f"Processing takes {int(rng.integers(1, 6))} working days. Fees: see the price list, section "
        f"{int(rng.integers(2, 12))}."
    )
    answer = f"You can {task} in online banking or in the app; it takes a few working days (see {article})."
    return question, context, answer


FILLER = (
    "The product ships with a two-year warranty and free returns within thirty days.",
    "Each unit is assembled in our partner workshop and inspected before packing.",
    "The fabric is water-repellent, breathable and machine washable at forty degrees.",
    "Customers praise the battery life, which lasts a full working week on one charge.",
    "Available in five colours; the limited edition comes with an engraved case.",
    "The set includes a quick-start guide, a charging cable and a travel pouch.",
    "Dimensions and weight are listed in the technical sheet at the end of this entry.",
)


def catalogue_text(rng: np.random.Generator, characters: int) -> str:
    """A long, bland product catalogue: the padding of a resource-exhaustion prompt."""
    parts: list[str] = []
    size = 0
    entry = 0
    while size < characters:
        entry += 1
        line = f"Item {entry:04d}-{int(rng.integers(100, 999))}: " + " ".join(
            FILLER[int(i)] for i in rng.integers(len(FILLER), size=4)
        )
        parts.append(line)
        size += len(line) + 1
    return "\n".join(parts)
