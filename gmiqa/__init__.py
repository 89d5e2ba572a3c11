"""GMIQA: no-reference image quality assessment with meta-learning, distortion-graph
representation learning and multi-scale feature fusion (Jia & Wei, PLoS One 2026).

The library is the single source of truth; the notebooks in ``notebooks/`` import it,
show its source and train it. Score images with :func:`load_model`
(``gmiqa.load_model("model.safetensors").score("photo.jpg")``; taught in
``notebooks/07_finetuning.ipynb``).

Map of the package, one module per idea, in the layers of its import graph: a module
imports only from the layers below its own (``[tool.importlinter]`` in pyproject.toml,
checked by ``make lint``).

Front ends:

- ``gmiqa.__main__``: ``python -m gmiqa``: the same as the ``gmiqa`` command (see
  :mod:`gmiqa.cli`)
- ``gmiqa.cli``: The ``gmiqa`` command line: pre-train, fine-tune, evaluate, compare, score
- ``gmiqa.book``: Execute the notebooks with papermill, then build the Jupyter Book from the
  executed copies
- ``gmiqa.evidence``: The book's first evidence: fine-tuning on real photos, from the stored
  ablation files
- ``gmiqa.report``: Side-by-side results tables: the paper's numbers next to GMIQA's, each
  with its provenance
- ``gmiqa.explorer``: Embedding explorer: what the distortion graph learned, seen in two
  dimensions
- ``gmiqa.explorer_static``: The static, self-contained embedding explorer: one HTML block,
  no kernel, no network
- ``gmiqa.notebook``: Helpers every notebook shares: resolving parameters, recording
  metrics, showing source
- ``gmiqa.results_table``: A results table that refuses a number without provenance
- ``gmiqa.runfolder``: Run folders that remember what made them: data records, a lock,
  outputs checked before any work

Training and baselines:

- ``gmiqa.training``: Training: meta-learning (stage 1), graph pre-training (stage 2),
  fine-tuning (stage 3)
  - ``gmiqa.training.distributed``: Data-parallel training on several processes
    (``torchrun``) that equals one process
  - ``gmiqa.training.evaluate``: Scoring a set with a model and measuring agreement with its
    labels
  - ``gmiqa.training.feeder``: Training batches from an image bank: random crops and flips,
    on the device, prefetched
  - ``gmiqa.training.finetune``: Stage 3: fine-tuning on a target set over seeded splits,
    and the pre-training ablation
  - ``gmiqa.training.loop``: What every training stage shares: per-step seeding, loss
    logging, checkpoints and resume
  - ``gmiqa.training.meta``: Stage 1: meta-learning pre-training over distortion tasks
    (MAML, FOMAML, Meta-SGD)
  - ``gmiqa.training.pipeline``: Load-or-train: each stage's checkpoint in a run folder,
    training what is missing
  - ``gmiqa.training.pretrain``: Stage 2: distortion-graph pre-training, initialised from
    the meta-learned weights
  - ``gmiqa.training.probe``: Has pre-training learned its own task? Probes on references it
    never saw
  - ``gmiqa.training.samplers``: Which images each training step sees: meta-learning tasks
    and one-type graph batches
- ``gmiqa.baselines``: Hand-crafted baselines: NIQE and BRISQUE, ported from the original
  LIVE releases
  - ``gmiqa.baselines.brisque``: BRISQUE, the Blind/Referenceless Image Spatial Quality
    Evaluator (Mittal et al., 2012)
  - ``gmiqa.baselines.evaluation``: The baselines' factory, process pool and evaluation
    protocol (the face of ``gmiqa.baselines`` re-exports them)
  - ``gmiqa.baselines.niqe``: NIQE, the Natural Image Quality Evaluator (Mittal,
    Soundararajan & Bovik, 2013)
  - ``gmiqa.baselines.nss``: Natural-scene statistics shared by NIQE and BRISQUE, ported
    from the MATLAB originals
- ``gmiqa.embeddings``: Embeddings of a labelled image set: extraction, nearest-neighbour
  accuracy, UMAP
- ``gmiqa.score_output``: The ``gmiqa score`` command's output: scores on the terminal,
  the pre-training warning, the CSV or JSON file

The scoring API:

- ``gmiqa.inference``: Scoring images with a trained checkpoint:
  ``gmiqa.load_model(path).score(...)``

Data and models:

- ``gmiqa.datasets``: Datasets: pristine images, the synthetic KADID-style set, real IQA set
  loaders, splits
  - ``gmiqa.datasets.bank``: The image bank: a labelled image set made once, stored as one
    uint8 array, read by batches
  - ``gmiqa.datasets.base``: What every IQA dataset shares: the record of one image and a
    lazily-decoding Dataset
  - ``gmiqa.datasets.csiq``: CSIQ (Larson & Chandler, J. Electronic Imaging 2010): 30
    references, 6 types, 866 images
  - ``gmiqa.datasets.download``: Downloading the real IQA sets: resumable, verified, safely
    extracted
  - ``gmiqa.datasets.folder``: Your own rated photos: a folder of images with a
    ``scores.csv`` (and an optional ``dataset.json``)
  - ``gmiqa.datasets.kadid``: KADID-10k (Lin, Hosu & Saupe, QoMEX 2019): 81 references x 25
    types x 5 levels
  - ``gmiqa.datasets.koniq``: KonIQ-10k (Hosu, Lin, Sziranyi & Saupe, IEEE TIP 2020): 10,073
    authentic photos
  - ``gmiqa.datasets.live``: LIVE Image Quality Assessment Database, release 2 (Sheikh,
    Sabir & Bovik, IEEE TIP 2006)
  - ``gmiqa.datasets.livec_dev``: The LIVEC development set, rebuilt from a LIVEC download
    and ``data/livec-dev.txt``
  - ``gmiqa.datasets.livec``: LIVE In the Wild Image Quality Challenge (LIVEC; Ghadiyaram &
    Bovik, IEEE TIP 2016)
  - ``gmiqa.datasets.matfiles``: MATLAB score files of the LIVE releases: one variable
    read, cell arrays of names
  - ``gmiqa.datasets.paths``: Names from score files resolved inside the dataset folder (no
    ``..``, no absolute names, no links out)
  - ``gmiqa.datasets.pristine``: Pristine (reference) images for the synthetic KADID-style
    set
  - ``gmiqa.datasets.registry``: The dataset registry: official pages, archive URLs,
    checksums, licences, citations
  - ``gmiqa.datasets.splits``: Train/test splits: by reference content (synthetic sets) or
    by image (authentic sets)
  - ``gmiqa.datasets.synthetic``: The synthetic KADID-style set: pristine images x
    distortion types x levels
  - ``gmiqa.datasets.table``: The one table of IQA sets: name, loader, score scale and
    direction, split, registry
  - ``gmiqa.datasets.tid2013``: TID2013 (Ponomarenko et al., Signal Processing: Image
    Communication 2015)
- ``gmiqa.models``: The GMIQA network: SCNet-50 (or the BL ResNet-50), SPP, the distortion
  graph, the heads
  - ``gmiqa.models.complexity``: Model complexity: parameters per module, FLOPs and latency,
    for the book's complexity table
  - ``gmiqa.models.discriminators``: The two discriminators of distortion-graph
    pre-training, and the Gaussian head they share
  - ``gmiqa.models.gmiqa``: The assembled GMIQA network and its three entry points, which
    share every weight
  - ``gmiqa.models.graph``: The distortion graph of a mini-batch: node builder, edge
    initialisation, GCN-E and GCN-V
  - ``gmiqa.models.resnet``: The paper's ablation baseline "BL": the plain torchvision
    ResNet-50 as a feature extractor
  - ``gmiqa.models.scconv``: Self-calibrated convolution (SCConv) and the SC bottleneck of
    SCNet (Liu et al., CVPR 2020)
  - ``gmiqa.models.scnet``: SCNet: a ResNet-50 layout built from self-calibrated bottlenecks
    (Liu et al., CVPR 2020)
  - ``gmiqa.models.spp``: Spatial pyramid pooling (He et al., 2015): any input size -> one
    fixed-length vector

The core:

- ``gmiqa.distortions``: The 25 KADID-10k distortion types at their 5 levels: one registry,
  one entry point
  - ``gmiqa.distortions._matlab``: MATLAB-equivalent helpers for the KADID-10k generator
    port (numpy/scipy)
  - ``gmiqa.distortions.blur``: Blur family (KADID types 1-3): Gaussian, lens and motion
    blur
  - ``gmiqa.distortions.brightness``: Brightness family (KADID types 16-18): brighten,
    darken, mean shift
  - ``gmiqa.distortions.color``: Colour family (KADID types 4-8): colour diffusion, colour
    shift, colour quantisation, colour saturation in HSV and in LAB
  - ``gmiqa.distortions.compression``: Compression family (KADID types 9-10): JPEG2000 and
    JPEG through Pillow
  - ``gmiqa.distortions.noise``: Noise family (KADID types 11-15): white noise, white noise
    in a colour component, impulse noise, multiplicative noise and denoise
  - ``gmiqa.distortions.pipeline``: The distortion pipeline of the KADID-10k generator:
    input checks, ``mapmm`` before and after the type's function, and the output in the
    input's shape and dtype (the steps the docstring of ``gmiqa.distortions`` lists; the
    face re-exports :func:`distort`)
  - ``gmiqa.distortions.sharpness``: Sharpness and contrast family (KADID types 24-25): high
    sharpen, contrast change
  - ``gmiqa.distortions.spatial``: Spatial family (KADID types 19-23): jitter,
    non-eccentricity patch, pixelate, quantisation, colour block
  - ``gmiqa.distortions.table``: The table of the 25 KADID-10k distortion types: id, name,
    family, MATLAB name, the parameter of each of the 5 levels, the function, and what a
    full-reference measure does across the levels (the face ``gmiqa.distortions`` re-exports
    it)
  - ``gmiqa.distortions.torch_ops``: Vectorised torch path: KADID distortions on a batch
    ``(N, 3, H, W)`` on any device
- ``gmiqa.images``: Reading images of any mode into one representation: ``uint8`` RGB, shape
  (H, W, 3)
- ``gmiqa.matfile``: Reading a MATLAB ``.mat`` file from outside without letting it crash
  the process
- ``gmiqa.metrics``: Agreement between predicted and human quality scores: SROCC, KROCC,
  PLCC, RMSE
- ``gmiqa.checkpoint``: Checkpoints: safetensors weights plus a JSON sidecar, written
  atomically, loaded safely
- ``gmiqa.fr_quality``: Full-reference (FR) quality measures, and the pseudo-quality label
  of the synthetic set
- ``gmiqa.results``: Result files with provenance, and the paper's published numbers as data
- ``gmiqa.profiles``: Named settings for every stage: "smoke", "cpu" and "gpu"
- ``gmiqa.provenance``: Where a number came from: commit, date, device, versions
- ``gmiqa.device``: Device selection and the fast paths (bf16 autocast, channels_last,
  torch.compile)
- ``gmiqa.names``: File names in text outputs: escaped so that any name can be written, and
  read back

The base:

- ``gmiqa.errors``: Exceptions with messages that name the offending file or value
- ``gmiqa.atomic``: Atomic file writes: write to a temporary file in the same folder, fsync,
  rename
- ``gmiqa.stages``: The names of the training stages, read by the command line, run
  folders, the pipeline and scoring
- ``gmiqa._version``: The package version, in a module of its own so that any module can
  read it without importing the package's face (``gmiqa/__init__.py``)
"""

import importlib

from gmiqa._version import __version__
from gmiqa.errors import GMIQAError

__all__ = ["GMIQAError", "QualityModel", "__version__", "load_model"]
_SCORING = ("QualityModel", "load_model")


def __getattr__(name: str):
    """``gmiqa.load_model`` and ``gmiqa.QualityModel``, imported on first use (PEP 562), so
    that ``import gmiqa.errors`` (a front end's error handling) does not pull in torch."""
    if name in _SCORING:
        value = getattr(importlib.import_module("gmiqa.inference"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gmiqa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SCORING})
