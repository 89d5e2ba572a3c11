"""The stored pre-training record: stage lengths, times, loss curves and held-out probes.

``gmiqa pretrain --stage all`` leaves in ``RUN/<profile>/checkpoints`` one checkpoint per
stage, each with its sidecar (fingerprint, loss history, seconds of training) and, for
stage 2, its held-out probe (``.probe.json``). This script collects them into one result
document, adds the probe of a randomly initialised network on the same held-out
references (the floor the probes are read against) and the mean variance of the
pseudo-quality within a distortion type (the floor of stage 1's query loss), and writes
it; notebooks 05 and 06 show it::

    gmiqa pretrain --profile cpu --pristine PRISTINE --stage all --out runs
    python benchmarks/pretrain_record.py --run runs --profile cpu --pristine PRISTINE \\
        --out data/results/pretrain-cpu.json

The command stored in the document is the ``gmiqa pretrain`` command (``--command``), the
one that makes the numbers; this script only reads them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gmiqa.checkpoint import read_sidecar
from gmiqa.datasets.bank import dataset_fingerprint
from gmiqa.datasets.base import record_field
from gmiqa.errors import GMIQAError
from gmiqa.evidence import recipe_fingerprint
from gmiqa.models import build_model
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance
from gmiqa.results import make_result, write_result
from gmiqa.training.pipeline import synthetic_dataset
from gmiqa.training.probe import probe_checkpoint_path, run_probe
from gmiqa.training.samplers import holdout_references

STAGES = ("meta", "graph", "graph_nometa")


def stage_record(path: Path) -> dict:
    """One finished stage's steps, seconds, loss curves, fingerprint and probe."""
    side = read_sidecar(path)
    state = side.get("state", {})
    if not state.get("done"):
        raise GMIQAError(f"{path}: the stage is not finished (step {state.get('step')})")
    history = state.get("history", {})
    entry = {"steps": int(state["step"]), "seconds": float(history.get("seconds", 0.0)),
             "losses": history.get("losses", {}),
             "fingerprint": side["config"]["fingerprint"]}  # fmt: skip
    probe = probe_checkpoint_path(path)
    if probe.is_file():
        entry["probe"] = json.loads(probe.read_text(encoding="utf-8"))
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="the --out of gmiqa pretrain")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument(
        "--pristine",
        type=Path,
        default=None,
        help="the --pristine of gmiqa pretrain (default: the packaged photos)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--command", default=None, help="the gmiqa pretrain command, as typed")
    ap.add_argument("--notes", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        profile = get_profile(args.profile)
        run_dir = args.run / profile.name
        paths = {s: run_dir / "checkpoints" / f"{s}.safetensors" for s in STAGES}
        stages = {s: stage_record(p) for s, p in paths.items() if p.is_file()}
        if "graph" not in stages:
            raise GMIQAError(f"{run_dir}: no stage-2 checkpoint (run gmiqa pretrain first)")
        # the probe floor must be read on the run's own held-out images: other photos (or
        # another profile's data) give another fingerprint, refused before any work
        dataset = synthetic_dataset(profile, run_dir, args.pristine, args.seed)
        trained_on = read_sidecar(paths["graph"])["config"].get("data_fingerprint")
        if trained_on != dataset_fingerprint(dataset):
            raise GMIQAError(
                f"{paths['graph']}: pre-trained on other data than --pristine "
                f"{args.pristine or '(the packaged photos)'} gives; pass the run's own folder"
            )
        dataset.build_bank(workers=profile.data.bank_workers, progress=False)
        held = holdout_references(record_field(dataset, "ref_id"),
                                  profile.pretrain.holdout_references, args.seed)  # fmt: skip
        torch.manual_seed(args.seed)
        random_probe = run_probe(build_model(profile.model).eval(), dataset, held, "cpu")
        random_probe["reference_ids"] = held
        n = len(set(record_field(dataset, "ref_id").tolist()))
        # the floor of stage 1's query loss: a model that knows each type's typical
        # pseudo-quality, and nothing about the photo, scores the variance inside the type
        scores, types = dataset.score_all(progress=False), record_field(dataset, "type")
        within = float(np.mean([scores[types == t].var() for t in np.unique(types)]))
        metrics = {"stages": stages, "profile": profile.name,
                   "pristine": f"{'PRISTINE' if args.pristine else 'packaged'} ({n} photos)",
                   "recipe_fingerprint": recipe_fingerprint(profile.name),
                   "random_init_probe": random_probe,
                   "within_type_score_variance": within}  # fmt: skip
        command = args.command or (
            f"gmiqa pretrain --profile {profile.name}"
            + (" --pristine PRISTINE" if args.pristine else "")
            + " --stage all --out runs"
        )
        doc = make_result(metrics, profile=profile.name, dataset=f"synthetic from "
                          f"{metrics['pristine']}", command=command,
                          title=f"pre-training ({', '.join(stages)}) on {n} pristine photos, "
                          f"profile {profile.name}",
                          provenance_block=provenance(device="cpu"))  # fmt: skip
        if args.notes:
            doc["notes"] = args.notes
        write_result(args.out, doc)
    except (GMIQAError, OSError, ValueError) as exc:
        print(f"pretrain_record: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: stages {', '.join(stages)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
