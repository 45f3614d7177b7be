"""The offline performance check of `mlsiem drift|gate`: a model's metrics on two labelled files.

Given the label and prediction columns (and optionally a score column), each file's rows with both a
label and a prediction are compared with `statistics.performance` (the detector job's functions and
defaults): accuracy, macro F1 and, with a score and binary labels, ROC AUC for a classifier; MAE and
RMSE for a regression model. The task follows the column types (text or boolean labels, or numeric
labels and predictions with at most 20 distinct whole values: classification; other numbers:
regression) unless configured. The label, prediction and score columns are not features: their own
distribution shift is reported beside the metrics (label drift is a prior shift, prediction and
score drift the model's output) and does not fail the gate; a performance loss does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from detections.datafiles import Column, DataColumns, DataFileError
from detections.detectors.performance import PerformanceTuning
from detections.statistics import build_profile, compare
from detections.statistics.columns import CategoricalColumn
from detections.statistics.compare import FeatureDrift, _json_safe
from detections.statistics.decision import DecisionRule
from detections.statistics.performance import (
    MetricChange,
    classification_changes,
    confusion_of_codes,
    regression_changes,
    regression_errors,
)

Task = Literal["classification", "regression"]
MAX_CLASSES_FROM_NUMBERS = 20  # numeric labels with more distinct values (or fractions) are a regression
POSITIVE_NAMES = ("1", "true", "yes", "positive")


class PerformanceConfig(PerformanceTuning):
    """`performance:` in the gate config; `--label/--prediction/--score/--task` set the same fields.
    The thresholds are the detector's tuning model, so both paths share their defaults and checks."""

    label: str = Field(min_length=1)
    prediction: str = Field(min_length=1)
    score: str | None = Field(None, min_length=1, description="a binary classifier's score: ROC AUC")
    task: Task | None = None  # default: from the column types
    positive_label: str | None = None  # the class the score is for; default: 1/true/yes, else by scores

    @model_validator(mode="after")
    def _distinct_columns(self) -> PerformanceConfig:
        names = self.columns
        if len(set(names)) != len(names):
            raise ValueError(f"label, prediction and score must be different columns, got {names}")
        return self

    @property
    def columns(self) -> list[str]:
        return [n for n in (self.label, self.prediction, self.score) if n is not None]


@dataclass
class PerformanceComparison:
    task: Task
    label: str
    prediction: str
    score: str | None
    metrics: list[MetricChange]
    reference_labelled: int
    current_labelled: int
    positive_label: str | None = None
    drift: list[FeatureDrift] = field(default_factory=list)  # label / prediction / score distribution
    notes: list[str] = field(default_factory=list)

    @property
    def worse(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.tier is not None]

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "task": self.task,
                "label": self.label,
                "prediction": self.prediction,
                "score": self.score,
                "positive_label": self.positive_label,
                "reference_labelled": self.reference_labelled,
                "current_labelled": self.current_labelled,
                "metrics": [{**asdict(m), "change": m.change} for m in self.metrics],
                "drift": [asdict(f) for f in self.drift],
                "notes": self.notes,
            }
        )


def _column(data: DataColumns, name: str, option: str) -> Column:
    if name in data.columns:
        return data.columns[name]
    why = data.skipped.get(name)
    problem = f"column {name!r} ({option}) {why}" if why else f"no column {name!r} ({option})"
    raise DataFileError(f"{data.path}: {problem}")


def _is_classes(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    distinct = np.unique(finite)
    return distinct.size <= MAX_CLASSES_FROM_NUMBERS and bool(np.all(distinct == np.round(distinct)))


def _task(config: PerformanceConfig, columns: list[Column]) -> Task:
    text = any(isinstance(c, CategoricalColumn) for c in columns)
    if config.task == "regression" and text:
        raise DataFileError(
            f"performance: task regression needs numeric {config.label!r} and {config.prediction!r} columns"
        )
    if config.task is not None:
        return config.task
    if text or all(_is_classes(c) for c in columns):  # type: ignore[arg-type]
        return "classification"
    return "regression"


def _encoded(column: Column) -> tuple[np.ndarray, list[str]]:
    """Per-row class codes (-1 where missing) and the class names: text as is, whole numbers without a
    decimal point. Codes, not strings per row: a million rows cost one `np.unique` at most."""
    if isinstance(column, CategoricalColumn):
        return column.codes, [str(c) for c in column.categories]
    values = np.asarray(column, dtype=np.float64)
    distinct, inverse = np.unique(values, return_inverse=True)
    names = [str(int(v)) if v == round(v) else f"{v:g}" if np.isfinite(v) else "" for v in distinct]
    return np.where(np.isfinite(values), inverse.ravel(), -1), names


@dataclass
class _Side:
    true: np.ndarray  # codes into the shared vocabulary, labelled rows only
    predicted: np.ndarray
    scores: np.ndarray | None


def _sides(
    config: PerformanceConfig, files: tuple[DataColumns, DataColumns]
) -> tuple[list[_Side], list[str]]:
    """Both files' labelled rows as codes into one vocabulary of class names."""
    encoded = [
        (
            _encoded(_column(data, config.label, "label")),
            _encoded(_column(data, config.prediction, "prediction")),
        )
        for data in files
    ]
    vocabulary = sorted({name for pair in encoded for _, names in pair for name in names} - {""})
    index = {name: i for i, name in enumerate(vocabulary)}

    def recode(codes: np.ndarray, names: list[str]) -> np.ndarray:
        lookup = np.array([index.get(name, -1) for name in names] + [-1], dtype=np.int64)
        return lookup[np.where(codes >= 0, codes, len(names))]

    sides = []
    for data, ((true_codes, true_names), (predicted_codes, predicted_names)) in zip(
        files, encoded, strict=True
    ):
        true, predicted = recode(true_codes, true_names), recode(predicted_codes, predicted_names)
        keep = (true >= 0) & (predicted >= 0)
        scores = None
        if config.score is not None:
            score = _column(data, config.score, "score")
            if isinstance(score, CategoricalColumn):
                raise DataFileError(f"{data.path}: score column {config.score!r} is not numeric")
            scores = np.asarray(score, dtype=np.float64)[keep]
        sides.append(_Side(true[keep], predicted[keep], scores))
    return sides, vocabulary


def _positive(config: PerformanceConfig, classes: list[str], scores: np.ndarray, true: np.ndarray) -> int:
    """The index (into `classes`) of the class the score is for."""
    if config.positive_label is not None:
        if config.positive_label not in classes:
            raise DataFileError(
                f"performance: positive_label {config.positive_label!r} is not a label {classes}"
            )
        return classes.index(config.positive_label)
    for name in POSITIVE_NAMES:
        matching = [i for i, c in enumerate(classes) if c.lower() == name]
        if matching:
            return matching[0]
    means = [
        float(np.nanmean(scores[true == i])) if np.any(true == i) else -np.inf for i in range(len(classes))
    ]
    return int(np.argmax(means))  # the score is the probability of the class it ranks up


def _classification(
    config: PerformanceConfig, reference: DataColumns, current: DataColumns, alpha: float
) -> PerformanceComparison:
    (ref, cur), vocabulary = _sides(config, (reference, current))
    notes: list[str] = []
    scores = None
    positive = None
    if ref.scores is not None and cur.scores is not None:
        present = sorted(set(np.unique(ref.true).tolist()) | set(np.unique(cur.true).tolist()))
        if len(present) == 2:
            classes = [vocabulary[i] for i in present]
            chosen = present[_positive(config, classes, ref.scores, np.searchsorted(present, ref.true))]
            positive = vocabulary[chosen]
            ref_ok, cur_ok = np.isfinite(ref.scores), np.isfinite(cur.scores)
            scores = (
                (ref.scores[ref_ok], ref.true[ref_ok] == chosen),
                (cur.scores[cur_ok], cur.true[cur_ok] == chosen),
            )
            dropped = int((~ref_ok).sum() + (~cur_ok).sum())
            if dropped:
                notes.append(f"ROC AUC without {dropped} labelled rows that have no score")
        else:
            notes.append(f"no ROC AUC: one score column needs binary labels, found {len(present)} classes")
    names = np.array(vocabulary, dtype=object)
    metrics = classification_changes(
        confusion_of_codes(ref.predicted, ref.true, names),
        confusion_of_codes(cur.predicted, cur.true, names),
        scores=scores,
        alpha=alpha,
        thresholds=config.thresholds(),
    )
    return PerformanceComparison(
        "classification",
        config.label,
        config.prediction,
        config.score,
        metrics,
        ref.true.size,
        cur.true.size,
        positive,
        notes=notes,
    )


def _regression(
    config: PerformanceConfig, reference: DataColumns, current: DataColumns, alpha: float
) -> PerformanceComparison:
    def errors(data: DataColumns) -> tuple[Any, Any]:
        true = _column(data, config.label, "label")
        predicted = _column(data, config.prediction, "prediction")
        return regression_errors(true, predicted)  # type: ignore[arg-type]

    ref, cur = errors(reference), errors(current)
    metrics = regression_changes(ref, cur, alpha=alpha, thresholds=config.thresholds())
    notes = [] if config.score is None else [f"score column {config.score!r} unused: a regression model"]
    return PerformanceComparison(
        "regression",
        config.label,
        config.prediction,
        config.score,
        metrics,
        ref[0].count,
        cur[0].count,
        notes=notes,
    )


def compare_performance(
    config: PerformanceConfig, reference: DataColumns, current: DataColumns, rule: DecisionRule
) -> PerformanceComparison:
    """The metrics on both files and their verdicts, and the drift of the label/prediction/score columns."""
    for data in (reference, current):
        for name, option in ((config.label, "label"), (config.prediction, "prediction")):
            _column(data, name, option)
    task = _task(config, [reference.columns[config.label], reference.columns[config.prediction]])
    compared = (_classification if task == "classification" else _regression)(
        config, reference, current, rule.alpha
    )
    if min(compared.reference_labelled, compared.current_labelled) < config.min_labelled:
        compared.notes.append(
            f"no verdict: fewer than {config.min_labelled} labelled rows "
            f"(reference {compared.reference_labelled}, current {compared.current_labelled})"
        )
    names = [n for n in config.columns if n in reference.columns and n in current.columns]
    profile = build_profile({n: reference.columns[n] for n in names}, keep_samples=True)
    compared.drift = compare(profile, {n: current.columns[n] for n in names}, rule=rule).features
    return compared
