from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charter.data import read_file
from charter.errors import DataSourceError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(path: Path, **options) -> list[dict]:
    return read_file(path, **options).to_arrow().to_pylist()


def test_semicolon_csv_with_decimal_commas_is_detected(tmp_path):
    file = write(tmp_path / "sales.csv", "region;amount;note\nnorth;1,5;a\nsouth;2,0;b\n")
    dataset = read_file(file)
    assert list(dataset.columns) == ["region", "amount", "note"]
    assert dataset.num_rows == 2
    assert dataset.to_arrow().column("region").to_pylist() == ["north", "south"]


def test_tab_separated_file_is_detected(tmp_path):
    file = write(tmp_path / "t.tsv", "id\tname\tscore\n1\tann\t3.5\n2\tbob\t4.0\n3\tcy\t1.0\n")
    dataset = read_file(file)
    assert dataset.columns == {"id": "BIGINT", "name": "VARCHAR", "score": "DOUBLE"}
    assert dataset.to_arrow().column("score").to_pylist() == [3.5, 4.0, 1.0]


def test_quoted_fields_may_hold_delimiters_quotes_and_newlines(tmp_path):
    text = (
        'id,name,comment\n1,"Smith, John","said ""hi"""\n2,"Doe, Jane","two\nlines"\n'
        '3,"Roe, Ray",plain\n'
    )
    table = rows(write(tmp_path / "q.csv", text))
    assert table[0] == {"id": 1, "name": "Smith, John", "comment": 'said "hi"'}
    assert table[1]["comment"] == "two\nlines"
    assert len(table) == 3


def test_file_without_header_gets_numbered_columns(tmp_path):
    dataset = read_file(write(tmp_path / "n.csv", "1,2.5,x\n3,4.5,y\n5,6.5,z\n"))
    assert list(dataset.columns) == ["column0", "column1", "column2"]
    assert dataset.num_rows == 3


def test_header_option_overrides_detection(tmp_path):
    file = write(tmp_path / "n.csv", "a,b\nc,d\ne,f\n")
    assert read_file(file, header=False).num_rows == 3
    assert list(read_file(file, header=True).columns) == ["a", "b"]


def test_delimiter_and_quote_options_override_detection(tmp_path):
    file = write(tmp_path / "p.csv", "id|name\n1|'a|b'\n2|'c'\n")
    table = rows(file, delimiter="|", quote="'")
    assert table == [{"id": 1, "name": "a|b"}, {"id": 2, "name": "c"}]


def test_latin1_file_is_detected_and_read(tmp_path):
    file = write(tmp_path / "l.csv", "name;city\nJosé;Zürich\nRené;Köln\n", "latin-1")
    assert rows(file) == [{"name": "José", "city": "Zürich"}, {"name": "René", "city": "Köln"}]


def test_cp1252_file_is_transcoded(tmp_path):
    file = write(tmp_path / "w.csv", "item,price\n“quoted”,1\n€uro – dash,2\n", "cp1252")
    assert [r["item"] for r in rows(file)] == ["“quoted”", "€uro – dash"]


def test_non_utf8_byte_far_into_the_file_is_handled(tmp_path):
    lines = ["id,name"] + [f"{i},plain" for i in range(60_000)] + ["60000,Müller"]
    file = write(tmp_path / "late.csv", "\n".join(lines) + "\n", "latin-1")
    dataset = read_file(file)
    assert dataset.num_rows == 60_001
    assert dataset.sql("select name from dataset where id = 60000") == [("Müller",)]


def test_utf16_file_is_read(tmp_path):
    file = write(tmp_path / "u.csv", "a;b\n1;é\n2;y\n", "utf-16")
    assert rows(file) == [{"a": 1, "b": "é"}, {"a": 2, "b": "y"}]


def test_encoding_option_is_used(tmp_path):
    file = write(tmp_path / "l.csv", "name\nÅsa\n", "latin-1")
    assert rows(file, encoding="ISO-8859-1") == [{"name": "Åsa"}]


def test_unknown_encoding_is_named(tmp_path):
    file = write(tmp_path / "l.csv", "a\n1\n")
    with pytest.raises(DataSourceError, match="unknown encoding 'klingon'.*encoding option"):
        read_file(file, encoding="klingon")


def test_wrong_encoding_option_is_reported(tmp_path):
    file = write(tmp_path / "w.csv", "a\n\x81\n", "latin-1")
    with pytest.raises(DataSourceError, match="(?s)cannot read .*w.csv.*not utf-8 encoded"):
        read_file(file, encoding="utf-8")


def test_a_value_that_breaks_the_sampled_type_keeps_the_column_as_text(tmp_path):
    lines = ["a,b"] + [f"{i},x" for i in range(30_000)] + ["oops,y"]
    dataset = read_file(write(tmp_path / "late.csv", "\n".join(lines) + "\n"))
    assert dataset.columns["a"] == "VARCHAR"
    assert dataset.num_rows == 30_001


def test_gzipped_csv(tmp_path):
    file = tmp_path / "z.csv.gz"
    with gzip.open(file, "wt") as handle:
        handle.write("a,b\n1,x\n2,y\n")
    assert rows(file) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_parquet_is_scanned_as_a_view(tmp_path):
    file = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]}), file)
    dataset = read_file(file)
    kinds = dict(dataset.sql("select table_name, table_type from information_schema.tables"))
    assert kinds["d"] == "VIEW"
    assert dataset.columns == {"x": "BIGINT", "y": "VARCHAR"}
    assert dataset.sources["d"].rows == 3


def test_csv_is_loaded_into_a_table(tmp_path):
    dataset = read_file(write(tmp_path / "c.csv", "a\n1\n"))
    kinds = dict(dataset.sql("select table_name, table_type from information_schema.tables"))
    assert kinds["c"] == "BASE TABLE"


def test_json_lines(tmp_path):
    records = [{"id": 1, "name": "a", "score": 0.5}, {"id": 2, "name": "b", "score": None}]
    file = write(tmp_path / "r.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    assert rows(file) == records


def test_json_array_and_explicit_format(tmp_path):
    file = write(tmp_path / "r.data", json.dumps([{"a": 1}, {"a": 2}]))
    assert rows(file, format="json") == [{"a": 1}, {"a": 2}]


def test_glob_of_csv_files_unions_by_column_name(tmp_path):
    write(tmp_path / "part1.csv", "id,x\n1,a\n2,b\n")
    write(tmp_path / "part2.csv", "x,id\nc,3\n")
    dataset = read_file(tmp_path / "part*.csv")
    assert sorted(dataset.sql("select id, x from dataset")) == [(1, "a"), (2, "b"), (3, "c")]
    assert dataset.sources["part"].location == str(tmp_path / "part*.csv")


def test_glob_of_parquet_files(tmp_path):
    (tmp_path / "p").mkdir()
    for i in range(3):
        pq.write_table(pa.table({"i": [i, i]}), tmp_path / "p" / f"{i}.parquet")
    assert read_file(tmp_path / "p" / "*.parquet", name="parts").num_rows == 6


def test_missing_file_names_the_resolved_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError) as error:
        read_file("nowhere/data.csv")
    message = str(error.value)
    assert "file not found" in message
    assert str(tmp_path / "nowhere" / "data.csv") in message


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(DataSourceError, match=r"no file matches .*\*\.parquet"):
        read_file(tmp_path / "*.parquet")


def test_a_folder_without_data_files_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("not data")
    with pytest.raises(DataSourceError, match="is a folder with no Parquet, CSV or JSON-lines"):
        read_file(tmp_path)


def test_a_folder_stands_for_its_data_files_nested_included(tmp_path):
    write(tmp_path / "a.csv", "x,y\n1,a\n2,b\n")
    (tmp_path / "2025").mkdir()
    write(tmp_path / "2025" / "b.csv", "x,y\n3,c\n")
    (tmp_path / "notes.txt").write_text("not data")
    assert sorted(read_file(tmp_path).to_arrow().column("x").to_pylist()) == [1, 2, 3]


def test_empty_file(tmp_path):
    with pytest.raises(DataSourceError, match="is empty"):
        read_file(write(tmp_path / "e.csv", ""))


def test_unknown_extension_asks_for_a_format(tmp_path):
    with pytest.raises(DataSourceError, match="set the format option"):
        read_file(write(tmp_path / "e.xlsx", "PK"))


def test_corrupt_parquet_quotes_duckdb(tmp_path):
    with pytest.raises(DataSourceError) as error:
        read_file(write(tmp_path / "bad.parquet", "not parquet at all"))
    message = str(error.value)
    assert "cannot read" in message and "bad.parquet" in message and "as parquet" in message
    assert "No magic bytes found" in message  # DuckDB's own words
    assert "CREATE" not in message  # charter's internal SQL is not shown


def test_malformed_json_quotes_duckdb(tmp_path):
    file = write(tmp_path / "bad.jsonl", '{"a": 1}\n{"a": 2\n')
    with pytest.raises(DataSourceError, match="(?s)as json.*Malformed JSON"):
        read_file(file)


def test_yes_no_stays_text_but_true_false_becomes_boolean(tmp_path):
    file = write(tmp_path / "b.csv", "churned,active\nyes,true\nno,false\nYes,true\n")
    dataset = read_file(file)
    assert dataset.columns == {"churned": "VARCHAR", "active": "BOOLEAN"}
    assert dataset.to_arrow().column("churned").to_pylist() == ["yes", "no", "Yes"]


def test_text_the_encoding_cannot_decode_is_reported(tmp_path):
    file = write(tmp_path / "w.csv", "a\n\x81\n", "latin-1")  # 0x81 has no cp1252 character
    with pytest.raises(DataSourceError, match=r"not valid cp1252 \(cannot decode byte b'\\x81'\)"):
        read_file(file, encoding="cp1252")
