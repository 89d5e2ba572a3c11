"""The names of the training stages: the one place the command line, run folders, the
load-or-train pipeline and scoring read them from.

Taught in ``notebooks/07_finetuning.ipynb``. A run folder's ``checkpoints/`` holds one
checkpoint per stage: ``meta`` (stage 1, meta-learning), ``graph`` (stage 2, graph
pre-training from stage 1), ``graph_nometa`` (stage 2 from a random start, an ablation
row) and ``finetune`` (stage 3 on the synthetic set). ``gmiqa pretrain --stage`` also takes
the groups ``both`` (meta then graph) and ``all`` (every pre-training stage).
"""

from __future__ import annotations

PRETRAINING_STAGES = ("meta", "graph", "graph_nometa")
"""Stages trained without human ratings; each also names a fine-tuning ``--init``."""

SPOKESMAN_ORDER = ("graph", "graph_nometa", "meta")
"""Which finished stage's data record names a run folder's pre-training: the last one of
the full pipeline first."""

FINETUNE_STAGE = "finetune"
CHECKPOINT_STAGES = ("meta", "graph", FINETUNE_STAGE)
"""The stages :func:`gmiqa.training.pipeline.ensure_stage` trains (graph_nometa is graph
trained from a random start)."""

STAGE_GROUPS = {"both": ("meta", "graph"), "all": PRETRAINING_STAGES}
PRETRAIN_CHOICES = (*PRETRAINING_STAGES, *STAGE_GROUPS)
"""The values of ``gmiqa pretrain --stage``."""

STAGE_DESCRIPTIONS = {
    "meta": "a stage-1 meta-learning checkpoint",
    "graph": "a stage-2 graph pre-training checkpoint",
    "graph_nometa": "a stage-2 graph pre-training checkpoint",
}

UPSTREAM = {"graph": ("meta",)}
"""Stages a stage is trained from (graph from meta; graph_nometa from nothing)."""


def expand_stages(name: str) -> tuple[str, ...]:
    """The stages a ``--stage`` value names: a group (both, all) or one stage."""
    return STAGE_GROUPS.get(name, (name,))


def stages_read(names) -> list[str]:
    """The pre-training stages that training or reading ``names`` (stages, inits, or
    checkpoint files, which name none) may touch, upstream first, each once."""
    out: list[str] = []
    for name in names:
        key = str(name).strip().lower()
        for stage in (*UPSTREAM.get(key, ()), key):
            if stage in PRETRAINING_STAGES and stage not in out:
                out.append(stage)
    return out
