"""Statistics for comparing systems and reading residuals: pure functions over plain numbers.

The tests are scipy's; each docstring states the statistic so that a test can write it out.
Systems scored on the same folds and seeds are compared with paired tests (:func:`paired_ttest`,
:func:`wilcoxon_test`); :func:`independent_ttest` is for samples that share nothing.
Degenerate samples (too few values, zero variance) give NaN p-values instead of raising, so a
report can print ``n/a`` for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Iterator
from collections.abc import Sequence

import numpy as np
import scipy.stats

#: Markers for "significantly different from baseline k" in table order, as in
#: Triantafyllopoulos et al. (2022): * for the first unimodal baseline, † for the second.
SIGNIFICANCE_SYMBOLS: tuple[str, ...] = ("*", "†", "‡", "§", "¶")


@dataclasses.dataclass(frozen=True)
class TTestResult:
    """A test statistic, its two-sided p-value, the degrees of freedom and the sample sizes."""

    statistic: float
    p_value: float
    dof: float
    n: tuple[int, ...]

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether ``p_value < alpha`` (NaN is never significant)."""
        return bool(self.p_value < alpha)


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value; NaN for none).

    .. math:: s = \\sqrt{\\frac{1}{n - 1} \\sum_i (x_i - \\bar x)^2}

    >>> mean_and_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return math.nan, math.nan
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), std


def independent_ttest(a: Sequence[float], b: Sequence[float], *, equal_variance: bool = True) -> TTestResult:
    """Two-sided independent two-sample t-test of equal means.

    Student's test (``equal_variance=True``) pools the variances:

    .. math:: t = \\frac{\\bar a - \\bar b}{s_p \\sqrt{1/n_a + 1/n_b}}, \\quad
              s_p^2 = \\frac{(n_a - 1) s_a^2 + (n_b - 1) s_b^2}{n_a + n_b - 2},

    with ``n_a + n_b - 2`` degrees of freedom; Welch's test (``equal_variance=False``) uses
    ``s_a^2 / n_a + s_b^2 / n_b`` and the Welch-Satterthwaite degrees of freedom. The p-value is
    ``2 P(T > |t|)``. NaN when a sample has fewer than two values or both are
    constant (up to rounding).

    >>> round(independent_ttest([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]).p_value, 4)
    0.0213
    """
    x = _finite(a)
    y = _finite(b)
    n = (int(x.size), int(y.size))
    if x.size < 2 or y.size < 2 or (_constant(x) and _constant(y)):
        return TTestResult(math.nan, math.nan, math.nan, n)
    with _quiet_constant_samples():
        result = scipy.stats.ttest_ind(x, y, equal_var=equal_variance)
    dof = float(result.df) if hasattr(result, "df") else float(x.size + y.size - 2)
    return TTestResult(float(result.statistic), float(result.pvalue), dof, n)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> TTestResult:
    """Two-sided paired t-test of equal means, for two systems scored on the same folds/seeds.

    With the differences :math:`d_i = a_i - b_i`:

    .. math:: t = \frac{\bar d}{s_d / \sqrt{n}}, \quad p = 2 P(T_{n-1} > |t|)

    NaN when there are fewer than two pairs or the differences are all equal.

    >>> round(paired_ttest([1.0, 2.0, 3.0, 4.0], [1.5, 2.4, 3.6, 4.4]).p_value, 4)
    0.0022
    """
    x, y = _pairs(a, b)
    if x.size < 2 or _constant(x - y):
        return TTestResult(math.nan, math.nan, math.nan, (int(x.size), int(y.size)))
    with _quiet_constant_samples():
        result = scipy.stats.ttest_rel(x, y)
    return TTestResult(float(result.statistic), float(result.pvalue), float(x.size - 1), (int(x.size), int(y.size)))


def wilcoxon_test(a: Sequence[float], b: Sequence[float]) -> TTestResult:
    """Two-sided Wilcoxon signed-rank test of paired scores (no normality assumed).

    The statistic is the smaller of the rank sums of the positive and the negative differences
    (zero differences dropped); the p-value is exact for small samples, as scipy computes it.
    NaN when fewer than two differences are not zero.

    >>> round(wilcoxon_test([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.5, 2.4, 3.6, 4.4, 5.3, 6.2]).p_value, 4)
    0.0312
    """
    x, y = _pairs(a, b)
    if int(np.count_nonzero(x - y)) < 2:
        return TTestResult(math.nan, math.nan, math.nan, (int(x.size), int(y.size)))
    with _quiet_constant_samples():
        result = scipy.stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return TTestResult(float(result.statistic), float(result.pvalue), math.nan, (int(x.size), int(y.size)))


#: The tests a report can use to compare systems, by name.
COMPARISONS = {"paired_t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test", "independent_t": "independent t-test"}


def compare(a: Sequence[float], b: Sequence[float], *, test: str = "paired_t") -> TTestResult:
    """Compare two systems' scores with ``test`` (``paired_t``, ``wilcoxon`` or ``independent_t``);
    the paired tests need the scores in the same order (the same folds and seeds)."""
    if test == "paired_t":
        return paired_ttest(a, b)
    if test == "wilcoxon":
        return wilcoxon_test(a, b)
    if test == "independent_t":
        return independent_ttest(a, b)
    raise ValueError(f"test must be one of {sorted(COMPARISONS)}, got {test!r}")


def one_sample_ttest(values: Sequence[float], *, mean: float = 0.0) -> TTestResult:
    """Two-sided one-sample t-test of ``E[x] = mean``.

    .. math:: t = \\frac{\\bar x - \\mu_0}{s / \\sqrt{n}}, \\quad p = 2 P(T_{n-1} > |t|)

    NaN when there are fewer than two values or they are all equal (up to rounding).

    >>> round(one_sample_ttest([1.0, 2.0, 3.0]).p_value, 4)
    0.0742
    """
    x = _finite(values)
    if x.size < 2 or _constant(x):
        return TTestResult(math.nan, math.nan, math.nan, (int(x.size),))
    with _quiet_constant_samples():
        result = scipy.stats.ttest_1samp(x, popmean=mean)
    return TTestResult(float(result.statistic), float(result.pvalue), float(x.size - 1), (int(x.size),))


def least_squares_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the ordinary least-squares line ``y = slope * x + intercept``.

    .. math:: slope = \\frac{\\sum_i (x_i - \\bar x)(y_i - \\bar y)}{\\sum_i (x_i - \\bar x)^2},
              \\quad intercept = \\bar y - slope \\cdot \\bar x

    NaN for fewer than two points or a constant ``x``.

    >>> least_squares_line([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    (2.0, 1.0)
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"x has {xs.size} values but y has {ys.size}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size < 2 or np.ptp(xs) == 0:
        return math.nan, math.nan
    dx = xs - xs.mean()
    slope = float((dx * (ys - ys.mean())).sum() / (dx * dx).sum())
    return slope, float(ys.mean() - slope * xs.mean())


def significance_mark(p_value: float, symbol: str = "*", *, alpha: float = 0.05) -> str:
    """``symbol`` when ``p_value < alpha``, else the empty string (also for NaN).

    >>> significance_mark(0.01, "†"), significance_mark(0.2), significance_mark(float("nan"))
    ('†', '', '')
    """
    return symbol if p_value < alpha else ""


def format_p_value(p_value: float) -> str:
    """Three decimals without the leading zero, as the papers print them (``.005``, ``<.001``).

    >>> format_p_value(0.0049), format_p_value(0.00002), format_p_value(1.0), format_p_value(float("nan"))
    ('.005', '<.001', '1.000', 'n/a')
    """
    if not math.isfinite(p_value):
        return "n/a"
    if p_value < 0.001:
        return "<.001"
    text = f"{p_value:.3f}"
    return text[1:] if text.startswith("0") else text


def _pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs where both values are finite."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _constant(values: np.ndarray) -> bool:
    """All values equal up to rounding (a t statistic would be 0/0 or rounding noise)."""
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


@contextlib.contextmanager
def _quiet_constant_samples() -> Iterator[None]:
    """scipy warns about "precision loss" for a constant sample, whose variance is exactly 0."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        yield


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]
