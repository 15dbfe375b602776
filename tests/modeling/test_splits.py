from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from charter.errors import CharterError, UsageError
from charter.modeling._frame import ModelingFrame
from charter.modeling._splits import (
    CVScheme,
    Holdout,
    carve_holdout,
    cv_scheme,
    holdout_coverage,
    holdout_mask,
    load_holdout,
    save_holdout,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_frame(
    n: int = 200,
    *,
    task: str = "classification",
    positives: float = 0.3,
    entities: int | None = None,
    periods: int | None = None,
    seed: int = 0,
    row_id: np.ndarray | None = None,
) -> ModelingFrame:
    """A small frame built by hand: `entities` repeating ids, `periods` distinct days."""
    rng = np.random.default_rng(seed)
    if task == "classification":
        y = np.zeros(n, dtype=np.int8)
        y[rng.permutation(n)[: max(1, round(positives * n))]] = 1
    else:
        y = rng.normal(size=n)
    if row_id is None:
        row_id = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64)
    groups = None if entities is None else rng.integers(0, entities, size=n).astype(object)
    time = None
    if periods is not None:
        days = rng.integers(0, periods, size=n)
        time = (np.datetime64("2024-01-01", "ns") + days.astype("timedelta64[D]")).astype(
            "datetime64[ns]"
        )
    classification = task == "classification"
    return ModelingFrame(
        task=task,  # type: ignore[arg-type]
        X=pd.DataFrame({"a": rng.normal(size=n)}),
        y=y,
        row_id=row_id,
        groups=groups,
        time=time,
        baseline=None,
        positive_class="yes" if classification else None,
        classes=("no", "yes") if classification else (),
        dropped={},
    )


def permuted(frame: ModelingFrame, seed: int) -> ModelingFrame:
    return frame.subset(np.random.default_rng(seed).permutation(frame.rows))


def concat(first: ModelingFrame, second: ModelingFrame) -> ModelingFrame:
    def join(a, b):
        return None if a is None else np.concatenate([a, b])

    return ModelingFrame(
        task=first.task,
        X=pd.concat([first.X, second.X], ignore_index=True),
        y=np.concatenate([first.y, second.y]),
        row_id=np.concatenate([first.row_id, second.row_id]),
        groups=join(first.groups, second.groups),
        time=join(first.time, second.time),
        baseline=None,
        positive_class=first.positive_class,
        classes=first.classes,
        dropped={},
    )


def ids_of(frame: ModelingFrame, positions: np.ndarray) -> set[int]:
    return set(frame.row_id[positions].tolist())


def check_partition(scheme: CVScheme, rows: int) -> None:
    seen = np.concatenate([fold.valid for fold in scheme.folds])
    assert np.array_equal(np.sort(seen), np.arange(rows))
    for fold in scheme.folds:
        assert np.array_equal(np.union1d(fold.train, fold.valid), np.arange(rows))
        assert len(np.intersect1d(fold.train, fold.valid)) == 0


# --- the holdout ------------------------------------------------------------------------------


def test_regression_without_time_or_entity_holds_out_a_random_share():
    frame = make_frame(500, task="regression")
    holdout = carve_holdout(frame, share=0.2, seed=3)
    assert holdout.scheme == "random"
    assert holdout.rows == 100 and holdout.share == pytest.approx(0.2)
    assert holdout.cutoff is None
    assert holdout.row_ids.dtype == np.uint64
    assert np.all(np.diff(holdout.row_ids.astype(np.float64)) > 0)  # sorted, distinct
    assert holdout_mask(frame, holdout).sum() == 100
    assert "random" in holdout.reason


def test_same_seed_same_holdout_other_seed_other_holdout():
    frame = make_frame(300)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first = carve_holdout(frame, seed=7, now=now)
    assert first == carve_holdout(frame, seed=7, now=now)
    assert not np.array_equal(first.row_ids, carve_holdout(frame, seed=8, now=now).row_ids)


@FAST
@given(
    n=st.integers(40, 400),
    positives=st.floats(0.1, 0.9),
    share=st.floats(0.1, 0.5),
    seed=st.integers(0, 2**40),
)
def test_stratified_holdout_keeps_each_class_share_within_a_row(n, positives, share, seed):
    frame = make_frame(n, positives=positives, seed=seed % 1000)
    try:
        holdout = carve_holdout(frame, share=share, seed=seed)
    except UsageError:
        assume(False)
    assert holdout.scheme == "stratified"
    mask = holdout_mask(frame, holdout)
    assert abs(mask.sum() - share * n) <= 1
    for value in (0, 1):
        members = frame.y == value
        assert abs(mask[members].sum() - share * members.sum()) <= 1


@FAST
@given(n=st.integers(40, 300), entities=st.integers(5, 60), seed=st.integers(0, 10**6))
def test_grouped_holdout_never_splits_an_entity(n, entities, seed):
    frame = make_frame(n, entities=entities, task="regression", seed=seed)
    assume(len(set(frame.groups)) >= 2)
    holdout = carve_holdout(frame, seed=seed)
    assert holdout.scheme == "grouped"
    mask = holdout_mask(frame, holdout)
    assert not set(frame.groups[mask]) & set(frame.groups[~mask])


@FAST
@given(n=st.integers(40, 300), periods=st.integers(2, 40), share=st.floats(0.1, 0.5))
def test_time_holdout_is_the_latest_period_and_keeps_timestamps_whole(n, periods, share):
    frame = make_frame(n, task="regression", periods=periods, entities=10)
    assume(len(np.unique(frame.time)) >= 2)
    holdout = carve_holdout(frame, share=share)
    assert holdout.scheme == "time"  # time wins over repeating entities
    mask = holdout_mask(frame, holdout)
    assert frame.time[mask].min() > frame.time[~mask].max()
    assert holdout.cutoff == pd.Timestamp(frame.time[mask].min()).isoformat()
    assert holdout.cutoff in holdout.reason


def test_time_holdout_takes_the_period_closest_to_the_share():
    days = np.repeat(np.arange(10), 10)  # ten days of ten rows
    frame = make_frame(100, task="regression")
    time = np.datetime64("2024-03-01", "ns") + days.astype("timedelta64[D]")
    frame = ModelingFrame(**{**frame.__dict__, "time": time.astype("datetime64[ns]")})
    holdout = carve_holdout(frame, share=0.2)
    assert holdout.rows == 20
    assert holdout.cutoff == "2024-03-09T00:00:00"


def test_rows_without_a_time_always_train():
    frame = make_frame(100, task="regression", periods=10)
    time = frame.time.copy()
    time[:7] = np.datetime64("NaT")
    frame = ModelingFrame(**{**frame.__dict__, "time": time})
    mask = holdout_mask(frame, carve_holdout(frame))
    assert not mask[:7].any()
    scheme = cv_scheme(frame.subset(np.flatnonzero(~mask)), folds=3)
    for fold in scheme.folds:
        assert set(range(7)) <= set(fold.train.tolist())
    assert "7 rows without a time" in scheme.reason


def test_identical_rows_stay_on_the_same_side():
    frame = make_frame(100, task="regression")
    row_id = frame.row_id.copy()
    row_id[50:] = row_id[:50]  # every row twice
    frame = ModelingFrame(**{**frame.__dict__, "row_id": row_id})
    holdout = carve_holdout(frame)
    mask = holdout_mask(frame, holdout)
    assert np.array_equal(mask[:50], mask[50:])
    assert holdout.rows == 2 * len(holdout.row_ids)
    for fold in cv_scheme(frame, folds=4).folds:
        assert not ids_of(frame, fold.train) & ids_of(frame, fold.valid)


@FAST
@given(
    entities=st.one_of(st.none(), st.integers(5, 40)),
    task=st.sampled_from(["classification", "regression"]),
    seed=st.integers(0, 1000),
)
def test_holdout_does_not_depend_on_row_order(entities, task, seed):
    frame = make_frame(150, entities=entities, task=task, seed=seed)
    try:
        holdout = carve_holdout(frame, seed=seed)
    except UsageError:
        assume(False)
    assert np.array_equal(holdout.row_ids, carve_holdout(permuted(frame, seed), seed=seed).row_ids)


def test_recorded_holdout_survives_shuffled_appended_and_shrunk_data(tmp_path):
    frame = make_frame(300, entities=50)
    holdout = carve_holdout(frame, seed=1)
    path = save_holdout(holdout, tmp_path / "holdout.parquet")
    recorded = load_holdout(path)
    later = concat(permuted(frame, 5), make_frame(100, entities=50, seed=9))
    mask = holdout_mask(later, recorded)
    assert set(later.row_id[mask].tolist()) == set(holdout.row_ids.tolist())
    assert not mask[300:].any()  # rows added since are training rows
    assert holdout_coverage(later, recorded) == (len(holdout.row_ids), len(holdout.row_ids))
    shrunk = later.subset(np.flatnonzero(~mask)[:10].tolist() + np.flatnonzero(mask)[5:].tolist())
    assert holdout_coverage(shrunk, recorded) == (len(holdout.row_ids) - 5, len(holdout.row_ids))


def test_holdout_rows_never_reach_cross_validation():
    frame = make_frame(400, entities=80)
    holdout = carve_holdout(frame)
    training = frame.subset(np.flatnonzero(~holdout_mask(frame, holdout)))
    held = set(holdout.row_ids.tolist())
    for fold in cv_scheme(training).folds:
        assert not (ids_of(training, fold.train) | ids_of(training, fold.valid)) & held


def test_created_is_utc():
    frame = make_frame(100)
    local = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert carve_holdout(frame, now=local).created == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert carve_holdout(frame).created.tzinfo == UTC


# --- refusals ---------------------------------------------------------------------------------


def test_refuses_too_few_rows():
    with pytest.raises(UsageError, match="19 rows"):
        carve_holdout(make_frame(19))


def test_refuses_a_class_too_small_for_both_sides():
    frame = make_frame(100, positives=0.03)  # three positives: one would be left for training
    with pytest.raises(UsageError, match="class 'yes'"):
        carve_holdout(frame, share=0.5)


def test_refuses_a_single_time_or_a_single_entity_or_a_bad_share():
    frame = make_frame(50, task="regression", periods=1)
    with pytest.raises(UsageError, match="same data.time"):
        carve_holdout(frame)
    one = ModelingFrame(**{**make_frame(50, task="regression").__dict__, "groups": np.ones(50)})
    with pytest.raises(UsageError, match="one entity"):
        carve_holdout(one)
    with pytest.raises(UsageError, match="share=1.5"):
        carve_holdout(make_frame(50), share=1.5)


def test_cv_refuses_too_little_data_or_folds():
    with pytest.raises(UsageError, match="9 rows"):
        cv_scheme(make_frame(9, task="regression"))
    with pytest.raises(UsageError, match="folds=1"):
        cv_scheme(make_frame(100), folds=1)
    with pytest.raises(UsageError, match="2 cross-validation folds"):
        cv_scheme(make_frame(50, positives=0.02))  # a single positive


# --- save and load ----------------------------------------------------------------------------


def test_save_load_round_trip_leaves_no_temporary(tmp_path):
    frame = make_frame(100, task="regression", periods=12)
    holdout = carve_holdout(frame, seed=4)
    path = save_holdout(holdout, tmp_path / "sub" / "holdout.parquet")
    assert load_holdout(path) == holdout
    save_holdout(carve_holdout(make_frame(60)), path)  # replaced whole
    assert load_holdout(path).scheme == "stratified"
    assert [p.name for p in path.parent.iterdir()] == ["holdout.parquet"]


def test_load_says_what_is_wrong(tmp_path):
    with pytest.raises(CharterError, match="does not exist"):
        load_holdout(tmp_path / "missing.parquet")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_text("not parquet")
    with pytest.raises(CharterError, match="cannot be read"):
        load_holdout(garbage)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"row_id": pa.array([1, 2], type=pa.uint64())}), plain)
    with pytest.raises(CharterError, match="cannot be read"):
        load_holdout(plain)


def test_holdout_of_an_empty_recording_masks_nothing():
    frame = make_frame(30)
    empty = Holdout(
        row_ids=np.array([], dtype=np.uint64),
        scheme="random",
        reason="",
        share=0.0,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        rows=0,
        cutoff=None,
    )
    assert not holdout_mask(frame, empty).any()
    assert holdout_coverage(frame, empty) == (0, 0)


# --- cross-validation -------------------------------------------------------------------------


@FAST
@given(n=st.integers(50, 400), positives=st.floats(0.1, 0.5), seed=st.integers(0, 10**6))
def test_stratified_folds_keep_class_shares_within_a_row(n, positives, seed):
    frame = make_frame(n, positives=positives, seed=seed % 997)
    scheme = cv_scheme(frame, folds=5, seed=seed)
    assert scheme.kind == "stratified" and len(scheme.folds) == 5
    check_partition(scheme, n)
    sizes = [len(f.valid) for f in scheme.folds]
    assert max(sizes) - min(sizes) <= 2  # within a row per class
    total = frame.y.sum()
    for fold in scheme.folds:
        assert abs(frame.y[fold.valid].sum() - total / 5) <= 1


def test_regression_folds_are_random_k_fold():
    frame = make_frame(103, task="regression")
    scheme = cv_scheme(frame, folds=5)
    assert scheme.kind == "kfold"
    check_partition(scheme, 103)
    assert sorted(len(f.valid) for f in scheme.folds) == [20, 20, 21, 21, 21]
    assert not np.array_equal(scheme.folds[0].valid, np.arange(21))  # shuffled, not in order


@FAST
@given(
    n=st.integers(60, 300),
    entities=st.integers(10, 80),
    task=st.sampled_from(["classification", "regression"]),
    seed=st.integers(0, 10**6),
)
def test_grouped_folds_never_put_an_entity_in_two_folds(n, entities, task, seed):
    frame = make_frame(n, entities=entities, task=task, seed=seed % 991)
    assume(len(set(frame.groups)) < n)
    try:
        scheme = cv_scheme(frame, folds=5, seed=seed)
    except UsageError:
        assume(False)
    assert scheme.kind == "grouped"
    check_partition(scheme, n)
    owner: dict[object, int] = {}
    for number, fold in enumerate(scheme.folds):
        assert not set(frame.groups[fold.train]) & set(frame.groups[fold.valid])
        for entity in set(frame.groups[fold.valid]):
            assert owner.setdefault(entity, number) == number


@FAST
@given(
    n=st.integers(30, 300),
    periods=st.integers(3, 60),
    folds=st.integers(2, 6),
    task=st.sampled_from(["classification", "regression"]),
)
def test_time_folds_validate_on_a_later_period_than_they_train_on(n, periods, folds, task):
    frame = make_frame(n, periods=periods, task=task, entities=5)
    try:
        scheme = cv_scheme(frame, folds=folds)
    except UsageError:
        assume(False)
    assert scheme.kind == "time" and 2 <= len(scheme.folds) <= folds
    previous = scheme.folds[0].train
    for fold in scheme.folds:
        assert frame.time[fold.valid].min() > frame.time[fold.train].max()
        assert np.array_equal(fold.train, previous)  # the window expands by the last period
        previous = np.union1d(fold.train, fold.valid)
    assert len(previous) == n


def test_time_folds_cut_into_equal_blocks():
    frame = make_frame(120, task="regression", periods=60, seed=2)
    time = np.datetime64("2024-01-01", "ns") + np.arange(120).astype("timedelta64[h]")
    frame = ModelingFrame(**{**frame.__dict__, "time": time.astype("datetime64[ns]")})
    scheme = cv_scheme(frame, folds=5)
    assert [len(f.valid) for f in scheme.folds] == [20] * 5
    assert [len(f.train) for f in scheme.folds] == [20, 40, 60, 80, 100]
    assert scheme.reason.startswith("time-ordered: data.time is set")


def test_small_data_gets_fewer_folds_and_says_why():
    frame = make_frame(100, positives=0.03)
    scheme = cv_scheme(frame, folds=5)
    assert len(scheme.folds) == 3
    assert "3 folds instead of 5 because one class appears in only 3 rows" in scheme.reason
    small = cv_scheme(make_frame(12, task="regression"), folds=5)
    assert len(small.folds) == 2 and "only 12 rows" in small.reason


@FAST
@given(
    entities=st.one_of(st.none(), st.integers(10, 50)),
    task=st.sampled_from(["classification", "regression"]),
    seed=st.integers(0, 1000),
)
def test_folds_are_deterministic_and_follow_rows_not_positions(entities, task, seed):
    frame = make_frame(150, entities=entities, task=task, seed=seed)
    scheme = cv_scheme(frame, seed=seed)
    assert scheme == cv_scheme(frame, seed=seed)
    shuffled = permuted(frame, seed + 1)
    moved = cv_scheme(shuffled, seed=seed)
    assert [ids_of(frame, f.valid) for f in scheme.folds] == [
        ids_of(shuffled, f.valid) for f in moved.folds
    ]


def test_time_zones_and_units_other_than_nanoseconds_give_the_right_cutoff():
    frame = make_frame(40, task="regression")
    days = pd.date_range("2024-05-01", periods=40, freq="D", tz="Europe/Paris", unit="us")
    zoned = ModelingFrame(**{**frame.__dict__, "time": days.to_numpy(dtype=object)})
    holdout = carve_holdout(zoned, share=0.25)
    assert holdout.cutoff == "2024-05-31T00:00:00+02:00"
    assert holdout.rows == 10


def test_copies_of_rows_count_once_when_choosing_the_number_of_folds():
    frame = make_frame(40, task="regression")
    row_id = np.tile(frame.row_id[:3], 14)[:40]  # three distinct rows, many copies
    frame = ModelingFrame(**{**frame.__dict__, "row_id": row_id})
    scheme = cv_scheme(frame, folds=5)
    assert len(scheme.folds) == 3 and "only 3 distinct rows" in scheme.reason


def test_grouped_reason_reads_as_one_sentence():
    frame = make_frame(200, entities=40, positives=0.05, seed=3)
    scheme = cv_scheme(frame, folds=20)
    assert scheme.reason.startswith(
        "grouped: an entity (data.entity) appears in several rows, so all of an entity's rows "
        "stay in one fold, with class shares kept as far as the entities allow; "
    )
    assert f"{len(scheme.folds)} folds instead of 20 because" in scheme.reason
