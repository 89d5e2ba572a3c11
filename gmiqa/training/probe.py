"""Has pre-training learned its own task? Probes on references it never saw.

Taught in ``notebooks/06_graph_pretraining.ipynb`` and ``08_embedding_explorer``.

Stage 2 keeps ``PretrainSettings.holdout_references`` pristine references (with all
their distorted versions) out of training. On those images:

- **5-NN type accuracy** of the per-image graph codes
  (:meth:`~gmiqa.models.gmiqa.GMIQA.own_graph_codes`: each image on its own one-node
  graph, so a code never depends on the batch): each image's type is predicted by the
  majority of its 5 nearest codes (cosine distance) **among images of other
  references**, so the probe measures distortion, not content. Chance: 1 / types.
- **Level SROCC**: Spearman correlation between the level head's ``mu`` and the true
  level, within each type, averaged over types (within-type, because levels of
  different types are not comparable); also per (reference, type) sequence of levels,
  averaged (content fixed), and per type. Beside the mean over all types, the mean over
  the types whose levels order severity (:func:`severity_types`): for mean shift (18),
  pixelate (21) and contrast change (25) the level index is not a scale of damage (signed
  shifts; pixelate's levels 1-4 look alike), so a level head cannot order them from one
  photo of unknown content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from gmiqa.atomic import atomic_write_json
from gmiqa.datasets.base import record_field
from gmiqa.device import resolve_device, to_device_images
from gmiqa.distortions import DISTORTIONS
from gmiqa.inference import model_from_checkpoint
from gmiqa.profiles import get_profile
from gmiqa.training.samplers import holdout_references


def probe_checkpoint_path(checkpoint: str | os.PathLike) -> Path:
    """Where a stage-2 checkpoint's probe report lives: ``<stem>.probe.json`` beside it."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".probe.json")


@torch.no_grad()
def embed(model, dataset, indices, device, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-image graph codes (N, node_dim) and level mu (N,) in evaluation mode.

    See ``notebooks/08_embedding_explorer.ipynb``. Images are whole (no crop).
    """

    was = model.training
    model.eval()
    codes, mus = [], []
    try:
        idx = np.asarray(indices, dtype=np.int64)
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            x = torch.stack([dataset[int(i)]["image"] for i in chunk])
            feats = model.features(to_device_images(x, device))
            c, mu = model.own_graph_codes(feats)
            codes.append(c.float().cpu().numpy())
            mus.append(mu.float().cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(codes), np.concatenate(mus)


def knn_type_accuracy(
    codes: np.ndarray, types: np.ndarray, groups: np.ndarray, k: int = 5
) -> float:
    """Leave-group-out k-NN accuracy: neighbours only from other ``groups`` (references).

    Cosine distance; ties in the vote go to the nearest neighbour's type.
    """
    z = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    sim = z @ z.T
    sim[groups[:, None] == groups[None, :]] = -np.inf  # same content: never a neighbour
    correct = 0
    for i in range(len(z)):
        nn = np.argsort(-sim[i])[:k]
        votes = types[nn]
        values, counts = np.unique(votes, return_counts=True)
        best = values[counts == counts.max()]
        guess = votes[0] if votes[0] in best else best[0]
        correct += int(guess == types[i])
    return correct / max(1, len(z))


def within_type_level_srocc(pred: np.ndarray, levels: np.ndarray, types: np.ndarray) -> float:
    """Mean over types of the Spearman correlation between ``pred`` and the true level."""

    values = []
    for t in np.unique(types):
        m = types == t
        if np.unique(levels[m]).size > 1 and np.unique(pred[m]).size > 1:
            values.append(float(spearmanr(pred[m], levels[m])[0]))
        elif np.unique(levels[m]).size > 1:
            values.append(0.0)  # a constant prediction orders nothing
    return float(np.mean(values)) if values else float("nan")


def _mean_defined(values) -> float:
    values = [v for v in values if not np.isnan(v)]  # a type with one level has no order
    return float(np.mean(values)) if values else float("nan")


def severity_types(types) -> np.ndarray:
    """The ``types`` whose levels 1..5 order severity (``Distortion.monotone`` in the registry)."""

    types = np.asarray(types)
    return types[[DISTORTIONS[int(t)].monotone if int(t) in DISTORTIONS else True for t in types]]


@torch.no_grad()
def graph_codes_by_reference(
    model, dataset, indices, device
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One graph per (reference, type): its images (all levels) as one batch graph.

    Returns codes (G, node_dim), their types and references. These are the codes the
    triplet loss trains (one-type graphs, levels mixed), on held-out content.
    """

    idx = np.asarray(indices, dtype=np.int64)
    refs, types = record_field(dataset, "ref_id")[idx], record_field(dataset, "type")[idx]
    was = model.training
    model.eval()
    codes, g_types, g_refs = [], [], []
    try:
        for r in np.unique(refs):
            for t in np.unique(types):
                members = idx[(refs == r) & (types == t)]
                if len(members) == 0:
                    continue
                x = torch.stack([dataset[int(i)]["image"] for i in members])
                out = model.pretrain_forward(to_device_images(x, device))
                codes.append(out.graph_code.float().cpu().numpy())
                g_types.append(t)
                g_refs.append(r)
    finally:
        model.train(was)
    return np.stack(codes), np.asarray(g_types), np.asarray(g_refs)


def per_sequence_level_srocc(
    pred: np.ndarray, levels: np.ndarray, types: np.ndarray, refs: np.ndarray
) -> float:
    """Mean over (reference, type) of the Spearman correlation across that image's levels.

    Does the level head order the levels of one distortion of one photo? Content is fixed
    inside a sequence, so this is the within-content counterpart of
    :func:`within_type_level_srocc` (which pools every reference of a type).
    """

    values = []
    for r in np.unique(refs):
        for t in np.unique(types):
            m = (refs == r) & (types == t)
            if np.unique(levels[m]).size < 2:
                continue
            values.append(
                float(spearmanr(pred[m], levels[m])[0]) if np.unique(pred[m]).size > 1 else 0.0
            )
    return float(np.mean(values)) if values else float("nan")


def run_probe(model, dataset, references, device, k: int = 5) -> dict:
    """Both probes on every item of ``references``; returns a JSON-able report.

    Taught in ``notebooks/06_graph_pretraining.ipynb``.
    """

    device = torch.device(device)
    ref_col = record_field(dataset, "ref_id")
    idx = np.flatnonzero(np.isin(ref_col, np.asarray(list(references))))
    types = record_field(dataset, "type")[idx]
    levels = record_field(dataset, "level")[idx]
    codes, mu = embed(model, dataset, idx, device)
    g_codes, g_types, g_refs = graph_codes_by_reference(model, dataset, idx, device)
    n_types = int(np.unique(types).size)
    by_type = {
        str(int(t)): within_type_level_srocc(mu[types == t], levels[types == t], types[types == t])
        for t in np.unique(types)
    }
    ordered = severity_types(np.unique(types))
    return {
        "graphs": int(len(g_codes)),
        "knn_type_accuracy_graph": knn_type_accuracy(g_codes, g_types, g_refs, k),
        "images": int(len(idx)),
        "references": int(np.unique(ref_col[idx]).size),
        "types": n_types,
        "knn": int(k),
        "knn_type_accuracy": knn_type_accuracy(codes, types, ref_col[idx], k),
        "chance": 1.0 / max(1, n_types),
        "level_srocc": within_type_level_srocc(mu, levels, types),
        "level_srocc_per_sequence": per_sequence_level_srocc(mu, levels, types, ref_col[idx]),
        "level_srocc_by_type": by_type,
        "level_srocc_severity_types": _mean_defined([by_type[str(int(t))] for t in ordered]),
        "severity_types": [int(t) for t in ordered],
    }


def ensure_probe(checkpoint, profile, dataset, device="auto", seed: int = 0) -> Path | None:
    """Write ``checkpoint``'s probe report when the profile holds references out and it is missing.

    A stage-2 run interrupted after its last checkpoint but before its probe gets the
    probe on the next run instead of never. Returns the report's path (None: no probe).
    """

    path = probe_checkpoint_path(checkpoint)
    held = holdout_references(
        record_field(dataset, "ref_id"), get_profile(profile).pretrain.holdout_references, seed
    )
    if not held:
        return None
    if not path.is_file():
        dev = resolve_device(device)
        model, _ = model_from_checkpoint(checkpoint, dev)
        report = run_probe(model, dataset, held, dev)
        report["reference_ids"] = held
        atomic_write_json(path, report)
    return path


def probe_summary(checkpoint: str | os.PathLike) -> list[str]:
    """Lines summing up ``checkpoint``'s probe report ([] when it has none).

    Taught in ``notebooks/06_graph_pretraining.ipynb``; ``gmiqa pretrain`` prints them.
    """
    path = probe_checkpoint_path(checkpoint)
    if not path.is_file():
        return []
    r = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"  held-out references ({r['references']}, {r['images']} images): 5-NN type "
             f"accuracy {r['knn_type_accuracy']:.3f} per image, "
             f"{r['knn_type_accuracy_graph']:.3f} per graph (chance {r['chance']:.3f}); "
             f"level SROCC {r['level_srocc']:.3f}"]  # fmt: skip
    if "level_srocc_severity_types" in r:
        lines.append(f"  level SROCC over the {len(r['severity_types'])} types whose levels "
                     f"order severity: {r['level_srocc_severity_types']:.3f}")  # fmt: skip
    return lines
