"""API keys from a mounted secret file (CHARTER_SERVE_KEYS_FILE), as a packaged service reads them."""

from __future__ import annotations

import hashlib

import pytest

from charter.errors import CharterError
from charter.serving._key_file import read_key_file

KEY = "ck_0123abcd_" + "k" * 24


def test_scoped_and_bare_keys_are_read_by_their_sha256(tmp_path):
    path = tmp_path / "api-keys"
    path.write_text(f"# team keys\n\nadmin {KEY}\n  {KEY}-bare  \n")
    keys = read_key_file(path, "churn")
    admin = keys[hashlib.sha256(KEY.encode()).hexdigest()]
    bare = keys[hashlib.sha256(f"{KEY}-bare".encode()).hexdigest()]
    assert (admin.scope, bare.scope) == ("admin", "predict")
    assert admin.allows("feedback") and not bare.allows("feedback")
    assert KEY not in repr(keys)  # only digests are kept


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"owner {KEY}", "expected `\\[SCOPE\\] KEY`"),
        (f"predict {KEY} extra", "expected `\\[SCOPE\\] KEY`"),
        ("predict s3cr3t", "shorter than 16 characters"),
    ],
)
def test_a_bad_line_is_named_without_the_key(tmp_path, line, problem):
    path = tmp_path / "api-keys"
    path.write_text(f"# keys\n{line}\n")
    with pytest.raises(CharterError, match=problem) as caught:
        read_key_file(path, "churn")
    assert f"{path}:2" in str(caught.value)
    assert KEY not in str(caught.value) and "s3cr3t" not in str(caught.value)


def test_a_missing_file_says_which_variable_named_it(tmp_path):
    with pytest.raises(CharterError, match="CHARTER_SERVE_KEYS_FILE"):
        read_key_file(tmp_path / "absent", "churn")
