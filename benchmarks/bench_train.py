"""The training benchmark: `charter train` against the clock and against a hand-trained LightGBM.

Measures, on the same Parquet file (100,000 rows x 30 columns, see generate.py) and in the same run:
  a. `charter train --json` as a user runs it, in a fresh project folder whose charter.yaml points
     at the file: baseline (a rule) + simple + boosted, 5-fold cross-validation, then the holdout.
     Without `data.time` in the charter the holdout and the folds are stratified; a second
     charter with `data.time: event_time` makes both time-ordered (--skip-time leaves it out).
     Wall time including interpreter start, peak RSS and CPU seconds of the command.
  b. a plain, well-configured LightGBM trained by hand on the *same split*: the child reads the
     holdout that (a) recorded in the project (`.charter/holdout.parquet`), builds the same rows
     with charter's `build_frame`, trains on the training rows (native categoricals, early
     stopping on a stratified 10% of them, learning rate 0.05, up to 2000 rounds, 31 leaves,
     2 threads) and scores the test rows. Its ROC AUC is set against the boosted candidate's
     test ROC AUC in (a)'s JSON.

Every measurement runs in a fresh child process (the machinery is bench_audit.py's), in rounds
that interleave them; medians are reported. Prints a table and inserts a dated section into the
training part of benchmarks/BENCHMARKS.md (unless --no-record).

    python benchmarks/bench_train.py [--repeat 3] [--skip-time] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_audit import (
    HEADER,
    PAYLOAD_MARK,
    Measurement,
    Run,
    _failure,
    _mib,
    _say,
    by_name,
    machine,
    measurement_rows,
    print_rows,
    run_child,
)

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / ".data" / "train_100k.parquet"
BENCHMARKS_MD = HERE / "BENCHMARKS.md"
RECORD_MARK = "<!-- bench_train.py inserts each run's results above this line -->"
TARGET = "churned"
TIME = "event_time"
EXPECTED_ROWS = 100_000

# The goals.
MAX_TRAIN_SECONDS = 90.0
MAX_AUC_GAP = 0.005

# The hand-trained LightGBM: plain and well configured.
HAND_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "num_threads": 2,
    "seed": 0,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}
HAND_MAX_ROUNDS = 2000
HAND_PATIENCE = 100
HAND_VALIDATION_SHARE = 0.10


@dataclass(frozen=True)
class Scheme:
    """One way of running `charter train`: its charter's time column decides the validation."""

    key: str
    label: str
    time_column: str | None


SCHEMES = (
    Scheme("stratified", "stratified", None),
    Scheme("time", "time-ordered", TIME),
)


# ---------------------------------------------------------------- child task (its own process)


def _task_hand(folder: Path) -> dict[str, Any]:
    """LightGBM by hand on the rows and the holdout of the project in `folder`."""
    import lightgbm as lgb
    import numpy as np
    import sklearn
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from charter.api import Project
    from charter.modeling._frame import build_frame
    from charter.modeling._splits import holdout_mask, load_holdout

    clock = time.perf_counter()
    project = Project(folder / "charter.yaml")
    frame = build_frame(project.charter, project.dataset(), task="classification")
    holdout = load_holdout(project.workspace / "holdout.parquet")
    is_test = holdout_mask(frame, holdout)
    built = time.perf_counter()

    train_rows, test_rows = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    y = np.asarray(frame.y, dtype=np.int64)
    fit_rows, valid_rows = train_test_split(
        train_rows,
        test_size=HAND_VALIDATION_SHARE,
        stratify=y[train_rows],
        random_state=HAND_PARAMS["seed"],
    )
    X = frame.X  # numbers as float64, text as pandas categoricals: LightGBM's native categoricals
    categorical = [str(c) for c in X.columns if str(X[c].dtype) == "category"]
    fit_set = lgb.Dataset(X.iloc[fit_rows], label=y[fit_rows])
    valid_set = lgb.Dataset(X.iloc[valid_rows], label=y[valid_rows], reference=fit_set)
    booster = lgb.train(
        HAND_PARAMS,
        fit_set,
        num_boost_round=HAND_MAX_ROUNDS,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(HAND_PATIENCE, verbose=False)],
    )
    trained = time.perf_counter()
    scores = booster.predict(X.iloc[test_rows], num_iteration=booster.best_iteration)
    auc = float(roc_auc_score(y[test_rows], scores))
    done = time.perf_counter()

    # Not timed: the same rounds refitted on all training rows (as charter refits), and charter's
    # saved boosted model scored again on these test rows, to check the leaderboard's figure
    # and to put a paired bootstrap interval on the difference.
    refit = lgb.train(
        {**HAND_PARAMS},
        lgb.Dataset(X.iloc[train_rows], label=y[train_rows]),
        num_boost_round=max(int(booster.best_iteration), 1),
    )
    refit_auc = float(roc_auc_score(y[test_rows], refit.predict(X.iloc[test_rows])))
    charter_scores = _charter_boosted_scores(folder, frame.subset(test_rows))
    charter_auc = gap_ci = None
    if charter_scores is not None:
        charter_auc = float(roc_auc_score(y[test_rows], charter_scores))
        gap_ci = paired_auc_interval(y[test_rows], charter_scores, scores)
    return {
        "seconds": done - built,
        "parts": {
            "build_frame": built - clock,
            "train": trained - built,
            "predict": done - trained,
        },
        "roc_auc": auc,
        "refit_roc_auc": refit_auc,
        "charter_boosted_roc_auc": charter_auc,
        "gap_ci": gap_ci,
        "best_iteration": int(booster.best_iteration),
        "rows": {"train": int(train_rows.size), "test": int(test_rows.size)},
        "test_positives": int(y[test_rows].sum()),
        "features": int(X.shape[1]),
        "categorical": categorical,
        "holdout_scheme": holdout.scheme,
        "lightgbm": lgb.__version__,
        "sklearn": sklearn.__version__,
    }


def _charter_boosted_scores(folder: Path, test: Any) -> Any:
    """The boosted model `charter train` saved in `folder`, scoring `test` (None if not saved)."""
    from charter.modeling._artifacts import load_candidate

    saved = sorted((folder / ".charter" / "runs").glob("*/models/boosted"))
    return load_candidate(saved[-1]).predict(test) if saved else None


def _auc(y: Any, scores: Any) -> float:
    """ROC AUC from ranks (ties get their average rank): the Mann-Whitney statistic."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = len(y) - positives
    ranks = rankdata(scores)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_auc_interval(
    y: Any, first: Any, second: Any, *, resamples: int = 1000, seed: int = 0
) -> list[float]:
    """95% percentile bootstrap interval of AUC(first) - AUC(second), resampling test rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(resamples):
        index = rng.integers(0, len(y), len(y))
        gaps.append(_auc(y[index], first[index]) - _auc(y[index], second[index]))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return [float(low), float(high)]


def _emit(payload: dict[str, Any]) -> None:
    print(PAYLOAD_MARK + json.dumps(payload), flush=True)


def _child(python: str | Path, task: str, data: Path, *extra: str) -> list[str]:
    return [
        str(python),
        str(Path(__file__).resolve()),
        "--child",
        task,
        "--data",
        str(data),
        *extra,
    ]


# ---------------------------------------------------------------- one round: train, then by hand


def _charter_yaml(data: Path, time_column: str | None) -> str:
    """A churn charter: a value per decision and today's rule as the baseline."""
    time_line = f"  time: {time_column}\n" if time_column else ""
    return (
        "project: train_benchmark\n"
        "owner: Benchmark\n"
        "problem: Which customers will cancel?\n"
        "decision: Offer a retention discount\n"
        "task: classification\n"
        f"target: {TARGET}\n"
        "positive_class: 1\n"
        "data:\n"
        f"  sources:\n    customers: {json.dumps(str(data))}\n"
        f"{time_line}"
        "success:\n"
        "  value:\n"
        "    true_positive: 100\n"
        "    false_positive: -20\n"
        "    false_negative: 0\n"
        "    true_negative: 0\n"
        "baseline:\n"
        "  rule: \"contract = 'monthly' AND complaints >= 1\"\n"
    )


def _summary(document: dict[str, Any], exit_code: int) -> dict[str, Any]:
    """What the benchmark keeps of `charter train --json`."""
    candidates: dict[str, Any] = {}
    for entry in document.get("leaderboard", []):
        params = entry.get("params") or {}
        search = params.get("search") or {}
        candidates[str(entry["candidate"])] = {
            "kind": entry.get("kind"),
            "selected": entry.get("selected"),
            "seconds": entry.get("seconds"),
            "roc_auc": (entry.get("test") or {}).get("roc_auc"),
            "test_value": (entry.get("test") or {}).get("value"),
            "cv_value": (entry.get("cv") or {}).get("value"),
            "config": params.get("config"),
            "iterations": params.get("iterations"),
            "budget_seconds": params.get("budget_seconds"),
            "trials_run": search.get("trials_run"),
            "stopped_by": search.get("stopped_by"),
            "search_seconds": search.get("seconds"),
        }
    return {
        "how": "charter train --json (CLI, wall time incl. start-up)",
        "exit_code": exit_code,
        "train_seconds": document.get("seconds"),
        "validation": document.get("validation"),
        "holdout": document.get("holdout"),
        "rows": document.get("rows"),
        "selected": document.get("selected"),
        "beats_baseline": document.get("beats_baseline"),
        "headline": document.get("headline"),
        "candidates": candidates,
    }


def _round(
    data: Path,
    scheme: Scheme,
    train: Measurement,
    hand: Measurement,
    *,
    budget: float | None,
    folds: int,
) -> None:
    """`charter train` in a fresh project folder, then LightGBM by hand on the holdout it recorded."""
    if train.error is not None:
        return
    with tempfile.TemporaryDirectory(prefix="charter-train-bench-") as tmp:
        folder = Path(tmp)
        charter_path = folder / "charter.yaml"
        charter_path.write_text(_charter_yaml(data, scheme.time_column), encoding="utf-8")
        command = [
            sys.executable,
            "-c",
            "from charter.cli import main; main()",
            "train",
            "--json",
            "--charter",
            str(charter_path),
            "--folds",
            str(folds),
            *(["--budget", f"{budget:g}"] if budget is not None else []),
        ]
        try:
            run = run_child(command, cwd=folder, timeout=1800, wall_time=True)
            exit_code = int(run.payload["exit_code"])
            try:
                document = json.loads(run.payload["stdout"])
            except json.JSONDecodeError:
                summary = f"`charter train --json` exit code {exit_code}, no JSON"
                raise RuntimeError(_failure(summary, run.payload["stderr_tail"])) from None
            if exit_code not in (0, 3):  # 3: no candidate beats the baseline, still a result
                raise RuntimeError(_failure(f"exit code {exit_code}", run.payload["stderr_tail"]))
        except (RuntimeError, OSError) as exc:
            train.error = str(exc)
            _say(f"  {train.label}: FAILED: {exc}")
            return
        run.payload = _summary(document, exit_code)
        train.runs.append(run)
        boosted = run.payload["candidates"].get("boosted", {})
        _say(
            f"  {train.label}: {run.seconds:.2f} s, peak RSS {_mib(run.peak_rss)}, "
            f"boosted test ROC AUC {boosted.get('roc_auc')}"
        )
        if hand.error is not None:
            return
        try:
            hand_run = run_child(
                _child(sys.executable, "hand", data, "--folder", str(folder)),
                cwd=folder,
                timeout=1800,
            )
        except (RuntimeError, OSError) as exc:
            hand.error = str(exc)
            _say(f"  {hand.label}: FAILED: {exc}")
            return
        hand.runs.append(hand_run)
        _say(
            f"  {hand.label}: {hand_run.seconds:.2f} s, "
            f"test ROC AUC {hand_run.payload['roc_auc']:.4f}"
        )


# ---------------------------------------------------------------- the benchmark


def _count_rows(data: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(data).metadata.num_rows)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    data: Path = args.data.resolve()
    if not data.exists():
        raise SystemExit(
            f"{data} does not exist: run `python benchmarks/generate.py --rows {EXPECTED_ROWS} "
            f"--out {data}` first (or benchmarks/run_all.sh train, which does)."
        )
    host = machine()  # before the run, so the load average is the machine's, not ours
    host["versions"].update(_versions())
    schemes = [s for s in SCHEMES if not (args.skip_time and s.time_column)]
    pairs = {
        s.key: (
            Measurement(f"train_{s.key}", f"charter train ({s.label})"),
            Measurement(f"hand_{s.key}", f"hand LightGBM, same split ({s.label})"),
        )
        for s in schemes
    }
    loads: list[float] = []
    # Rounds interleave the measurements so that drift in the machine's speed hits all alike.
    for round_number in range(args.repeat):
        _say(f"round {round_number + 1}")
        for scheme in schemes:
            train, hand = pairs[scheme.key]
            _round(data, scheme, train, hand, budget=args.budget, folds=args.folds)
        loads.append(os.getloadavg()[0])
    return {
        "when": datetime.now(UTC),
        "machine": host,
        "data": data,
        "rows": _count_rows(data),
        "repeat": args.repeat,
        "budget": args.budget,
        "folds": args.folds,
        "highest_load": max(loads, default=0.0),
        "schemes": [s.key for s in schemes],
        "measurements": [m for s in schemes for m in pairs[s.key]],
    }


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for module in ("lightgbm", "sklearn", "numpy", "pandas"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    return versions


# ---------------------------------------------------------------- reporting


def _boosted_aucs(train: Measurement) -> list[float | None]:
    aucs: list[float | None] = []
    for run in train.runs:
        value = run.payload["candidates"].get("boosted", {}).get("roc_auc")
        aucs.append(None if value is None else float(value))
    return aucs


def auc_gaps(train: Measurement, hand: Measurement) -> list[float]:
    """The boosted candidate's test ROC AUC minus the hand LightGBM's, run by run (same split)."""
    gaps: list[float] = []
    for auc, hand_run in zip(_boosted_aucs(train), hand.runs, strict=False):
        if auc is not None:
            gaps.append(auc - float(hand_run.payload["roc_auc"]))
    return gaps


def goals(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, measured, goal, met) for each of the issue's targets."""
    m = by_name(results)
    rows: list[tuple[str, str, str, str]] = []
    folds = results["folds"]
    for key in results["schemes"]:
        label = next(s.label for s in SCHEMES if s.key == key)
        train, hand = m[f"train_{key}"], m[f"hand_{key}"]
        what = f"`charter train`, {label}, {folds}-fold CV"
        goal = f"< {MAX_TRAIN_SECONDS:.0f} s"
        if train.ok:
            met = "yes" if train.median < MAX_TRAIN_SECONDS else "**no**"
            rows.append((what, f"{train.median:.1f} s", goal, met))
        else:
            rows.append((what, "not measured", goal, "?"))
        gaps = auc_gaps(train, hand) if train.ok and hand.ok else []
        what = f"boosted − hand LightGBM test ROC AUC, {label}"
        goal = f"within ±{MAX_AUC_GAP}"
        if gaps:
            worst = max(gaps, key=abs)
            shown = f"{statistics.median(gaps):+.4f} (worst {worst:+.4f})"
            rows.append((what, shown, goal, "yes" if abs(worst) <= MAX_AUC_GAP else "**no**"))
        else:
            rows.append((what, "not measured", goal, "?"))
        # The reason for the goal, "the guard rails cost no accuracy", is one-sided.
        what = f'… read as "costs no accuracy": boosted not below hand, {label}'
        goal = f"≥ −{MAX_AUC_GAP}"
        if gaps:
            lowest = min(gaps)
            met = "yes" if lowest >= -MAX_AUC_GAP else "**no**"
            rows.append((what, f"{lowest:+.4f} (lowest)", goal, met))
        else:
            rows.append((what, "not measured", goal, "?"))
    return rows


def checks(results: dict[str, Any]) -> list[str]:
    """What the hand child established about charter's figures, in sentences."""
    m = by_name(results)
    lines: list[str] = []
    for key in results["schemes"]:
        label = next(s.label for s in SCHEMES if s.key == key)
        train, hand = m[f"train_{key}"], m[f"hand_{key}"]
        pairs = [
            (auc, run.payload)
            for auc, run in zip(_boosted_aucs(train), hand.runs, strict=False)
            if auc is not None and run.payload.get("charter_boosted_roc_auc") is not None
        ]
        if not pairs:
            continue
        largest = max(abs(auc - float(p["charter_boosted_roc_auc"])) for auc, p in pairs)
        intervals = ", ".join(
            f"[{p['gap_ci'][0]:+.4f}, {p['gap_ci'][1]:+.4f}]" for _, p in pairs if p.get("gap_ci")
        )
        refit = [float(p["refit_roc_auc"]) for _, p in pairs if p.get("refit_roc_auc") is not None]
        lines.append(
            f"{label}: charter's saved boosted model, scored again on the hand child's test rows, "
            f"gives the leaderboard's ROC AUC in {len(pairs)} of {len(pairs)} runs (largest "
            f"difference {largest:.1e}), so both were scored on the same rows; paired bootstrap "
            f"95% interval of boosted − hand per run: {intervals}; the hand model's trees "
            f"refitted on all training rows (as charter refits): ROC AUC {_spread(refit)}."
        )
    return lines


def _median_of(runs: Sequence[Run], get: Callable[[dict[str, Any]], Any]) -> float | None:
    values = [float(v) for v in (get(r.payload) for r in runs) if v is not None]
    return statistics.median(values) if values else None


def _candidate_field(name: str, key: str) -> Callable[[dict[str, Any]], Any]:
    """Reads one candidate's `key` from a run's summary."""

    def get(payload: dict[str, Any]) -> Any:
        return payload["candidates"].get(name, {}).get(key)

    return get


def _spread(values: Sequence[float], digits: int = 4) -> str:
    low, high = min(values), max(values)
    if round(low, digits) == round(high, digits):
        return f"{low:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def _note(m: Measurement) -> str:
    payload = m.runs[-1].payload
    if m.name.startswith("train_"):
        parts: list[str] = []
        validation = payload.get("validation") or {}
        holdout = payload.get("holdout") or {}
        parts.append(
            f"CV {validation.get('scheme')} ({validation.get('folds')} folds), "
            f"holdout {holdout.get('scheme')} {float(holdout.get('share') or 0):.0%}"
        )
        inner = _median_of(m.runs, lambda p: p.get("train_seconds"))
        if inner is not None:
            parts.append(f"train() {inner:.1f} s")
        for name in ("baseline", "simple", "boosted"):
            seconds = _median_of(m.runs, _candidate_field(name, "seconds"))
            if seconds is not None:
                parts.append(f"{name} {seconds:.1f} s")
        search = _median_of(m.runs, _candidate_field("boosted", "search_seconds"))
        if search is not None:
            parts.append(f"boosted search (apart from the above) {search:.1f} s")
        boosted = [r.payload["candidates"].get("boosted") for r in m.runs]
        if all(boosted):
            trials = sorted({int(b["trials_run"] or 0) for b in boosted if b})
            stops = sorted({str(b["stopped_by"]) for b in boosted if b})
            shown = "/".join(str(t) for t in trials)
            parts.append(
                f"boosted search: {shown} setting(s) tried, ended by {'/'.join(stops)}; "
                f"final model {boosted[-1]['iterations'] if boosted[-1] else '?'} trees"
            )
        for name in ("simple", "boosted"):
            aucs = [
                float(r.payload["candidates"][name]["roc_auc"])
                for r in m.runs
                if r.payload["candidates"].get(name, {}).get("roc_auc") is not None
            ]
            if aucs:
                parts.append(f"{name} test ROC AUC {_spread(aucs)}")
        parts.append(f"selected {payload.get('selected')}")
        return "; ".join(parts)
    if m.name.startswith("hand_"):
        aucs = [float(r.payload["roc_auc"]) for r in m.runs]
        build = _median_of(m.runs, lambda p: p["parts"]["build_frame"])
        rows = payload.get("rows") or {}
        return (
            f"test ROC AUC {_spread(aucs)}; {payload.get('best_iteration')} trees (early stopping "
            f"on {HAND_VALIDATION_SHARE:.0%} of {rows.get('train', 0):,} training rows); "
            f"{rows.get('test', 0):,} test rows; build_frame + holdout {build or 0:.1f} s "
            "not counted; time is train + predict; CPU s and peak RSS are the whole child's, "
            "checks below included"
        )
    return ""


def print_table(results: dict[str, Any]) -> None:
    print_rows(measurement_rows(results, _note))
    for what, measured, goal, met in goals(results):
        print(f"{what:<66} {measured:>26}   goal {goal:<10} met: {met.strip('*')}")
    print()
    for line in checks(results):
        print(line)
    print()


def markdown(results: dict[str, Any]) -> str:
    """The dated section inserted into BENCHMARKS.md's training results."""
    mach = results["machine"]
    versions = mach["versions"]
    data: Path = results["data"]
    try:
        shown = data.relative_to(HERE.parent)
    except ValueError:
        shown = data
    budget = (
        f"--budget {results['budget']:g}" if results["budget"] is not None else "default --budget"
    )
    lines = [
        "",
        f"#### {results['when']:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {mach['cores']} cores ({mach['cpu']}), {_mib(mach['memory'])} memory, "
        f"{mach['system']}; load average {mach['load']} before the run, highest 1-minute "
        f"load after a round {results['highest_load']:.2f}.",
        f"- Software: Python {versions['python']}, LightGBM {versions['lightgbm']}, "
        f"scikit-learn {versions['sklearn']}, DuckDB {versions['duckdb']}, "
        f"charter {versions['charter']} (commit {mach['commit']}).",
        f"- Data: `{shown}`, {results['rows']:,} rows, {data.stat().st_size / 1e6:.1f} MB on disk.",
        f"- Settings: `charter train --json --folds {results['folds']}` ({budget}); "
        f"repetitions: {results['repeat']}; times are medians, each run a fresh process.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in measurement_rows(results, _note):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += ["", "| goal (issue 4) | measured | target | met |", "|---|---:|---:|---|"]
    for what, measured, goal, met in goals(results):
        lines.append(f"| {what} | {measured} | {goal} | {met} |")
    found = checks(results)
    if found:
        lines += ["", *(f"- {line}" for line in found)]
    return "\n".join(lines) + "\n"


def record(section: str, path: Path = BENCHMARKS_MD) -> None:
    """Insert `section` above the training results' marker (append when there is none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if RECORD_MARK in text:
        before, after = text.split(RECORD_MARK, 1)
        text = before.rstrip("\n") + "\n" + section + "\n" + RECORD_MARK + after
    else:
        text = text + section
    path.write_text(text, encoding="utf-8")


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "when": results["when"].isoformat(),
        "machine": results["machine"],
        "data": str(results["data"]),
        "rows": results["rows"],
        "repeat": results["repeat"],
        "budget": results["budget"],
        "folds": results["folds"],
        "highest_load": results["highest_load"],
        "measurements": {
            m.name: {
                "label": m.label,
                "error": m.error,
                "seconds": m.seconds(),
                "median": m.median if m.ok else None,
                "peak_rss": [r.peak_rss for r in m.runs],
                "wall": [r.wall for r in m.runs],
                "cpu": [r.cpu for r in m.runs],
                "payloads": [r.payload for r in m.runs],
            }
            for m in results["measurements"]
        },
        "goals": [
            dict(zip(("what", "measured", "goal", "met"), row, strict=True))
            for row in goals(results)
        ],
        "checks": checks(results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the Parquet file (see generate.py)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions of each measurement (default 3)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="passed to `charter train --budget` (default: charter's own default)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument(
        "--skip-time", action="store_true", help="do not run the time-ordered charter"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not add the results to BENCHMARKS.md"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the raw results as JSON here"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child != "hand" or args.folder is None:
            raise SystemExit("--child hand needs --folder")
        _emit(_task_hand(args.folder))
        return 0
    if args.repeat < 1 or args.folds < 2:
        parser.error("--repeat must be at least 1 and --folds at least 2")

    results = benchmark(args)
    print_table(results)
    if results["rows"] != EXPECTED_ROWS:
        _say(f"note: the data has {results['rows']:,} rows; the issue's goals are for 100,000")
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=2, default=str), encoding="utf-8")
    if not args.no_record:
        record(markdown(results))
        _say(f"recorded in {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
