"""Compiled trees: LightGBM's predictions bit for bit, cached per machine, refused when wrong.

The independent computation is LightGBM's own `Booster.predict` on the same matrix: every
comparison is exact equality (no tolerance), over matrices with missing values, infinities,
values beyond the training range and categories never seen.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from charter.api import Project
from charter.serving._batch import batches_of_file, score_batch
from charter.serving._forest import compiled_forest, forest_cache
from charter.serving._service import deploy

pytest.importorskip("lleaves")

FEATURES = 6  # 0-3 numbers, 4-5 categories


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CHARTER_COMPILED_TREES", raising=False)
    return tmp_path / "cache" / "forests"


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    X[:, 4] = rng.integers(0, 7, rows)
    X[:, 5] = rng.integers(0, 3, rows)
    X[rng.random((rows, FEATURES)) < 0.08] = np.nan
    signal = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1] * X[:, 2]) + (X[:, 4] == 3)
    return X, signal + rng.normal(scale=0.5, size=rows)


def _booster(objective: str, seed: int = 0, rounds: int = 60) -> lgb.Booster:
    X, y = _data(3_000, seed)
    label = (y > 0.5).astype(int) if objective == "binary" else y
    params = {"objective": objective, "num_leaves": 15, "verbose": -1, "seed": seed}
    dataset = lgb.Dataset(X, label, categorical_feature=[4, 5])
    return lgb.train(params, dataset, rounds)


@pytest.fixture(scope="module")
def boosters() -> dict[str, lgb.Booster]:
    return {"binary": _booster("binary"), "regression": _booster("regression", seed=1)}


CELLS = st.one_of(
    st.floats(-10, 10),
    st.just(float("nan")),
    st.sampled_from([0.0, -1.0, 3.0, 7.0, 1e9, -1e9, float("inf"), float("-inf")]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    matrix=hnp.arrays(np.float64, st.tuples(st.integers(1, 60), st.just(FEATURES)), elements=CELLS)
)
def test_compiled_trees_give_lightgbms_predictions_bit_for_bit(boosters, matrix) -> None:
    for booster in boosters.values():
        forest = compiled_forest(booster)
        assert forest is not None
        assert np.array_equal(forest.predict(matrix), booster.predict(matrix))


def test_large_matrices_on_several_threads_are_equal_too(boosters) -> None:
    X, _ = _data(50_000, seed=7)
    for booster in boosters.values():
        forest = compiled_forest(booster)
        assert forest is not None
        assert np.array_equal(forest.predict(X, threads=2), booster.predict(X, num_threads=2))


def test_the_cache_is_used_the_second_time(boosters, own_cache) -> None:
    booster = boosters["binary"]
    assert compiled_forest(booster) is not None
    (code,) = own_cache.glob("*.o")
    before = code.stat()
    forest = compiled_forest(booster)
    assert forest is not None
    after = code.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not list(own_cache.glob("*.tmp"))
    X, _ = _data(500, seed=3)
    assert np.array_equal(forest.predict(X), booster.predict(X))


def test_damaged_object_code_is_compiled_again(boosters, own_cache) -> None:
    booster = boosters["regression"]
    assert compiled_forest(booster) is not None
    (code,) = own_cache.glob("*.o")
    whole = code.read_bytes()
    code.write_bytes(whole[: len(whole) // 2])  # a disk that filled up, a copy cut short
    forest = compiled_forest(booster)
    assert forest is not None
    assert code.read_bytes() == whole
    X, _ = _data(500, seed=4)
    assert np.array_equal(forest.predict(X), booster.predict(X))


def test_object_code_of_another_model_is_refused(boosters, own_cache, caplog) -> None:
    first, second = boosters["binary"], _booster("binary", seed=5)
    assert compiled_forest(first) is not None
    (first_code,) = own_cache.glob("*.o")
    assert compiled_forest(second) is not None
    (second_code,) = set(own_cache.glob("*.o")) - {first_code}
    # the second model's cache entry now holds the first model's code, with a matching digest
    second_code.write_bytes(first_code.read_bytes())
    second_code.with_suffix(".sha256").write_bytes(first_code.with_suffix(".sha256").read_bytes())
    with caplog.at_level(logging.WARNING, logger="charter.serving._forest"):
        assert compiled_forest(second) is None
    assert "differ from LightGBM" in caplog.text


def test_switched_off_or_without_a_writable_cache(boosters, tmp_path, monkeypatch) -> None:
    booster = boosters["binary"]
    monkeypatch.setenv("CHARTER_COMPILED_TREES", "off")
    assert compiled_forest(booster) is None
    monkeypatch.delenv("CHARTER_COMPILED_TREES")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache would go")
    monkeypatch.setenv("CHARTER_CACHE", str(blocked))
    forest = compiled_forest(booster)  # compiled in memory instead
    assert forest is not None
    X, _ = _data(200, seed=6)
    assert np.array_equal(forest.predict(X), booster.predict(X))


def test_the_cache_follows_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHARTER_CACHE", str(tmp_path / "c"))
    assert forest_cache() == tmp_path / "c" / "forests"
    monkeypatch.delenv("CHARTER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert forest_cache() == tmp_path / "x" / "charter" / "forests"


def test_batch_scores_are_the_same_with_and_without_compiled_trees(
    serving_demo, tmp_path, monkeypatch
) -> None:
    project = Project(serving_demo.charter)
    batch = serving_demo.charter.parent / "data" / "new_batch.csv"
    outputs = {}
    for setting in ("off", "on"):
        monkeypatch.setenv("CHARTER_COMPILED_TREES", setting)
        deployed = deploy(project, project.version(serving_demo.boosted))
        deployed.scorer.wait_compiled()
        assert deployed.scorer.compiled == (setting == "on")
        out = tmp_path / f"{setting}.parquet"
        _, batches = batches_of_file(batch, 97)
        score_batch(deployed, batches, out, log=None, project="churn")
        outputs[setting] = pq.read_table(out).drop_columns(["prediction_id"])
    assert outputs["on"].num_rows > 0
    assert outputs["on"].equals(outputs["off"])
