"""Who calls the services: partner brokers (credit scorer), employees and customers (LLM services).

Public addresses come from the documentation and benchmarking ranges (RFC 5737, RFC 2544): brokers
from 198.51.100.0/24 and 192.0.2.0/24, customers from 198.18.0.0/15, employees from the office
network 10.20.0.0/16 and attackers from 203.0.113.0/24, which ordinary traffic never uses. Activity
is skewed (a few busy callers, a long tail) but capped, so that no ordinary caller reaches the
volumes the model extraction rule looks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAST_NAMES = (
    "weber",
    "moreau",
    "rossi",
    "garcia",
    "kowalski",
    "nielsen",
    "okafor",
    "tanaka",
    "silva",
    "novak",
    "berger",
    "chen",
    "dubois",
    "fischer",
    "haddad",
    "ivanova",
    "jansen",
    "keller",
    "lindqvist",
    "meyer",
    "nakamura",
    "oliveira",
    "petrov",
    "quinn",
    "ramos",
    "schmidt",
    "torres",
    "ueda",
    "varga",
    "walsh",
    "yilmaz",
    "zimmermann",
    "andersen",
    "bauer",
    "costa",
    "dimitrov",
    "eriksen",
    "fontaine",
    "greco",
    "horvat",
)
TEAMS = ("support", "risk", "engineering", "marketing", "legal", "operations", "finance")
# An employee's usual models: first the main one, then an occasional second.
MODEL_HABITS = (
    ("gpt-4o-mini", "gpt-4o"),
    ("gpt-4o", "gpt-4o-mini"),
    ("gpt-4o", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet", "gpt-4o"),
    ("gpt-4o-mini", "o1"),
)
HABIT_WEIGHTS = np.array([0.34, 0.3, 0.14, 0.14, 0.08])


@dataclass(frozen=True)
class Caller:
    name: str
    user_id: str
    ip: str
    team: str = ""
    models: tuple[str, ...] = ()


def _weights(count: int, flatness: float) -> np.ndarray:
    """A long-tailed activity distribution: rank r gets 1 / (r + flatness)."""
    raw = 1.0 / (np.arange(count) + flatness)
    return raw / raw.sum()


@dataclass(frozen=True)
class Population:
    brokers: tuple[Caller, ...]
    broker_weights: np.ndarray
    employees: tuple[Caller, ...]
    employee_weights: np.ndarray
    customer_ips: tuple[str, ...]

    def broker(self, name: str) -> Caller:
        return next(b for b in self.brokers if b.name == name)

    def employee(self, name: str) -> Caller:
        return next(e for e in self.employees if e.name == name)


# Employees whose names the incidents use: they also work normally, from their usual address.
FIXED_EMPLOYEES = (
    Caller("l.chen", "u-1014", "10.20.14.88", "operations", ("gpt-4o-mini",)),
    Caller("p.novak", "u-1031", "10.20.31.44", "engineering", ("gpt-4o", "gpt-4o-mini")),
    Caller("svc-content-gen", "u-svc-07", "10.30.5.12", "marketing", ("gpt-4o-mini",)),
)


def build(
    rng: np.random.Generator, brokers: int = 400, employees: int = 150, customers: int = 3000
) -> Population:
    """A seeded population; the same seed gives the same callers with the same habits."""
    broker_ips = [f"198.51.100.{i}" for i in range(1, 255)] + [f"192.0.2.{i}" for i in range(1, 255)]
    chosen = rng.choice(len(broker_ips), size=brokers, replace=False)
    broker_list = tuple(
        Caller(f"broker-{i + 1:04d}", f"p-{i + 1:04d}", broker_ips[int(chosen[i])]) for i in range(brokers)
    )
    names: set[str] = {c.name for c in FIXED_EMPLOYEES}
    staff = list(FIXED_EMPLOYEES)
    while len(staff) < employees:
        name = f"{chr(97 + int(rng.integers(26)))}.{LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]}"
        if name in names:
            continue
        names.add(name)
        habit = MODEL_HABITS[int(rng.choice(len(MODEL_HABITS), p=HABIT_WEIGHTS))]
        ip = f"10.20.{int(rng.integers(40, 250))}.{int(rng.integers(2, 254))}"
        team = TEAMS[int(rng.integers(len(TEAMS)))]
        staff.append(Caller(name, f"u-{1100 + len(staff)}", ip, team, habit))
    customer_ips = tuple(
        f"198.{18 + int(rng.integers(2))}.{int(rng.integers(256))}.{int(rng.integers(1, 255))}"
        for _ in range(customers)
    )
    # The fixed employees are ordinary, moderately active callers (their weights sit mid-table).
    staff_order = [*staff[3:40], *staff[:3], *staff[40:]]
    return Population(
        brokers=broker_list,
        broker_weights=_weights(brokers, 12.0),
        employees=tuple(staff_order),
        employee_weights=_weights(len(staff_order), 6.0),
        customer_ips=customer_ips,
    )
