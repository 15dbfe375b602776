from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.data._encoding import detect_encoding, normalize_encoding
from charter.errors import DataSourceError


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("a,b\n1,x\n", "utf-8", "utf-8"),
        ("name\nJosé Müller\n", "utf-8", "utf-8"),
        ("name\nJosé Müller\n", "latin-1", "latin-1"),
        ("name\n“Smart” quotes – €\n", "cp1252", "cp1252"),
        ("a;b\n1;é\n", "utf-16", "utf-16"),
        ("a;b\n1;é\n", "utf-16-le", "utf-16"),
    ],
)
def test_detect_encoding(tmp_path, text, encoding, expected):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    assert detect_encoding(path) == expected


def test_detect_encoding_reads_inside_gzip(tmp_path):
    path = tmp_path / "f.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write("x\nÅngström\n".encode("latin-1"))
    assert detect_encoding(path) == "latin-1"


def test_whole_file_detection_finds_a_late_byte(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\n" + b"x\n" * 700_000 + "é\n".encode("latin-1"))
    assert detect_encoding(path) == "utf-8"  # the first megabyte is plain ASCII
    assert detect_encoding(path, whole_file=True) == "latin-1"


@given(st.text(max_size=200))
def test_any_utf8_text_is_detected_as_utf8(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("h") / "f.csv"
    path.write_bytes(("a\n" + text.replace("\x00", "")).encode("utf-8"))
    assert detect_encoding(path) == "utf-8"


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("UTF8", "utf-8"),
        ("utf-8", "utf-8"),
        ("latin1", "latin-1"),
        ("ISO-8859-1", "latin-1"),
        ("utf-16", "utf-16"),
        ("windows-1252", "cp1252"),
        ("cp1252", "cp1252"),
    ],
)
def test_normalize_encoding(given_name, expected):
    assert normalize_encoding(given_name, subject="s", option="o") == expected


def test_unknown_encoding():
    with pytest.raises(DataSourceError, match="unknown encoding 'nope' in data.sources.x.encoding"):
        normalize_encoding("nope", subject="source 'x'", option="data.sources.x.encoding")
