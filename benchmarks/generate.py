"""Write the audit benchmark's data: a churn-like table of N rows x 30 columns, as Parquet.

The same seed and row count always give the same values. Columns: 20 numeric (normal,
lognormal, gamma, beta and integer counts; some with missing values, two with sentinel
numbers, -1 and 9999, standing for "unknown"), 8 categorical (3 to 200 levels), a timestamp
spread over two years, and a binary target that depends on a handful of the features.

    python benchmarks/generate.py --rows 1000000 --out benchmarks/.data/audit_1m.parquet
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_OUT = Path(__file__).resolve().parent / ".data" / "audit_1m.parquet"
TARGET = "churned"
TIME = "event_time"

_START = np.datetime64("2023-01-01T00:00:00", "s")
_SPAN_SECONDS = 730 * 24 * 3600  # two years

# name -> number of levels; level k of column c is f"{c}_{k:03d}" unless words are given
_CATEGORICAL_LEVELS: dict[str, int] = {
    "plan": 3,
    "contract": 4,
    "payment_method": 5,
    "channel": 7,
    "region": 12,
    "device_model": 25,
    "segment": 60,
    "city": 200,
}
_WORDS: dict[str, list[str]] = {
    "plan": ["basic", "standard", "premium"],
    "contract": ["monthly", "quarterly", "yearly", "two_year"],
    "payment_method": ["card", "bank_transfer", "paypal", "cash", "voucher"],
    "channel": ["web", "app", "store", "phone", "partner", "email", "other"],
}


def generate(rows: int, seed: int = 0) -> pa.Table:
    """The benchmark table with `rows` rows, determined entirely by `seed`."""
    rng = np.random.default_rng(seed)
    n = rows

    def with_missing(values: np.ndarray, share: float) -> pa.Array:
        mask = rng.random(n) < share
        return pa.array(values, mask=mask)

    def with_sentinel(values: np.ndarray, share: float, sentinel: float) -> np.ndarray:
        out = values.copy()
        out[rng.random(n) < share] = sentinel
        return out

    age = np.clip(np.round(rng.normal(44, 13, n)), 18, 90).astype(np.int64)
    tenure = rng.poisson(26, n).astype(np.int64)
    monthly = np.round(np.clip(rng.normal(68, 24, n), 5, None), 2)
    total = np.round(monthly * tenure + rng.normal(0, 40, n), 2)
    complaints = rng.poisson(0.35, n).astype(np.int64)
    calls = rng.poisson(2.5 + complaints, n).astype(np.int64)
    income = np.round(rng.lognormal(10.6, 0.55, n), 2)
    credit = np.clip(np.round(rng.normal(660, 75, n)), 300, 850)
    last_login = np.floor(rng.exponential(9.0, n))
    satisfaction = np.clip(np.round(rng.normal(7 - 0.9 * complaints, 1.8)), 1, 10).astype(np.int64)
    late = rng.negative_binomial(1, 0.7, n).astype(np.int64)
    products = (rng.poisson(1.4, n) + 1).astype(np.int64)
    usage_gb = np.round(rng.gamma(1.6, 9.0, n), 3)
    discount = np.round(rng.beta(2.0, 9.0, n), 4)

    categorical = {
        name: _categorical(rng, name, levels, n) for name, levels in _CATEGORICAL_LEVELS.items()
    }
    contract_codes = categorical["contract"][1]

    # churn: more likely with complaints, short tenure, monthly contracts, recent inactivity
    logit = (
        -2.2
        + 0.55 * complaints
        - 0.035 * tenure
        + 0.9 * (contract_codes == 0)
        + 0.04 * np.minimum(last_login, 40)
        - 0.18 * (satisfaction - 7)
        + 0.25 * late
        + 0.006 * (monthly - 68)
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    seconds = rng.integers(0, _SPAN_SECONDS, n)
    event_time = pa.array(_START + seconds.astype("timedelta64[s]"), type=pa.timestamp("us"))

    columns: dict[str, pa.Array] = {
        "age": pa.array(age),
        "tenure_months": pa.array(tenure),
        "monthly_charges": pa.array(monthly),
        "total_charges": with_missing(total, 0.012),
        "income": with_missing(income, 0.06),
        "credit_score": pa.array(with_sentinel(credit, 0.02, 9999.0)),
        "days_since_login": pa.array(with_sentinel(last_login, 0.03, -1.0).astype(np.int64)),
        "support_calls": pa.array(calls),
        "complaints": pa.array(complaints),
        "satisfaction": with_missing(satisfaction, 0.10),
        "late_payments": pa.array(late),
        "num_products": pa.array(products),
        "data_usage_gb": with_missing(usage_gb, 0.02),
        "discount_rate": pa.array(discount),
        "session_minutes": pa.array(np.round(rng.lognormal(3.0, 1.0, n), 2)),
        "pages_per_visit": pa.array(np.round(rng.gamma(2.0, 2.5, n), 2)),
        "latency_ms": pa.array(np.round(rng.lognormal(5.0, 0.45, n), 1)),
        "account_balance": pa.array(np.round(rng.normal(950, 800, n), 2)),
        "support_wait_s": with_missing(np.round(rng.exponential(140, n), 1), 0.04),
        "engagement_score": pa.array(np.round(rng.uniform(0, 100, n), 3)),
    }
    for name, (array, _) in categorical.items():
        columns[name] = array
    columns[TIME] = event_time
    columns[TARGET] = pa.array(churned)
    return pa.table(columns)


def _categorical(
    rng: np.random.Generator, name: str, levels: int, n: int
) -> tuple[pa.Array, np.ndarray]:
    """Skewed (Zipf-like) level frequencies; `segment` and `device_model` have a few missing."""
    labels = _WORDS.get(name) or [f"{name}_{k:03d}" for k in range(levels)]
    weights = 1.0 / np.arange(1, levels + 1) ** 0.8
    codes = rng.choice(levels, size=n, p=weights / weights.sum())
    dictionary = pa.array(labels)
    mask = rng.random(n) < 0.03 if name in {"segment", "device_model"} else None
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string()), codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows to write (default 1,000,000)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"Parquet file (default {DEFAULT_OUT})"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    clock = time.perf_counter()
    table = generate(args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    pq.write_table(table, partial, row_group_size=128 * 1024)
    partial.replace(args.out)
    size_mb = args.out.stat().st_size / 1e6
    print(
        f"wrote {args.out} ({table.num_rows:,} rows x {table.num_columns} columns, "
        f"{size_mb:.1f} MB) in {time.perf_counter() - clock:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
