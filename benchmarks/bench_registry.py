"""The registry benchmark: what the audit trail and the version store cost, against plain SQLite.

Measures in one process, on a fresh embedded store (SQLite, WAL) in a temporary folder:
  a. appending N trail entries, each in its own locked transaction (what every promote, rollback
     or approval pays), against the floor: N plain `INSERT` + `COMMIT` of the same row shape with
     the sqlite3 module on a WAL database with the same pragmas;
  b. verifying the whole trail (read + recompute every hash), against the floor: reading the same
     rows with sqlite3 and hashing each row's text once with SHA-256;
  c. opening an up-to-date store (the cost every CLI command pays before its work);
  d. listing V versions with their aliases (`charter models`), each with a 4 KB record;
  e. moving the production alias (one locked transaction: read aliases, append, update).
Each figure is the median over --repeat rounds; ratios are to the floor measured in the same round.
Prints a table and appends a dated section to benchmarks/BENCHMARKS.md (unless --no-record).

    python benchmarks/bench_registry.py [--repeat 5] [--entries 2000] [--versions 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from charter import __version__
from charter.registry import ArtifactStore, MetadataStore, Registry
from charter.registry._registry import PRODUCTION
from charter.registry._schema import VERSIONS

HERE = Path(__file__).resolve().parent
BENCHMARKS_MD = HERE / "BENCHMARKS.md"
PROJECT = "bench"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def append_entries(registry: Registry, count: int) -> None:
    for index in range(count):
        registry.record(
            PROJECT,
            "approved",
            actor="bench",
            version=index % 50 + 1,
            details={"approved_by": "bench", "i": index},
        )


def floor_inserts(path: Path, count: int) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, project TEXT, seq INTEGER, at TEXT, actor TEXT, "
        "action TEXT, version INTEGER, alias TEXT, reason TEXT, details TEXT, prev_hash TEXT, hash TEXT)"
    )
    for index in range(count):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO events VALUES (NULL, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
            (
                PROJECT,
                index + 1,
                datetime.now(UTC).isoformat(),
                "bench",
                "approved",
                index % 50 + 1,
                json.dumps({"approved_by": "bench", "i": index}),
                "0" * 64,
                "1" * 64,
            ),
        )
        connection.execute("COMMIT")
    connection.close()


def floor_read_and_hash(path: Path) -> None:
    connection = sqlite3.connect(path)
    for row in connection.execute("SELECT * FROM events ORDER BY seq"):
        hashlib.sha256(repr(row).encode()).hexdigest()
    connection.close()


def add_versions(store: MetadataStore, count: int) -> None:
    record = json.dumps(
        {
            "metric": "net_value",
            "test": {"value": 1.0, "value_ci": [0.5, 1.5]},
            "lineage": {"pad": "x" * 4000},
        }
    )
    with store.locked(PROJECT) as connection:
        connection.execute(
            VERSIONS.insert(),
            [
                {
                    "project": PROJECT,
                    "number": n,
                    "candidate": "boosted",
                    "kind": "boosted",
                    "run": "r",
                    "selected": True,
                    "created": "2026-11-24T00:00:00+00:00",
                    "created_by": "bench",
                    "location": f"{PROJECT}/{n}",
                    "record": record,
                }
                for n in range(1, count + 1)
            ],
        )


def round_once(entries: int, versions: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'registry.db'}"
        store = MetadataStore(url)
        registry = Registry(store, ArtifactStore(str(root / "artifacts")))
        figures = {
            "append": timed(lambda: append_entries(registry, entries)),
            "append floor": timed(lambda: floor_inserts(root / "floor.db", entries)),
            "verify": timed(lambda: registry.verify(PROJECT)),
            "verify floor": timed(lambda: floor_read_and_hash(root / "floor.db")),
            "open": timed(lambda: MetadataStore(url).dispose()),
        }
        add_versions(store, versions)
        figures["list versions"] = timed(lambda: registry.versions(PROJECT))

        def move() -> None:
            with store.locked(PROJECT) as connection:
                registry.move_alias(
                    connection,
                    PROJECT,
                    PRODUCTION,
                    1,
                    actor="bench",
                    action="promoted",
                    reason=None,
                )

        figures["move alias"] = timed(move)
        assert registry.verify(PROJECT).ok
        store.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rounds = [round_once(args.entries, args.versions) for _ in range(args.repeat)]
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    ratio = {
        "append": statistics.median(r["append"] / r["append floor"] for r in rounds),
        "verify": statistics.median(r["verify"] / r["verify floor"] for r in rounds),
    }
    n = args.entries
    rows = [
        (
            "trail append, per entry (own transaction)",
            f"{median['append'] / n * 1000:.2f} ms",
            f"{ratio['append']:.2f}× plain sqlite3 INSERT+COMMIT ({median['append floor'] / n * 1000:.2f} ms)",
        ),
        (
            f"trail verify, {n:,} entries",
            f"{median['verify'] * 1000:.0f} ms",
            f"{ratio['verify']:.2f}× sqlite3 read + one SHA-256 per row ({median['verify floor'] * 1000:.0f} ms)",
        ),
        ("open an up-to-date store", f"{median['open'] * 1000:.1f} ms", ""),
        (
            f"list {args.versions} versions with aliases",
            f"{median['list versions'] * 1000:.1f} ms",
            "",
        ),
        ("move the production alias", f"{median['move alias'] * 1000:.1f} ms", ""),
    ]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.platform()}; load average {load} after the run.",
        f"- Software: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, charter {__version__}.",
        f"- `python benchmarks/bench_registry.py --repeat {args.repeat} --entries {n} --versions {args.versions}`; medians of {args.repeat} rounds.",
        "",
        "| measurement | median | against the floor |",
        "|---|---:|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    print("\n".join(lines))
    if not args.no_record:
        text = BENCHMARKS_MD.read_text(encoding="utf-8")
        heading = "## Registry (issue 5)"
        if heading not in text:
            text = text.rstrip("\n") + f"\n\n{heading}\n\n"
        BENCHMARKS_MD.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
