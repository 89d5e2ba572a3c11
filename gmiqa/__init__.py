"""GMIQA: no-reference image quality assessment with meta-learning, distortion-graph
representation learning and multi-scale feature fusion (Jia & Wei, PLoS One 2026).

The library is the single source of truth; the notebooks in ``notebooks/`` import it,
show its source and train it. Map of the package (one module per idea):

- ``gmiqa.profiles``      named settings ("smoke", "cpu", "gpu") for every stage
- ``gmiqa.device``        device selection, bf16 autocast, channels_last
- ``gmiqa.images``        reading images of any mode with clear errors
- ``gmiqa.distortions``   the 25 KADID-10k distortion types at 5 levels
- ``gmiqa.datasets``      synthetic KADID-style set, real IQA set loaders, splits, downloads
- ``gmiqa.models``        SCNet-50, SPP, the distortion graph, discriminators, GMIQA
- ``gmiqa.training``      meta-learning, graph pre-training, fine-tuning, evaluation
- ``gmiqa.metrics``       SROCC, KROCC, PLCC (raw and logistic), RMSE
- ``gmiqa.baselines``     NIQE and BRISQUE
- ``gmiqa.checkpoint``    safetensors checkpoints, atomic and resumable
- ``gmiqa.notebook``      helpers the notebooks share (parameters, recorded metrics)
- ``gmiqa.book``          executes the notebooks with papermill and builds the book
- ``gmiqa.cli``           the ``gmiqa`` command line
"""

from gmiqa._version import __version__
from gmiqa.errors import GMIQAError
from gmiqa.inference import QualityModel, load_model

__all__ = ["GMIQAError", "QualityModel", "__version__", "load_model"]
