"""The evidence behind a training run: curves, calibration, importance, segments, explanations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from charter.errors import CharterError
from charter.modeling._boosted import BoostedCandidate
from charter.modeling._candidates import Candidate, select_features
from charter.modeling._diagnostics import (
    calibrate,
    fit_gap,
    leakage_recheck,
    log_loss,
    reliability,
    underfit,
)
from charter.modeling._explain import (
    Contributions,
    linear_contributions,
    mean_abs_contributions,
    permutation_importance,
    reasons,
    tree_contributions,
)
from charter.modeling._frame import ModelingFrame
from charter.modeling._metrics import value_curve
from charter.modeling._segments import segments
from charter.modeling._simple import SimpleCandidate
from charter.modeling._splits import cv_scheme
from charter.modeling._train import Trained, charter_value
from charter.spec import Charter

__all__ = ["contributions_of", "with_evidence"]

_CURVE_POINTS = 200
_BACKGROUND_ROWS = 2000
_EXAMPLES = 3
_CURVE_SHARES = (0.25, 0.5, 1.0)


def with_evidence(trained: Trained, charter: Charter, *, seed: int = 0) -> Trained:
    """Add diagnostics and explanations of the selected candidate to the run's result."""
    result = trained.result
    selected = result.candidate(result.selected)
    model = trained.models[result.selected]
    frame = trained.frame
    test = frame.subset(trained.test)
    train_rows = np.setdiff1d(np.arange(frame.rows), trained.test)
    training = frame.subset(train_rows)
    predicted = model.predict(test)
    threshold = selected.threshold
    task = frame.task
    diagnostics: dict[str, Any] = {}
    warnings: list[str] = list(result.warnings)

    def value(y: np.ndarray, p: np.ndarray) -> float:
        return charter_value(charter, task, y, p, threshold)

    oof = trained.oof[result.selected]
    seen = ~np.isnan(oof)
    if task == "classification":
        if charter.success.value is not None and selected.kind != "baseline":
            curve = value_curve(training.y[seen], oof[seen], charter.success.value)
            diagnostics["value_curve"] = {
                "thresholds": curve.thresholds.tolist(),
                "values": curve.values.tolist(),
                "threshold": threshold,
            }
        diagnostics.update(_classification_curves(test.y, predicted))
        calibration = (
            calibrate(training.y[seen], oof[seen], seed=seed)
            if selected.kind != "baseline"
            else None
        )
        # Probabilities are served calibrated when that lowered out-of-fold log loss; the
        # reliability shown is that of the probabilities a user will get. Decisions keep using
        # the threshold on the model's own score, so calibration never changes a decision.
        calibrated = (
            calibration.apply(predicted)
            if calibration and calibration.method != "none"
            else predicted
        )
        bins = reliability(test.y, calibrated)
        diagnostics["calibration"] = {
            "bins": [
                {"score": float(s), "rate": float(r), "rows": int(n)}
                for s, r, n in zip(bins.bin_mean_score, bins.bin_rate, bins.bin_count, strict=True)
                if n > 0
            ],
            "ece": bins.ece,
            "message": bins.message,
            "method": calibration.method if calibration else "none",
            "params": calibration.params if calibration else {},
            "log_loss_before": calibration.log_loss_before if calibration else None,
            "log_loss_after": calibration.log_loss_after if calibration else None,
            "test_log_loss": log_loss(test.y, predicted),
            "test_log_loss_calibrated": log_loss(test.y, calibrated),
        }
    fit = fit_gap(selected.train_value, selected.cv_mean, metric=result.metric)
    diagnostics["fit"] = {"train": fit.train, "validation": fit.valid, "message": fit.message}
    if fit.overfit:
        warnings.append(fit.message)
    baseline = next((c for c in result.candidates if c.kind == "baseline"), None)
    learning = (
        _learning_curve(model, training, value, seed=seed) if selected.kind != "baseline" else []
    )
    if learning:
        diagnostics["learning_curve"] = {
            "metric": result.metric,
            "points": [{"rows": rows, "score": score, "std": 0.0} for rows, score in learning],
        }
    if baseline is not None and selected.kind != "baseline":
        under = underfit(
            selected.cv_mean, baseline.cv_mean, metric=result.metric, curve=learning or None
        )
        diagnostics["underfit"] = under.message
        if under.no_better or under.still_rising:
            warnings.append(under.message)
    if selected.kind != "baseline":
        importance = permutation_importance(
            lambda X: model.predict(replace(test, X=X)), test.X, test.y, value, repeats=3, seed=seed
        )
        contributions = contributions_of(model, test, background=training)
        shares = mean_abs_contributions(contributions) if contributions is not None else {}
        diagnostics["importance"] = {
            "permutation": {k: [float(m), float(s)] for k, (m, s) in importance.items()},
            "contributions": {k: float(v) for k, v in shares.items()},
        }
        score_metric = "roc_auc" if task == "classification" else "r2"
        leak = leakage_recheck(
            selected.test_metrics.get(score_metric, float("nan")),
            shares or {k: max(m, 0.0) for k, (m, _) in importance.items()},
            metric=score_metric,
        )
        if leak:
            diagnostics["leakage"] = leak
            warnings.append(leak)
        if contributions is not None:
            diagnostics["reasons"] = _examples(contributions, test, predicted, threshold, charter)
    decisions = (predicted >= threshold).astype(np.int8) if threshold is not None else None
    found = segments(
        test.y,
        predicted,
        decisions,
        test.X,
        columns=[c for c in charter.data.sensitive if c in test.X.columns],
        task=task,
        max_fairness_gap=charter.constraints.max_fairness_gap or 0.1,
    )
    diagnostics["segments"] = [_segment(s) for s in found]
    # Uneven decisions across ordinary features are the model doing its job; across sensitive
    # groups they are a fairness question for the owner.
    warnings += [s.message for s in found if s.exceeds and s.sensitive]
    final = replace(result, diagnostics=diagnostics, warnings=tuple(dict.fromkeys(warnings)))
    return replace(trained, result=final)


def _learning_curve(
    model: Candidate,
    training: ModelingFrame,
    value: Callable[[np.ndarray, np.ndarray], float],
    *,
    seed: int,
) -> list[tuple[float, float]]:
    """The selected candidate refitted on growing shares of the last fold's training rows."""
    last = cv_scheme(training, seed=seed).folds[-1]
    valid = training.subset(last.valid)
    order = np.random.default_rng(seed).permutation(last.train)
    points = []
    for share in _CURVE_SHARES:
        rows = np.sort(order[: max(int(len(order) * share), 20)])
        try:
            fitted = model.fit(training.subset(rows))
        except CharterError:
            continue  # too few rows of a class in a small share: that point is left out
        points.append((float(len(rows)), float(value(valid.y, fitted.predict(valid)))))
    return points


def contributions_of(
    model: Candidate, frame: ModelingFrame, *, background: ModelingFrame | None = None
) -> Contributions | None:
    """Per-feature contributions that add up to the model's raw output; None for other kinds."""
    if isinstance(model, BoostedCandidate) and model.booster_ is not None:
        found = tree_contributions(model.booster_, model.prepare(frame))
        return replace(found, features=tuple(model.features_))
    if isinstance(model, SimpleCandidate) and model.pipeline_ is not None:
        X = select_features(frame, model.features_, name=model.name)
        base = None
        if background is not None:
            base = select_features(background, model.features_, name=model.name).head(
                _BACKGROUND_ROWS
            )
        return linear_contributions(model.pipeline_, X, background=base)
    return None


def _classification_curves(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    if len(np.unique(y)) < 2:
        return {}
    fpr, tpr, _ = roc_curve(y, scores)
    precision, recall, _ = precision_recall_curve(y, scores)
    keep_roc = _thin(len(fpr))
    keep_pr = _thin(len(recall))
    return {
        "roc": {"fpr": fpr[keep_roc].tolist(), "tpr": tpr[keep_roc].tolist()},
        "pr": {"recall": recall[keep_pr].tolist(), "precision": precision[keep_pr].tolist()},
    }


def _thin(length: int) -> np.ndarray:
    if length <= _CURVE_POINTS:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, _CURVE_POINTS).round().astype(int))


def _examples(
    contributions: Contributions,
    test: ModelingFrame,
    predicted: np.ndarray,
    threshold: float | None,
    charter: Charter,
) -> list[dict[str, Any]]:
    order = np.argsort(predicted, kind="stable")
    picks = dict.fromkeys([int(order[-1]), int(order[len(order) // 2]), int(order[0])])
    examples = []
    shown = _for_people(
        select_features(test, list(contributions.features), name="selected"), test.feature_types
    )
    for row in list(picks)[:_EXAMPLES]:
        why = reasons(
            contributions,
            row,
            shown,
            task=test.task,
            positive_class=test.positive_class,
            target=charter.target,
        )
        decision = ""
        if threshold is not None:
            decision = "act" if predicted[row] >= threshold else "do not act"
        examples.append(
            {
                "row": row,
                "score": float(predicted[row]),
                "decision": decision,
                "reasons": [r.text for r in why],
            }
        )
    return examples


def _for_people(X: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Features as a person reads them: dates back from days since 1970 to calendar dates."""
    shown = X.copy()
    for name, kind in types.items():
        if kind == "date" and name in shown.columns:
            shown[name] = pd.to_datetime(shown[name], unit="D").dt.date
    return shown


def _segment(result: Any) -> dict[str, Any]:
    groups = []
    for g in result.groups:
        groups.append({k: v for k, v in vars(g).items() if v is not None})
    return {
        "column": result.column,
        "sensitive": result.sensitive,
        "groups": groups,
        "too_small": list(result.too_small),
        "gap_metric": result.gap_metric,
        "gap": result.gap,
        "exceeds": result.exceeds,
        "message": result.message,
    }
