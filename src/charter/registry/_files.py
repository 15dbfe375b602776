"""The artifact store: a version's files under any fsspec URL, each checked by SHA-256 on reading.

Files are written under a temporary name and renamed into place (on a local disk, an atomic
rename), and a version becomes visible only when its record commits in the metadata store, after
all of its files are written: a crash while registering leaves unreferenced files, never a half
version.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from pathlib import PurePosixPath

import fsspec
from fsspec.implementations.local import LocalFileSystem

from charter._atomic import write_bytes_atomic
from charter.errors import CharterError

__all__ = ["ArtifactStore", "sha256"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Files by (folder, name) under one root URL: a local folder, s3://..., gs://..., memory://..."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise CharterError(
                f"cannot open the artifact store {url!r}: {exc}. Check CHARTER_ARTIFACTS (or "
                "`store.artifacts` in the charter); remote stores need their fsspec package "
                "(s3fs, gcsfs, adlfs)."
            ) from None

    def path(self, folder: str, name: str = "") -> str:
        parts = [self.root.rstrip("/"), folder] + ([name] if name else [])
        return str(PurePosixPath(*parts))

    def put(self, folder: str, files: Mapping[str, bytes]) -> dict[str, str]:
        """Write every file into `folder`; return each name's SHA-256."""
        for name in files:
            _check_name(name)
        self.fs.makedirs(self.path(folder), exist_ok=True)
        for name, data in files.items():
            target = self.path(folder, name)
            if isinstance(self.fs, LocalFileSystem):
                write_bytes_atomic(target, data)
                continue
            temporary = self.path(folder, f".{name}.{uuid.uuid4().hex}.tmp")
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, target)
        return {name: sha256(data) for name, data in files.items()}

    def get(self, folder: str, name: str, digest: str) -> bytes:
        """The file's bytes, after checking them against the SHA-256 recorded when it was written."""
        _check_name(name)
        target = self.path(folder, name)
        try:
            data: bytes = self.fs.cat_file(target)
        except FileNotFoundError:
            raise CharterError(
                f"the artifact {self.url.rstrip('/')}/{folder}/{name} is missing; the version's "
                "files were moved or deleted. Restore them from a backup of the artifact store."
            ) from None
        if sha256(data) != digest:
            raise CharterError(
                f"the artifact {self.url.rstrip('/')}/{folder}/{name} does not match the SHA-256 "
                "recorded when it was registered: it was changed afterwards. It was not loaded; "
                "restore the original file from a backup."
            )
        return data

    def exists(self, folder: str, name: str) -> bool:
        return bool(self.fs.exists(self.path(folder, name)))


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise CharterError(f"{name!r} is not a plain artifact file name.")
