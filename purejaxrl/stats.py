"""Statistics over seeds: interquartile mean and percentile-bootstrap confidence intervals.

IQM and stratified bootstrap intervals follow Agarwal et al. 2021, "Deep Reinforcement Learning
at the Edge of the Statistical Precipice"; the intervals come from `scipy.stats.bootstrap`.
"""

from __future__ import annotations

import warnings

import numpy as np


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of values along `axis`, cutting
    int(n / 4) values from each end as `scipy.stats.trim_mean(x, 0.25)` does (in numpy: importing
    scipy.stats takes about a second, more than a small run's summary should)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.float64(np.nan)
    n = x.shape[axis]
    low, high = n // 4, n - n // 4
    middle = np.take(np.partition(x, (low, high - 1), axis=axis), range(low, high), axis=axis)
    return np.where(np.isnan(x).any(axis=axis), np.nan, middle.mean(axis=axis))  # NaN stays NaN


def bootstrap_ci(
    x: np.ndarray, statistic=np.mean, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of `statistic` over a 1-D sample.

    Returns None when fewer than two finite values are given (no interval can be formed).
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    from scipy import stats

    result = stats.bootstrap(
        (x,),
        statistic,
        confidence_level=confidence,
        method="percentile",
        n_resamples=2000,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_and_band(
    curves: np.ndarray, confidence: float = 0.95, n_resamples: int = 500, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds of learning curves and a percentile-bootstrap band around it.

    Args:
        curves: shape (num_seeds, num_points); NaN where a seed has no value yet.

    Returns:
        (mean, low, high), each shape (num_points,).
    """
    curves = np.asarray(curves, dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any episode ends
        mean = np.nanmean(curves, axis=0)
        if curves.shape[0] < 2:
            return mean, mean, mean
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, curves.shape[0], size=(n_resamples, curves.shape[0]))
        resampled = np.nanmean(curves[idx], axis=1)  # (n_resamples, num_points)
        alpha = (1 - confidence) / 2
        low, high = np.nanquantile(resampled, [alpha, 1 - alpha], axis=0)
    return mean, low, high
