"""File sources (CSV, Parquet, JSON lines, or globs of them) as DuckDB relations.

Parquet is scanned in place through a view. CSV and JSON are text that DuckDB re-parses on
every query. Measured on 2 cores with a 1M-row x 30-column CSV (235 MB): the audit's profile
pass plus its 100k-row sample took 14.5 s over a view and 2.6 s over a table that took 1.4 s
to load (about 2x the file's size in memory); a JSON-lines scan was 6x faster from a table.
So text files are loaded into a table once, unless they are too large for memory, where a
view keeps them on disk.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from charter.data._dataset import SourceInfo, quote_identifier
from charter.data._encoding import (
    DUCKDB_ENCODINGS,
    detect_encoding,
    normalize_encoding,
    transcode_to_utf8,
)
from charter.errors import DataSourceError
from charter.spec import FileSource

__all__ = [
    "FileFormat",
    "Origin",
    "ResolvedFiles",
    "duckdb_message",
    "file_format",
    "file_scans",
    "load_file",
    "resolve_files",
]

FileFormat = Literal["csv", "parquet", "json"]

_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSION = {".gz", ".gzip", ".zst"}
_GLOB_CHARS = set("*?[")
FOLDER_PATTERNS = ("*.parquet", "*.csv", "*.csv.gz", "*.jsonl", "*.json")
"""What a folder named as a source stands for: its files of the first kind found (in order)."""
_YES_NO_ROWS = 1000
_HINT_LINES = ("Possible Solution", "Possible solutions", "* ")

_Scan = Callable[[int | None], str]
"""Builds the SQL of a scan, given the number of rows to guess types from (None: default)."""


@dataclass(frozen=True)
class Origin:
    """Where a file source was named, so messages point there: a charter entry or arguments."""

    subject: str  # "source 'customers'"
    settings: str | None  # "data.sources.customers"; None when the options were arguments

    @classmethod
    def charter(cls, name: str) -> Origin:
        return cls(f"source {name!r}", f"data.sources.{name}")

    @classmethod
    def arguments(cls, path: str) -> Origin:
        return cls(f"file {path!r}", None)

    def option(self, key: str) -> str:
        """How the user sets `key`: the charter key, or the option of the call or command."""
        return f"{self.settings}.{key}" if self.settings else f"the {key} option"

    def options(self, *keys: str) -> str:
        """Several options in one phrase: "a, b or c under data.sources.x"."""
        listed = ", ".join(keys[:-1]) + f" or {keys[-1]}" if len(keys) > 1 else keys[0]
        return f"{listed} under {self.settings}" if self.settings else f"the {listed} options"


@dataclass(frozen=True)
class ResolvedFiles:
    """The files a source names: the resolved path or pattern, and the files it matches."""

    location: str
    files: tuple[Path, ...]


def resolve_files(path: str, *, base_dir: Path, origin: Origin) -> ResolvedFiles:
    """Resolve a source's path (or glob) against `base_dir` and list the files it names.

    Raises DataSourceError naming the source and the resolved path when nothing is there.
    """
    resolved = Path(path).expanduser()
    relative = not resolved.is_absolute()
    if relative:
        resolved = base_dir / resolved
    location = str(resolved)
    where = f"{origin.option('path')} is {path!r}" if origin.settings else f"path {path!r}"
    if relative:
        where += f", relative to {base_dir}"
    if _GLOB_CHARS & set(path):
        matches = sorted(Path(p) for p in glob.glob(location, recursive=True))
        files = tuple(p for p in matches if p.is_file())
        if not files:
            raise DataSourceError(
                f"{origin.subject}: no file matches {location} ({where}). "
                "Check the pattern and that the files are there."
            )
        return ResolvedFiles(location, files)
    if resolved.is_dir():
        for pattern in FOLDER_PATTERNS:  # a folder stands for the data files in it
            found = sorted(p for p in resolved.glob(f"**/{pattern}") if p.is_file())
            if found:
                return ResolvedFiles(str(resolved / "**" / pattern), tuple(found))
        raise DataSourceError(
            f"{origin.subject}: {location} is a folder with no Parquet, CSV or JSON-lines file "
            f"in it ({where}). Name a file, or a glob such as {path.rstrip('/')}/*.parquet."
        )
    if not resolved.is_file():
        raise DataSourceError(
            f"{origin.subject}: file not found: {location} ({where}). "
            "Check the path, or move the file there."
        )
    return ResolvedFiles(location, (resolved,))


def file_format(source: FileSource, files: ResolvedFiles, *, origin: Origin) -> FileFormat:
    """The source's format: as set, else from the extension."""
    if source.format is not None:
        return source.format
    for candidate in (Path(source.path), files.files[0]):
        suffixes = [s.lower() for s in candidate.suffixes]
        while suffixes and suffixes[-1] in _COMPRESSION:
            suffixes.pop()
        if suffixes and suffixes[-1] in _EXTENSIONS:
            return _EXTENSIONS[suffixes[-1]]
    raise DataSourceError(
        f"{origin.subject}: cannot tell the format of {files.location} from its extension; "
        f"set {origin.option('format')} to csv, parquet or json"
    )


def load_file(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    source: FileSource,
    *,
    base_dir: Path,
    origin: Origin | None = None,
) -> SourceInfo:
    """Make the file source `name` a relation of `connection` and describe it.

    `origin` says where the source was named, for messages (default: the charter's
    data.sources entry `name`).
    """
    origin = origin or Origin.charter(name)
    files = resolve_files(source.path, base_dir=base_dir, origin=origin)
    for file in files.files:
        if file.stat().st_size == 0:
            raise DataSourceError(
                f"{origin.subject}: {file} is empty (0 bytes). Export the data again, "
                "or remove the file from the source."
            )
    fmt = file_format(source, files, origin=origin)
    load = _Load(connection, name, files, fmt, origin)
    if fmt == "parquet":
        load.create("VIEW", _parquet_scan(files.files))
    elif fmt == "json":
        load.text(lambda sample: _json_scan(files.files, sample))
    else:
        _load_csv(load, source)
    return _describe_source(load)


@dataclass(frozen=True)
class _Load:
    """One file source being made a relation: the connection and what messages need."""

    connection: duckdb.DuckDBPyConnection
    name: str
    files: ResolvedFiles
    fmt: FileFormat
    origin: Origin

    def text(self, scan: _Scan, *, materialize: bool | None = None) -> None:
        """Load a text format as a table (or a view when too large), retrying a wrong type guess."""
        if materialize is None:
            size = sum(f.stat().st_size for f in self.files.files)
            materialize = size <= _materialize_limit()
        kind: Literal["TABLE", "VIEW"] = "TABLE" if materialize else "VIEW"
        try:
            self.create(kind, scan(None))
        except DataSourceError as exc:
            # Types are guessed from the first rows; a later value that does not fit (a word in
            # a column of numbers) needs the guess made over every row.
            if not materialize or not isinstance(exc.__cause__, duckdb.ConversionException):
                raise
            self.create(kind, scan(-1))

    def create(self, kind: Literal["TABLE", "VIEW"], scan: str) -> None:
        relation = quote_identifier(self.name)
        try:
            self.connection.execute(f"CREATE OR REPLACE {kind} {relation} AS SELECT * FROM {scan}")
            if kind == "VIEW":
                self.connection.execute(f"DESCRIBE {relation}")
        except duckdb.Error as exc:
            raise self.unreadable(exc) from exc

    def unreadable(self, exc: duckdb.Error) -> DataSourceError:
        if self.fmt == "csv":
            options = self.origin.options("delimiter", "quote", "encoding", "header")
            hint = f"If the detected layout is wrong, set {options}."
        else:
            hint = (
                f"Check that it is a valid {self.fmt} file, or set {self.origin.option('format')}."
            )
        return DataSourceError(
            f"{self.origin.subject}: cannot read {self.files.location} as {self.fmt}:\n"
            f"{duckdb_message(exc, internal_sql=True)}\n{hint}"
        )


def _load_csv(load: _Load, source: FileSource) -> None:
    files = load.files.files
    if source.encoding is not None:
        encoding = normalize_encoding(
            source.encoding, subject=load.origin.subject, option=load.origin.option("encoding")
        )
        encodings = [encoding] * len(files)
    else:
        encodings = [detect_encoding(files[0])] * len(files)
    try:
        _read_csv_with(load, source, encodings)
    except DataSourceError as exc:
        unicode_error = isinstance(exc.__cause__, duckdb.Error) and "unicode" in str(exc).lower()
        if source.encoding is not None or not unicode_error:
            raise
        # A byte that is not UTF-8 past the first megabyte: look at the whole of each file.
        _read_csv_with(load, source, [detect_encoding(f, whole_file=True) for f in files])


def _read_csv_with(load: _Load, source: FileSource, encodings: Sequence[str]) -> None:
    files = load.files.files
    if len(set(encodings)) == 1 and encodings[0] in DUCKDB_ENCODINGS:
        _read_csv_files(load, source, files, encodings[0])
        return
    # DuckDB reads only UTF-8, UTF-16 and latin-1: transcode the rest to UTF-8 once, and load
    # the result into a table so the temporary copy can go.
    with tempfile.TemporaryDirectory(prefix="charter-") as folder:
        readable: list[Path] = []
        for index, (file, encoding) in enumerate(zip(files, encodings, strict=True)):
            if encoding == "utf-8":
                readable.append(file)
                continue
            target = Path(folder) / f"{index}.csv"
            transcode_to_utf8(
                file,
                target,
                encoding,
                subject=load.origin.subject,
                option=load.origin.option("encoding"),
            )
            readable.append(target)
        _read_csv_files(load, source, readable, "utf-8", materialize=True)


def _read_csv_files(
    load: _Load,
    source: FileSource,
    files: Sequence[Path],
    encoding: str,
    *,
    materialize: bool | None = None,
) -> None:
    text = {c: "VARCHAR" for c in _yes_no_columns(load, _csv_scan(files, source, encoding))}
    load.text(
        lambda sample: _csv_scan(files, source, encoding, sample, text), materialize=materialize
    )


def _yes_no_columns(load: _Load, scan: str) -> list[str]:
    """Columns DuckDB would read as BOOLEAN from yes/no: kept as written, so that a charter's
    `positive_class: "yes"` still names a value of the data."""
    try:
        described = load.connection.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        booleans = [str(row[0]) for row in described if row[1] == "BOOLEAN"]
        if not booleans:
            return []
        raw = scan[:-1] + ", all_varchar = true)"
        tests = ", ".join(
            f"coalesce(bool_or(lower(trim({quote_identifier(c)})) IN ('yes', 'no')), false)"
            for c in booleans
        )
        found = load.connection.execute(
            f"SELECT {tests} FROM (SELECT * FROM {raw} LIMIT {_YES_NO_ROWS})"
        ).fetchone()
    except duckdb.Error as exc:
        raise load.unreadable(exc) from exc
    return [c for c, yes_no in zip(booleans, found or (), strict=True) if yes_no]


def _csv_scan(
    files: Sequence[Path],
    source: FileSource,
    encoding: str,
    sample_size: int | None = None,
    types: Mapping[str, str] | None = None,
) -> str:
    options = ["auto_detect = true", f"encoding = {_literal(encoding)}"]
    if source.delimiter is not None:
        options.append(f"delim = {_literal(source.delimiter)}")
    if source.quote is not None:
        options.append(f"quote = {_literal(source.quote)}")
    if source.header is not None:
        options.append(f"header = {str(source.header).lower()}")
    if len(files) > 1:
        options.append("union_by_name = true")
    if sample_size is not None:
        options.append(f"sample_size = {int(sample_size)}")
    if types:
        pinned = ", ".join(f"{_literal(c)}: {_literal(t)}" for c, t in types.items())
        options.append(f"types = {{{pinned}}}")
    return f"read_csv({_file_list(files)}, {', '.join(options)})"


def _json_scan(
    files: Sequence[Path], sample_size: int | None, types: Mapping[str, str] | None = None
) -> str:
    options = ["format = 'auto'"]
    if types:
        pinned = ", ".join(f"{_literal(c)}: {_literal(t)}" for c, t in types.items())
        options.append(f"columns = {{{pinned}}}")
    if len(files) > 1:
        options.append("union_by_name = true")
    if sample_size is not None:
        options.append(f"sample_size = {int(sample_size)}")
    return f"read_json({_file_list(files)}, {', '.join(options)})"


def _parquet_scan(files: Sequence[Path]) -> str:
    union = ", union_by_name = true" if len(files) > 1 else ""
    return f"read_parquet({_file_list(files)}{union})"


def _describe_source(load: _Load) -> SourceInfo:
    relation = quote_identifier(load.name)
    try:
        columns = load.connection.execute(f"DESCRIBE {relation}").fetchall()
        count = load.connection.execute(f"SELECT count(*) FROM {relation}").fetchone()
    except duckdb.Error as exc:
        raise load.unreadable(exc) from exc
    rows = int(count[0]) if count else 0
    described = tuple((str(c[0]), str(c[1])) for c in columns)
    return SourceInfo(load.name, "file", load.files.location, rows, described)


def duckdb_message(exc: duckdb.Error, *, internal_sql: bool = False) -> str:
    """DuckDB's message, without its hints that name DuckDB options a charter cannot set.

    With `internal_sql`, also without the quoted SQL and caret, which would show charter's own
    statement rather than anything the user wrote.
    """
    kept: list[str] = []
    skip_caret = False
    for line in str(exc).splitlines():
        if skip_caret and line.strip() == "^":
            skip_caret = False
            continue
        skip_caret = False
        if internal_sql and line.startswith("LINE "):
            skip_caret = True
            continue
        if line.lstrip().startswith(_HINT_LINES):
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _file_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_literal(str(f)) for f in files) + "]"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _materialize_limit() -> int:
    """Text files up to an eighth of physical memory are loaded; a table takes about twice the
    CSV's size in memory, and the audit needs room beside it."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        memory = 8 << 30
    return int(memory) // 8


def file_scans(
    name: str, source: FileSource, *, base_dir: Path
) -> tuple[FileFormat, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """A file source split file by file, for readers elsewhere (a cluster's workers).

    Returns the format, the files (Parquet) or one DuckDB scan per file with every column's type
    pinned to what the whole source reads as (CSV, JSON lines), and the (name, DuckDB type)
    columns. Only the first rows are looked at to settle types, never the whole source.
    """
    origin = Origin.charter(name)
    files = resolve_files(source.path, base_dir=base_dir, origin=origin)
    fmt = file_format(source, files, origin=origin)
    connection = duckdb.connect()
    load = _Load(connection, name, files, fmt, origin)
    try:
        if fmt == "parquet":
            whole = _parquet_scan(files.files)
        elif fmt == "json":
            whole = _json_scan(files.files, None)
        else:
            encoding = (
                normalize_encoding(
                    source.encoding, subject=origin.subject, option=origin.option("encoding")
                )
                if source.encoding is not None
                else detect_encoding(files.files[0])
            )
            if encoding not in DUCKDB_ENCODINGS:
                raise DataSourceError(
                    f"{origin.subject}: {encoding} text is read on one machine only; convert "
                    f"{files.location} to UTF-8 (or Parquet) to read it on a cluster"
                )
            text = {
                c: "VARCHAR"
                for c in _yes_no_columns(load, _csv_scan(files.files, source, encoding))
            }
            whole = _csv_scan(files.files, source, encoding, None, text)
        try:
            described = connection.execute(f"DESCRIBE SELECT * FROM {whole}").fetchall()
        except duckdb.Error as exc:
            raise load.unreadable(exc) from exc
    finally:
        connection.close()
    columns = tuple((str(c[0]), str(c[1])) for c in described)
    if fmt == "parquet":
        return fmt, tuple(str(f) for f in files.files), columns
    types = dict(columns)
    if fmt == "json":
        scans = tuple(_json_scan([f], None, types) for f in files.files)
    else:
        scans = tuple(_csv_scan([f], source, encoding, None, types) for f in files.files)
    return fmt, scans, columns
