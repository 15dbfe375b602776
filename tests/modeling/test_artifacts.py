"""Saved candidates load back with identical predictions; changed or foreign artifacts are refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from charter.errors import CharterError, UsageError
from charter.modeling._artifacts import MANIFEST, load_candidate, save_candidate
from charter.modeling._baseline import BaselineCandidate
from charter.modeling._boosted import BoostedCandidate
from charter.modeling._frame import ModelingFrame
from charter.modeling._simple import CustomCandidate, SimpleCandidate


def make_frame(task: str = "classification", *, rows: int = 300, seed: int = 0) -> ModelingFrame:
    """Numbers with gaps, a category, a 0/1 rule; unseen categories appear in the last rows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    b = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows))
    c = rng.choice(["monthly", "yearly", "two-year"], size=rows).astype(object)
    c[-5:] = "brand new"
    c[-3:] = None
    signal = a + np.nan_to_num(b) + np.where(c == "monthly", 1.0, 0.0)
    y = (signal > 0.3).astype(np.int8) if task == "classification" else signal
    return ModelingFrame(
        task=task,  # type: ignore[arg-type]
        X=pd.DataFrame({"a": a, "b": b, "c": pd.Series(c).astype("category")}),
        y=y,
        row_id=np.arange(rows, dtype=np.uint64),
        groups=None,
        time=None,
        baseline=(a > 0).astype(np.float64),
        positive_class="yes" if task == "classification" else None,
        classes=("no", "yes") if task == "classification" else (),
        dropped={},
    )


TRAIN = np.arange(250)

CANDIDATES = {
    "baseline-rule": lambda task: BaselineCandidate(task, has_rule=True),
    "baseline-constant": lambda task: BaselineCandidate(task, has_rule=False),
    "simple": lambda task: SimpleCandidate(task),
    "boosted": lambda task: BoostedCandidate(task, budget_seconds=1.0, max_trials=2),
}


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("which", sorted(CANDIDATES))
def test_saved_candidates_load_with_identical_predictions(
    tmp_path: Path, task: str, which: str
) -> None:
    frame = make_frame(task)
    fitted = CANDIDATES[which](task).fit(frame.subset(TRAIN))
    manifest = save_candidate(fitted, tmp_path / which)
    loaded = load_candidate(tmp_path / which, expected=manifest)
    assert type(loaded) is type(fitted) and loaded.name == fitted.name
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))
    np.testing.assert_array_equal(loaded.raw_output(frame), fitted.raw_output(frame))
    assert loaded.params() == fitted.params()


def test_the_manifest_names_each_file_with_its_sha256(tmp_path: Path) -> None:
    fitted = BoostedCandidate("classification", budget_seconds=1.0, max_trials=1).fit(make_frame())
    manifest = save_candidate(fitted, tmp_path)
    assert manifest["kind"] == "boosted" and set(manifest["files"]) == {
        "model.txt",
        "candidate.json",
    }
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    assert json.loads((tmp_path / MANIFEST).read_text()) == manifest
    assert manifest["versions"]["lightgbm"]
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.tmp"))


def test_a_custom_scikit_learn_estimator_round_trips(tmp_path: Path) -> None:
    frame = make_frame()
    forest = CustomCandidate(RandomForestClassifier(n_estimators=10, random_state=0), name="forest")
    fitted = forest.fit(frame.subset(TRAIN))
    save_candidate(fitted, tmp_path)
    loaded = load_candidate(tmp_path)
    assert isinstance(loaded, CustomCandidate) and loaded.name == "forest"
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))


def test_a_custom_estimator_without_preprocessing_round_trips(tmp_path: Path) -> None:
    frame = make_frame()
    model = HistGradientBoostingClassifier(
        max_iter=10, categorical_features="from_dtype", random_state=0
    )
    fitted = CustomCandidate(model, name="hgb", preprocess=False).fit(frame.subset(TRAIN))
    save_candidate(fitted, tmp_path)
    loaded = load_candidate(tmp_path)
    assert loaded.preprocess is False
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))


class MeanRegressor(RegressorMixin, BaseEstimator):
    """A user's own estimator: its type is outside scikit-learn, NumPy and SciPy."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_a_custom_estimator_of_a_foreign_type_is_not_saved_unless_trusted(tmp_path: Path) -> None:
    frame = make_frame("regression")
    fitted = CustomCandidate(MeanRegressor(), name="mean").fit(frame)
    with pytest.raises(UsageError, match="cannot be saved safely.*MeanRegressor"):
        save_candidate(fitted, tmp_path / "refused")
    assert not (tmp_path / "refused" / MANIFEST).exists()
    own = f"{MeanRegressor.__module__}.MeanRegressor"
    save_candidate(fitted, tmp_path / "trusted", trusted=[own])
    with pytest.raises(CharterError, match="does not trust.*MeanRegressor"):
        load_candidate(tmp_path / "trusted")
    loaded = load_candidate(tmp_path / "trusted", trusted=[own])
    np.testing.assert_array_equal(loaded.predict(frame), fitted.predict(frame))


def test_an_estimator_skops_cannot_represent_is_refused(tmp_path: Path) -> None:
    class Local(MeanRegressor):  # defined in a function: no importable path for skops
        pass

    fitted = CustomCandidate(Local(), name="local").fit(make_frame("regression"))
    with pytest.raises(UsageError, match="cannot be saved safely"):
        save_candidate(fitted, tmp_path)


@pytest.mark.parametrize("name", ["model.txt", "candidate.json"])
def test_a_changed_file_is_refused(tmp_path: Path, name: str) -> None:
    fitted = BoostedCandidate("classification", budget_seconds=1.0, max_trials=1).fit(make_frame())
    save_candidate(fitted, tmp_path)
    path = tmp_path / name
    path.write_bytes(path.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(CharterError, match=f"{name} does not match its SHA-256"):
        load_candidate(tmp_path)


def test_a_changed_skops_pipeline_is_refused(tmp_path: Path) -> None:
    fitted = SimpleCandidate("classification").fit(make_frame())
    save_candidate(fitted, tmp_path)
    (tmp_path / "pipeline.skops").write_bytes(b"PK\x03\x04 not the saved pipeline")
    with pytest.raises(CharterError, match="SHA-256"):
        load_candidate(tmp_path)


def test_a_missing_file_or_manifest_is_refused(tmp_path: Path) -> None:
    fitted = BaselineCandidate("classification", has_rule=False).fit(make_frame())
    save_candidate(fitted, tmp_path)
    (tmp_path / "baseline.json").unlink()
    with pytest.raises(CharterError, match="baseline.json is missing"):
        load_candidate(tmp_path)
    with pytest.raises(CharterError, match="manifest.json is missing"):
        load_candidate(tmp_path / "elsewhere")


def test_a_manifest_rewritten_with_its_files_is_refused_against_the_recorded_one(
    tmp_path: Path,
) -> None:
    fitted = BaselineCandidate("regression", has_rule=False).fit(make_frame("regression"))
    recorded = save_candidate(fitted, tmp_path)
    state = json.loads((tmp_path / "baseline.json").read_text())
    state["fallback"] = 1e9
    data = json.dumps(state).encode()
    (tmp_path / "baseline.json").write_bytes(data)
    rewritten = dict(recorded, files={"baseline.json": hashlib.sha256(data).hexdigest()})
    (tmp_path / MANIFEST).write_text(json.dumps(rewritten))
    assert load_candidate(tmp_path).predict(make_frame("regression"))[0] == 1e9
    with pytest.raises(CharterError, match="differs from the manifest recorded"):
        load_candidate(tmp_path, expected=recorded)


def test_a_manifest_pointing_outside_its_folder_is_refused(tmp_path: Path) -> None:
    fitted = BaselineCandidate("classification", has_rule=False).fit(make_frame())
    manifest = save_candidate(fitted, tmp_path / "model")
    (tmp_path / "outside.json").write_bytes((tmp_path / "model" / "baseline.json").read_bytes())
    manifest["files"]["../outside.json"] = manifest["files"]["baseline.json"]
    (tmp_path / "model" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CharterError, match="not a file name"):
        load_candidate(tmp_path / "model")


def test_an_unfitted_candidate_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not fitted"):
        save_candidate(SimpleCandidate("classification"), tmp_path)
