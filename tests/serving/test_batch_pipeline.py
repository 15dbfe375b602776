"""Batch scoring's fast path: chunks scored in overlap, features kept in Arrow, Parquet read by pyarrow.

What is checked: cutting the input into chunks of any size (one of them all bad) changes no score,
flag, decision or row order; a Parquet file (categories stored as dictionaries, text as large
strings) scores exactly like the same rows in CSV, read by DuckDB; the matrix made from Arrow is
bit for bit the one the record-by-record path makes; humility bits from Arrow are the ones
`Humility.codes` gives. Independent computations: the general paths (`Scorer.columns` +
`_matrix_of`, `Humility.codes`) and a run in one chunk.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.api import Project
from charter.data import read_file
from charter.serving._batch import batches_of_file, score_batch
from charter.serving._humility import FLAGS, Humility
from charter.serving._log import PredictionLog, read_log
from charter.serving._scorer import Scorer
from charter.serving._service import Deployed, deploy

ENTITY = "customer_id"
COMPARED = ["score", "decision", "fallback", "flags", "version"]


def batch_table(demo) -> pa.Table:
    return read_file(demo.charter.parent / "data" / "new_batch.csv").to_arrow()


def deployed_of(demo) -> Deployed:
    project = Project(demo.charter)
    return deploy(project, project.version(demo.boosted))


def bad_first(deployed: Deployed, table: pa.Table) -> tuple[pa.Table, int]:
    """The table with its rows that break the contract moved to the front, and their count."""
    good = deployed.checker.check_table(table).good
    order = np.concatenate([np.flatnonzero(~good), np.flatnonzero(good)])
    return table.take(pa.array(order)), int((~good).sum())


def run(deployed: Deployed, source: Path, out: Path, chunk_rows: int, log: PredictionLog | None):
    seen: list[int] = []
    _, batches = batches_of_file(source, chunk_rows)
    result = score_batch(deployed, batches, out, log=log, project="churn", on_rows=seen.append)
    return result, seen


def test_chunks_of_any_size_give_the_same_rows_in_the_same_order(serving_demo, tmp_path):
    deployed = deployed_of(serving_demo)
    table, bad = bad_first(deployed, batch_table(serving_demo))
    assert bad == 12
    source = tmp_path / "batch.parquet"
    pq.write_table(table, source)
    whole, _ = run(deployed, source, tmp_path / "whole.parquet", 10_000, None)
    expected = pq.read_table(tmp_path / "whole.parquet")
    assert expected.num_rows == whole.scored == 1988
    for chunk_rows in (bad, 7, 333, 1999):  # `bad`: the first chunk is all quarantined
        out = tmp_path / f"chunks-{chunk_rows}.parquet"
        with PredictionLog(tmp_path / f"log-{chunk_rows}") as log:
            result, seen = run(deployed, source, out, chunk_rows, log)
        assert (result.rows, result.scored, result.quarantined) == (2000, 1988, 12)
        assert result.problems == whole.problems
        assert sum(seen) == 2000 and len(seen) == -(-2000 // chunk_rows)
        scored = pq.read_table(out)
        assert scored.column(ENTITY).equals(expected.column(ENTITY))  # input order kept
        for name in COMPARED:
            assert scored.column(name).equals(expected.column(name)), (chunk_rows, name)
        ids = scored.column("prediction_id").to_pylist()
        assert len(set(ids)) == len(ids)
        quarantine = pq.read_table(tmp_path / f"chunks-{chunk_rows}.quarantine.parquet")
        assert quarantine.num_rows == 12
        everything = read_log(tmp_path / f"log-{chunk_rows}")
        logged = everything.filter(pc.is_null(everything.column("problems")))
        assert (logged.num_rows, everything.num_rows) == (1988, 2000)  # + 12 refused
        by_id = dict(
            zip(logged.column("prediction_id").to_pylist(), logged.to_pylist(), strict=True)
        )
        for row in scored.to_pylist():
            entry = by_id[row["prediction_id"]]
            assert entry["score"] == row["score"] and entry["decision"] == row["decision"]
            assert entry["flags"] == row["flags"] and entry["entity"] == str(row[ENTITY])
            assert entry["source"] == "batch" and entry["version"] == serving_demo.boosted
            for feature in deployed.scorer.features:  # what the model read, as served rows
                kind = deployed.scorer.feature_types.get(feature, "number")
                if kind == "category":
                    assert entry[f"x.{feature}"] == row[feature]
                elif kind == "number":
                    value = row[feature]
                    if isinstance(value, str):  # a CSV column of numbers with blanks
                        value = value.strip() or None
                    logged_value = entry[f"x.{feature}"]
                    if value is None:  # batch rows log a missing number as NaN, as before
                        assert logged_value is None or math.isnan(logged_value)
                    else:
                        assert logged_value == float(value)


def test_a_parquet_file_scores_like_the_same_rows_in_csv(serving_demo, tmp_path):
    table = batch_table(serving_demo)
    # how other tools store text: categories as dictionaries, text as large strings
    parquet = table
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type):
            column = table.column(index)
            stored = (
                pc.dictionary_encode(column)
                if field.name in ("contract", "payment_method", "region")
                else column.cast(pa.large_string())
            )
            parquet = parquet.set_column(index, field.name, stored)
    source = tmp_path / "batch.parquet"
    pq.write_table(parquet, source)
    assert any(pa.types.is_dictionary(t) for t in pq.read_schema(source).types)
    project = Project(serving_demo.charter)
    from_parquet = project.score(source, tmp_path / "p.parquet", log=False)
    from_csv = project.score(
        serving_demo.charter.parent / "data" / "new_batch.csv", tmp_path / "c.parquet", log=False
    )
    assert from_parquet.to_dict() | {"seconds": 0, "output": ""} == from_csv.to_dict() | {
        "seconds": 0,
        "output": "",
        "quarantine": from_parquet.to_dict()["quarantine"],
    }
    a = pq.read_table(tmp_path / "p.parquet")
    b = pq.read_table(tmp_path / "c.parquet")
    assert a.column(ENTITY).equals(b.column(ENTITY))
    for name in COMPARED:
        assert a.column(name).equals(b.column(name)), name
    assert (
        pq.read_table(tmp_path / "p.quarantine.parquet")
        .column("_violations")
        .equals(pq.read_table(tmp_path / "c.quarantine.parquet").column("_violations"))
    )


# --- the matrix and the humility bits, against the general paths ------------------------------


def _feature_values(scorer: Scorer, feature: str) -> st.SearchStrategy[Any]:
    kind = scorer.feature_types.get(feature, "number")
    if kind == "category":
        known = sorted(scorer._codes.get(feature, {}))
        return st.one_of(
            st.none(),
            st.sampled_from(known or ["a"]),
            st.sampled_from(["never seen", "", "TRUE", "False", "true"]),
        )
    if kind == "date":
        return st.one_of(st.none(), st.integers(-20_000, 40_000))
    return st.one_of(
        st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-5, 5)
    )


@st.composite
def feature_tables(draw: st.DrawFn, scorer: Scorer) -> pa.Table:
    rows = draw(st.integers(1, 40))
    columns: dict[str, pa.Array] = {}
    for feature in scorer.features:
        if draw(st.integers(0, 15)) == 0:
            continue  # a column the file lacks
        values = [draw(_feature_values(scorer, feature)) for _ in range(rows)]
        kind = scorer.feature_types.get(feature, "number")
        if kind == "category":
            columns[feature] = pa.array(values, pa.string())
        elif kind == "date":
            columns[feature] = pa.array(values, pa.int32()).cast(pa.date32())
        elif draw(st.booleans()):  # numbers as CSV text, blanks included
            columns[feature] = pa.array(
                [None if v is None else f" {float(v)!r} " for v in values], pa.string()
            )
        else:
            columns[feature] = pa.array(
                [None if v is None else float(v) for v in values], pa.float64()
            )
    if not columns:
        columns["unrelated"] = pa.nulls(rows)
    return pa.table(columns)


@pytest.fixture(scope="module")
def production(serving_template) -> Deployed:
    return deployed_of(serving_template)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_matrix_from_arrow_is_the_general_paths_matrix(production, data):
    scorer = production.scorer
    table = data.draw(feature_tables(scorer))
    features = scorer.table_features(table)
    columns = scorer.columns(table)
    made = features.columns(scorer.features)
    assert list(made) == list(columns)
    for name, values in columns.items():
        if values.dtype == object:
            assert made[name].tolist() == values.tolist(), name
        else:
            np.testing.assert_array_equal(made[name], values, err_msg=name)
    np.testing.assert_array_equal(
        scorer.features_matrix(features), scorer._matrix_of(columns, table.num_rows)
    )
    scores = np.linspace(0, 1, table.num_rows)
    codes = production.humility.table_codes(features.numbers, features.texts, table.num_rows)
    np.testing.assert_array_equal(
        production.humility.with_scores(codes, scores), production.humility.codes(columns, scores)
    )


REFERENCE = {
    "features": {
        "age": {"kind": "number", "min": 18, "max": 90},
        "balance": {"kind": "number"},  # no range recorded
        "plan": {"kind": "category", "shares": {"basic": 0.5, "gold": 0.3, "true": 0.2}},
        "city": {"kind": "category", "shares": {"Oslo": 0.9}, "other_share": 0.1},
    }
}
FEATURES = ("age", "balance", "plan", "city", "absent")


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(0, 120)),
            st.one_of(st.none(), st.floats(-1e6, 1e6)),
            st.one_of(
                st.none(), st.sampled_from(["basic", "gold", "true", "True", "platinum", ""])
            ),
            st.one_of(st.none(), st.sampled_from(["Oslo", "Bergen"])),
            st.floats(0, 1),
        ),
        min_size=1,
        max_size=30,
    ),
    band=st.one_of(st.none(), st.tuples(st.floats(0, 0.5), st.floats(0.5, 1))),
    share=st.sampled_from([0.0, 0.2, 0.4, 0.6, 1.0]),
)
def test_humility_bits_from_arrow_are_the_codes(rows, band, share):
    humility = Humility(REFERENCE, FEATURES, max_missing_share=share, uncertain_band=band)
    age, balance, plan, city, scores = (list(c) for c in zip(*rows, strict=True))
    numbers = {
        "age": np.array([np.nan if v is None else v for v in age]),
        "balance": np.array([np.nan if v is None else v for v in balance]),
    }
    texts = {"plan": pa.array(plan, pa.string()), "city": pa.array(city, pa.string())}
    columns = {
        **numbers,
        "plan": np.array(plan, dtype=object),
        "city": np.array(city, dtype=object),
    }
    expected = humility.codes(columns, np.array(scores))
    found = humility.with_scores(humility.table_codes(numbers, texts, len(rows)), np.array(scores))
    np.testing.assert_array_equal(found, expected)
    # and the flags of each row, one at a time
    for index, (a, b, p, c, s) in enumerate(rows):
        record = {"age": a, "balance": b, "plan": p, "city": c}
        flags = humility.flags({k: v for k, v in record.items() if v is not None}, s)
        assert [f for bit, f in enumerate(FLAGS) if found[index] >> bit & 1] == flags


def test_the_benchmark_stage_names_still_exist(monkeypatch):
    """bench_score.py times these functions; a rename must not silently drop a stage."""
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    bench = importlib.import_module("bench_score")
    assert len(bench.STAGES) >= 10
    for module, owner, function, *_ in bench.STAGES:
        found = importlib.import_module(module)
        if owner:
            found = getattr(found, owner)
        assert callable(getattr(found, function, None)), (module, owner, function)
