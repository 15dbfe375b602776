"""Phase 3: baseline first, then simple, then boosted; validated honestly, judged on business value."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from charter.data import DATASET, Dataset, quote_identifier
from charter.modeling._boosted import BoostedCandidate
from charter.modeling._candidates import Candidate, default_candidates
from charter.modeling._frame import ModelingFrame, Task, build_frame
from charter.modeling._metrics import (
    bootstrap_interval,
    business_value,
    classification_metrics,
    regression_metrics,
    value_curve,
)
from charter.modeling._result import CandidateResult, TrainResult
from charter.modeling._segments import segments
from charter.modeling._splits import (
    CVScheme,
    carve_holdout,
    cv_scheme,
    holdout_coverage,
    holdout_mask,
    load_holdout,
    save_holdout,
)
from charter.spec import Charter

__all__ = [
    "Trained",
    "charter_value",
    "conclude",
    "fairness_gap",
    "train",
    "tune_boosted",
    "validate_candidate",
    "validation_result",
]

Step = Callable[[str], None]

SEARCH_TRIALS = 8
"""Settings the boosted candidate tries (the defaults first), when the budget allows."""


@dataclass(frozen=True)
class Trained:
    """A training run: the result, and the fitted candidates (refitted on all training rows)."""

    result: TrainResult
    models: dict[str, Candidate]
    frame: ModelingFrame
    test: np.ndarray  # positions of the test rows in `frame`
    oof: dict[str, np.ndarray]  # out-of-fold predictions on the training rows, per candidate


def train(
    charter: Charter,
    dataset: Dataset,
    *,
    workspace: Path,
    seed: int = 0,
    folds: int = 5,
    budget_seconds: float = 60.0,
    only: Sequence[str] | None = None,
    extra: Sequence[Candidate] = (),
    now: datetime | None = None,
    on_step: Step | None = None,
) -> Trained:
    """Train the baseline, simple and boosted candidates (plus `extra`) and validate them honestly.

    The holdout is carved once per project and recorded under `workspace`; cross-validation runs
    on the other rows; the chosen candidate is the simplest within one standard error of the best
    cross-validated business value; the test set then says whether it beats the baseline.
    """
    started = now or datetime.now(UTC)
    clock = time.perf_counter()
    step = on_step or (lambda _: None)
    task: Task = charter.task or guess_task(dataset, charter.target)
    step("reading the data")
    frame = build_frame(charter, dataset, task=task)
    holdout_path = workspace / "holdout.parquet"
    if holdout_path.exists():
        holdout = load_holdout(holdout_path)
    else:
        holdout = carve_holdout(frame, seed=seed, now=started)
        save_holdout(holdout, holdout_path)
    is_test = holdout_mask(frame, holdout)
    present, recorded = holdout_coverage(frame, holdout)
    test_index = np.flatnonzero(is_test)
    train_frame, test_frame = frame.subset(np.flatnonzero(~is_test)), frame.subset(test_index)
    scheme = cv_scheme(train_frame, folds=folds, seed=seed)
    candidates: list[Candidate] = [
        *default_candidates(
            task,
            has_rule=frame.baseline is not None,
            seed=seed,
            budget_seconds=budget_seconds,
            only=only,
        ),
        *extra,
    ]
    warnings: list[str] = []
    searches: dict[str, dict[str, Any]] = {}
    for index, candidate in enumerate(candidates):
        if isinstance(candidate, BoostedCandidate) and candidate.config is None:
            step("searching boosted settings")
            candidates[index], searches[candidate.name], warning = tune_boosted(
                candidate, train_frame, seed=seed
            )
            if warning:
                warnings.append(warning)
    results: list[CandidateResult] = []
    models: dict[str, Candidate] = {}
    oofs: dict[str, np.ndarray] = {}
    test_predictions: dict[str, np.ndarray] = {}
    for candidate in candidates:
        step(f"validating {candidate.name}")
        validated, model, oof, predicted = validate_candidate(
            candidate, charter, train_frame, test_frame, scheme, seed=seed
        )
        if candidate.name in searches:
            validated = replace(
                validated, params={**validated.params, "search": searches[candidate.name]}
            )
        results.append(validated)
        models[candidate.name] = model
        oofs[candidate.name] = oof
        test_predictions[candidate.name] = predicted
    result = conclude(
        charter,
        frame,
        test_frame,
        results,
        test_predictions,
        rows=(train_frame.rows, test_frame.rows),
        holdout=holdout.summary(present=present, recorded=recorded),
        validation={"scheme": scheme.kind, "reason": scheme.reason, "folds": len(scheme.folds)},
        warnings=warnings,
        started=started,
        clock=clock,
        seed=seed,
    )
    return Trained(result=result, models=models, frame=frame, test=test_index, oof=oofs)


def conclude(
    charter: Charter,
    frame: ModelingFrame,
    test_frame: ModelingFrame,
    results: Sequence[CandidateResult],
    test_predictions: dict[str, np.ndarray],
    *,
    rows: tuple[int, int],
    holdout: dict[str, Any],
    validation: dict[str, Any],
    warnings: Sequence[str],
    started: datetime,
    clock: float,
    seed: int,
) -> TrainResult:
    """The run's result from its validated candidates: the choice, each one judged on the test set.

    `test_predictions` holds each candidate's predictions for `test_frame`'s rows; `rows` is
    (training rows, test rows); `holdout` and `validation` describe the split as documented;
    `clock` is the `time.perf_counter()` at which the run began.
    """
    task = frame.task
    chosen, rule = _choose(results)
    baseline = next((r for r in results if r.kind == "baseline"), None)
    target = charter.success.beat_baseline_by
    judged = [
        _judged(r, charter, test_frame, baseline, test_predictions, chosen=chosen, seed=seed)
        for r in results
    ]
    selected = next(r for r in judged if r.name == chosen)
    gain, gain_ci = 0.0, (0.0, 0.0)
    if selected.gain is not None and selected.gain_ci is not None:
        gain, gain_ci = selected.gain, selected.gain_ci
    beats = _beats(selected, baseline, gain, gain_ci, target)
    metric = _metric_name(charter, task)
    return TrainResult(
        project=charter.project,
        target=charter.target,
        task=task,
        metric=metric,
        positive_class=frame.positive_class,
        started=started,
        seconds=time.perf_counter() - clock,
        rows_train=rows[0],
        rows_test=rows[1],
        holdout=holdout,
        validation=validation,
        candidates=tuple(judged),
        selected=chosen,
        selection_rule=rule,
        baseline=baseline.name if baseline else "",
        gain=gain,
        gain_ci=gain_ci,
        target_gain=target,
        beats_baseline=beats,
        headline=_headline(beats, selected, baseline, gain, gain_ci, target, metric),
        features=tuple(frame.X.columns),
        dropped=frame.dropped,
        warnings=tuple(warnings),
    )


def tune_boosted(
    candidate: BoostedCandidate, train_frame: ModelingFrame, *, seed: int
) -> tuple[BoostedCandidate, dict[str, Any], str | None]:
    """Search the boosted settings once, on the training rows, within the whole budget.

    Every fold and the final fit then use the settings found (with their own early stopping), so
    the search is paid once and its result does not vary from fold to fold. The test rows are
    never seen. A search cut short by the budget may choose differently on a slower machine.
    """
    clock = time.perf_counter()
    searched = BoostedCandidate(
        candidate.task, seed=seed, budget_seconds=candidate.budget_seconds, max_trials=SEARCH_TRIALS
    ).fit(train_frame)
    search = {**searched.search_, "seconds": round(time.perf_counter() - clock, 3)}
    warning = None
    if search.get("stopped_by") == "budget":
        warning = (
            f"The boosted search stopped at the time budget after {search.get('trials_run')} of "
            f"{SEARCH_TRIALS} settings: a rerun on a slower or busier machine may choose other "
            "settings. Raise --budget to search them all and make the run reproducible."
        )
    fixed = BoostedCandidate(
        candidate.task, seed=seed, budget_seconds=candidate.budget_seconds, config=searched.config_
    )
    return fixed, search, warning


def guess_task(dataset: Dataset, target: str) -> Task:
    """Regression for a number with many distinct values; classification otherwise."""
    if target not in dataset.columns:
        return "classification"
    from charter.data._types import kind_of

    if kind_of(dataset.columns[target]) != "numeric":
        return "classification"
    row = dataset.sql(f"SELECT count(DISTINCT {quote_identifier(target)}) FROM {DATASET}")
    return "regression" if int(row[0][0]) > 10 else "classification"


def validate_candidate(
    candidate: Candidate,
    charter: Charter,
    train_frame: ModelingFrame,
    test_frame: ModelingFrame,
    scheme: CVScheme,
    *,
    seed: int,
) -> tuple[CandidateResult, Candidate, np.ndarray, np.ndarray]:
    """Cross-validate `candidate` on `train_frame`'s folds, fit it on all of them, judge it.

    Returns the result, the fitted model, the out-of-fold and the test predictions.
    """
    clock = time.perf_counter()
    oof = np.full(train_frame.rows, np.nan)
    for fold in scheme.folds:
        fitted = candidate.fit(train_frame.subset(fold.train))
        oof[fold.valid] = fitted.predict(train_frame.subset(fold.valid))
    model = candidate.fit(train_frame)
    result, predicted = validation_result(
        candidate, model, oof, charter, train_frame, test_frame, scheme, seed=seed, clock=clock
    )
    return result, model, oof, predicted


def validation_result(
    candidate: Candidate,
    model: Candidate,
    oof: np.ndarray,
    charter: Charter,
    train_frame: ModelingFrame,
    test_frame: ModelingFrame,
    scheme: CVScheme,
    *,
    seed: int,
    clock: float,
) -> tuple[CandidateResult, np.ndarray]:
    """A candidate's result from its out-of-fold predictions and its `model` fitted for use.

    `oof` holds the predictions for `train_frame`'s rows from models that did not see them (NaN
    where no fold validated a row); the threshold is chosen on them, the value per fold read
    from them, and the model judged on `test_frame`. Returns the result and the test predictions;
    `clock` is the `time.perf_counter()` at which the candidate's work began.
    """
    seen = ~np.isnan(oof)
    y_oof = train_frame.y[seen]
    # The baseline decides as today's rule (or the majority class) does: its threshold is not tuned.
    tuned = candidate.kind != "baseline"
    threshold = _threshold(charter, train_frame.task, y_oof, oof[seen], tuned=tuned)
    fold_values = tuple(
        charter_value(
            charter, train_frame.task, train_frame.y[fold.valid], oof[fold.valid], threshold
        )
        for fold in scheme.folds
    )
    predicted = model.predict(test_frame)
    train_value = charter_value(
        charter, train_frame.task, train_frame.y, model.predict(train_frame), threshold
    )
    groups = test_frame.groups if _repeats(test_frame.groups) else None
    value_ci = bootstrap_interval(
        lambda y, p: charter_value(charter, test_frame.task, y, p, threshold),
        test_frame.y,
        predicted,
        seed=seed,
        groups=groups,
    )
    result = CandidateResult(
        name=candidate.name,
        kind=candidate.kind,
        complexity=candidate.complexity,
        cv_values=fold_values,
        cv_mean=float(np.mean(fold_values)),
        cv_se=float(np.std(fold_values, ddof=1) / math.sqrt(len(fold_values)))
        if len(fold_values) > 1
        else 0.0,
        cv_metrics=_metrics(train_frame.task, y_oof, oof[seen], threshold),
        threshold=threshold,
        test_metrics=_metrics(test_frame.task, test_frame.y, predicted, threshold),
        test_value=charter_value(charter, test_frame.task, test_frame.y, predicted, threshold),
        test_value_ci=value_ci,
        train_value=train_value,
        params=model.params(),
        seconds=time.perf_counter() - clock,
    )
    return result, predicted


def _threshold(
    charter: Charter, task: Task, y: np.ndarray, scores: np.ndarray, *, tuned: bool
) -> float | None:
    if task != "classification":
        return None
    if tuned and charter.success.value is not None:
        return value_curve(y, scores, charter.success.value).best_threshold
    return 0.5


def charter_value(
    charter: Charter, task: Task, y: np.ndarray, predicted: np.ndarray, threshold: float | None
) -> float:
    """The charter's business metric per row for `predicted`, deciding at `threshold`."""
    return business_value(
        task,
        y,
        predicted,
        threshold=threshold,
        values=charter.success.value,
        cost_per_unit=charter.success.error_cost_per_unit,
        metric=charter.success.metric,
    )[1]


def _metric_name(charter: Charter, task: Task) -> str:
    return business_value(
        task,
        np.array([0, 1]) if task == "classification" else np.array([0.0, 1.0]),
        np.array([0.2, 0.8]),
        threshold=0.5,
        values=charter.success.value,
        cost_per_unit=charter.success.error_cost_per_unit,
        metric=charter.success.metric,
    )[0]


def _metrics(
    task: Task, y: np.ndarray, predicted: np.ndarray, threshold: float | None
) -> dict[str, float]:
    if task == "classification":
        return classification_metrics(y, predicted, threshold if threshold is not None else 0.5)
    return regression_metrics(y, predicted)


def _repeats(groups: np.ndarray | None) -> bool:
    return groups is not None and len(np.unique(groups)) < len(groups)


def _choose(results: Sequence[CandidateResult]) -> tuple[str, str]:
    """The simplest candidate whose cross-validated value is within one standard error of the best."""
    best = max(results, key=lambda r: r.cv_mean)
    bar = best.cv_mean - best.cv_se
    eligible = [r for r in results if r.cv_mean >= bar]
    chosen = min(eligible, key=lambda r: (r.complexity, -r.cv_mean))
    if chosen is best:
        rule = f"{best.name} has the best cross-validated value, and no simpler candidate comes within one standard error of it"
    else:
        rule = (
            f"{chosen.name} is the simplest candidate within one standard error of the best "
            f"({best.name}: {best.cv_mean:.4g} ± {best.cv_se:.2g}; {chosen.name}: {chosen.cv_mean:.4g})"
        )
    return chosen.name, rule


def _gain(
    charter: Charter,
    test: ModelingFrame,
    selected: CandidateResult,
    baseline: CandidateResult,
    predictions: dict[str, np.ndarray],
    *,
    seed: int,
) -> tuple[float, tuple[float, float]]:
    """The selected model's value minus the baseline's on the same test rows, with a paired interval."""

    def gain(y: np.ndarray, model: np.ndarray, base: np.ndarray) -> float:
        return charter_value(charter, test.task, y, model, selected.threshold) - charter_value(
            charter, test.task, y, base, baseline.threshold
        )

    groups = test.groups if _repeats(test.groups) else None
    point = gain(test.y, predictions[selected.name], predictions[baseline.name])
    interval = bootstrap_interval(
        gain,
        test.y,
        predictions[selected.name],
        predictions[baseline.name],
        seed=seed,
        groups=groups,
    )
    return point, interval


def _beats(
    selected: CandidateResult,
    baseline: CandidateResult | None,
    gain: float,
    gain_ci: tuple[float, float],
    target: float | None,
) -> bool:
    if baseline is None:
        return True
    if selected is baseline or gain_ci[0] <= 0:
        return False
    return target is None or gain >= target * abs(baseline.test_value)


def _judged(
    result: CandidateResult,
    charter: Charter,
    test: ModelingFrame,
    baseline: CandidateResult | None,
    predictions: dict[str, np.ndarray],
    *,
    chosen: str,
    seed: int,
) -> CandidateResult:
    """The candidate with its gain over the baseline, its fairness gap and whether it was chosen."""
    judged = replace(
        result,
        selected=result.name == chosen,
        fairness=fairness_gap(charter, test, predictions[result.name], result.threshold),
    )
    if baseline is None or result.name == baseline.name:
        return judged
    gain, gain_ci = _gain(charter, test, result, baseline, predictions, seed=seed)
    beats = _beats(result, baseline, gain, gain_ci, charter.success.beat_baseline_by)
    return replace(judged, gain=gain, gain_ci=gain_ci, beats_baseline=beats)


def fairness_gap(
    charter: Charter, test: ModelingFrame, predicted: np.ndarray, threshold: float | None
) -> dict[str, Any] | None:
    """The largest gap between the sensitive groups of the test rows, or None without any."""
    columns = [c for c in charter.data.sensitive if c in test.X.columns]
    if not columns or test.rows == 0:
        return None
    decisions = (predicted >= threshold).astype(np.int8) if threshold is not None else None
    if test.task == "classification" and decisions is None:
        decisions = (predicted >= 0.5).astype(np.int8)
    found = [
        s
        for s in segments(
            test.y, predicted, decisions, test.X[columns], columns=columns, task=test.task
        )
        if s.sensitive and s.gap_metric is not None
    ]
    if not found:
        return None
    worst = max(found, key=lambda s: s.gap)
    return {"column": worst.column, "metric": worst.gap_metric, "gap": float(worst.gap)}


def _headline(
    beats: bool,
    selected: CandidateResult,
    baseline: CandidateResult | None,
    gain: float,
    gain_ci: tuple[float, float],
    target: float | None,
    metric: str,
) -> str:
    if baseline is None:
        return f"{selected.name} selected; no baseline was trained to compare against."
    if selected.name == baseline.name:
        return "Machine learning does not pay here yet: no model beats the baseline by more than its own noise."
    relative = (
        f" ({gain / abs(baseline.test_value):+.0%} of the baseline)" if baseline.test_value else ""
    )
    evidence = f"{metric} gain {gain:+.4g} per row{relative}, 95% interval {gain_ci[0]:+.4g} to {gain_ci[1]:+.4g}"
    if beats:
        return f"{selected.name} beats the baseline: {evidence}."
    if gain_ci[0] <= 0:
        return f"Machine learning does not pay here yet: {selected.name}'s gain over the baseline is not sure ({evidence})."
    return f"Machine learning does not pay here yet: {selected.name} beats the baseline, but not by the {target:.0%} the charter demands ({evidence})."
