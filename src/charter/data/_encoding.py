"""Text encodings of CSV files: detect them, and transcode the ones DuckDB cannot read."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path
from typing import IO, cast

from charter.errors import DataSourceError

__all__ = ["DUCKDB_ENCODINGS", "detect_encoding", "normalize_encoding", "transcode_to_utf8"]

DUCKDB_ENCODINGS = ("utf-8", "utf-16", "latin-1")
"""Encodings DuckDB's CSV reader handles itself (1.5, without the `encodings` extension)."""

_DUCKDB_NAMES = {
    "utf-8": "utf-8",
    "utf-16": "utf-16",
    "utf-16-le": "utf-16",
    "iso8859-1": "latin-1",
}
_PREFIX_BYTES = 1 << 20
_CHUNK_CHARS = 1 << 20


def normalize_encoding(encoding: str, *, subject: str, option: str) -> str:
    """Map a user-given encoding to DuckDB's name for it, or to Python's codec name.

    Raises DataSourceError for a name Python does not know.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataSourceError(
            f"{subject}: unknown encoding {encoding!r} in {option}; "
            "use a name such as 'utf-8', 'latin-1' or 'cp1252'"
        ) from None
    return _DUCKDB_NAMES.get(name, name)


def detect_encoding(path: Path, *, whole_file: bool = False) -> str:
    """Guess a text file's encoding: 'utf-8', 'utf-16', 'latin-1' or 'cp1252'.

    Looks at the first megabyte, or at the whole file when `whole_file` (used after DuckDB met
    a byte that is not UTF-8 further in). Bytes 0x80-0x9F are control characters in latin-1 but
    curly quotes, dashes and the euro sign in Windows' cp1252, so their presence means cp1252.
    """
    with _open_bytes(path) as handle:
        prefix = handle.read(_PREFIX_BYTES)
        if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if prefix and prefix[1::2].count(0) > len(prefix) // 4:
            return "utf-16"
        decoder = codecs.getincrementaldecoder("utf-8")()
        c1_controls = False
        chunk = prefix
        valid = True
        while chunk:
            c1_controls = c1_controls or any(0x80 <= b <= 0x9F for b in chunk)
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
            if not whole_file:
                break
            chunk = handle.read(_PREFIX_BYTES)
    if valid:
        return "utf-8"
    return "cp1252" if c1_controls else "latin-1"


def transcode_to_utf8(
    source_path: Path, target_path: Path, encoding: str, *, subject: str, option: str
) -> None:
    """Rewrite a text file in UTF-8, streaming, so DuckDB can read an encoding it does not know."""
    try:
        with (
            _open_text(source_path, encoding) as reader,
            target_path.open("w", encoding="utf-8", newline="") as writer,
        ):
            while chunk := reader.read(_CHUNK_CHARS):
                writer.write(chunk)
    except UnicodeDecodeError as exc:
        raise DataSourceError(
            f"{subject}: {source_path} is not valid {encoding} (cannot decode byte "
            f"{exc.object[exc.start : exc.start + 1]!r}); set {option} to the file's encoding"
        ) from exc


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return path.open("r", encoding=encoding, newline="")
