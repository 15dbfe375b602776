"""Generated churn data with realistic flaws, and a charter for it: what `charter demo` runs on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = [
    "DEMO_CHARTER",
    "FIXED_QUERY",
    "apply_audit_fixes",
    "demo_stream",
    "write_demo_project",
]

QUERY = "select * from customers join usage using (customer_id)"
FIXED_QUERY = (
    "select distinct * exclude (account_closed_date) from customers join usage using (customer_id)"
)
"""What an analyst does after the demo's first audit: drop the column recorded after the decision
(leakage) and the rows loaded twice."""

DEMO_CHARTER = """\
project: churn
owner: Retention team
problem: Which customers will cancel next month?
decision: Offer a retention discount to customers flagged as likely to cancel
task: classification
target: churned
positive_class: "yes"
data:
  sources:
    customers: data/customers.parquet
    usage: data/usage.csv
  query: QUERY
  entity: customer_id
  time: snapshot_date
  sensitive: [gender, age_band]
success:
  metric: net_value
  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}
  beat_baseline_by: 10%
baseline:
  rule: "contract = 'monthly' and tenure_months < 12"
constraints: {latency_ms_p99: 50, explanations: required, max_fairness_gap: 0.1}
monitoring:
  drift: {psi: 0.2}
  retrain_when: [drift, decay]
  training_window: {kind: sliding, length: 30d}
  auto_promote: true
"""


def write_demo_project(folder: Path, *, customers: int = 20_000, seed: int = 7) -> Path:
    """Write charter.yaml, data/customers.parquet, data/usage.csv and a new batch; return the charter path.

    The data has the flaws real projects meet: a number stored as text with blanks, a sentinel -1,
    inconsistent spellings, duplicated rows, a column that re-encodes another, a tiny group in a
    sensitive column, and a column only known after the outcome (a leak).
    """
    rng = np.random.default_rng(seed)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    table = _customers(rng, customers)
    customer_columns = [
        "customer_id",
        "signup_date",
        "gender",
        "age_band",
        "region",
        "region_code",
        "contract",
        "payment_method",
        "tenure_months",
        "monthly_charges",
        "total_charges",
    ]
    usage_columns = [
        "customer_id",
        "snapshot_date",
        "minutes_used",
        "data_gb",
        "support_calls",
        "logins_last_month",
        "account_closed_date",
        "churned",
    ]
    base = table.select(customer_columns)
    duplicated = base.take(rng.choice(customers, size=customers // 100, replace=False))
    pq.write_table(pa.concat_tables([base, duplicated]), data / "customers.parquet")
    pacsv.write_csv(table.select(usage_columns), data / "usage.csv")
    batch = _customers(np.random.default_rng(seed + 1), 2_000, first_id=customers + 1, month=13)
    pacsv.write_csv(_spoil(batch, np.random.default_rng(seed + 2)), data / "new_batch.csv")
    charter = folder / "charter.yaml"
    charter.write_text(DEMO_CHARTER.replace("QUERY", QUERY), encoding="utf-8")
    return charter


def apply_audit_fixes(charter: Path) -> None:
    """Rewrite the demo charter's query the way the audit recommends."""
    text = charter.read_text(encoding="utf-8")
    charter.write_text(text.replace(QUERY, FIXED_QUERY), encoding="utf-8")


def demo_stream(n: int, *, shifted: bool, seed: int, first_id: int) -> pa.Table:
    """New customers to serve after deployment, as the fixed query reads them (no leaked column).

    `shifted`: the market has changed: far more monthly contracts and support calls, and customers
    paying by card now cancel more often, a cause the trained model has never seen.
    """
    table = _customers(np.random.default_rng(seed), n, first_id=first_id, month=13, shifted=shifted)
    return table.drop_columns(["account_closed_date"])


def _customers(
    rng: np.random.Generator,
    n: int,
    *,
    first_id: int = 1,
    month: int | None = None,
    shifted: bool = False,
) -> pa.Table:
    ids = np.arange(first_id, first_id + n)
    months = np.full(n, month) if month is not None else rng.integers(1, 13, n)
    snapshot = np.array(
        [
            np.datetime64(f"2025-{m:02d}-01") if m <= 12 else np.datetime64("2026-01-01")
            for m in months
        ]
    )
    tenure = rng.gamma(2.0, 14.0, n).astype(int)
    signup = snapshot - (tenure * 30).astype("timedelta64[D]")
    mix = [0.8, 0.15, 0.05] if shifted else [0.55, 0.3, 0.15]
    contract = rng.choice(["monthly", "annual", "two_year"], n, p=mix)
    region = rng.choice(["North", "South", "East", "West"], n, p=[0.3, 0.3, 0.25, 0.15])
    region_code = np.vectorize({"North": "N", "South": "S", "East": "E", "West": "W"}.get)(region)
    gender = rng.choice(["female", "male"], n)
    age_band = rng.choice(
        ["18-29", "30-44", "45-64", "65-79", "80+"], n, p=[0.25, 0.33, 0.3, 0.118, 0.002]
    )
    payment = rng.choice(["card", "bank_transfer", "invoice"], n, p=[0.5, 0.35, 0.15])
    charges = np.round(rng.normal(65, 20, n).clip(15, 150), 2)
    support_calls = rng.poisson(2.4 if shifted else 1.2, n)
    minutes = np.round(rng.lognormal(5.5, 0.6, n), 1)
    data_gb = np.round(rng.gamma(2.0, 3.0, n), 2)
    logins = rng.poisson(12, n)
    logit = (
        -2.2
        + 1.3 * (contract == "monthly")
        - 0.03 * np.minimum(tenure, 60)
        + 0.35 * support_calls
        + 0.012 * (charges - 65)
        - 0.04 * (logins - 12)
        + 0.3 * (payment == "invoice")
    )
    if (
        shifted
    ):  # a rival now matches the monthly price and fixes support: card payers leave instead
        logit += -1.3 * (contract == "monthly") - 0.3 * support_calls + 1.6 * (payment == "card")
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    closed = np.where(
        churned & (rng.random(n) < 0.9),
        snapshot + rng.integers(5, 40, n).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    # Realistic flaws: spellings that differ by case and spaces, an unknown tenure coded as -1,
    # and total charges exported as text with blanks for new customers.
    spelled = contract.astype(object)
    sloppy = rng.random(n) < 0.04
    spelled[sloppy] = np.where(contract[sloppy] == "monthly", "Monthly ", "Annual")
    tenure_recorded = np.where(rng.random(n) < 0.03, -1, tenure)
    total = np.round(charges * np.maximum(tenure, 0), 2).astype(str).astype(object)
    total[(tenure < 1) | (rng.random(n) < 0.01)] = " "
    return pa.table(
        {
            "customer_id": ids,
            "snapshot_date": pa.array(snapshot.astype("datetime64[D]")),
            "signup_date": pa.array(signup.astype("datetime64[D]")),
            "gender": gender,
            "age_band": age_band,
            "region": region,
            "region_code": region_code,
            "contract": pa.array(spelled, pa.string()),
            "payment_method": payment,
            "tenure_months": tenure_recorded,
            "monthly_charges": charges,
            "total_charges": pa.array(total, pa.string()),
            "minutes_used": minutes,
            "data_gb": data_gb,
            "support_calls": support_calls,
            "logins_last_month": logins,
            "account_closed_date": pa.array(closed.astype("datetime64[D]")),
            "churned": np.where(churned, "yes", "no"),
        }
    )


def _spoil(batch: pa.Table, rng: np.random.Generator) -> pa.Table:
    """A new batch with a few rows that break the contract, as real feeds do."""
    rows = rng.choice(batch.num_rows, size=12, replace=False)
    for column, spoilt, value in (
        ("monthly_charges", rows[:4], 9_999.0),
        ("contract", rows[4:8], "weekly"),
        ("gender", rows[8:], None),
    ):
        values = batch[column].to_pylist()
        for row in spoilt:
            values[row] = value
        index = batch.schema.get_field_index(column)
        batch = batch.set_column(index, column, pa.array(values, batch.schema.field(column).type))
    return batch
