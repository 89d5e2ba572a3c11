"""Training: meta-learning (stage 1), graph pre-training (stage 2), fine-tuning (stage 3).

Taught in ``notebooks/05_meta_learning.ipynb``, ``notebooks/06_graph_pretraining.ipynb``
and ``notebooks/07_finetuning.ipynb``. Modules:

- ``loop``      per-step seeding, loss logging, checkpoints and resume (shared)
- ``samplers``  meta-learning tasks and one-type triplet batches
- ``meta``      MAML / FOMAML / Meta-SGD on ``torch.func`` (stage 1)
- ``pretrain``  triplet + level loss on distortion graphs (stage 2)
- ``finetune``  fine-tuning over seeded splits, the pre-training ablation (stage 3)
- ``evaluate``  scoring a set and its metrics
- ``pipeline``  load-or-train of each stage in a run folder
"""

from gmiqa.training.loop import StageResult, TrainingInterrupted
from gmiqa.training.pipeline import checkpoint_path, ensure_stage, synthetic_dataset

__all__ = [
    "StageResult",
    "TrainingInterrupted",
    "checkpoint_path",
    "ensure_stage",
    "synthetic_dataset",
]
