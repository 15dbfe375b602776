import pytest

from charter._atomic import write_text_atomic


def test_writes_and_replaces_whole_files(tmp_path):
    path = write_text_atomic(tmp_path / "sub" / "f.txt", "first")
    assert path.read_text() == "first"
    write_text_atomic(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "f.txt", "old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "bad \udc80 surrogate")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
