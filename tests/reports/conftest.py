"""Audit results built by hand, covering every part of the readiness report."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from charter.audit import AuditResult, ColumnProfile, DatasetProfile, Finding, Severity, verdict_of
from charter.data import SourceInfo
from charter.reports import render_audit_html

MALICIOUS = "<script>alert(1)</script>"
ROWS = 10_000


def numeric_column(name: str, *, seed: int, missing: int = 0) -> ColumnProfile:
    """A bell-shaped numeric column whose histogram adds up to its non-missing rows."""
    rng = random.Random(seed)
    low, width = rng.uniform(-50, 50), rng.uniform(0.5, 20)
    weights = [2.7 ** (-((i - 9.5) ** 2) / 18) for i in range(20)]
    present = ROWS - missing
    counts = [int(present * w / sum(weights)) for w in weights]
    counts[10] += present - sum(counts)
    histogram = tuple((low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts))
    return ColumnProfile(
        name=name,
        dtype="DOUBLE",
        kind="numeric",
        rows=ROWS,
        missing=missing,
        distinct=present // 3,
        minimum=low,
        maximum=low + 20 * width,
        mean=low + 10 * width,
        std=3 * width,
        quantiles={"q50": low + 10 * width},
        histogram=histogram,
    )


def categorical_column(
    name: str, values: list[str], *, missing: int = 0, placeholders: int = 0
) -> ColumnProfile:
    """A categorical column with geometric value counts over its non-missing rows."""
    present = ROWS - missing
    counts = [present // 2 ** (i + 1) for i in range(len(values))]
    counts[0] += present - sum(counts)
    top = tuple(sorted(zip(values, counts, strict=True), key=lambda kv: -kv[1]))
    return ColumnProfile(
        name=name,
        dtype="VARCHAR",
        kind="categorical",
        rows=ROWS,
        missing=missing,
        distinct=len(values),
        placeholders=placeholders,
        top_values=top,
    )


def make_profile(extra_numeric: int = 0) -> DatasetProfile:
    columns = [
        categorical_column("churned", ["no", "yes"]),
        numeric_column("tenure_months", seed=1, missing=120),
        numeric_column("monthly_fee", seed=2, missing=3_200),
        numeric_column(MALICIOUS, seed=3, missing=40),
        categorical_column("gender", ["F", "M", "X"], placeholders=310),
        categorical_column(
            "plan",
            ["basic", "plus", "premium", "family", "student", "legacy", "trial", "gold", "x"],
            missing=55,
        ),
        ColumnProfile(
            name="signup_date",
            dtype="TIMESTAMP",
            kind="temporal",
            rows=ROWS,
            missing=0,
            distinct=900,
            minimum=datetime(2021, 1, 1),
            maximum=datetime(2024, 6, 30, 23, 59),
        ),
        ColumnProfile(
            name="flat",
            dtype="INTEGER",
            kind="numeric",
            rows=ROWS,
            missing=0,
            distinct=1,
            minimum=7,
            maximum=7,
            mean=7.0,
            std=0.0,
            histogram=((7.0, 7.0, ROWS),),
        ),
        ColumnProfile(
            name="email",
            dtype="VARCHAR",
            kind="categorical",
            rows=ROWS,
            missing=0,
            distinct=ROWS,
            top_values=(("a@example.org", -1), ("b@example.org", -1)),
        ),
    ]
    columns += [
        numeric_column(f"feature_{i:02d}", seed=10 + i, missing=i * 7) for i in range(extra_numeric)
    ]
    return DatasetProfile(rows=ROWS, columns={c.name: c for c in columns})


def make_findings(*, bias: bool = True, curve: bool = True, volume: bool = True) -> list[Finding]:
    findings = [
        Finding(
            "quality.missing",
            Severity.ERROR,
            ("monthly_fee",),
            "monthly_fee is missing in 32.0% of rows.",
            "Find out why the fee is missing and fill it at the source.",
            {"missing": 3200, "share": 0.32},
        ),
        Finding(
            "leakage.single_feature",
            Severity.ERROR,
            (MALICIOUS,),
            f"{MALICIOUS} alone predicts churned almost perfectly (AUC 0.99).",
            "Check whether this value is known at decision time; drop it if not.",
            {"auc": 0.991, "column": MALICIOUS},
        ),
        Finding(
            "quality.placeholders",
            Severity.WARNING,
            ("gender",),
            "gender holds 310 placeholder values such as '?'.",
            "Treat these as missing.",
            {"placeholders": {"?": 200, "N/A": 110}},
        ),
        Finding(
            "volume.rows",
            Severity.INFO,
            (),
            "10,000 rows, 9 columns.",
            "",
            {"rows": ROWS, "per_feature": 1250.0},
        ),
    ]
    if bias:
        findings.append(
            Finding(
                "bias.target_rate",
                Severity.WARNING,
                ("gender",),
                "The churn rate differs by 9.0 points between gender groups.",
                "Check that the model treats groups fairly before promoting it.",
                {
                    "groups": [
                        {"group": "F", "rows": 5000, "rate": 0.21},
                        {"group": "M", "rows": 4690, "rate": 0.30},
                        {"group": MALICIOUS, "rows": 12, "rate": None},
                    ],
                    "gap": 0.09,
                },
            )
        )
    if curve:
        findings.append(
            Finding(
                "volume.learning_curve",
                Severity.INFO,
                (),
                "More data would likely still help: the score rose 0.03 over the last doubling.",
                "Collect more history if you can.",
                {
                    "metric": "ROC AUC",
                    "curve": [
                        {"rows": r, "score": s, "std": d}
                        for r, s, d in [
                            (500, 0.66, 0.04),
                            (1000, 0.70, 0.03),
                            (2000, 0.73, 0.02),
                            (4000, 0.75, 0.015),
                            (8000, 0.78, 0.01),
                        ]
                    ],
                },
            )
        )
    if volume:
        findings.append(
            Finding(
                "timeliness.volume_per_period",
                Severity.INFO,
                ("signup_date",),
                "Rows per month are steady apart from a drop in 2023-11.",
                "",
                {
                    "period": "month",
                    "series": [
                        {
                            "period": f"{2021 + m // 12}-{m % 12 + 1:02d}",
                            "rows": 250 + (m * 37) % 60 - (180 if m == 34 else 0),
                        }
                        for m in range(42)
                    ],
                },
            )
        )
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: order[f.severity])


def build_result(
    *,
    bias: bool = True,
    curve: bool = True,
    volume: bool = True,
    extra_numeric: int = 0,
    findings: list[Finding] | None = None,
) -> AuditResult:
    """A whole audit result; flags leave out the optional charts."""
    chosen = make_findings(bias=bias, curve=curve, volume=volume) if findings is None else findings
    return AuditResult(
        project="churn",
        target="churned",
        task="classification",
        verdict=verdict_of(chosen),
        findings=tuple(chosen),
        profile=make_profile(extra_numeric),
        sources=(
            SourceInfo(
                "customers", "file", "data/customers.parquet", ROWS, (("churned", "VARCHAR"),)
            ),
            SourceInfo("usage", "database", "postgresql://analyst@db/crm", 52_000, ()),
        ),
        started=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        seconds=4.25,
    )


@pytest.fixture
def result() -> AuditResult:
    return build_result()


@pytest.fixture(name="make_result")
def make_result_fixture() -> Callable[..., AuditResult]:
    """The factory itself, for tests that leave parts out or widen the data."""
    return build_result


@pytest.fixture(scope="session")
def html() -> str:
    """The report of the default result, rendered once for the tests that only read it."""
    return render_audit_html(build_result())


# --- reading a report back as a browser would -----------------------------------------------------

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


class _StrictParser(HTMLParser):
    """Records elements, attributes, text (style text apart), figure captions and table rows;
    notes every unbalanced or stray closing tag in `errors`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        self.style: list[str] = []
        self.text: list[str] = []
        self.captions: list[str] = []
        self.rows: list[list[str]] = []  # table rows, cell texts

    def handle_starttag(self, tag, attrs):
        self.handle_startendtag(tag, attrs)
        if tag == "tr":
            self.rows.append([])
        if tag in {"td", "th"} and self.rows:
            self.rows[-1].append("")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] += 1
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "style":
            self.style.append(data)
            return
        self.text.append(data)
        if "figcaption" in self.stack:
            self.captions.append(data.strip())
        if self.rows and self.rows[-1] and {"td", "th"} & set(self.stack):
            self.rows[-1][-1] += data


@pytest.fixture(scope="session")
def parse_html() -> Callable[..., _StrictParser]:
    """`parse_html(html)`: the page read back; with `strict=True` it must also be balanced."""

    def parse(html: str, *, strict: bool = False) -> _StrictParser:
        parser = _StrictParser()
        parser.feed(html)
        parser.close()
        if strict:
            assert parser.errors == [] and parser.stack == []
        return parser

    return parse
