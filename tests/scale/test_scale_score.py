"""`charter score` on a cluster: the same scores, decisions and quarantine as on one machine.

A demo project is trained and promoted once for the module; its new batch (2,000 customers, a
dozen spoiled the way real feeds are, and the first 250 rows spoiled more so that one partition is
refused whole) is written as Parquet in row groups of 250 rows and read on the cluster in eight
partitions. The single-machine `charter score` of the same file is the reference: every column
of every row must be equal (prediction ids apart, which are new on each run), joined on the
customer's id.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from charter.api import Project
from charter.data import read_file
from charter.errors import DataSourceError, UsageError
from charter.scale import read_location
from charter.scale._score import score_on_cluster
from charter.serving._log import read_log

ENTITY = "customer_id"
OUTPUTS = ["prediction_id", "version", "score", "decision", "fallback", "flags"]

ROWS_PER_PART = 250  # the partition size of the conftest's `project`


@pytest.fixture
def batch(project: Project, tmp_path: Path) -> Path:
    """The demo's new batch as Parquet in row groups of `ROWS_PER_PART` rows; the first group's
    monthly charges are all out of the contract's range."""
    table = read_file(project.folder / "data" / "new_batch.csv").to_arrow()
    charges = table.column("monthly_charges").to_pylist()
    charges[:ROWS_PER_PART] = [99_999.0] * ROWS_PER_PART
    index = table.schema.get_field_index("monthly_charges")
    table = table.set_column(index, "monthly_charges", pa.array(charges, pa.float64()))
    path = tmp_path / "batch.parquet"
    pq.write_table(table, path, row_group_size=ROWS_PER_PART)
    return path


def _without_ids(table: pa.Table) -> pa.Table:
    return table.drop_columns(["prediction_id"]).sort_by(ENTITY)


def test_cluster_scores_equal_the_single_machine_scores(dask_client, project, batch, tmp_path):
    single = project.score(batch, tmp_path / "single.parquet", explain=True, log=False)
    data = read_location(str(batch), base_dir=tmp_path)
    assert data.partitions == 8
    progress: list[tuple[int, int]] = []
    result = score_on_cluster(
        project,
        data,
        tmp_path / "scores",
        explain=True,
        log=False,
        on_partition=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(done, 8) for done in range(1, 9)]
    assert (result.rows, result.scored, result.quarantined, result.version) == (
        single.rows,
        single.scored,
        single.quarantined,
        single.version,
    )
    assert result.quarantined > ROWS_PER_PART and result.problems == single.problems

    # One Parquet dataset, a part per partition, read as one table by pyarrow and by pandas.
    assert result.output == tmp_path / "scores"
    assert sorted(p.name for p in result.output.iterdir()) == [
        f"part-{index:05d}.parquet" for index in range(8)
    ]
    assert pq.read_metadata(result.output / "part-00000.parquet").num_rows == 0  # all refused
    scores = ds.dataset(result.output).to_table()
    expected = pq.read_table(single.output)
    assert _without_ids(scores).equals(_without_ids(expected))
    assert pc.count_distinct(scores.column("prediction_id")).as_py() == scores.num_rows
    assert len(pd.read_parquet(result.output)) == single.scored

    # The same rows aside, with the same reasons; none dropped.
    assert result.quarantine == tmp_path / "scores.quarantine"
    aside = ds.dataset(result.quarantine).to_table()
    assert single.quarantine is not None
    assert aside.sort_by(ENTITY).equals(pq.read_table(single.quarantine).sort_by(ENTITY))
    assert aside.num_rows + scores.num_rows == result.rows
    assert pc.all(pc.greater(pc.utf8_length(aside.column("_violations")), 0)).as_py()


def test_a_second_run_replaces_the_parts_of_the_first(dask_client, project, batch, tmp_path):
    output = tmp_path / "scores"
    first = score_on_cluster(
        project, read_location(str(batch), base_dir=tmp_path), output, log=False
    )
    assert first.quarantine is not None and len(list(output.iterdir())) == 8
    good = ds.dataset(output).to_table().drop_columns(OUTPUTS).slice(0, 3 * ROWS_PER_PART)
    pq.write_table(good, tmp_path / "good.parquet", row_group_size=ROWS_PER_PART)
    data = read_location(str(tmp_path / "good.parquet"), base_dir=tmp_path)
    second = score_on_cluster(project, data, output, log=False)
    assert sorted(p.name for p in output.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert ds.dataset(output).to_table().num_rows == second.scored == 3 * ROWS_PER_PART
    # Nothing refused this time: no quarantine folder is left from the first run.
    assert second.quarantine is None and not first.quarantine.exists()


def test_the_log_holds_every_scored_and_refused_row_once(dask_client, project, batch, tmp_path):
    data = read_location(str(batch), base_dir=tmp_path)
    result = score_on_cluster(project, data, tmp_path / "scores")
    log = read_log(project.workspace / "predictions")
    assert log.num_rows == result.rows
    assert pc.count_distinct(log.column("prediction_id")).as_py() == log.num_rows
    assert set(pc.unique(log.column("source")).to_pylist()) == {"batch"}
    refused = log.filter(pc.is_valid(log.column("problems")))
    served = log.filter(pc.is_null(log.column("problems")))
    assert (served.num_rows, refused.num_rows) == (result.scored, result.quarantined)
    scores = ds.dataset(result.output).to_table()
    logged = served.select(["prediction_id", "score", "decision"]).sort_by("prediction_id")
    written = scores.select(["prediction_id", "score", "decision"]).sort_by("prediction_id")
    assert logged.equals(written)
    aside = ds.dataset(result.quarantine).to_table()
    assert sorted(refused.column("entity").to_pylist()) == sorted(
        str(v) for v in aside.column(ENTITY).to_pylist()
    )


def test_mistakes_get_a_message_naming_what_to_do(dask_client, project, batch, tmp_path):
    with pytest.raises(DataSourceError, match="nowhere"):
        read_location(str(tmp_path / "nowhere" / "*.parquet"), base_dir=tmp_path)
    data = read_location(str(batch), base_dir=tmp_path)
    with pytest.raises(UsageError, match="folder of Parquet files"):
        score_on_cluster(project, data, tmp_path / "scores.csv", log=False)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="notes.txt"):
        score_on_cluster(project, data, tmp_path / "taken", log=False)
    assert (tmp_path / "taken" / "notes.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(UsageError, match="output folder"):
        score_on_cluster(project, data, tmp_path / "out", quarantine=tmp_path / "out", log=False)
