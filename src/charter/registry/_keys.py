"""API keys: made once, shown once, kept only as a SHA-256, each with one scope.

Scopes nest: `admin` may do everything, `feedback` may also predict, `predict` only predicts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from charter.errors import UsageError
from charter.registry._schema import API_KEYS
from charter.registry._store import MetadataStore, now_text

__all__ = ["SCOPES", "ApiKey", "Keys", "Scope"]

Scope = Literal["predict", "feedback", "admin"]
SCOPES: tuple[Scope, ...] = ("predict", "feedback", "admin")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


@dataclass(frozen=True)
class ApiKey:
    """A key's record (never the key itself)."""

    id: int
    project: str
    name: str
    scope: Scope
    prefix: str
    created: str
    created_by: str
    revoked: str | None

    def allows(self, needed: Scope) -> bool:
        return self.revoked is None and _RANK[self.scope] >= _RANK[needed]


class Keys:
    """The API keys of every project in a store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def create(self, project: str, *, scope: str, name: str, actor: str) -> tuple[str, ApiKey]:
        """Make a key; return it (shown once, never stored) and its record."""
        if scope not in SCOPES:
            raise UsageError(f"scope {scope!r} is not one of: {', '.join(SCOPES)}.")
        if not name.strip():
            raise UsageError("a key needs a --name saying who or what uses it.")
        prefix = secrets.token_hex(4)
        key = f"ck_{prefix}_{secrets.token_urlsafe(24)}"
        with self.store.locked(project) as connection:
            inserted = connection.execute(
                API_KEYS.insert().values(
                    project=project,
                    name=name,
                    scope=scope,
                    prefix=prefix,
                    hash=_digest(key),
                    created=now_text(),
                    created_by=actor,
                )
            )
            number = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        return key, self._one(number)

    def find(self, project: str, key: str) -> ApiKey | None:
        """The record of `key` for `project`, or None when unknown."""
        with self.store.read() as connection:
            row = connection.execute(
                select(API_KEYS).where(
                    API_KEYS.c.hash == _digest(key), API_KEYS.c.project == project
                )
            ).first()
        return None if row is None else _key(row)

    def list(self, project: str) -> list[ApiKey]:
        with self.store.read() as connection:
            rows = connection.execute(
                select(API_KEYS).where(API_KEYS.c.project == project).order_by(API_KEYS.c.id)
            ).all()
        return [_key(row) for row in rows]

    def revoke(self, project: str, prefix: str) -> ApiKey:
        """Revoke the key whose prefix (shown by `charter keys list`) is `prefix`."""
        with self.store.locked(project) as connection:
            updated = connection.execute(
                API_KEYS.update()
                .where(
                    API_KEYS.c.project == project,
                    API_KEYS.c.prefix == prefix,
                    API_KEYS.c.revoked.is_(None),
                )
                .values(revoked=now_text())
            )
            if updated.rowcount == 0:
                raise UsageError(
                    f"no active key of {project} starts with {prefix!r}; `charter keys list` shows them."
                )
        return next(k for k in self.list(project) if k.prefix == prefix)

    def _one(self, number: int) -> ApiKey:
        with self.store.read() as connection:
            return _key(connection.execute(select(API_KEYS).where(API_KEYS.c.id == number)).one())


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        project=row.project,
        name=row.name,
        scope=row.scope,
        prefix=row.prefix,
        created=row.created,
        created_by=row.created_by,
        revoked=row.revoked,
    )
