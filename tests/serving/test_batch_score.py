"""`charter score`: files and queries scored in chunks, bad rows kept aside with the reason.

The input is the demo's own new batch (2,000 customers, a dozen of them spoiled the way real feeds
are). What is checked: scored + quarantined = input rows; the quarantined rows are exactly those a
hand-written reading of the contract file calls bad, each with a reason naming field and problem;
the scores are the ones the API gives for the same records; predictions are logged; a 200k-row file
goes through in chunks; a SQLite query scores like the file; mistakes get a message, not a traceback.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from charter.api import Project
from charter.cli import app
from charter.data import read_file
from charter.serving._log import read_log

runner = CliRunner()
ENTITY = "customer_id"
OUTPUTS = ["prediction_id", "version", "score", "decision", "fallback", "flags"]


def cli(charter: Path, *args: str):
    return runner.invoke(app, [*args, "--charter", str(charter)], env={"COLUMNS": "250"})


def batch_of(demo) -> Path:
    return demo.charter.parent / "data" / "new_batch.csv"


def rows_of(path: Path) -> list[dict[str, Any]]:
    """A file's rows as charter reads files (DuckDB)."""
    return read_file(path).to_arrow().to_pylist()


def hand_checked_bad(demo, rows: list[dict[str, Any]]) -> dict[int, set[str]]:
    """Entity -> fields breaking the contract, for the fields the model reads and the entity.

    Written from the contract file by hand: a null where nullable is false, a number outside
    [min, max], a text outside the categories. (Types hold: DuckDB read the file with them.)
    """
    contract = yaml.safe_load((demo.charter.parent / "contract.yaml").read_text(encoding="utf-8"))
    scoring = Project(demo.charter).registry().load(Project(demo.charter).version(demo.boosted))
    checked = [*scoring.scoring["features"], ENTITY]
    bad: dict[int, set[str]] = {}
    for row in rows:
        for name in checked:
            rule = contract["columns"][name]
            value = row.get(name)
            if isinstance(value, str) and not value.strip():
                value = None  # blank text (total_charges, text the model reads as a number)
            if value is None:
                broken = not rule.get("nullable", True) and name != ENTITY
            else:
                broken = (
                    ("min" in rule and float(value) < rule["min"])
                    or ("max" in rule and float(value) > rule["max"])
                    or ("categories" in rule and str(value) not in map(str, rule["categories"]))
                )
            if broken:
                bad.setdefault(row[ENTITY], set()).add(name)
    return bad


def test_score_a_csv_file_to_parquet_with_bad_rows_in_quarantine(serving_demo, tmp_path):
    source = batch_of(serving_demo)
    rows = rows_of(source)
    assert len(rows) == 2000
    output = tmp_path / "scores.parquet"
    result = cli(serving_demo.charter, "score", str(source), str(output))
    assert result.exit_code == 0, result.output
    assert f"Scored 1,988 of 2,000 rows with v{serving_demo.boosted}" in result.stdout
    assert "12 row(s) break the contract" in result.stdout
    assert "column _violations says why" in result.stdout

    scored = pq.read_table(output)
    quarantine = pq.read_table(tmp_path / "scores.quarantine.parquet")
    assert scored.num_rows + quarantine.num_rows == 2000
    assert scored.column_names[: len(rows[0])] == list(rows[0])  # the input's columns come first
    assert set(OUTPUTS) <= set(scored.column_names)
    expected_bad = hand_checked_bad(serving_demo, rows)
    assert len(expected_bad) == 12
    assert set(quarantine.column(ENTITY).to_pylist()) == set(expected_bad)
    assert not set(scored.column(ENTITY).to_pylist()) & set(expected_bad)
    for row in quarantine.to_pylist():
        violations = row["_violations"]
        named = {part.split(":")[0] for part in violations.split("; ")}
        assert named == expected_bad[row[ENTITY]], violations
        for part in violations.split("; "):
            assert re.fullmatch(r"[a-z_]+: [a-z].+", part), part
        if row["monthly_charges"] == 9999:
            assert "monthly_charges: above the maximum" in violations
        if row["contract"] == "weekly":
            assert "contract: not one of the accepted categories" in violations
        if row["gender"] is None:
            assert "gender: required" in violations
    # the outputs are well formed
    table = scored.to_pylist()
    assert len({r["prediction_id"] for r in table}) == len(table)
    assert all(r["version"] == serving_demo.boosted for r in table)
    assert all(0 <= r["score"] <= 1 and r["decision"] in ("act", "no action") for r in table)
    # every scored row is in the prediction log, as from the service but with source "batch"
    everything = read_log(
        serving_demo.log_folder, columns=["prediction_id", "source", "score", "entity", "problems"]
    )
    logged = everything.filter(pc.is_null(everything.column("problems")))
    assert logged.num_rows == scored.num_rows
    # each quarantined row is logged as refused, naming the fields at fault
    refused = everything.filter(pc.is_valid(everything.column("problems"))).to_pylist()
    assert {r["entity"]: set(r["problems"]) for r in refused} == {
        str(entity): fields for entity, fields in expected_bad.items()
    }
    assert all(r["score"] is None and r["source"] == "batch" for r in refused)
    by_id = {r["prediction_id"]: r for r in logged.to_pylist()}
    for row in table:
        entry = by_id[row["prediction_id"]]
        assert entry["source"] == "batch" and entry["score"] == row["score"]
        assert entry["entity"] == str(row[ENTITY])


def test_csv_output_holds_the_same_scores(serving_demo, tmp_path):
    source = batch_of(serving_demo)
    parquet = cli(
        serving_demo.charter, "score", str(source), str(tmp_path / "a.parquet"), "--no-log"
    )
    assert parquet.exit_code == 0, parquet.output
    as_csv = cli(serving_demo.charter, "score", str(source), str(tmp_path / "a.csv"), "--json")
    assert as_csv.exit_code == 0, as_csv.output
    summary = json.loads(as_csv.stdout)
    assert (summary["rows"], summary["scored"], summary["quarantined"]) == (2000, 1988, 12)
    assert summary["quarantine"] == str(tmp_path / "a.quarantine.csv")
    from_csv = {r[ENTITY]: r for r in rows_of(tmp_path / "a.csv")}
    from_parquet = {r[ENTITY]: r for r in pq.read_table(tmp_path / "a.parquet").to_pylist()}
    assert set(from_csv) == set(from_parquet) and len(from_csv) == 1988
    for entity, row in from_parquet.items():
        written = from_csv[entity]
        assert written["score"] == pytest.approx(row["score"], rel=1e-12)
        assert written["decision"] == row["decision"]
        flags = written["flags"]
        assert (flags.split("; ") if flags else []) == row["flags"]
    quarantined = rows_of(tmp_path / "a.quarantine.csv")
    assert len(quarantined) == 12 and all(r["_violations"] for r in quarantined)
    # the logged run: 1,988 predictions and 12 refused rows; --no-log logged nothing
    assert read_log(serving_demo.log_folder).num_rows == 2000


def test_batch_scores_are_the_apis_scores(serving_demo, serve, json_record, tmp_path):
    source = batch_of(serving_demo)
    output = tmp_path / "scores.parquet"
    result = cli(serving_demo.charter, "score", str(source), str(output), "--explain", "--no-log")
    assert result.exit_code == 0, result.output
    scored = pq.read_table(output)
    assert scored.schema.field("reasons").type == pa.list_(pa.string())
    batch = {r[ENTITY]: r for r in scored.to_pylist()}
    assert all(1 <= len(r["reasons"]) <= 3 for r in batch.values())
    live = serve(serving_demo)
    rows = [r for r in rows_of(source) if r[ENTITY] in batch][:300]
    records = [json_record(r) for r in rows]
    response = live.predict(records, explain="true")
    assert response.status_code == 200, response.text
    for record, answer in zip(records, response.json(), strict=True):
        row = batch[record[ENTITY]]
        assert answer["score"] == pytest.approx(row["score"], abs=1e-12)
        assert answer["decision"] == row["decision"]
        assert answer["flags"] == row["flags"]
        assert answer["reasons"] == row["reasons"]
        assert answer["version"] == row["version"]


def test_another_version_scores_with_its_own_model(serving_demo, model_scores, tmp_path):
    source = batch_of(serving_demo)
    output = tmp_path / "v2.parquet"
    result = cli(
        serving_demo.charter,
        "score",
        str(source),
        str(output),
        "--version",
        f"v{serving_demo.simple}",
    )
    assert result.exit_code == 0, result.output
    scored = {r[ENTITY]: r for r in pq.read_table(output).to_pylist()}
    assert {r["version"] for r in scored.values()} == {serving_demo.simple}
    rows = [r for r in rows_of(source) if r[ENTITY] in scored][:200]
    expected = model_scores(
        Project(serving_demo.charter), serving_demo.simple, rows, tmp_path / "f"
    )
    for entity, score in expected.items():
        assert scored[entity]["score"] == pytest.approx(score, abs=1e-9)


def test_a_database_query_scores_like_the_file(serving_demo, tmp_path):
    source = batch_of(serving_demo)
    rows = rows_of(source)
    database = tmp_path / "crm.sqlite"
    columns = list(rows[0])
    with sqlite3.connect(database) as connection:
        connection.execute(f"CREATE TABLE customers ({', '.join(columns)})")
        connection.executemany(
            f"INSERT INTO customers VALUES ({', '.join('?' for _ in columns)})",
            [[v.isoformat() if isinstance(v, date) else v for v in row.values()] for row in rows],
        )
    connection.close()
    query = "SELECT * FROM customers WHERE region = 'North'"
    north = [r for r in rows if r["region"] == "North"]
    from_db = tmp_path / "db.parquet"
    result = cli(
        serving_demo.charter,
        "score",
        f"sqlite:///{database}",
        str(from_db),
        "--query",
        query,
        "--json",
        "--no-log",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == len(north)
    assert summary["scored"] + summary["quarantined"] == len(north)
    from_file = tmp_path / "file.parquet"
    assert (
        cli(serving_demo.charter, "score", str(source), str(from_file), "--no-log").exit_code == 0
    )
    file_scores = {r[ENTITY]: r for r in pq.read_table(from_file).to_pylist()}
    db_scores = pq.read_table(from_db).to_pylist()
    assert {r[ENTITY] for r in db_scores} == {r[ENTITY] for r in north} & set(file_scores)
    for row in db_scores:
        assert row["score"] == pytest.approx(file_scores[row[ENTITY]]["score"], abs=1e-12)
        assert row["flags"] == file_scores[row[ENTITY]]["flags"]


@pytest.mark.slow
def test_a_large_file_is_scored_in_chunks(serving_demo, tmp_path):
    base = read_file(batch_of(serving_demo)).to_arrow()
    copies = 100
    ids = pa.array(range(1, base.num_rows * copies + 1), pa.int64())
    big = pa.concat_tables([base] * copies)
    big = big.set_column(big.schema.get_field_index(ENTITY), ENTITY, ids)
    source = tmp_path / "big.csv"
    pacsv.write_csv(big, source)
    chunks: list[int] = []
    project = Project(serving_demo.charter)
    result = project.score(source, tmp_path / "big-scores.parquet", on_rows=chunks.append)
    assert result.rows == 200_000
    assert result.quarantined == 12 * copies
    assert result.scored + result.quarantined == 200_000
    assert sum(chunks) == 200_000 and len(chunks) >= 2 and max(chunks) <= 100_000
    assert pq.ParquetFile(tmp_path / "big-scores.parquet").metadata.num_rows == result.scored
    assert pq.ParquetFile(tmp_path / "big-scores.quarantine.parquet").metadata.num_rows == 1200
    logged = read_log(serving_demo.log_folder, columns=["prediction_id", "source", "problems"])
    refused = pc.sum(pc.is_valid(logged.column("problems"))).as_py()
    assert (logged.num_rows - refused, refused) == (result.scored, result.quarantined)
    assert pc.all(pc.equal(logged.column("source"), "batch")).as_py()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["score", "no-such-file.csv", "out.parquet"], "no-such-file.csv"),
        (["score", "{batch}", "out.xlsx"], ".parquet or .csv"),
        (["score", "{batch}", "out.parquet", "--version", "v99"], "v99"),
        (
            [
                "score",
                "sqlite:///{tmp}/none.sqlite",
                "out.parquet",
                "--query",
                "select * from nope",
            ],
            "nope",
        ),
    ],
    ids=["missing file", "unknown output format", "unknown version", "bad query"],
)
def test_mistakes_get_a_message_and_exit_2(serving_demo, tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    filled = [a.format(batch=batch_of(serving_demo), tmp=tmp_path) for a in args]
    result = cli(serving_demo.charter, *filled)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert not (tmp_path / "out.parquet").exists()
