"""API keys from a file, for a service whose keys come from a mounted secret (a container).

One key a line, optionally preceded by its scope: `predict ck_…`, `feedback ck_…`, `admin ck_…`
(a bare key has scope predict). Blank lines and lines starting with `#` are ignored. Only the
keys' SHA-256 are kept in memory, as the store keeps them; a changed file is read again when the
service starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from charter.errors import CharterError
from charter.registry._keys import SCOPES, ApiKey

__all__ = ["KEYS_FILE_VARIABLE", "read_key_file"]

KEYS_FILE_VARIABLE = "CHARTER_SERVE_KEYS_FILE"
_SHORTEST = 16


def read_key_file(path: Path, project: str) -> dict[str, ApiKey]:
    """The keys in `path` by their SHA-256; a CharterError naming the line (never the key) when
    a line is not `[SCOPE] KEY` with a known scope and a key of at least 16 characters."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CharterError(
            f"{path}: cannot read the API key file named by {KEYS_FILE_VARIABLE}: {exc}. "
            "Mount the secret there, or unset the variable."
        ) from None
    keys: dict[str, ApiKey] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        scope, key = ("predict", words[0]) if len(words) == 1 else (words[0], words[1])
        where = f"{path}:{number}"
        if len(words) > 2 or scope not in SCOPES:
            raise CharterError(
                f"{where}: expected `[SCOPE] KEY` with SCOPE one of {', '.join(SCOPES)}, "
                "e.g. `feedback ck_0a1b2c3d_…`."
            )
        if len(key) < _SHORTEST:
            raise CharterError(
                f"{where}: the key is shorter than {_SHORTEST} characters; use one made by "
                "`charter keys create` or `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        keys[digest] = ApiKey(
            id=0,
            project=project,
            name=f"{path.name} line {number}",
            scope=scope,
            prefix="(file)",  # no part of a secret is kept
            created="",
            created_by=KEYS_FILE_VARIABLE,
            revoked=None,
        )
    return keys
