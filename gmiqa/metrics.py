"""Agreement between predicted and human quality scores: SROCC, KROCC, PLCC, RMSE.

Taught in ``notebooks/07_finetuning.ipynb``. PLCC and RMSE are reported raw and after
the VQEG 4-parameter logistic mapping (Video Quality Experts Group, Phase II report)

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

fitted from predictions to targets by least squares; it removes the monotone
non-linearity between a model's scale and the subjective scale before measuring linear
agreement. Rank correlations are unaffected by any monotone mapping.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from scipy import optimize, stats

from gmiqa.errors import ConfigError


def _as_arrays(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ConfigError(f"predictions ({p.size}) and targets ({t.size}) differ in length")
    if p.size < 3:
        raise ConfigError(f"need at least 3 scores to correlate, got {p.size}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ConfigError("predictions or targets contain NaN or infinite values")
    return p, t


def _nan_if_constant(fn, p, t) -> float:
    # A constant prediction has no rank order: report NaN, not a scipy warning.
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(fn(p, t)[0])


def srocc(pred, target) -> float:
    """Spearman rank-order correlation."""
    return _nan_if_constant(stats.spearmanr, *_as_arrays(pred, target))


def krocc(pred, target) -> float:
    """Kendall rank-order correlation (tau-b)."""
    return _nan_if_constant(stats.kendalltau, *_as_arrays(pred, target))


def plcc(pred, target) -> float:
    """Pearson linear correlation on raw predictions."""
    return _nan_if_constant(stats.pearsonr, *_as_arrays(pred, target))


def rmse(pred, target) -> float:
    p, t = _as_arrays(pred, target)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def logistic4(x, b1, b2, b3, b4):
    """VQEG 4-parameter logistic."""
    # exp overflows to inf far out on the curve (the fit tries steep slopes); the
    # quotient is then its limit b2, so the overflow warning says nothing
    with np.errstate(over="ignore"):
        return (b1 - b2) / (1.0 + np.exp(-(x - b3) / (np.abs(b4) + 1e-12))) + b2


def fit_logistic(pred, target) -> np.ndarray:
    """Least-squares fit of :func:`logistic4` from ``pred`` to ``target``; returns b1..b4."""
    p, t = _as_arrays(pred, target)
    scale = np.std(p) or 1.0
    # Start from the usual VQEG initialisation; the sign of b1 - b2 follows the correlation.
    sign = 1.0 if np.corrcoef(p, t)[0, 1] >= 0 or np.ptp(p) == 0 else -1.0
    hi, lo = (t.max(), t.min()) if sign > 0 else (t.min(), t.max())
    beta0 = [hi, lo, float(np.mean(p)), scale]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            beta, _ = optimize.curve_fit(logistic4, p, t, p0=beta0, maxfev=20000)
        except (RuntimeError, optimize.OptimizeWarning):
            beta = np.asarray(beta0, dtype=np.float64)
    return np.asarray(beta, dtype=np.float64)


def correlation_metrics(pred, target) -> dict[str, float]:
    """SROCC, KROCC, PLCC and RMSE raw, plus PLCC and RMSE after the logistic mapping."""
    p, t = _as_arrays(pred, target)
    mapped = logistic4(p, *fit_logistic(p, t))
    return {
        "srocc": srocc(p, t),
        "krocc": krocc(p, t),
        "plcc": plcc(p, t),
        "rmse": rmse(p, t),
        "plcc_logistic": plcc(mapped, t),
        "rmse_logistic": rmse(mapped, t),
        "n": int(p.size),
    }


def per_group_srocc(pred, target, groups) -> dict:
    """SROCC within each group (e.g. distortion type); groups with < 3 items are skipped."""
    p, t = _as_arrays(pred, target)
    g = np.asarray(list(groups)).ravel()
    out = {}
    for key in sorted(set(g.tolist())):
        mask = g == key
        if mask.sum() >= 3:
            out[key] = srocc(p[mask], t[mask])
    return out


def summarise(per_split: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Median and mean of every metric over splits: ``{"srocc": {"median":..,"mean":..,"std":..}}``."""
    rows = list(per_split)
    if not rows:
        raise ConfigError("no splits to summarise")
    keys = [k for k in rows[0] if k != "n"]
    out = {}
    for key in keys:
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        out[key] = {
            "median": float(np.nanmedian(vals)),
            "mean": float(np.nanmean(vals)),
            "std": float(np.nanstd(vals)),
            "splits": int(len(vals)),
        }
    return out
