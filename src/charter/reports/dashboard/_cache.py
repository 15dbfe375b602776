"""Values worked out from a file, kept until the file changes: a view must not re-read or
re-render what has not changed (rendering a monitoring run's charts takes ~250 ms)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from charter.errors import CharterError

__all__ = ["FileCache", "parse_json", "read_json"]

T = TypeVar("T")
_Stamp = tuple[int, int, int]


class FileCache(Generic[T]):
    """`build(path)` for one file, built again only when the file's inode, size or mtime change.

    `get()` is None while the file does not exist. Builds are serialised (one at a time), so
    two requests arriving together after a change build once.
    """

    def __init__(self, path: Path, build: Callable[[Path], T]) -> None:
        self.path = path
        self._build = build
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._value: T | None = None

    def get(self) -> T | None:
        stamp = _stamp(self.path)
        if stamp is None:
            return None
        if stamp == self._stamp:
            return self._value
        with self._lock:
            stamp = _stamp(self.path)
            if stamp is None:
                return None
            if stamp != self._stamp:
                self._value = self._build(self.path)
                self._stamp = stamp
            return self._value


def _stamp(path: Path) -> _Stamp | None:
    try:
        found = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON document the workspace keeps (one object), or a CharterError saying how to fix it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CharterError(
            f"{path} cannot be read ({exc}); run the command that writes it again."
        ) from None
    return parse_json(data, path)


def parse_json(data: bytes, path: Path) -> dict[str, Any]:
    """`data` (read from `path`) as one JSON object, or a CharterError naming the file."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CharterError(
            f"{path} cannot be read ({exc}); run the command that writes it again."
        ) from None
    if not isinstance(document, dict):
        raise CharterError(
            f"{path} does not hold a JSON object; run the command that writes it again."
        )
    return document
