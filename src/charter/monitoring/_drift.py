"""Drift: has the data the model sees moved away from what it was trained on, and does it matter?

Two steps, so that the work can be split (issue 9 runs the first per Dask partition):

1. ``count(reference_feature, values) -> Counts``: one pass over a column bins it on the
   reference's grid and keeps rows, missing, moments, min and max. ``Counts.merge`` adds two of
   them exactly, so counts of the parts of a window equal the counts of the whole window.
2. ``compare`` / ``drift_from_counts``: statistics from the counts alone, then the decisions.

``drift(reference, current)`` does both for every column, counting columns in a thread pool.

Statistics (reference side from reference.json, see ``_reference``):
- PSI on the reference deciles: sum((c - r) * ln(c / r)) over the bins' shares, an empty bin
  counting as a share of PSI_EPSILON (1e-4) so that a bin the reference never filled still gives
  a finite, large term. For categories the same on the category shares.
- Jensen-Shannon distance, base 2 (0 same, 1 disjoint), on the same bins or categories.
- Numbers: Kolmogorov-Smirnov, two samples, from the grid: the largest gap between the reference
  and current ECDFs at the grid's edges. Between edges the gap can grow by at most the bin's
  reference share, so the grid statistic D_grid is at most the largest reference bin's share
  (1 / 200 on a format-2 reference without ties) below the statistic on the raw rows, never
  above. The p-value is scipy's asymptotic one at the effective size n = round(n_ref * n_cur /
  (n_ref + n_cur)): ``kstwo.sf(D_grid, n)`` as in ``scipy.stats.ks_2samp(method="asymp")`` up
  to n = 1,000, and beyond that the limiting distribution ``kstwobign.sf(D_grid * sqrt(n))``
  (kstwo takes up to a second per call at large n; the limit differs by under 2 %, upwards).
  Since D_grid <= D, and the limit's tail is the heavier, it errs towards "no drift".
- Categories: chi-square test of homogeneity on the 2 x k table (reference, current) of counts,
  without continuity correction. Values the reference never saw are cells of their own; cells
  whose expected count would be under 5 are pooled, smallest first, into one cell. A value in the
  reference's pooled tail (past its 100 most common) cannot be told from a new one, so when the
  reference has a tail the values outside its list share the tail's cell.
- Numbers: Wasserstein-1 distance, the area between the two CDFs, each taken as linear within a
  grid bin and reaching 0 and 1 at its own min and max; also as a share of the reference's std.
  Its error is at most the sum over both sides' bins of (bin width between the knots) x (bin share).
- Missing shares, current and reference.

Decisions:
- A feature with fewer than ``min_rows`` values present in the window is not judged.
- The judged features' p-values are adjusted together with Benjamini-Hochberg (q-values); the
  score is tested on its own.
- A feature drifted when q < alpha AND PSI >= psi_threshold: a large window of unchanged data
  (tiny p from tiny differences) has a small PSI, a small window's noise has a large q.
- The window drifted when the drifted features carry at least ``importance_share`` of the
  importance, or the score drifted.

What is promised on stable data (same distribution as the reference): with the adjustment alone
(psi_threshold=0) the chance that any feature is called drifted is at most alpha (Simes'
inequality, for independent or positively dependent features), and so is the score's; with the
effect size required as well, the window's false alarm rate stays under alpha, in practice near 0.
tests/monitoring/test_drift_decisions.py measures both over many seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from charter.errors import CharterError, UsageError
from charter.monitoring._reference import GRID_BINS, REFERENCE_BINS, category_strings

__all__ = [
    "NEW_VALUES_KEPT",
    "PSI_EPSILON",
    "Counts",
    "DriftResult",
    "FeatureDrift",
    "compare",
    "count",
    "drift",
    "drift_from_counts",
]

PSI_EPSILON = 1e-4
"""The share an empty bin counts as in PSI (so the logarithm stays finite)."""
NEW_VALUES_KEPT = 100
"""New category values counted one by one per column; past this many, the rarest are dropped
(their rows stay in ``Counts.outside``)."""
_KSTWO_ROWS = 1_000  # KS p-values: scipy's kstwo up to this effective size, kstwobign beyond
_MIN_EXPECTED = 5.0  # chi-square cells are pooled until every expected count reaches this
_MATERIAL_MISSING = 0.05  # a missing share moving this much is mentioned in the plain words
_MATERIAL_SPREAD = 1.25  # a std ratio past this (or its inverse) is mentioned
_STILL = 0.05  # a median moving less than this share of the std "stayed near" its value
_SPIKE = 1.5  # a bin holding this many quantiles' share holds ties at its lower edge


# ---------------------------------------------------------------- counts (mergeable)


@dataclass(frozen=True)
class Counts:
    """One column of one window, counted on the reference's bins; merge to add windows.

    kind: "number" or "category", as the reference feature.
    bins: rows per reference grid bin (numbers), or per value in the reference's list (categories).
    rows: rows counted, missing included. missing: rows without a value (NaN, null, +-inf).
    sums: numbers: the sum of the values in each bin (where in its bin the mass lies).
    total, squares: numbers: the sum of the values present and of their squares (the variance
        from them keeps 9 significant digits while |mean| / std stays under 10^6).
    low, high: smallest and largest value present (+inf and -inf when there is none).
    outside: category values present but not in the reference's list.
    new: the most common of those, (value, rows), most common first, at most NEW_VALUES_KEPT.
    """

    kind: Literal["number", "category"]
    bins: tuple[int, ...]
    rows: int
    missing: int
    sums: tuple[float, ...] = ()
    total: float = 0.0
    squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    outside: int = 0
    new: tuple[tuple[str, int], ...] = ()

    @property
    def present(self) -> int:
        """Rows with a value."""
        return self.rows - self.missing

    def merge(self, other: Counts) -> Counts:
        """The counts of both windows together (exact: bin counts and rows add)."""
        if (self.kind, len(self.bins)) != (other.kind, len(other.bins)):
            raise UsageError(
                f"cannot merge counts of a {self.kind} on {len(self.bins)} bins with counts of a "
                f"{other.kind} on {len(other.bins)} bins: count both with the same reference feature"
            )
        return Counts(
            kind=self.kind,
            bins=tuple(a + b for a, b in zip(self.bins, other.bins, strict=True)),
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            sums=tuple(a + b for a, b in zip(self.sums, other.sums, strict=True)),
            total=self.total + other.total,
            squares=self.squares + other.squares,
            low=min(self.low, other.low),
            high=max(self.high, other.high),
            outside=self.outside + other.outside,
            new=_top_new(dict(self.new), other.new),
        )


def _top_new(
    tally: dict[str, int], more: Sequence[tuple[str, int]] = ()
) -> tuple[tuple[str, int], ...]:
    for value, rows in more:
        tally[value] = tally.get(value, 0) + rows
    ranked = sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(ranked[:NEW_VALUES_KEPT])


def count(reference_feature: Mapping[str, Any], values: Any) -> Counts:
    """Count one column of the current window on the reference feature's bins.

    Numbers: a float numpy array (NaN missing) or an Arrow numeric array; non-finite values count
    as missing. Categories: an Arrow Array/ChunkedArray or a numpy object array of strings, None
    (or null) missing; non-text values are compared as text. Sorting releases the GIL, so columns
    counted in threads run in parallel.
    """
    kind = reference_feature.get("kind")
    if kind == "number":
        reference = _numeric_reference(reference_feature)
        edges = reference.edges if reference is not None else np.empty(0)
        return _count_numbers(edges, values)
    if kind == "category":
        return _count_categories(_category_reference(reference_feature), values)
    raise UsageError(f"a reference feature's kind is {kind!r}; expected 'number' or 'category'")


def _count_numbers(edges: np.ndarray, values: Any) -> Counts:
    ordered = np.sort(_floats(values))  # NaN sorts last; the sort releases the GIL
    start = int(np.searchsorted(ordered, -np.inf, side="right"))
    stop = int(np.searchsorted(ordered, np.inf, side="left"))
    finite = ordered[start:stop]
    starts = np.concatenate(([0], np.searchsorted(finite, edges, side="left")))
    bins = np.diff(np.append(starts, finite.size))
    sums = np.zeros(bins.size)
    filled = bins > 0
    if finite.size == 0:
        return Counts(
            "number", tuple(bins.tolist()), ordered.size, ordered.size, tuple(sums.tolist())
        )
    sums[filled] = np.add.reduceat(finite, starts[filled])
    return Counts(
        kind="number",
        bins=tuple(bins.tolist()),
        rows=int(ordered.size),
        missing=int(ordered.size - finite.size),
        sums=tuple(sums.tolist()),
        total=float(sums.sum()),
        squares=float(np.dot(finite, finite)),
        low=float(finite[0]),
        high=float(finite[-1]),
    )


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        kind = values.type
        if not (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_decimal(kind)
        ):
            raise UsageError(f"a numeric feature's current values are {kind}, not numbers")
        if kind != pa.float64():
            values = pc.cast(values, pa.float64())
        found = (
            values.to_numpy()
            if isinstance(values, pa.ChunkedArray)
            else values.to_numpy(zero_copy_only=False)
        )
        return np.asarray(found, dtype=np.float64).ravel()
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise UsageError(
            f"a numeric feature's current values cannot be read as numbers: {error}"
        ) from None


def _count_categories(reference: _CategoryReference, values: Any) -> Counts:
    text = category_strings(values)
    known = pa.array(reference.values, type=text.type)
    position = pc.index_in(text, value_set=known)  # null: missing, or not in the list
    codes = pc.fill_null(position, len(reference.values)).to_numpy()
    tally = np.bincount(codes, minlength=len(reference.values) + 1)
    missing = text.null_count
    outside = int(tally[-1]) - missing
    new: tuple[tuple[str, int], ...] = ()
    if outside:
        unknown = pc.filter(text, pc.and_(pc.is_null(position), pc.is_valid(text)))
        found = pc.value_counts(unknown)
        new = _top_new(
            dict(
                zip(
                    (str(v) for v in found.field("values").to_pylist()),
                    (int(c) for c in found.field("counts").to_pylist()),
                    strict=True,
                )
            )
        )
    return Counts(
        kind="category",
        bins=tuple(tally[:-1].tolist()),
        rows=len(text),
        missing=missing,
        outside=outside,
        new=new,
    )


# ---------------------------------------------------------------- the reference, read


@dataclass(frozen=True)
class _NumericReference:
    edges: np.ndarray  # the grid's edges (the deciles' on a format-1 reference)
    counts: np.ndarray  # rows per grid bin (estimated from shares on format 1)
    sums: np.ndarray | None  # sum of the values in each grid bin (None on format 1)
    deciles: np.ndarray  # the decile bin of each grid bin
    quantiles: int  # the quantile bins the edges came from (before ties were merged)
    low: float
    high: float
    mean: float
    std: float
    exact: bool  # False: format 1, deciles only


@dataclass(frozen=True)
class _CategoryReference:
    values: tuple[str, ...]
    counts: np.ndarray
    other: float  # rows of values past the list
    exact: bool


def _numeric_reference(feature: Mapping[str, Any]) -> _NumericReference | None:
    if "min" not in feature:
        return None  # no value at training time
    try:
        decile_edges = np.asarray(feature["edges"], dtype=np.float64)
        grid = feature.get("grid")
        if grid is None:
            present = feature["rows"] * (1.0 - feature["missing_share"])
            shares = np.asarray(feature["shares"], dtype=np.float64)
            edges, counts, sums, exact = decile_edges, shares * present, None, False
            deciles, quantiles = np.arange(edges.size + 1), REFERENCE_BINS
        else:
            edges = np.asarray(grid["edges"], dtype=np.float64)
            counts = np.asarray(grid["counts"], dtype=np.float64)
            sums = np.asarray(grid["sums"], dtype=np.float64)
            exact, quantiles = True, int(grid.get("bins", GRID_BINS))
            if not np.isin(decile_edges, edges).all():
                raise CharterError(
                    "reference.json is inconsistent: a decile edge is not a grid edge; "
                    "register the version again to rebuild its reference statistics"
                )
            deciles = np.concatenate(([0], np.searchsorted(decile_edges, edges, side="right")))
        found = _NumericReference(
            edges=edges,
            counts=counts,
            sums=sums,
            deciles=deciles,
            quantiles=quantiles,
            low=float(feature["min"]),
            high=float(feature["max"]),
            mean=float(feature["mean"]),
            std=float(feature["std"]),
            exact=exact,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CharterError(
            f"reference.json is unreadable: a numeric feature lacks or garbles {error}"
        ) from None
    if found.counts.size != found.edges.size + 1:
        raise CharterError("reference.json is inconsistent: bins and edges do not match")
    return found


def _category_reference(feature: Mapping[str, Any]) -> _CategoryReference:
    try:
        if "counts" in feature:
            pairs = [(str(k), float(v)) for k, v in feature["counts"].items()]
            other, exact = float(feature["other"]), True
        else:
            present = feature["rows"] * (1.0 - feature["missing_share"])
            pairs = [(str(k), float(v) * present) for k, v in feature["shares"].items()]
            other, exact = float(feature.get("other_share", 0.0)) * present, False
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CharterError(
            f"reference.json is unreadable: a category feature lacks or garbles {error}"
        ) from None
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return _CategoryReference(
        values=tuple(value for value, _ in pairs),
        counts=np.asarray([rows for _, rows in pairs], dtype=np.float64),
        other=other,
        exact=exact,
    )


def _exact(feature: Mapping[str, Any]) -> bool:
    """Whether the feature's reference has the fine form (format 2)."""
    if feature.get("kind") == "category":
        return "counts" in feature
    return "grid" in feature or "min" not in feature


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class FeatureDrift:
    """How one feature (or the score) moved between the reference and the window.

    name: the feature ("score" for the model's score).
    kind: "number" or "category".
    rows: rows in the window, missing included.
    missing_share, reference_missing_share: share of rows without a value, now and at training.
    psi: population stability index on the reference deciles (numbers) or the category shares.
    js: Jensen-Shannon distance, base 2, on the same bins (0 identical, 1 disjoint).
    test: "ks" (Kolmogorov-Smirnov, numbers) or "chi2" (chi-square, categories).
    statistic: the test's statistic (KS: D from the grid, at most the largest reference bin's
        share below D on the raw rows; chi2: the chi-square sum after pooling small cells).
    p_value: the test's p-value. q_value: after Benjamini-Hochberg over the judged features (the
        score's is its p-value); None when not judged.
    wasserstein: Wasserstein-1 distance in the feature's units (None for categories);
        wasserstein_std: the same divided by the reference's std (None when that is 0).
    importance: the feature's share of importance (the features' shares sum to 1; the score 1).
    judged: the window had at least min_rows values present (and the reference had values).
    drifted: judged, q_value < alpha and psi >= psi_threshold.
    change: the change in plain words, e.g. "median rose from 42 to 57 (mean 41.8 → 56.9)".
    The statistics are None when the window (or the reference) has no value of the feature.
    """

    name: str
    kind: Literal["number", "category"]
    rows: int
    missing_share: float
    reference_missing_share: float
    psi: float | None
    js: float | None
    test: Literal["ks", "chi2"]
    statistic: float | None
    p_value: float | None
    q_value: float | None
    wasserstein: float | None
    wasserstein_std: float | None
    importance: float
    judged: bool
    drifted: bool
    change: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the fields above)."""
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of one window against the reference.

    rows: rows in the window.
    features: one FeatureDrift per feature compared, drifted ones first, then by importance x PSI.
    score: the model's score compared the same way (tested on its own), or None.
    drifted: the drifted features carry at least importance_share of the importance, or the
        score drifted.
    drifted_importance: the importance share the drifted features carry together.
    reason: one sentence saying why the window is (or is not) called drifted.
    approximate: True when some reference was a coarse, format-1 one (deciles only, before the
        grid was kept): KS and Wasserstein are then from 10 bins and rougher.
    absent: reference features the window did not give, not compared.
    """

    rows: int
    features: tuple[FeatureDrift, ...]
    score: FeatureDrift | None
    drifted: bool
    drifted_importance: float
    reason: str
    approximate: bool
    absent: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureDrift:
        """The result for one feature, by name."""
        for found in self.features:
            if found.name == name:
                return found
        raise UsageError(f"no drift result for feature {name!r}: it was not compared")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the fields above; features as a list)."""
        return {
            "rows": self.rows,
            "features": [found.to_dict() for found in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "drifted": self.drifted,
            "drifted_importance": self.drifted_importance,
            "reason": self.reason,
            "approximate": self.approximate,
            "absent": list(self.absent),
        }


# ---------------------------------------------------------------- comparing one feature


def compare(
    name: str,
    reference_feature: Mapping[str, Any],
    counts: Counts,
    *,
    importance: float = 1.0,
    psi_threshold: float = 0.2,
    alpha: float = 0.05,
    min_rows: int = 100,
) -> FeatureDrift:
    """Compare one feature's window counts with its reference, on its own (q-value = p-value).

    `drift_from_counts` adjusts the q-values over all features and decides again.
    """
    if counts.kind != reference_feature.get("kind"):
        raise UsageError(
            f"{name}: counts of a {counts.kind} cannot be compared with a reference "
            f"{reference_feature.get('kind')}"
        )
    rows = counts.rows
    missing_share = counts.missing / rows if rows else 0.0
    reference_missing = float(reference_feature.get("missing_share", 0.0))
    if counts.kind == "number":
        found = _compare_numbers(name, _numeric_reference(reference_feature), counts)
    else:
        found = _compare_categories(name, _category_reference(reference_feature), counts)
    judged = found.statistic is not None and counts.present >= min_rows
    if found.statistic is None:
        change = found.change
    elif not judged:
        change = f"too few rows to judge ({counts.present:,} with a value, {min_rows:,} needed)"
    else:
        change = found.change + _missing_words(reference_missing, missing_share)
    result = FeatureDrift(
        name=name,
        kind=counts.kind,
        rows=rows,
        missing_share=missing_share,
        reference_missing_share=reference_missing,
        psi=found.psi,
        js=found.js,
        test="ks" if counts.kind == "number" else "chi2",
        statistic=found.statistic,
        p_value=found.p_value,
        q_value=found.p_value if judged else None,
        wasserstein=found.wasserstein,
        wasserstein_std=found.wasserstein_std,
        importance=importance,
        judged=judged,
        drifted=False,
        change=change,
    )
    return _decided(result, psi_threshold, alpha)


def _decided(found: FeatureDrift, psi_threshold: float, alpha: float) -> FeatureDrift:
    drifted = (
        found.judged
        and found.q_value is not None
        and found.psi is not None
        and found.q_value < alpha
        and found.psi >= psi_threshold
    )
    return replace(found, drifted=drifted)


@dataclass(frozen=True)
class _Found:
    psi: float | None = None
    js: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    wasserstein: float | None = None
    wasserstein_std: float | None = None
    change: str = "no values in the window"


def _compare_numbers(name: str, reference: _NumericReference | None, counts: Counts) -> _Found:
    if reference is None:
        return _Found(change="no values at training time")
    current = np.asarray(counts.bins, dtype=np.float64)
    if current.size != reference.counts.size:
        raise UsageError(
            f"{name}: the counts have {current.size} bins, the reference {reference.counts.size}; "
            "count the window with the same reference"
        )
    n_cur, n_ref = float(current.sum()), float(reference.counts.sum())
    if n_cur == 0 or n_ref == 0:
        return _Found()
    deciles = int(reference.deciles[-1]) + 1
    ref_deciles = np.bincount(reference.deciles, weights=reference.counts, minlength=deciles)
    cur_deciles = np.bincount(reference.deciles, weights=current, minlength=deciles)
    p, q = ref_deciles / n_ref, cur_deciles / n_cur
    ref_cdf = np.concatenate(([0.0], np.cumsum(reference.counts) / n_ref))
    cur_cdf = np.concatenate(([0.0], np.cumsum(current) / n_cur))
    ref_cdf[-1] = cur_cdf[-1] = 1.0
    gap = float(np.max(np.abs(ref_cdf - cur_cdf)))
    effective = max(1, round(n_ref * n_cur / (n_ref + n_cur)))
    p_value = float(
        stats.kstwo.sf(gap, effective)
        if effective <= _KSTWO_ROWS
        else stats.kstwobign.sf(gap * math.sqrt(effective))
    )
    if reference.sums is not None:
        ref_sums = reference.sums
        cur_sums = np.asarray(counts.sums, dtype=np.float64)
    else:  # format 1: no sums; a bin far fuller than a decile holds ties at its lower edge
        spikes = reference.counts / n_ref >= _SPIKE / reference.quantiles
        ref_sums = _guessed_sums(
            reference.edges, reference.low, reference.high, reference.counts, spikes
        )
        cur_sums = _guessed_sums(reference.edges, counts.low, counts.high, current, spikes)
    ref_knots, ref_cdf = _knots(
        reference.edges, reference.low, reference.high, ref_cdf, reference.counts, ref_sums
    )
    cur_knots, cur_cdf = _knots(
        reference.edges, counts.low, counts.high, cur_cdf, current, cur_sums
    )
    distance = _area_between(ref_knots, ref_cdf, cur_knots, cur_cdf)
    mean = counts.total / n_cur
    variance = max(counts.squares / n_cur - mean**2, 0.0)
    change = _number_words(
        (_quantile(ref_knots, ref_cdf, 0.5), _quantile(cur_knots, cur_cdf, 0.5)),
        (reference.mean, mean),
        (reference.std, math.sqrt(variance)),
    )
    return _Found(
        psi=_psi(p, q),
        js=_js(p, q),
        statistic=gap,
        p_value=min(max(p_value, 0.0), 1.0),
        wasserstein=distance,
        wasserstein_std=distance / reference.std if reference.std > 0 else None,
        change=change,
    )


def _compare_categories(name: str, reference: _CategoryReference, counts: Counts) -> _Found:
    if len(counts.bins) != len(reference.values):
        raise UsageError(
            f"{name}: the counts have {len(counts.bins)} values, the reference "
            f"{len(reference.values)}; count the window with the same reference"
        )
    labels = [f"share of '{value}'" for value in reference.values]
    ref_cells = list(reference.counts)
    cur_cells = [float(rows) for rows in counts.bins]
    if reference.other > 0:
        labels.append(f"values outside the reference's {len(reference.values)} most common")
        ref_cells.append(reference.other)
        cur_cells.append(float(counts.outside))
    elif counts.outside:
        for value, rows in counts.new:
            labels.append(f"new value '{value}'")
            ref_cells.append(0.0)
            cur_cells.append(float(rows))
        rest = counts.outside - sum(rows for _, rows in counts.new)
        if rest:
            labels.append("other new values")
            ref_cells.append(0.0)
            cur_cells.append(float(rest))
    ref_array, cur_array = np.asarray(ref_cells), np.asarray(cur_cells)
    n_ref, n_cur = float(ref_array.sum()), float(cur_array.sum())
    if n_cur == 0:
        return _Found()
    if n_ref == 0:
        return _Found(change="no values at training time")
    p, q = ref_array / n_ref, cur_array / n_cur
    statistic, p_value = _chi_square(ref_array, cur_array)
    return _Found(
        psi=_psi(p, q),
        js=_js(p, q),
        statistic=statistic,
        p_value=p_value,
        change=_category_words(labels, p, q, counts.new if reference.other > 0 else ()),
    )


# ---------------------------------------------------------------- the statistics


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.maximum(reference, PSI_EPSILON)
    c = np.maximum(current, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _js(reference: np.ndarray, current: np.ndarray) -> float:
    middle = (reference + current) / 2.0

    def divergence(shares: np.ndarray) -> float:
        kept = shares > 0
        return float(np.sum(shares[kept] * np.log2(shares[kept] / middle[kept])))

    return math.sqrt(max((divergence(reference) + divergence(current)) / 2.0, 0.0))


def _chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of two rows of counts, small cells pooled first."""
    kept = (reference + current) > 0
    reference, current = reference[kept], current[kept]
    n_ref, n_cur = reference.sum(), current.sum()
    totals = reference + current
    needed = _MIN_EXPECTED * (n_ref + n_cur) / min(n_ref, n_cur)
    order = np.argsort(totals, kind="stable")
    pooled = int(np.sum(totals < needed))
    pool = float(totals[order[:pooled]].sum())
    while 0 < pool < needed and pooled < order.size:
        pool += float(totals[order[pooled]])
        pooled += 1
    if pooled:
        rest = order[pooled:]
        reference = np.append(reference[rest], reference[order[:pooled]].sum())
        current = np.append(current[rest], current[order[:pooled]].sum())
    if reference.size < 2:
        return 0.0, 1.0
    table = np.vstack([reference, current])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, reference.size - 1))


def _bin_ends(edges: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's ends, kept within the values' own range [low, high]."""
    bounds = np.concatenate(([low], np.clip(edges, low, high), [high]))
    return bounds[:-1], bounds[1:]


def _guessed_sums(
    edges: np.ndarray, low: float, high: float, rows: np.ndarray, spikes: np.ndarray
) -> np.ndarray:
    """Bin sums when only counts are known: ties at the lower edge of a spike, else the middle."""
    start, end = _bin_ends(edges, low, high)
    found: np.ndarray = rows * np.where(spikes, start, (start + end) / 2.0)
    return found


def _knots(
    edges: np.ndarray,
    low: float,
    high: float,
    cdf: np.ndarray,
    rows: np.ndarray,
    sums: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A CDF of binned values as points to join with straight lines (repeated x: a jump).

    Within each bin [a, b] the values are taken as spread evenly over the part of the bin next
    to one end that gives the bin's mean m: over [a, 2m - a] when m is in the lower half, over
    [2m - b, b] otherwise (a tie at a is [a, a]: a jump). So the area under the CDF in every bin
    is exact (it is fixed by the bin's rows and sum), and the CDF stays between its values at the
    bin's ends, which is what the error bounds need.
    """
    start, end = _bin_ends(edges, low, high)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.clip(np.where(rows > 0, sums / rows, start), start, end)
    lower = mean <= (start + end) / 2.0
    middle = np.where(lower, 2.0 * mean - start, 2.0 * mean - end)
    before, after = cdf[:-1], cdf[1:]
    knots = np.stack([start, np.clip(middle, start, end), end], axis=1).ravel()
    heights = np.stack([before, np.where(lower, after, before), after], axis=1).ravel()
    return knots, heights


def _quantile(knots: np.ndarray, cdf: np.ndarray, share: float) -> float:
    """Inverse of the CDF that is linear between knots."""
    above = int(np.searchsorted(cdf, share, side="left"))
    above = min(max(above, 1), cdf.size - 1)
    low, high = cdf[above - 1], cdf[above]
    step = (share - low) / (high - low) if high > low else 0.0
    return float(knots[above - 1] + step * (knots[above] - knots[above - 1]))


def _area_between(
    knots_a: np.ndarray, cdf_a: np.ndarray, knots_b: np.ndarray, cdf_b: np.ndarray
) -> float:
    """Integral of |A - B| for two CDFs linear between their knots (jumps where knots repeat)."""
    points = np.union1d(knots_a, knots_b)
    if points.size < 2:
        return 0.0
    left, right = points[:-1], points[1:]
    start = _limit(knots_a, cdf_a, left, "right") - _limit(knots_b, cdf_b, left, "right")
    end = _limit(knots_a, cdf_a, right, "left") - _limit(knots_b, cdf_b, right, "left")
    width = right - left
    size = np.abs(start) + np.abs(end)
    same_sign = start * end >= 0
    crossing = (start**2 + end**2) / (2.0 * np.where(size > 0, size, 1.0))
    return float(np.sum(width * np.where(same_sign, size / 2.0, crossing)))


def _limit(
    knots: np.ndarray, cdf: np.ndarray, at: np.ndarray, side: Literal["left", "right"]
) -> np.ndarray:
    """The CDF's limit from the left (F(x-)) or right (F(x+)) at each point."""
    after = np.searchsorted(knots, at, side=side)
    found = np.where(after == 0, 0.0, 1.0)
    inside = (after > 0) & (after < knots.size)
    upper = after[inside]
    x0, x1 = knots[upper - 1], knots[upper]
    f0, f1 = cdf[upper - 1], cdf[upper]
    found[inside] = f0 + (f1 - f0) * (at[inside] - x0) / (x1 - x0)
    return found


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    size = p_values.size
    order = np.argsort(p_values)
    scaled = p_values[order] * size / np.arange(1, size + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    found = np.empty(size)
    found[order] = adjusted
    return found


# ---------------------------------------------------------------- plain words


def _number(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _share(value: float) -> str:
    return f"{value:.1%}" if 0 < value < 0.01 else f"{value:.0%}"


def _moved(before: str, after: str, up: bool, rose: str = "rose", fell: str = "fell") -> str:
    if before == after:
        return f"stayed at {before}"
    return f"{rose if up else fell} from {before} to {after}"


def _number_words(
    median: tuple[float, float], mean: tuple[float, float], std: tuple[float, float]
) -> str:
    if abs(median[1] - median[0]) < _STILL * std[0]:
        moved = f"stayed near {_number(median[0])}"
    else:
        moved = _moved(_number(median[0]), _number(median[1]), median[1] > median[0])
    words = f"median {moved} (mean {_number(mean[0])} → {_number(mean[1])})"
    if std[0] > 0 and not 1 / _MATERIAL_SPREAD <= std[1] / std[0] <= _MATERIAL_SPREAD:
        spread = "widened" if std[1] > std[0] else "narrowed"
        words += f"; spread {spread} (std {_number(std[0])} → {_number(std[1])})"
    return words


def _category_words(
    labels: list[str], reference: np.ndarray, current: np.ndarray, new: Sequence[tuple[str, int]]
) -> str:
    moved = int(np.argmax(np.abs(current - reference)))
    label, before, after = labels[moved], reference[moved], current[moved]
    if label.startswith("new value") or label == "other new values":
        words = f"{label} is {_share(after)} of rows"
    else:
        words = f"{label} {_moved(_share(before), _share(after), after > before)}"
    if new and label.startswith("values outside"):
        words += f" (most common now: '{new[0][0]}')"
    return words


def _missing_words(before: float, after: float) -> str:
    if abs(after - before) < _MATERIAL_MISSING:
        return ""
    return f"; missing {_moved(_share(before), _share(after), after > before)}"


# ---------------------------------------------------------------- the whole window


def drift_from_counts(
    reference: Mapping[str, Any],
    counts: Mapping[str, Counts],
    *,
    score: Counts | None = None,
    importance: Mapping[str, float] | None = None,
    psi_threshold: float = 0.2,
    alpha: float = 0.05,
    importance_share: float = 0.2,
    min_rows: int = 100,
) -> DriftResult:
    """Drift of a window from its (merged) counts per feature: statistics, q-values, decisions.

    `counts` maps feature names to counts made with `count(reference["features"][name], ...)`;
    `score` the counts of the model's scores, made with `count(reference["score"], ...)`.
    """
    _check_options(psi_threshold, alpha, importance_share, min_rows)
    features: Mapping[str, Any] = reference.get("features", {})
    unknown = sorted(set(counts) - set(features))
    if unknown:
        raise UsageError(f"no reference statistics for feature(s) {', '.join(unknown)}")
    names = [name for name in features if name in counts]
    if not names and score is None:
        raise UsageError(
            "nothing to compare: none of the reference's features is in the window "
            f"(the reference has {', '.join(list(features)[:5]) or 'none'})"
        )
    if score is not None and "score" not in reference:
        raise UsageError(
            "the reference has no statistics of the scores (it was kept without them); "
            "compare without scores"
        )
    shares = _importance_shares(names, importance)
    compared = [
        compare(
            name,
            features[name],
            counts[name],
            importance=shares[name],
            psi_threshold=psi_threshold,
            alpha=alpha,
            min_rows=min_rows,
        )
        for name in names
    ]
    judged = [i for i, found in enumerate(compared) if found.judged and found.p_value is not None]
    if judged:
        p_values = np.asarray([compared[i].p_value for i in judged], dtype=np.float64)
        for i, q in zip(judged, _benjamini_hochberg(p_values), strict=True):
            compared[i] = _decided(replace(compared[i], q_value=float(q)), psi_threshold, alpha)
    scored = None
    if score is not None:
        scored = compare(
            "score",
            reference["score"],
            score,
            psi_threshold=psi_threshold,
            alpha=alpha,
            min_rows=min_rows,
        )
    drifted = [found for found in compared if found.drifted]
    carried = float(sum(found.importance for found in drifted))
    alarm = bool(drifted) and carried >= importance_share - 1e-12
    alarm = alarm or (scored is not None and scored.drifted)
    ordered = sorted(
        compared, key=lambda f: (not f.drifted, -(f.importance * (f.psi or 0.0)), f.name)
    )
    rows = max([found.rows for found in compared] + ([score.rows] if score else []))
    approximate = any(not _exact(features[name]) for name in names) or (
        score is not None and not _exact(reference["score"])
    )
    return DriftResult(
        rows=rows,
        features=tuple(ordered),
        score=scored,
        drifted=alarm,
        drifted_importance=carried,
        reason=_reason(compared, scored, carried, importance_share, min_rows),
        approximate=approximate,
        absent=tuple(name for name in features if name not in counts),
    )


def drift(
    reference: Mapping[str, Any],
    current: Mapping[str, np.ndarray | pa.Array | pa.ChunkedArray],
    *,
    scores: np.ndarray | pa.Array | pa.ChunkedArray | None = None,
    importance: Mapping[str, float] | None = None,
    psi_threshold: float = 0.2,
    alpha: float = 0.05,
    importance_share: float = 0.2,
    min_rows: int = 100,
    threads: int = 2,
) -> DriftResult:
    """Drift of a window of current data against the reference kept from training.

    `current` maps feature names to columns (see `count`); columns the reference does not know
    are ignored, reference features the window lacks are listed in `absent`. `importance` maps
    features to any non-negative weights (normalised to shares; equal when None; 0 for a feature
    not named). Columns are counted in a pool of `threads` threads.
    """
    _check_options(psi_threshold, alpha, importance_share, min_rows)
    if threads < 1:
        raise UsageError(f"threads must be at least 1, not {threads}")
    features: Mapping[str, Any] = reference.get("features", {})
    work: list[tuple[str, Mapping[str, Any], Any]] = [
        (name, features[name], current[name]) for name in features if name in current
    ]
    if scores is not None:
        if "score" not in reference:
            raise UsageError(
                "the reference has no statistics of the scores (it was kept without them); "
                "compare without scores"
            )
        work.append(("\0score", reference["score"], scores))
    # Numbers first: their sorts are the long tasks, so the pool ends evenly.
    work.sort(key=lambda task: task[1].get("kind") != "number")

    def counted(task: tuple[str, Mapping[str, Any], Any]) -> Counts:
        name, feature, values = task
        try:
            return count(feature, values)
        except UsageError as error:
            raise UsageError(f"{name.lstrip(chr(0))}: {error}") from None

    if threads == 1 or len(work) < 2:
        done = [counted(task) for task in work]
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(work))) as pool:
            done = list(pool.map(counted, work))
    found = {task[0]: result for task, result in zip(work, done, strict=True)}
    score = found.pop("\0score", None)
    return drift_from_counts(
        reference,
        found,
        score=score,
        importance=importance,
        psi_threshold=psi_threshold,
        alpha=alpha,
        importance_share=importance_share,
        min_rows=min_rows,
    )


def _check_options(
    psi_threshold: float, alpha: float, importance_share: float, min_rows: int
) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")
    if psi_threshold < 0:
        raise UsageError(f"psi_threshold must be 0 or more, not {psi_threshold}")
    if not 0 <= importance_share <= 1:
        raise UsageError(f"importance_share must be between 0 and 1, not {importance_share}")
    if min_rows < 1:
        raise UsageError(f"min_rows must be at least 1, not {min_rows}")


def _importance_shares(
    names: list[str], importance: Mapping[str, float] | None
) -> dict[str, float]:
    if not names:
        return {}
    if importance is None:
        return dict.fromkeys(names, 1.0 / len(names))
    weights = {name: float(importance.get(name, 0.0)) for name in names}
    bad = [name for name, weight in weights.items() if not weight >= 0 or math.isinf(weight)]
    if bad:
        raise UsageError(
            f"importance must be a finite number >= 0; {bad[0]!r} has {importance.get(bad[0])}"
        )
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(names, 1.0 / len(names))
    return {name: weight / total for name, weight in weights.items()}


def _reason(
    features: list[FeatureDrift],
    score: FeatureDrift | None,
    carried: float,
    importance_share: float,
    min_rows: int,
) -> str:
    drifted = [found.name for found in features if found.drifted]
    judged = sum(found.judged for found in features)
    unjudged = len(features) - judged
    listed = ", ".join(drifted[:5]) + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else "")
    parts: list[str] = []
    if score is not None and score.drifted:
        parts.append(f"the model's score drifted ({score.change})")
    if drifted:
        plural = "s" if len(drifted) > 1 else ""
        if carried >= importance_share - 1e-12:
            parts.append(
                f"{len(drifted)} feature{plural} drifted ({listed}), carrying "
                f"{carried:.0%} of the importance (the alarm is at {importance_share:.0%})"
            )
        else:
            parts.append(
                f"{len(drifted)} feature{plural} drifted ({listed}) but carr"
                f"{'y' if plural else 'ies'} only {carried:.0%} of the importance, under the "
                f"{importance_share:.0%} that raises the alarm"
            )
    if parts:
        sentence = "; ".join(parts)
        return sentence[0].upper() + sentence[1:] + "."
    if features and judged == 0 and (score is None or not score.judged):
        return f"Too few rows to judge: no feature has {min_rows:,} values in the window."
    words = f"No drift: none of the {judged} judged feature{'s' if judged != 1 else ''} drifted"
    if score is not None:
        words += ", nor the score" if score.judged else "; the score had too few rows to judge"
    if unjudged:
        words += f"; {unjudged} had too few rows to judge"
    return words + "."
