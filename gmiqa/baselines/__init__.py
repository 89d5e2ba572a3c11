"""Hand-crafted baselines: NIQE and BRISQUE, ported from the original LIVE releases.

Taught in ``notebooks/10_baselines.ipynb``. Both follow one small protocol, shared with
the learned model's evaluation so that the results tables can put them side by side:

- ``method.name``: ``"niqe"`` or ``"brisque"``;
- ``method.score(images) -> np.ndarray (N,)``: images are ``uint8`` RGB (H, W, 3), float
  RGB in [0, 1], grey (H, W), or tensors (3, H, W) in [0, 1];
- ``method.higher_is_better``: the direction of the raw score (NIQE: False; BRISQUE:
  False with the release's LIVE model, which predicts DMOS; True when fitted here on
  ``gmiqa`` scores, which are higher = better).

:func:`evaluate` correlates a method's scores with a dataset's ``score`` (higher =
better). **Sign convention:** scores of a lower-is-better method are negated before
correlating, so a good method has positive SROCC/KROCC/PLCC whatever its direction;
``"sign"`` in the result says what was applied. :func:`evaluate_splits` runs the
protocol of the learned model (the same train/test splits): BRISQUE's regressor is
trained on each split's training part, NIQE (training-free) is scored on the test part.
"""

from gmiqa.baselines.brisque import BRISQUE, brisque_features, features_batch
from gmiqa.baselines.evaluation import (
    BASELINES,
    Baseline,
    baseline_summary_line,
    evaluate,
    evaluate_baseline_file,
    evaluate_splits,
    fit_brisque,
    get_baseline,
    predict,
    score_files,
    score_images,
    targets,
)
from gmiqa.baselines.niqe import NIQE, block_features, default_niqe, patch_for_size
from gmiqa.baselines.nss import ImageContentError

__all__ = [
    "BASELINES",
    "BRISQUE",
    "NIQE",
    "Baseline",
    "baseline_summary_line",
    "evaluate_baseline_file",
    "ImageContentError",
    "block_features",
    "brisque_features",
    "default_niqe",
    "evaluate",
    "evaluate_splits",
    "features_batch",
    "fit_brisque",
    "get_baseline",
    "patch_for_size",
    "predict",
    "score_files",
    "score_images",
    "targets",
]
