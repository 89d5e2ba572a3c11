"""The ``gmiqa`` command line: pre-train, fine-tune, evaluate, compare, score.

Taught in ``notebooks/07_finetuning.ipynb``. Subcommands::

    gmiqa pretrain [--stage meta|graph|both] [--pristine DIR]
    gmiqa finetune --dataset NAME [--root DIR] [--init CKPT|none|meta|graph] [--splits N]
                   [--compare-init none,meta,graph]
    gmiqa ablation [--dataset synthetic] [--splits N]      (= finetune --compare-init none,meta,graph)
    gmiqa evaluate --checkpoint CKPT --dataset NAME --root DIR
    gmiqa score --checkpoint CKPT [--json] IMAGE ...

Every subcommand takes ``--profile`` (smoke, cpu, gpu), ``--device`` (auto, cpu, cuda),
``--out`` (run folder root; a profile's files go to ``OUT/<profile>``) and ``--seed``.
An error caused by input (a missing dataset folder, a wrong checkpoint, an unreadable
image) prints one line ``gmiqa: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gmiqa.errors import ConfigError, DatasetError, GMIQAError

EXIT_USER_ERROR = 2
SYNTHETIC = "synthetic"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=os.environ.get("GMIQA_PROFILE", "cpu"),
                   help="smoke, cpu or gpu (default: $GMIQA_PROFILE or cpu)")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("GMIQA_RUN_DIR", "runs")),
                   help="run folder root; files go to OUT/<profile> (default: runs)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gmiqa",
        description="GMIQA no-reference image quality: training stages, evaluation and scoring.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="stage 1 (meta-learning) and stage 2 (graph pre-training)")
    _common(p)
    p.add_argument("--stage", choices=("meta", "graph", "both"), default="both")
    p.add_argument("--pristine", type=Path, default=None,
                   help="folder of pristine images (default: photos shipped with the installed packages)")  # fmt: skip

    p = sub.add_parser("finetune", help="stage 3: fine-tune over seeded splits, write metrics JSON")
    _common(p)
    p.add_argument(
        "--dataset",
        required=True,
        help=f"{SYNTHETIC}, kadid10k, koniq10k, livec, live, csiq, tid2013",
    )
    p.add_argument("--root", type=Path, default=None,
                   help="dataset folder (for synthetic: optional folder of pristine images)")  # fmt: skip
    p.add_argument("--init", default="graph",
                   help="checkpoint file, or none / meta / graph (this run folder's stages; default graph)")  # fmt: skip
    p.add_argument(
        "--splits", type=int, default=None, help="number of splits (default: the profile's)"
    )
    p.add_argument("--compare-init", default=None,
                   help="comma list of inits fine-tuned on the same splits, e.g. none,meta,graph")  # fmt: skip
    p.add_argument(
        "--pristine", type=Path, default=None, help="pristine folder for pre-training stages"
    )

    p = sub.add_parser(
        "ablation", help="fine-tune with and without pre-training on the same splits"
    )
    _common(p)
    p.add_argument("--dataset", default=SYNTHETIC)
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--splits", type=int, default=None)
    p.add_argument("--inits", default="none,meta,graph")
    p.add_argument("--pristine", type=Path, default=None)

    p = sub.add_parser(
        "evaluate", help="score a labelled set with a checkpoint (or a baseline) and report metrics"
    )
    _common(p)
    p.add_argument("--checkpoint", type=Path, default=None, help="fine-tuned checkpoint")
    p.add_argument("--method", default="gmiqa", help="gmiqa (needs --checkpoint), niqe or brisque")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--splits", type=int, default=None,
                   help="baselines: number of splits (default: the profile's), the ones fine-tuning uses")  # fmt: skip
    p.add_argument("--model-path", type=Path, default=None,
                   help="baselines: NIQE .mat/.npz, BRISQUE libsvm model or .npz (default: fit)")  # fmt: skip
    p.add_argument("--range-path", type=Path, default=None,
                   help="BRISQUE: the release's svm-scale range file, with --model-path")  # fmt: skip

    p = sub.add_parser("score", help="one quality score per image (higher = better)")
    _common(p)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of path<TAB>score lines")
    p.add_argument("images", nargs="+", type=Path)
    return parser


def _run_dir(args) -> Path:
    from gmiqa.profiles import get_profile

    return Path(args.out) / get_profile(args.profile).name


def _load_set(name: str, root: Path | None, args, run_dir: Path):
    """(canonical name, dataset) for a name; the synthetic set takes an optional pristine folder."""
    if name.lower() == SYNTHETIC:
        from gmiqa.training.pipeline import synthetic_dataset

        if root is not None and not Path(root).is_dir():
            raise DatasetError(f"{root}: pristine image folder does not exist")
        return SYNTHETIC, synthetic_dataset(args.profile, run_dir, root, args.seed)
    from gmiqa.datasets import canonical_name, load_dataset

    key = canonical_name(name)
    if root is None:
        raise DatasetError(f"--root is required for dataset {key}")
    if not Path(root).exists():
        raise DatasetError(f"{root}: dataset folder does not exist")
    return key, load_dataset(key, root)


def _resolve_init(init: str, args, run_dir: Path):
    from gmiqa.training.pipeline import ensure_stage

    key = init.strip().lower()
    if key in ("none", "scratch", ""):
        return None
    if key in ("meta", "graph"):
        return ensure_stage(key, args.profile, run_dir, args.device, args.seed,
                            getattr(args, "pristine", None), not args.quiet)  # fmt: skip
    if key == "graph_nometa":
        return ensure_stage("graph", args.profile, run_dir, args.device, args.seed,
                            getattr(args, "pristine", None), not args.quiet, use_meta=False)  # fmt: skip
    path = Path(init)
    from gmiqa.checkpoint import read_sidecar

    read_sidecar(path)  # a wrong checkpoint fails here, before any training
    return path


def cmd_pretrain(args) -> int:
    from gmiqa.training.pipeline import ensure_stage

    run_dir = _run_dir(args)
    if args.pristine is not None and not args.pristine.is_dir():
        raise DatasetError(f"{args.pristine}: pristine image folder does not exist")
    stages = ("meta", "graph") if args.stage == "both" else (args.stage,)
    for stage in stages:
        path = ensure_stage(stage, args.profile, run_dir, args.device, args.seed, args.pristine,
                            not args.quiet)  # fmt: skip
        print(f"{stage}: {path}")
    return 0


def _print_summary(name: str, res: dict) -> None:
    s = res["summary"]
    print(
        f"{name}: median SROCC {s['srocc']['median']:.4f} (mean {s['srocc']['mean']:.4f}), "
        f"median PLCC {s['plcc']['median']:.4f}, over {s['srocc']['splits']} splits"
    )


def cmd_finetune(args) -> int:
    from gmiqa.training.finetune import run_ablation, run_finetune

    run_dir = _run_dir(args)
    key, dataset = _load_set(args.dataset, args.root, args, run_dir)
    results = run_dir / "results"
    if args.compare_init:
        inits = {name.strip(): _resolve_init(name, args, run_dir)
                 for name in args.compare_init.split(",") if name.strip()}  # fmt: skip
        summary = run_ablation(args.profile, dataset, key, inits, results, args.splits,
                               args.device, args.seed, not args.quiet)  # fmt: skip
        for name, row in summary["rows"].items():
            print(f"init {name:12s} median SROCC {row['srocc_median']:.4f} "
                  f"(mean {row['srocc_mean']:.4f}, {row['splits']} splits)")  # fmt: skip
        print(f"written: {results / f'ablation-{key}.json'}")
        return 0
    init = _resolve_init(args.init, args, run_dir)
    label = (
        "none"
        if init is None
        else (args.init if args.init in ("meta", "graph") else Path(init).stem)
    )
    out = results / f"finetune-{key}-{label}.json"
    res = run_finetune(args.profile, dataset, key, init, out, args.splits, args.device, args.seed,
                       not args.quiet, keep_model=results / f"finetune-{key}-{label}.safetensors",
                       work_dir=results / "work")  # fmt: skip
    _print_summary(f"{key} from {label}", res)
    print(f"written: {out}")
    return 0


def cmd_ablation(args) -> int:
    args.compare_init = args.inits
    return cmd_finetune(args)


def model_from_checkpoint(path: str | os.PathLike, device="cpu"):
    """Rebuild the model a checkpoint was trained with (settings from its sidecar) and load it.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    import dataclasses

    from gmiqa.checkpoint import load_checkpoint, load_weights
    from gmiqa.errors import CheckpointError
    from gmiqa.models import build_model
    from gmiqa.profiles import ModelSettings

    ck = load_checkpoint(path)
    model_cfg = ck.config.get("profile", {}).get("model")
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{ck.path}: its sidecar does not record the model settings")
    fields = {f.name for f in dataclasses.fields(ModelSettings)}
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in model_cfg.items() if k in fields}
    # The checkpoint holds every weight: never look for ImageNet weights when rebuilding.
    cfg["pretrained"] = False
    model = build_model(dataclasses.replace(ModelSettings(), **cfg))
    load_weights(model, ck, strict=True)
    return model.to(device).eval(), ck


def cmd_evaluate(args) -> int:
    from gmiqa.atomic import atomic_write_json
    from gmiqa.device import resolve_device
    from gmiqa.provenance import provenance
    from gmiqa.training.evaluate import evaluate_predictions, predict

    run_dir = _run_dir(args)
    method = args.method.lower()
    dev = resolve_device(args.device)
    if method == "gmiqa" and args.checkpoint is None:
        raise ConfigError("evaluate --method gmiqa needs --checkpoint CKPT")
    key, dataset = _load_set(args.dataset, args.root, args, run_dir)
    if method != "gmiqa":
        return _evaluate_baseline(args, method, key, dataset, run_dir, dev)
    indices = list(range(len(dataset)))
    model, _ = model_from_checkpoint(args.checkpoint, dev)
    pred = predict(model, dataset, indices, dev, batch_size=8)
    res = evaluate_predictions(pred)
    out = run_dir / "results" / f"evaluate-{key}-{method}.json"
    atomic_write_json(out, {
        "config": {"dataset": key, "method": method, "checkpoint": str(args.checkpoint),
                   "root": str(args.root), "profile": args.profile, "seed": args.seed},
        **res,
        "predictions": {"name": pred["name"].tolist(), "pred": pred["pred"].tolist(),
                        "target": pred["target"].tolist()},
        "provenance": provenance(device=str(dev)),
    })  # fmt: skip
    m = res["metrics"]
    print(f"{key} ({method}): SROCC {m['srocc']:.4f} KROCC {m['krocc']:.4f} PLCC {m['plcc']:.4f} "
          f"PLCC(logistic) {m['plcc_logistic']:.4f} RMSE {m['rmse']:.4f} on {m['n']} images")  # fmt: skip
    print(f"written: {out}")
    return 0


def _evaluate_baseline(args, method: str, key: str, dataset, run_dir: Path, dev) -> int:
    """NIQE or BRISQUE on the same content-independent splits that fine-tuning uses.

    BRISQUE's regressor is fitted on each split's training part unless ``--model-path``
    (and ``--range-path`` for the release's libsvm files) names a model; NIQE uses the
    model it is given or one fitted on the packaged pristine photos.
    """
    from gmiqa.atomic import atomic_write_json
    from gmiqa.baselines import evaluate_splits
    from gmiqa.datasets.splits import make_splits
    from gmiqa.profiles import get_profile
    from gmiqa.provenance import provenance
    from gmiqa.training.finetune import split_by_for

    if method not in ("niqe", "brisque"):
        raise ConfigError(f"unknown method {method!r}: choose gmiqa, niqe or brisque")
    profile = get_profile(args.profile)
    n = args.splits or profile.finetune.splits
    by = split_by_for(key)
    splits = make_splits(dataset.records, n, profile.finetune.train_fraction, args.seed, by=by)
    options = {}
    for name in ("model_path", "range_path"):
        value = getattr(args, name, None)
        if value is not None:
            if not Path(value).is_file():
                raise ConfigError(f"{value}: no such {name.replace('_', ' ')}")
            options[name] = str(value)
    res = evaluate_splits(method, dataset, splits, **options)
    out = run_dir / "results" / f"evaluate-{key}-{method}.json"
    atomic_write_json(out, {
        "config": {"dataset": key, "method": method, "root": str(args.root), "splits": n,
                   "split_by": by, "profile": profile.name, "seed": args.seed, **options},
        "per_split": res["per_split"],
        "summary": res["summary"],
        "provenance": provenance(device=str(dev)),
    })  # fmt: skip
    med = res["summary"]
    print(f"{key} ({method}, {n} splits by {by}): median SROCC {med['srocc']['median']:.4f} "
          f"PLCC {med['plcc']['median']:.4f} PLCC(logistic) {med['plcc_logistic']['median']:.4f}")  # fmt: skip
    print(f"written: {out}")
    return 0


def cmd_score(args) -> int:
    import torch

    from gmiqa.datasets.base import image_to_tensor
    from gmiqa.device import resolve_device, to_device_images
    from gmiqa.images import load_image

    dev = resolve_device(args.device)
    model, _ = model_from_checkpoint(args.checkpoint, dev)
    results, failed = [], 0
    for path in args.images:
        try:
            x = image_to_tensor(load_image(path)).unsqueeze(0)
            # One image at a time at its native size: never resized.
            with torch.no_grad():
                s = float(model.score(to_device_images(x, dev)).float().cpu()[0])
            results.append({"path": str(path), "score": s})
            if not args.json:
                print(f"{path}\t{s:.6f}")
        except GMIQAError as exc:
            failed += 1
            results.append({"path": str(path), "error": str(exc)})
            print(f"gmiqa: error: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_USER_ERROR if failed else 0


COMMANDS = {
    "pretrain": cmd_pretrain,
    "finetune": cmd_finetune,
    "ablation": cmd_ablation,
    "evaluate": cmd_evaluate,
    "score": cmd_score,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gmiqa`` command; returns the exit status.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    args = build_parser().parse_args(argv)
    try:
        from gmiqa.profiles import get_profile

        get_profile(args.profile)  # an unknown profile fails before any work
        return COMMANDS[args.command](args)
    except GMIQAError as exc:
        print(f"gmiqa: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gmiqa: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
