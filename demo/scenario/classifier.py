"""The credit-scoring classifier's telemetry (native format): features, risk scores, late labels.

The applicants come from a fixed population model; a known "true" default risk (a logistic model of
the features) decides both the model's score (the true risk plus a little model error, so accuracy
is about 0.9) and, for the labelled share, the outcome. Labels arrive after a delay: a prediction is
labelled only if its label arrived before the end of the run, and the native record then carries it
as `ground_truth` (the label join happens upstream of the log, as in most feedback pipelines).

The incidents change exactly one thing each: whether the call succeeds (an error burst), the inputs
(feature drift), what the model sees but the log does not (prediction drift: a silent feature-join
failure), the outcome (performance drop: concept drift), or who calls (model extraction: one
address sending synthetic applications; an out-of-distribution burst: one partner sending amounts in
cents), the outputs (score collapse: one score for everyone) or the latency (an SLO burn).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from demo.scenario.common import Emitted, Ids, inside, window
from demo.scenario.config import ScenarioConfig
from demo.scenario.manifest import Incident
from demo.scenario.population import Population
from demo.scenario.timeline import Timeline
from mlsiem.timefmt import iso

MODEL = {"name": "credit-scorer", "version": "3.2.0", "type": "classification"}
SERVICE = {"name": "credit-api", "version": "3.2.0", "environment": "prod"}
PREDICT = {"method": "POST", "path": "/v1/models/credit-scorer:predict", "status_code": 200}
EXTRACTION_USER = "broker-0219"

EMPLOYMENT = ("salaried", "self_employed", "contractor", "part_time", "retired")
EMPLOYMENT_P = np.array([0.62, 0.14, 0.10, 0.09, 0.05])
EMPLOYMENT_RISK = np.array([0.0, 0.45, 0.3, 0.6, 0.1, 0.7])  # the last one: gig_platform
PURPOSES = ("debt_consolidation", "home_improvement", "car", "education", "medical", "business", "other")
PURPOSE_P = np.array([0.30, 0.18, 0.20, 0.08, 0.06, 0.08, 0.10])
PURPOSE_P_DRIFT = np.array([0.52, 0.08, 0.12, 0.10, 0.06, 0.04, 0.08])
PURPOSE_RISK = np.array([0.35, -0.2, -0.1, 0.1, 0.3, 0.5, 0.0])
REGIONS = ("north", "south", "east", "west", "central")
CHANNELS = ("web", "mobile", "branch", "partner_portal")
CHANNEL_P = np.array([0.45, 0.30, 0.10, 0.15])

INCOME_MEDIAN, INCOME_SIGMA = 52_000.0, 0.45
# Standard deviation of the lognormal income: the "one sigma" of the feature drift incident.
INCOME_SD = INCOME_MEDIAN * float(np.exp(INCOME_SIGMA**2 / 2) * np.sqrt(np.exp(INCOME_SIGMA**2) - 1))
SIGNAL = 1.6  # strength of the features' effect on default risk: sets the model's accuracy (~0.9)


def sample_applicants(rng: np.random.Generator, n: int, drifted: np.ndarray) -> dict[str, np.ndarray]:
    """Applications with the correlations real ones have (income and credit history grow with age, the
    loan with income); rows where `drifted` is set come from the shifted partner-channel population,
    whose loans no longer follow income and whose credit files are thin."""
    shifted = int(drifted.sum())
    age = rng.normal(41.0, 11.0, n)
    age[drifted] = rng.normal(32.0, 8.0, shifted)
    age = np.clip(np.round(age), 18, 80)
    log_income = np.log(INCOME_MEDIAN) + 0.012 * (age - 41.0) + rng.normal(0.0, 0.43, n)
    log_loan = np.log(12_000.0) + 0.6 * (log_income - np.log(INCOME_MEDIAN)) + rng.normal(0.0, 0.5, n)
    log_loan[drifted] = np.log(16_000.0) + rng.normal(0.0, 0.6, shifted)
    history = (age - 18.0) * 12.0 * rng.beta(3.0, 2.0, n)
    history[drifted] = (age[drifted] - 18.0) * 12.0 * rng.beta(1.2, 4.0, shifted)
    dti = rng.beta(2.0, 6.0, n) * 0.9
    dti[drifted] = rng.beta(2.6, 5.0, shifted) * 0.9
    employment = rng.choice(len(EMPLOYMENT), size=n, p=EMPLOYMENT_P)
    gig = drifted & (rng.random(n) < 0.25)
    employment[gig] = len(EMPLOYMENT)  # gig_platform: a category the control period never saw
    purpose = rng.choice(len(PURPOSES), size=n, p=PURPOSE_P)
    purpose[drifted] = rng.choice(len(PURPOSES), size=shifted, p=PURPOSE_P_DRIFT)
    return {
        "age": age,
        "income": np.round(np.exp(log_income), -1),
        "loan_amount": np.round(np.clip(np.exp(log_loan), 1_000, 150_000), -2),
        "debt_to_income": np.round(dti, 3),
        "credit_history_months": np.round(history),
        "num_open_accounts": rng.poisson(1.0 + history / 70.0).astype(float),
        "employment_type": employment,
        "loan_purpose": purpose,
        "region": rng.integers(len(REGIONS), size=n),
        "channel": rng.choice(len(CHANNELS), size=n, p=CHANNEL_P),
    }


def risk_logit(x: dict[str, np.ndarray], history: np.ndarray | None = None) -> np.ndarray:
    """The true log-odds of default; `history` replaces credit_history_months (what the model saw)."""
    months = x["credit_history_months"] if history is None else history
    z_income = (np.log(x["income"]) - np.log(INCOME_MEDIAN)) / INCOME_SIGMA
    z_dti = (x["debt_to_income"] - 0.225) / 0.13
    z_loan = (np.log(x["loan_amount"]) - np.log(12_000.0)) / 0.6
    z_history = (months - 165.0) / 95.0
    z_age = (x["age"] - 41.0) / 11.0
    linear = -1.3 * z_income + 1.5 * z_dti + 0.7 * z_loan - 0.8 * z_history - 0.3 * z_age
    linear += EMPLOYMENT_RISK[x["employment_type"]] + PURPOSE_RISK[x["loan_purpose"]]
    return SIGNAL * linear - 3.6


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def feature_rows(x: dict[str, np.ndarray]) -> list[dict[str, object]]:
    """The applications as the JSON feature maps the service logs (integers where the API has them)."""
    employment = (*EMPLOYMENT, "gig_platform")
    columns = zip(
        x["age"].astype(int).tolist(),
        x["income"].tolist(),
        x["loan_amount"].tolist(),
        x["debt_to_income"].tolist(),
        x["credit_history_months"].astype(int).tolist(),
        x["num_open_accounts"].astype(int).tolist(),
        x["employment_type"].tolist(),
        x["loan_purpose"].tolist(),
        x["region"].tolist(),
        x["channel"].tolist(),
        strict=True,
    )
    return [
        {
            "age": age,
            "income": income,
            "loan_amount": loan,
            "debt_to_income": dti,
            "credit_history_months": months,
            "num_open_accounts": accounts,
            "employment_type": employment[job],
            "loan_purpose": PURPOSES[purpose],
            "region": REGIONS[region],
            "channel": CHANNELS[channel],
        }
        for age, income, loan, dti, months, accounts, job, purpose, region, channel in columns
    ]


def _record(ids: Ids, when: float, user: tuple[str, str], ip: str, host: str) -> dict:
    return {
        "type": "inference",
        "id": f"cs-{ids.hex(12)}",
        "ts": iso(datetime.fromtimestamp(when, UTC)),
        "service": SERVICE,
        "host": host,
        "model": MODEL,
        "user": {"id": user[0], "name": user[1]},
        "source_ip": ip,
        "trace_id": ids.hex(16),
    }


def generate(
    rng: np.random.Generator,
    config: ScenarioConfig,
    timeline: Timeline,
    people: Population,
    incidents: dict[str, Incident],
) -> list[Emitted]:
    """Ordinary predictions over the whole timeline plus the classifier's incidents."""
    ids = Ids(rng)
    times = timeline.arrivals(rng, config.rates.classifier_per_hour)
    n = times.size
    single, multi = inside(times, incidents["feature_drift"]), inside(times, incidents["multi_feature_drift"])
    skew, shock = inside(times, incidents["prediction_drift"]), inside(times, incidents["performance_drop"])
    outage = inside(times, incidents["error_burst"])
    stuck, slow = inside(times, incidents["score_collapse"]), inside(times, incidents["slo_burn"])
    x = sample_applicants(rng, n, multi)
    x["income"][single] = np.round(x["income"][single] + INCOME_SD, -1)
    true_logit = risk_logit(x)
    # Prediction drift: the model silently sees no credit history; the log keeps the real value.
    seen = np.where(skew, 0.0, x["credit_history_months"])
    score = _sigmoid(risk_logit(x, seen) + rng.normal(0.0, 0.35, n))
    score[stuck] = 0.031  # a broken artifact: one score, one label, whatever the application
    # Performance drop: who defaults changes (an economic shock: defaults rise and the old signals
    # explain less of them), so accuracy on labelled traffic falls from ~0.9 to ~0.7.
    z_dti = (x["debt_to_income"] - 0.225) / 0.13
    outcome_logit = np.where(shock, 0.5 * true_logit + 1.4 + 0.6 * z_dti, true_logit)
    defaulted = rng.random(n) < _sigmoid(outcome_logit)
    delay = 60.0 * (2.0 + rng.exponential(config.label_delay_minutes, n))
    labelled = (rng.random(n) < config.label_fraction) & (times + delay < timeline.end)
    latency = rng.lognormal(np.log(18.0), 0.35, n) * np.where(rng.random(n) < 0.02, 3.0, 1.0)
    burning = slow & (rng.random(n) < 0.85)  # the SLO burn: most requests wait on a noisy neighbour
    latency[burning] = rng.uniform(150.0, 400.0, int(burning.sum()))
    failed = rng.random(n) < np.where(outage, 0.3, 0.004)
    who = rng.choice(len(people.brokers), size=n, p=people.broker_weights).tolist()
    hosts = rng.integers(1, 5, size=n).tolist()
    kind = np.full(n, None, dtype=object)
    for name, mask in (
        ("feature_drift", single),
        ("multi_feature_drift", multi),
        ("prediction_drift", skew),
        ("performance_drop", shock),
        ("error_burst", outage & failed),
        ("score_collapse", stuck),
        ("slo_burn", burning),
    ):
        kind[mask] = name
    failed, labelled, defaulted = failed.tolist(), labelled.tolist(), defaulted.tolist()
    latency = np.round(latency, 2).tolist()
    rows, when, scores = feature_rows(x), times.tolist(), np.round(score, 4).tolist()
    emitted: list[Emitted] = []
    for i in range(n):
        broker = people.brokers[who[i]]
        record = _record(ids, when[i], (broker.user_id, broker.name), broker.ip, f"scoring-0{hosts[i]}")
        record["features"] = rows[i]
        if failed[i]:
            record["outcome"] = "failure"
            record["error"] = {
                "type": "FeatureStoreUnavailable",
                "code": "503",
                "message": "feature store unavailable: connection refused by fs-2",
            }
            record["http"] = {**PREDICT, "status_code": 503}
            record["latency_ms"] = round(latency[i] * 0.4, 2)
        else:
            record["prediction"] = {"label": "bad" if scores[i] >= 0.5 else "good", "score": scores[i]}
            if labelled[i]:
                record["ground_truth"] = {"label": "bad" if defaulted[i] else "good"}
            record["http"] = PREDICT
            record["latency_ms"] = latency[i]
        emitted.append(Emitted(when[i], kind[i], record))
    emitted.extend(_extraction(rng, ids, config, people, incidents["model_extraction"]))
    emitted.extend(_ood_burst(rng, ids, config, people, incidents["ood_burst"]))
    return emitted


def _ood_burst(
    rng: np.random.Generator, ids: Ids, config: ScenarioConfig, people: Population, incident: Incident
) -> list[Emitted]:
    """A partner's applications with income and loan amount in cents (100x), 5% of the slot's traffic."""
    begin, end = window(incident)
    n = max(15, round(0.05 * config.rates.classifier_per_hour * (end - begin) / 3600.0))
    times = np.sort(begin + rng.random(n) * (end - begin))
    x = sample_applicants(rng, n, np.zeros(n, dtype=bool))
    x["income"] = x["income"] * 100
    x["loan_amount"] = x["loan_amount"] * 100
    scores = np.round(_sigmoid(risk_logit(x) + rng.normal(0.0, 0.35, n)), 4).tolist()
    latency = np.round(rng.lognormal(np.log(18.0), 0.35, n), 2).tolist()
    ip = incident.details["source.ip"]
    broker = people.brokers[0]
    emitted = []
    for i, (when, row) in enumerate(zip(times.tolist(), feature_rows(x), strict=True)):
        record = _record(ids, when, (broker.user_id, broker.name), ip, f"scoring-0{1 + i % 4}")
        record["features"] = row
        record["prediction"] = {"label": "bad" if scores[i] >= 0.5 else "good", "score": scores[i]}
        record["http"] = PREDICT
        record["latency_ms"] = latency[i]
        emitted.append(Emitted(when, "ood_burst", record))
    return emitted


def _extraction(
    rng: np.random.Generator, ids: Ids, config: ScenarioConfig, people: Population, incident: Incident
) -> list[Emitted]:
    """Metadata reads, then synthetic applications at a steady scripted rate from one address."""
    begin, end = window(incident)
    ip = incident.entity["source.ip"]
    broker = people.broker(EXTRACTION_USER)
    user = (broker.user_id, broker.name)
    emitted = []
    for offset, path in (
        (0.0, "/v1/models/credit-scorer/metadata"),
        (4.0, "/v1/models/credit-scorer/labels"),
    ):
        record = _record(ids, begin + offset, user, ip, "scoring-01")
        record["http"] = {"method": "GET", "path": path, "status_code": 200}
        record["latency_ms"] = round(float(rng.uniform(2.0, 5.0)), 2)
        emitted.append(Emitted(begin + offset, "model_extraction", record))
    n = config.extraction_queries
    step = (end - begin - 30.0) / n
    times = begin + 30.0 + np.arange(n) * step + rng.random(n) * step * 0.8
    x = {
        "age": rng.integers(18, 81, n).astype(float),
        "income": np.round(rng.uniform(8_000, 250_000, n), -1),
        "loan_amount": np.round(rng.uniform(1_000, 60_000, n), -2),
        "debt_to_income": np.round(rng.uniform(0.0, 0.95, n), 3),
        "credit_history_months": rng.integers(0, 401, n).astype(float),
        "num_open_accounts": rng.integers(0, 16, n).astype(float),
        "employment_type": rng.integers(len(EMPLOYMENT), size=n),
        "loan_purpose": rng.integers(len(PURPOSES), size=n),
        "region": rng.integers(len(REGIONS), size=n),
        "channel": np.full(n, CHANNELS.index("partner_portal")),
    }
    scores = np.round(_sigmoid(risk_logit(x) + rng.normal(0.0, 0.35, n)), 4).tolist()
    latency = np.round(rng.lognormal(np.log(16.0), 0.3, n), 2).tolist()
    for i, (when, row) in enumerate(zip(times.tolist(), feature_rows(x), strict=True)):
        record = _record(ids, when, user, ip, f"scoring-0{1 + i % 4}")
        record["features"] = row
        record["prediction"] = {"label": "bad" if scores[i] >= 0.5 else "good", "score": scores[i]}
        record["http"] = PREDICT
        record["latency_ms"] = latency[i]
        emitted.append(Emitted(when, "model_extraction", record))
    return emitted
