"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal et al., 2012).

Taught in ``notebooks/10_baselines.ipynb``. A port of the original LIVE MATLAB release
(``brisquescore.m``, ``brisque_feature.m``):

1. grey image (MATLAB ``rgb2gray``) on the 0..255 scale;
2. at two scales (the second is ``imresize(0.5)``): MSCN coefficients with zero padding;
   a GGD fit to the coefficients (shape, variance) and AGGD fits to the products with
   the right, lower, lower-right and upper-right neighbours (shape, mean, left and right
   variance) -> 18 features per scale, 36 in all (:func:`brisque_features`);
3. a support-vector regressor with an RBF kernel maps the features to quality.

The release's regressor is a libsvm epsilon-SVR trained on all of LIVE (DMOS, lower =
better) behind ``svm-scale`` to [-1, 1]; :meth:`BRISQUE.load_libsvm` reads its model and
range files and predicts with numpy, reproducing the text round trip of the original
pipeline (features written with ``%f``, scaled values with ``%g``). :meth:`BRISQUE.fit`
trains a new regressor with scikit-learn on any training split (same scaling, scores
in the split's own direction). Either way, prediction needs only numpy, and
:meth:`BRISQUE.save` / :meth:`BRISQUE.load` keep a regressor in an ``.npz`` file.

Documented behaviour for inputs the original leaves undefined: images smaller than
:data:`MIN_SIDE` pixels, constant images, and images whose coefficients have no negative
or no positive product at some scale raise :class:`~gmiqa.baselines.nss.ImageContentError`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gmiqa.atomic import atomic_write_bytes
from gmiqa.baselines.nss import (
    BRISQUE_SHIFTS,
    ImageContentError,
    estimate_aggd,
    estimate_ggd,
    gamma_ratio,
    imresize_half,
    mscn,
    paired_products,
    prepare_grey,
)
from gmiqa.errors import CheckpointError, ConfigError

N_FEATURES = 36

#: Smallest side accepted: the coarser scale (half size) must still hold the 7x7 window.
MIN_SIDE = 14

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"s{scale}_{name}"
    for scale in (1, 2)
    for name in (
        "mscn_shape",
        "mscn_var",
        *(
            f"{orient}_{p}"
            for orient in ("h", "v", "d1", "d2")
            for p in ("shape", "mean", "lvar", "rvar")
        ),
    )
)


def brisque_features(image, name: str | None = None, exact_flat: bool = True) -> np.ndarray:
    """The 36 BRISQUE features of one image (float64, in the original's order).

    ``exact_flat``: coefficients of perfectly flat 7x7 neighbourhoods are exactly 0
    (see :func:`gmiqa.baselines.nss.mscn`); False keeps the filter's rounding residue,
    as the MATLAB original does (with its own, different residue).
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    label = name or "image"
    grey = prepare_grey(image, name, min_side=MIN_SIDE)
    if np.ptp(grey) == 0:
        raise ImageContentError(
            f"{label}: constant image (every pixel {grey.flat[0]:.0f}); "
            "BRISQUE is undefined without any structure"
        )
    feats = []
    for scale in (1, 2):
        coeffs, _, _ = mscn(grey, padding="zeros", exact_flat=exact_flat)
        shape, sigma = estimate_ggd(coeffs.ravel())
        feats += [float(shape), float(sigma) ** 2]
        pairs = paired_products(coeffs, BRISQUE_SHIFTS).reshape(len(BRISQUE_SHIFTS), -1)
        alpha, left, right = estimate_aggd(pairs)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            const = np.sqrt(gamma_ratio(alpha, 1.0, 3.0))
            mean = (right - left) * gamma_ratio(alpha, 2.0, 1.0) * const
        for k in range(len(BRISQUE_SHIFTS)):
            feats += [alpha[k], mean[k], left[k] ** 2, right[k] ** 2]
        if scale == 1:
            grey = imresize_half(grey)
    out = np.asarray(feats, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = [FEATURE_NAMES[i] for i in np.flatnonzero(~np.isfinite(out))]
        raise ImageContentError(
            f"{label}: BRISQUE features undefined ({', '.join(bad[:4])}...): the image is "
            "flat almost everywhere (no negative or no positive MSCN product)"
        )
    return out


def _as_image_list(images) -> list:
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
        return [images]
    if hasattr(images, "dim") and images.dim() == 3:  # one torch tensor (3, H, W)
        return [images]
    return list(images)


def features_batch(images) -> np.ndarray:
    """Features of one image or a list -> (N, 36). Taught in ``notebooks/10_baselines.ipynb``."""
    items = _as_image_list(images)
    if not items:
        return np.zeros((0, N_FEATURES))
    return np.stack([brisque_features(img, name=f"image {i}") for i, img in enumerate(items)])


# --- libsvm text formats ----------------------------------------------------------------
def _read_text(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        return path.read_text(encoding="ascii").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(f"{path}: not a libsvm {what} text file ({exc})") from None


def read_libsvm_model(path: str | os.PathLike) -> dict:
    """Parse a libsvm model file (epsilon-SVR or nu-SVR, RBF kernel) into numpy arrays.

    Returns ``{"support_vectors" (n, 36), "coef" (n,), "intercept" (= -rho), "gamma"}``.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    path = Path(path)
    lines = _read_text(path, "libsvm model")
    header, i = {}, 0
    while i < len(lines) and lines[i].strip() != "SV":
        parts = lines[i].split()
        if parts:
            header[parts[0]] = parts[1:]
        i += 1
    if i == len(lines):
        raise CheckpointError(f"{path}: no 'SV' section: not a libsvm model file")
    svm_type = (header.get("svm_type") or ["?"])[0]
    kernel = (header.get("kernel_type") or ["?"])[0]
    if svm_type not in ("epsilon_svr", "nu_svr"):
        raise CheckpointError(f"{path}: svm_type {svm_type!r}; BRISQUE needs a regression SVM")
    if kernel != "rbf":
        raise CheckpointError(f"{path}: kernel_type {kernel!r}; only 'rbf' is supported")
    try:
        gamma = float(header["gamma"][0])
        rho = float(header["rho"][0])
    except (KeyError, IndexError, ValueError):
        raise CheckpointError(f"{path}: header lacks a numeric gamma or rho") from None
    coef, rows = [], []
    for line_no, line in enumerate(lines[i + 1 :], start=i + 2):
        parts = line.split()
        if not parts:
            continue
        try:
            coef.append(float(parts[0]))
            row = np.zeros(N_FEATURES)
            for item in parts[1:]:
                index, value = item.split(":")
                if not 1 <= int(index) <= N_FEATURES:
                    raise IndexError(index)
                row[int(index) - 1] = float(value)
        except (ValueError, IndexError):
            raise CheckpointError(
                f"{path}: line {line_no} is not 'coef index:value ...' with indices 1..36"
            ) from None
        rows.append(row)
    if not rows:
        raise CheckpointError(f"{path}: no support vectors")
    total = (header.get("total_sv") or [str(len(rows))])[0]
    if total.isdigit() and int(total) != len(rows):
        raise CheckpointError(f"{path}: header says {total} support vectors, found {len(rows)}")
    return {
        "support_vectors": np.stack(rows),
        "coef": np.asarray(coef),
        "intercept": -rho,
        "gamma": gamma,
    }


def read_svm_scale_range(path: str | os.PathLike) -> dict:
    """Parse an ``svm-scale -s`` range file: ``{"lower", "upper", "min" (36,), "max" (36,)}``.

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    path = Path(path)
    lines = [ln for ln in _read_text(path, "svm-scale range") if ln.strip()]
    i = 0
    if lines and lines[0].strip() == "y":  # optional target scaling, not used here
        i = 3
    if i >= len(lines) or lines[i].strip() != "x":
        raise CheckpointError(f"{path}: expected an 'x' line: not an svm-scale range file")
    try:
        lower, upper = (float(v) for v in lines[i + 1].split())
        fmin, fmax = np.full(N_FEATURES, np.nan), np.full(N_FEATURES, np.nan)
        for line in lines[i + 2 :]:
            index, lo, hi = line.split()
            if not 1 <= int(index) <= N_FEATURES:
                raise IndexError(index)
            fmin[int(index) - 1], fmax[int(index) - 1] = float(lo), float(hi)
    except (ValueError, IndexError):
        raise CheckpointError(f"{path}: malformed line; expected 'index min max'") from None
    if np.isnan(fmin).any():
        missing = np.flatnonzero(np.isnan(fmin)) + 1
        raise CheckpointError(f"{path}: no range for features {missing.tolist()}")
    return {"lower": lower, "upper": upper, "min": fmin, "max": fmax}


def _printf_round(values: np.ndarray, fmt: str) -> np.ndarray:
    # C printf rounding of each value, read back: the original passes numbers through text.
    return np.array([[float(format(v, fmt)) for v in row] for row in values])


class BRISQUE:
    """BRISQUE features + an RBF support-vector regressor (numpy prediction).

    ``higher_is_better`` follows the regressor's training scores: False for the LIVE
    release model (DMOS), True for a model fitted on ``gmiqa`` scores (higher = better).
    Taught in ``notebooks/10_baselines.ipynb``.
    """

    name = "brisque"

    def __init__(
        self,
        support_vectors: np.ndarray,
        coef: np.ndarray,
        intercept: float,
        gamma: float,
        feature_min: np.ndarray,
        feature_max: np.ndarray,
        lower: float = -1.0,
        upper: float = 1.0,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        higher_is_better: bool = True,
        text_io: bool = False,
        source: str = "",
    ):
        try:
            self.support_vectors = np.asarray(support_vectors, dtype=np.float64)
            self.coef = np.asarray(coef, dtype=np.float64).ravel()
            self.intercept = float(intercept)
            self.gamma = float(gamma)
            self.feature_min = np.asarray(feature_min, dtype=np.float64).ravel()
            self.feature_max = np.asarray(feature_max, dtype=np.float64).ravel()
            self.lower, self.upper = float(lower), float(upper)
            self.target_mean, self.target_std = float(target_mean), float(target_std)
        except (TypeError, ValueError) as exc:  # text or arrays where numbers belong
            raise CheckpointError(
                f"{source or 'BRISQUE model'}: arrays are not numbers ({exc})"
            ) from None
        self.higher_is_better = bool(higher_is_better)
        self.text_io = bool(text_io)
        self.source = source
        n = self.support_vectors.shape[0]
        if (
            self.support_vectors.ndim != 2
            or self.support_vectors.shape[1] != N_FEATURES
            or self.coef.shape != (n,)
            or self.feature_min.shape != (N_FEATURES,)
            or self.feature_max.shape != (N_FEATURES,)
        ):
            raise CheckpointError(f"{source or 'BRISQUE model'}: arrays do not fit 36 features")
        numbers = (self.support_vectors, self.coef, self.feature_min, self.feature_max,
                   [self.intercept, self.gamma, self.lower, self.upper, self.target_mean,
                    self.target_std])  # fmt: skip
        if not all(np.isfinite(a).all() for a in numbers):
            raise CheckpointError(f"{source or 'BRISQUE model'}: holds NaN or infinite values")

    def __repr__(self) -> str:
        return (
            f"BRISQUE({self.support_vectors.shape[0]} support vectors, gamma={self.gamma:g}, "
            f"higher_is_better={self.higher_is_better}, source={self.source!r})"
        )

    # --- construction -----------------------------------------------------------------
    @classmethod
    def load_libsvm(cls, model_path: str | os.PathLike, range_path: str | os.PathLike) -> BRISQUE:
        """The original release's regressor: libsvm ``allmodel`` + ``svm-scale`` ``allrange``.

        Its scores are LIVE DMOS-like (about 0 best .. 100 worst; ``higher_is_better``
        is False). Taught in ``notebooks/10_baselines.ipynb``.
        """
        svm = read_libsvm_model(model_path)
        rng = read_svm_scale_range(range_path)
        return cls(
            svm["support_vectors"],
            svm["coef"],
            svm["intercept"],
            svm["gamma"],
            rng["min"],
            rng["max"],
            rng["lower"],
            rng["upper"],
            higher_is_better=False,
            text_io=True,
            source=f"{model_path} + {range_path}",
        )

    @classmethod
    def fit(
        cls,
        images=None,
        scores: Sequence[float] | None = None,
        *,
        features: np.ndarray | None = None,
        higher_is_better: bool = True,
        C: float = 1024.0,
        gamma: float = 0.05,
        epsilon: float = 0.1,
    ) -> BRISQUE:
        """Train an RBF epsilon-SVR (scikit-learn) on ``images`` (or precomputed ``features``).

        Features are scaled to [-1, 1] with the training minimum and maximum (as
        ``svm-scale``), scores are standardised, and ``C``/``gamma`` default to the
        release model's (1024, 0.05); ``epsilon`` is in standard deviations of the
        training scores. Needs scikit-learn only here. Taught in ``notebooks/10_baselines.ipynb``.
        """
        try:
            from sklearn.svm import SVR  # optional (scikit-learn): imported only where used
        except ImportError:
            raise ConfigError(
                "BRISQUE.fit needs scikit-learn (pip install scikit-learn); scoring with a "
                "saved or libsvm model does not"
            ) from None
        x = features_batch(images) if features is None else np.asarray(features, np.float64)
        y = np.asarray(scores, dtype=np.float64).ravel()
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ConfigError(f"BRISQUE.fit: features must be (N, 36), got {x.shape}")
        if y.shape[0] != x.shape[0]:
            raise ConfigError(f"BRISQUE.fit: {x.shape[0]} images but {y.shape[0]} scores")
        if x.shape[0] < 3 or np.ptp(y) == 0 or not np.isfinite(y).all():
            raise ConfigError(
                "BRISQUE.fit: need at least 3 images with finite, not all equal scores"
            )
        fmin, fmax = x.min(axis=0), x.max(axis=0)
        model = cls(
            np.zeros((0, N_FEATURES)),
            np.zeros(0),
            0.0,
            gamma,
            fmin,
            fmax,
            target_mean=float(y.mean()),
            target_std=float(y.std()),
            higher_is_better=higher_is_better,
            source=f"fitted on {x.shape[0]} images",
        )
        svr = SVR(kernel="rbf", C=C, gamma=gamma, epsilon=epsilon)
        svr.fit(model.scale(x), (y - model.target_mean) / model.target_std)
        model.support_vectors = np.asarray(svr.support_vectors_, dtype=np.float64)
        model.coef = np.asarray(svr.dual_coef_, dtype=np.float64).ravel()
        model.intercept = float(np.asarray(svr.intercept_).ravel()[0])
        return model

    @classmethod
    def load(cls, path: str | os.PathLike) -> BRISQUE:
        """Read a regressor written by :meth:`save`. Taught in ``notebooks/10_baselines.ipynb``."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such BRISQUE model file")
        try:
            with np.load(path) as d:
                return cls(  # a CheckpointError of the checks passes through as it is
                    d["support_vectors"],
                    d["coef"],
                    float(d["intercept"]),
                    float(d["gamma"]),
                    d["feature_min"],
                    d["feature_max"],
                    float(d["lower"]),
                    float(d["upper"]),
                    float(d["target_mean"]),
                    float(d["target_std"]),
                    bool(d["higher_is_better"]),
                    bool(d["text_io"]),
                    source=str(path),
                )
        except CheckpointError:
            raise
        except Exception as exc:  # not a zip, truncated, a pickle, a missing array...
            raise CheckpointError(
                f"{path}: not a BRISQUE model written by BRISQUE.save ({type(exc).__name__}: {exc})"
            ) from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the regressor and its scaling atomically as ``.npz`` (numpy only to read).

        Taught in ``notebooks/10_baselines.ipynb``.
        """
        buf = io.BytesIO()
        np.savez(
            buf,
            support_vectors=self.support_vectors,
            coef=self.coef,
            intercept=self.intercept,
            gamma=self.gamma,
            feature_min=self.feature_min,
            feature_max=self.feature_max,
            lower=self.lower,
            upper=self.upper,
            target_mean=self.target_mean,
            target_std=self.target_std,
            higher_is_better=self.higher_is_better,
            text_io=self.text_io,
        )
        return atomic_write_bytes(path, buf.getvalue())

    # --- prediction -------------------------------------------------------------------
    def scale(self, features: np.ndarray) -> np.ndarray:
        """``svm-scale``: map each feature's [min, max] to [lower, upper] (no clipping).

        Features whose range is empty are dropped (set to 0), as ``svm-scale`` does.
        Taught in ``notebooks/10_baselines.ipynb``.
        """
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if self.text_io:  # brisquescore.m writes features with '%f'
            x = _printf_round(x, ".6f")
        span = self.feature_max - self.feature_min
        safe = np.where(span > 0, span, 1.0)
        out = self.lower + (self.upper - self.lower) * (x - self.feature_min) / safe
        # svm-scale's exact-endpoint cases, then the empty ranges it leaves out.
        out = np.where(x == self.feature_min, self.lower, out)
        out = np.where(x == self.feature_max, self.upper, out)
        out = np.where(span > 0, out, 0.0)
        if self.text_io:  # svm-scale writes '%g' (6 significant digits)
            out = _printf_round(out, "g")
        return out

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Regressor output for (N, 36) features. Taught in ``notebooks/10_baselines.ipynb``."""
        z = self.scale(features)
        out = np.empty(z.shape[0])
        for start in range(0, z.shape[0], 64):  # bounded memory for long lists
            chunk = z[start : start + 64]
            d2 = ((chunk[:, None, :] - self.support_vectors[None, :, :]) ** 2).sum(axis=2)
            out[start : start + 64] = np.exp(-self.gamma * d2) @ self.coef + self.intercept
        return out * self.target_std + self.target_mean

    def score_one(self, image, name: str | None = None) -> float:
        """BRISQUE of one image. Taught in ``notebooks/10_baselines.ipynb``."""
        return float(self.predict_features(brisque_features(image, name=name)[None, :])[0])

    def score(self, images) -> np.ndarray:
        """BRISQUE of one image or a list -> (N,); direction in ``higher_is_better``.

        Taught in ``notebooks/10_baselines.ipynb``.
        """
        return self.predict_features(features_batch(images))
