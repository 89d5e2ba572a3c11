"""Datasets: pristine images, the synthetic KADID-style set, real IQA set loaders, splits.

Taught in ``notebooks/01_distortions.ipynb`` (synthetic set) and
``notebooks/07_finetuning.ipynb`` (real sets and splits).
"""

from gmiqa.datasets.pristine import PristineImage, fit_to_size, load_pristine, packaged_image_paths

__all__ = ["PristineImage", "fit_to_size", "load_pristine", "packaged_image_paths"]
