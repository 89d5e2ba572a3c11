"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, 2013).

Taught in ``notebooks/10_baselines.ipynb``. A port of the original LIVE MATLAB release
(``computequality.m``, ``computefeature.m``, ``estimatemodelparam.m``):

1. grey image (MATLAB ``rgb2gray``), cropped to whole 96x96 blocks;
2. at two scales (the second is ``imresize(0.5)``): MSCN coefficients with edge
   replication, then for every block (96x96, then 48x48) 18 features: the AGGD shape and
   mean scale of the coefficients, and shape, mean, left and right scale of the products
   with four neighbours -> 36 features per block;
3. a multivariate Gaussian (MVG) fitted to the blocks of the test image is compared with
   the MVG of pristine blocks::

       NIQE = sqrt( (mu_p - mu_d)^T  pinv((C_p + C_d) / 2)  (mu_p - mu_d) )

   lower = more natural. Blocks whose features are undefined (flat blocks: no negative
   or no positive coefficient) are left out, as MATLAB's ``nanmean``/``nancov`` do.

The pristine model is fitted with :meth:`NIQE.from_pristine` (only blocks sharper than
``sharpness_threshold`` x the sharpest block of their image are kept; sharpness = mean
local standard deviation), or read from the original release's ``.mat`` file with
:meth:`NIQE.load_mat`.

Documented values for inputs the original leaves undefined: an image with a single
block has no covariance of its own (``C_d = 0``); an image with no defined block
(constant, or flat everywhere) raises :class:`~gmiqa.baselines.nss.ImageContentError`.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np
import scipy.io

from gmiqa.atomic import atomic_write_bytes
from gmiqa.baselines.nss import (
    NIQE_SHIFTS,
    ImageContentError,
    estimate_aggd,
    gamma_ratio,
    imresize_half,
    mscn,
    paired_products,
    prepare_grey,
    tensor_to_numpy,
)
from gmiqa.datasets.pristine import load_pristine
from gmiqa.errors import CheckpointError, ConfigError
from gmiqa.images import list_images, load_image
from gmiqa.matfile import read_mat

N_FEATURES = 36


def _check_patch(patch: int) -> int:
    if int(patch) != patch or patch < 16 or patch % 2:
        raise ConfigError(f"NIQE patch size must be an even integer >= 16, got {patch!r}")
    return int(patch)


def _file_patch(value, path) -> int:
    """The ``patch`` variable of a model file: one even integer >= 16 (CheckpointError
    naming ``path`` otherwise)."""
    arr = np.asarray(value).ravel()
    if arr.size != 1 or arr.dtype.kind not in "iuf" or not np.isfinite(arr[0]):
        raise CheckpointError(f"{path}: 'patch' is {arr[:4]!r}, not one block size")
    patch = float(arr[0])
    if not patch.is_integer() or patch < 16 or patch % 2 or patch > 4096:
        raise CheckpointError(f"{path}: 'patch' {patch:g} is not an even block size in 16..4096")
    return int(patch)


def patch_for_size(shape, largest: int = 96, min_blocks: int = 4) -> int:
    """The NIQE block size for images of ``shape`` (H, W, ...): ``largest`` (the release's
    96) when the image holds at least ``min_blocks`` such blocks, else the largest even
    size that does (at least 16), so the test image's MVG still has a covariance.

    A pristine model must be fitted with the same block size it is used with.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    h, w = int(shape[0]), int(shape[1])
    for patch in range(int(largest) - int(largest) % 2, 15, -2):
        if (h // patch) * (w // patch) >= int(min_blocks):
            return patch
    raise ImageContentError(
        f"a {w}x{h} image holds fewer than {min_blocks} NIQE blocks of 16x16; "
        "NIQE needs larger images"
    )


def _aggd_features(samples: np.ndarray, mean_scale: bool) -> np.ndarray:
    # samples: (n_blocks, n_values). Returns (n_blocks, 2) for the coefficients themselves
    # (shape, mean of left/right scale) or (n_blocks, 4) for neighbour products.
    alpha, left_std, right_std = estimate_aggd(samples)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        norm = np.sqrt(gamma_ratio(alpha, 1.0, 3.0))
        betal, betar = left_std * norm, right_std * norm
        if mean_scale:
            return np.stack([alpha, (betal + betar) / 2.0], axis=1)
        mean = (betar - betal) * gamma_ratio(alpha, 2.0, 1.0)
    return np.stack([alpha, mean, betal, betar], axis=1)


def block_features(
    image, patch: int = 96, name: str | None = None, exact_flat: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """NIQE's 36 features of every ``patch`` x ``patch`` block, and each block's sharpness.

    Returns ``(features (n_blocks, 36), sharpness (n_blocks,))``; undefined features
    (flat blocks) are NaN. Blocks are in row-major order. The image needs at least one
    whole block. ``exact_flat``: see :func:`gmiqa.baselines.nss.mscn`.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    patch = _check_patch(patch)
    grey = prepare_grey(image, name, min_side=patch)
    if np.ptp(grey) == 0:
        raise ImageContentError(
            f"{name or 'image'}: constant image (every pixel {grey.flat[0]:.0f}); "
            "NIQE is undefined without any structure"
        )
    nr, nc = grey.shape[0] // patch, grey.shape[1] // patch
    im = grey[: nr * patch, : nc * patch]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        coeffs, _, sigma = mscn(im, padding="replicate", exact_flat=exact_flat)
        b = patch // scale
        blocks = coeffs.reshape(nr, b, nc, b).swapaxes(1, 2).reshape(nr * nc, b, b)
        feats = [_aggd_features(blocks.reshape(nr * nc, -1), mean_scale=True)]
        pairs = paired_products(blocks, NIQE_SHIFTS).reshape(len(NIQE_SHIFTS), nr * nc, -1)
        feats.extend(_aggd_features(p, mean_scale=False) for p in pairs)
        per_scale.append(np.concatenate(feats, axis=1))
        if scale == 1:
            sharpness = sigma.reshape(nr, b, nc, b).mean(axis=(1, 3)).ravel()
            im = imresize_half(im)
    return np.concatenate(per_scale, axis=1), sharpness


def mvg_distance(
    mu_pristine: np.ndarray, cov_pristine: np.ndarray, features: np.ndarray, name: str = "image"
) -> float:
    """NIQE's distance between the pristine MVG and the MVG of ``features`` (n_blocks, 36).

    Mean over defined values per feature (``nanmean``), covariance over blocks with every
    feature defined (``nancov``), Moore-Penrose inverse with MATLAB's default tolerance.
    Taught in ``notebooks/10_baselines.ipynb``.
    """
    complete = features[np.isfinite(features).all(axis=1)]
    if complete.shape[0] == 0:
        raise ImageContentError(
            f"{name}: every block is flat (no negative or no positive MSCN coefficient); "
            "NIQE is undefined"
        )
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(features), features, 0.0)
        mu = finite.sum(axis=0) / np.isfinite(features).sum(axis=0)
    if complete.shape[0] >= 2:
        cov = np.cov(complete, rowvar=False)
    else:  # one block: no spread of its own (documented value)
        cov = np.zeros((features.shape[1], features.shape[1]))
    pooled = (cov_pristine + cov) / 2.0
    # MATLAB pinv: singular values below max(size) * eps(largest) are dropped.
    inv = np.linalg.pinv(pooled, rtol=pooled.shape[0] * np.finfo(np.float64).eps)
    d = mu_pristine - mu
    return float(np.sqrt(max(float(d @ inv @ d), 0.0)))


def _as_image_list(images) -> list:
    if isinstance(images, (str, os.PathLike)):
        return [load_image(p) for p in list_images(images)]
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
        return [images]
    if hasattr(images, "dim") and images.dim() == 3:  # one torch tensor (3, H, W)
        return [images]
    return list(images)


class NIQE:
    """NIQE with a pristine MVG model; ``score`` returns distances (lower = better).

    Construct with :meth:`from_pristine`, :meth:`load_mat` / :meth:`load`, or
    ``gmiqa.baselines.get_baseline("niqe")`` (fitted on the packaged pristine photos).
    Taught in ``notebooks/10_baselines.ipynb``.
    """

    name = "niqe"
    higher_is_better = False

    def __init__(self, mu: np.ndarray, cov: np.ndarray, patch: int = 96, source: str = ""):
        try:
            mu = np.asarray(mu, dtype=np.float64).ravel()
            cov = np.asarray(cov, dtype=np.float64)
        except (TypeError, ValueError) as exc:  # text, cells, structs in a model file
            raise CheckpointError(
                f"{source or 'NIQE model'}: mu and covariance are not numbers ({exc})"
            ) from None
        if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES):
            raise CheckpointError(
                f"{source or 'NIQE model'}: expected mu of 36 values and a 36x36 covariance, "
                f"got {mu.shape} and {cov.shape}"
            )
        if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
            raise CheckpointError(f"{source or 'NIQE model'}: contains NaN or infinite values")
        self.mu, self.cov = mu, cov
        self.patch = _check_patch(patch)
        self.source = source
        self.n_blocks: int | None = None  # pristine blocks behind the model, when fitted here

    def __repr__(self) -> str:
        return f"NIQE(patch={self.patch}, source={self.source!r})"

    # --- pristine model -------------------------------------------------------------
    @classmethod
    def from_pristine(
        cls,
        images_or_folder=None,
        patch: int = 96,
        sharpness_threshold: float = 0.75,
    ) -> NIQE:
        """Fit the pristine MVG from a folder or list of images (default: packaged photos).

        Per image, only blocks whose sharpness exceeds ``sharpness_threshold`` x the
        image's sharpest block are kept (the release used 96x96 blocks and 0.75 on 125
        pristine images). Images smaller than one block are skipped; it is an error if
        none is left. Taught in ``notebooks/10_baselines.ipynb``.
        """
        if not 0.0 <= float(sharpness_threshold) < 1.0:
            raise ConfigError(
                f"sharpness_threshold must lie in [0, 1), got {sharpness_threshold!r}"
            )
        patch = _check_patch(patch)
        if images_or_folder is None:
            images = [p.image for p in load_pristine()]
            source = "packaged pristine photos"
        else:
            images = _as_image_list(images_or_folder)
            source = str(images_or_folder) if isinstance(images_or_folder, (str, Path)) else ""
            source = source or f"{len(images)} pristine images"
        selected = []
        for i, image in enumerate(images):
            arr = tensor_to_numpy(image) if hasattr(image, "detach") else np.asarray(image)
            if min(arr.shape[:2]) < patch:
                continue
            feats, sharp = block_features(image, patch, name=f"pristine image {i}")
            keep = sharp > float(sharpness_threshold) * sharp.max()
            selected.append(feats[keep])
        pool = np.concatenate(selected) if selected else np.zeros((0, N_FEATURES))
        pool = pool[np.isfinite(pool).all(axis=1)]
        if pool.shape[0] < 2:
            raise ConfigError(
                f"{source}: only {pool.shape[0]} sharp {patch}x{patch} blocks; a pristine "
                "model needs at least 2 (give more or larger images)"
            )
        model = cls(pool.mean(axis=0), np.cov(pool, rowvar=False), patch, source)
        model.n_blocks = int(pool.shape[0])
        return model

    @classmethod
    def load_mat(cls, path: str | os.PathLike, patch: int | None = None) -> NIQE:
        """Read a model in the original release's format (``mu_prisparam``, ``cov_prisparam``).

        ``patch`` defaults to the file's ``patch`` variable when it has one (files written
        by :meth:`save`), else 96 (the release's). Taught in ``notebooks/10_baselines.ipynb``.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such NIQE model file")
        data = read_mat(path, CheckpointError)  # any failure: one line naming the file
        missing = [k for k in ("mu_prisparam", "cov_prisparam") if k not in data]
        if missing:
            raise CheckpointError(f"{path}: lacks {', '.join(missing)} (not a NIQE model)")
        if patch is None:
            patch = _file_patch(data["patch"], path) if "patch" in data else 96
        return cls(data["mu_prisparam"], data["cov_prisparam"], patch, str(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> NIQE:
        """Read a model written by :meth:`save` (``.npz``) or any ``.mat`` model file.

        Taught in ``notebooks/10_baselines.ipynb``.
        """
        path = Path(path)
        if path.suffix.lower() == ".mat":
            return cls.load_mat(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such NIQE model file")
        try:
            with np.load(path) as data:
                mu, cov, patch = data["mu"], data["cov"], _file_patch(data["patch"], path)
        except CheckpointError:
            raise
        except Exception as exc:  # not a zip, truncated, a pickle, a missing array...
            raise CheckpointError(
                f"{path}: not a NIQE model written by NIQE.save ({type(exc).__name__}: {exc})"
            ) from None
        return cls(mu, cov, patch, str(path))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model atomically: ``.mat`` in the original format (usable by the MATLAB
        release, plus a ``patch`` variable), anything else as ``.npz``.

        Taught in ``notebooks/10_baselines.ipynb``.
        """
        path = Path(path)
        buf = io.BytesIO()
        if path.suffix.lower() == ".mat":
            scipy.io.savemat(
                buf,
                {
                    "mu_prisparam": self.mu[None, :],
                    "cov_prisparam": self.cov,
                    "patch": np.array([[self.patch]], dtype=np.float64),
                },
            )
        else:
            np.savez(buf, mu=self.mu, cov=self.cov, patch=np.int64(self.patch))
        return atomic_write_bytes(path, buf.getvalue())

    # --- scoring --------------------------------------------------------------------
    def score_one(self, image, name: str | None = None) -> float:
        """NIQE of one image (lower = better). Taught in ``notebooks/10_baselines.ipynb``."""
        feats, _ = block_features(image, self.patch, name=name)
        return mvg_distance(self.mu, self.cov, feats, name=name or "image")

    def score(self, images) -> np.ndarray:
        """NIQE of one image or a list of images -> float array (N,); lower = better.

        Images: uint8 RGB (H, W, 3), float RGB in [0, 1], grey (H, W), or tensors
        (3, H, W) in [0, 1]; each needs at least one ``patch`` x ``patch`` block.
        Taught in ``notebooks/10_baselines.ipynb``.
        """
        items = _as_image_list(images)
        return np.array(
            [self.score_one(img, name=f"image {i}") for i, img in enumerate(items)],
            dtype=np.float64,
        )


@functools.lru_cache(maxsize=4)
def default_niqe(patch: int = 96, sharpness_threshold: float = 0.75) -> NIQE:
    """NIQE fitted once per process on the packaged pristine photos (the embedded default).

    Taught in ``notebooks/10_baselines.ipynb``.
    """
    return NIQE.from_pristine(None, patch=patch, sharpness_threshold=sharpness_threshold)
