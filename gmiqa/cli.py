"""The ``gmiqa`` command line: pre-train, fine-tune, evaluate, compare, score.

Taught in ``notebooks/07_finetuning.ipynb``. Subcommands::

    gmiqa pretrain [--stage meta|graph|both] [--pristine DIR]
    gmiqa finetune --dataset NAME [--root DIR] [--init CKPT|none|meta|graph] [--splits N]
                   [--compare-init none,meta,graph]
    gmiqa ablation [--dataset synthetic] [--splits N]      (= finetune --compare-init none,meta,graph)
    gmiqa evaluate --checkpoint CKPT --dataset NAME --root DIR
    gmiqa score --checkpoint CKPT [--json] [--out FILE.csv|FILE.json] [--batch-size N]
                [--workers N] FILE|FOLDER|GLOB ...
    gmiqa livec-dev --release DIR --out DIR [--names FILE]

Every subcommand takes ``--profile`` (smoke, cpu, gpu), ``--device`` (auto, cpu, cuda),
``--out`` (run folder root; a profile's files go to ``OUT/<profile>``; for ``score``: a CSV
or JSON file of the scores) and ``--seed``.
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


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts such as ``--splits``: an integer >= 1 (``07_finetuning``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (1 or more)")
    return value


def _backbone_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone-weights", type=Path, default=None,
                   help="a backbone state-dict file to start from (ImageNet SCNet-50 or "
                        "torchvision ResNet-50; see data/registry.json); never downloaded")  # fmt: skip


def _weights(args) -> Path | None:
    path = getattr(args, "backbone_weights", None)
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{path}: no such backbone weights file")
    return path


def _split_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the splits and of fine-tuning (default: --seed, which also "
                        "seeds pre-training); another value re-measures on other splits from "
                        "the same pre-training, into OUT/<profile>/results/split-seed-N")  # fmt: skip


def _split_seed_of(args) -> int:
    return args.seed if getattr(args, "split_seed", None) is None else int(args.split_seed)


def _compile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the backbone of stages 2 and 3 (CUDA only; the "
                        "profile's 'compile' setting, off in every profile)")  # fmt: skip


def _apply_compile(args) -> None:
    """``--compile`` switches the profile's ``compile`` on; on the CPU it says it is unused."""
    from gmiqa.device import resolve_device
    from gmiqa.profiles import get_profile

    if not getattr(args, "compile", False):
        return
    args.profile = get_profile(args.profile).replace(compile=True)
    if resolve_device(args.device).type != "cuda":
        print("gmiqa: note: --compile is used on CUDA only; this run stays eager",
              file=sys.stderr)  # fmt: skip


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
    p.add_argument("--stage", choices=("meta", "graph", "graph_nometa", "both", "all"),
                   default="both",
                   help="both = meta then graph; all = also graph_nometa (the ablation's row)")  # fmt: skip
    p.add_argument("--pristine", type=Path, default=None,
                   help="folder tree of pristine photos (default: photos shipped with the installed packages)")  # fmt: skip
    p.add_argument("--dataset", default=None,
                   help="kadid10k: pre-train on KADID-10k itself (with --root), as the paper does")  # fmt: skip
    p.add_argument("--root", type=Path, default=None, help="the --dataset folder")
    _backbone_weights(p)
    _compile(p)

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
        "--splits",
        type=positive_int,
        default=None,
        help="number of splits (default: the profile's)",
    )
    p.add_argument("--compare-init", default=None,
                   help="comma list of inits fine-tuned on the same splits, e.g. none,meta,graph")  # fmt: skip
    p.add_argument(
        "--pristine", type=Path, default=None, help="pristine folder for pre-training stages"
    )
    _split_seed(p)
    _backbone_weights(p)
    _compile(p)

    p = sub.add_parser(
        "ablation", help="fine-tune with and without pre-training on the same splits"
    )
    _common(p)
    p.add_argument("--dataset", default=SYNTHETIC)
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--splits", type=positive_int, default=None)
    p.add_argument("--inits", default="none,meta,graph_nometa,graph",
                   help="rows: comma list of none, meta, graph_nometa, graph or checkpoint files")  # fmt: skip
    p.add_argument("--baselines", default="niqe,brisque",
                   help="baseline rows on the same splits (comma list of niqe, brisque; 'none' for none)")  # fmt: skip
    p.add_argument("--pristine", type=Path, default=None)
    _split_seed(p)
    _backbone_weights(p)
    _compile(p)

    p = sub.add_parser(
        "evaluate", help="score a labelled set with a checkpoint (or a baseline) and report metrics"
    )
    _common(p)
    p.add_argument("--checkpoint", type=Path, default=None, help="fine-tuned checkpoint")
    p.add_argument("--method", default="gmiqa", help="gmiqa (needs --checkpoint), niqe or brisque")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--splits", type=positive_int, default=None,
                   help="baselines: number of splits (default: the profile's), the ones fine-tuning uses")  # fmt: skip
    p.add_argument("--model-path", type=Path, default=None,
                   help="baselines: NIQE .mat/.npz, BRISQUE libsvm model or .npz (default: fit)")  # fmt: skip
    p.add_argument("--range-path", type=Path, default=None,
                   help="BRISQUE: the release's svm-scale range file, with --model-path")  # fmt: skip

    p = sub.add_parser(
        "score",
        help="one quality score per image (higher = better): files, folders, glob patterns",
        description="Score image files, folders (searched recursively for image files) and "
        "glob patterns ('photos/**/*.jpg'). Images of the same size are scored together in "
        "batches; each score equals the image's score alone.",
    )
    # --out is a result FILE here (not a run folder), so the common options are spelled out
    p.add_argument("--profile", default=os.environ.get("GMIQA_PROFILE", "cpu"),
                   help="smoke, cpu or gpu (default: $GMIQA_PROFILE or cpu); the model comes from the checkpoint")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of path<TAB>score lines")
    p.add_argument("--out", type=Path, default=None,
                   help="also write the scores to FILE.csv or FILE.json (by extension, atomically)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=16,
                   help="images of one size scored per model call (default 16)")  # fmt: skip
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="threads decoding images (default: min(4, CPUs))")  # fmt: skip
    p.add_argument("images", nargs="+", help="image files, folders or glob patterns")

    p = sub.add_parser("livec-dev", help="build the 300-photo LIVEC development set from a "
                       "LIVEC download and data/livec-dev.txt (gmiqa.datasets.livec_dev)")  # fmt: skip
    p.add_argument("--release", type=Path, required=True,
                   help="the LIVEC download (ChallengeDB_release or its parent)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True,
                   help="folder that receives ChallengeDB_release/ of the development set")  # fmt: skip
    p.add_argument("--names", type=Path, default=None,
                   help="list of file names (default: data/livec-dev.txt of this checkout)")  # fmt: skip
    p.set_defaults(profile="cpu")
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


def _pretraining_data(args, run_dir: Path):
    from gmiqa.training.pipeline import pretraining_dataset

    pristine = getattr(args, "pristine", None)
    if pristine is not None and not Path(pristine).is_dir():
        raise DatasetError(f"{pristine}: pristine image folder does not exist")
    return pretraining_dataset(
        args.profile, run_dir, pristine, args.seed, getattr(args, "pretrain_dataset", None),
        getattr(args, "pretrain_root", None), not args.quiet,
    )  # fmt: skip


def _resolve_init(init: str, args, run_dir: Path, data=None):
    from gmiqa.training.pipeline import ensure_stage

    key = init.strip().lower()
    if key in ("none", "scratch", ""):
        return None
    if key in ("meta", "graph", "graph_nometa"):
        data = data if data is not None else _pretraining_data(args, run_dir)
        return ensure_stage("graph" if key == "graph_nometa" else key, args.profile, run_dir,
                            args.device, args.seed, getattr(args, "pristine", None),
                            not args.quiet, data, use_meta=key != "graph_nometa",
                            backbone_weights=_weights(args))  # fmt: skip
    path = Path(init)
    from gmiqa.checkpoint import read_sidecar

    read_sidecar(path)  # a wrong checkpoint fails here, before any training
    return path


def cmd_pretrain(args) -> int:
    from gmiqa.training.probe import probe_checkpoint_path

    run_dir = _run_dir(args)
    args.pretrain_dataset, args.pretrain_root = args.dataset, args.root
    if args.dataset is not None and args.pristine is not None:
        raise ConfigError("give --pristine (synthetic distortions) or --dataset, not both")
    data = _pretraining_data(args, run_dir)
    stages = {"both": ("meta", "graph"), "all": ("meta", "graph", "graph_nometa")}.get(
        args.stage, (args.stage,)
    )
    for stage in stages:
        path = _resolve_init(stage, args, run_dir, data)
        print(f"{stage}: {path}")
        probe = probe_checkpoint_path(path)
        if probe.is_file():
            r = json.loads(probe.read_text(encoding="utf-8"))
            print(f"  held-out references ({r['references']}, {r['images']} images): 5-NN type "
                  f"accuracy {r['knn_type_accuracy']:.3f} per image, "
                  f"{r['knn_type_accuracy_graph']:.3f} per graph (chance {r['chance']:.3f}); "
                  f"level SROCC {r['level_srocc']:.3f}")  # fmt: skip
            if "level_srocc_severity_types" in r:
                print(f"  level SROCC over the {len(r['severity_types'])} types whose levels "
                      f"order severity: {r['level_srocc_severity_types']:.3f}")  # fmt: skip
    return 0


def _print_summary(name: str, res: dict) -> None:
    s = res["summary"]
    print(
        f"{name}: median SROCC {s['srocc']['median']:.4f} (mean {s['srocc']['mean']:.4f}), "
        f"median PLCC {s['plcc']['median']:.4f}, over {s['srocc']['splits']} splits"
    )


def cmd_finetune(args) -> int:
    from gmiqa.training.finetune import model_path_for, run_ablation, run_finetune

    run_dir = _run_dir(args)
    key, dataset = _load_set(args.dataset, args.root, args, run_dir)
    split_seed = _split_seed_of(args)
    results = run_dir / "results"
    if split_seed != args.seed:  # other splits from the same pre-training: kept apart
        results = results / f"split-seed-{split_seed}"
    weights = _weights(args)
    if args.compare_init:
        needs_data = any(n.strip().lower() in ("meta", "graph", "graph_nometa")
                         for n in args.compare_init.split(","))  # fmt: skip
        data = _pretraining_data(args, run_dir) if needs_data else None
        inits = {name.strip(): _resolve_init(name, args, run_dir, data)
                 for name in args.compare_init.split(",") if name.strip()}  # fmt: skip
        baselines = [b.strip().lower() for b in (getattr(args, "baselines", "") or "").split(",")
                     if b.strip() and b.strip().lower() != "none"]  # fmt: skip
        summary = run_ablation(args.profile, dataset, key, inits, results, args.splits,
                               args.device, split_seed, not args.quiet, baselines=baselines,
                               backbone_weights=weights)  # fmt: skip
        for name, row in summary["rows"].items():
            print(f"{name:12s} median SROCC {row['srocc_median']:.4f} "
                  f"(IQR {row['srocc_q25']:.4f}-{row['srocc_q75']:.4f}), median PLCC "
                  f"{row['plcc_median']:.4f}, {row['splits']} splits")  # fmt: skip
        print(f"written: {results / f'ablation-{key}.json'}")
        return 0
    init = _resolve_init(args.init, args, run_dir)
    label = (
        "none"
        if init is None
        else (args.init if args.init in ("meta", "graph", "graph_nometa") else Path(init).stem)
    )
    out = results / f"finetune-{key}-{label}.json"
    model = model_path_for(out)  # the results JSON must not be the checkpoint's sidecar
    res = run_finetune(args.profile, dataset, key, init, out, args.splits, args.device, split_seed,
                       not args.quiet, keep_model=model, work_dir=results / "work",
                       backbone_weights=weights)  # fmt: skip
    _print_summary(f"{key} from {label}", res)
    print(f"written: {out}")
    print(f"model (split 0): {model}")
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
    warn_if_pretraining_checkpoint(ck)
    profile = ck.config.get("profile")
    model_cfg = profile.get("model") if isinstance(profile, dict) else None
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{ck.path}: its sidecar does not record the model settings")
    fields = {f.name for f in dataclasses.fields(ModelSettings)}
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in model_cfg.items() if k in fields}
    # The checkpoint holds every weight: never look for ImageNet weights when rebuilding.
    cfg["pretrained"] = False
    try:
        model = build_model(dataclasses.replace(ModelSettings(), **cfg))
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{ck.path}: its sidecar's model settings cannot build a model ({exc})"
        ) from None
    load_weights(model, ck, strict=True)
    return model.to(device).eval(), ck


PRETRAINING_STAGES = {
    "meta": "a stage-1 meta-learning checkpoint",
    "graph": "a stage-2 graph pre-training checkpoint",
}


def warn_if_pretraining_checkpoint(ck) -> str | None:
    """Print a warning on stderr when ``ck`` comes from a pre-training stage (meta, graph).

    Such a model is not trained on human ratings: its scores are not quality predictions.
    Returns the warning (None for a fine-tuned checkpoint). Taught in ``07_finetuning``.
    """
    stage = str(ck.kind or ck.config.get("stage") or "").lower()
    if stage not in PRETRAINING_STAGES:
        return None
    message = (
        f"gmiqa: warning: {ck.path} is {PRETRAINING_STAGES[stage]}; its scores are not "
        "quality predictions. Fine-tune it first (gmiqa finetune --init CKPT) and use the "
        "fine-tuned model."
    )
    print(message, file=sys.stderr)
    return message


def cmd_evaluate(args) -> int:
    from gmiqa.atomic import atomic_write_json
    from gmiqa.device import resolve_device
    from gmiqa.provenance import provenance
    from gmiqa.training.evaluate import evaluate_predictions, predict, recipe_scoring

    run_dir = _run_dir(args)
    method = args.method.lower()
    dev = resolve_device(args.device)
    if method == "gmiqa" and args.checkpoint is None:
        raise ConfigError("evaluate --method gmiqa needs --checkpoint CKPT")
    key, dataset = _load_set(args.dataset, args.root, args, run_dir)
    if method != "gmiqa":
        return _evaluate_baseline(args, method, key, dataset, run_dir, dev)
    indices = list(range(len(dataset)))
    model, ck = model_from_checkpoint(args.checkpoint, dev)
    crop, grid = recipe_scoring(ck.config)  # scored as the fine-tuning recipe scores
    pred = predict(model, dataset, indices, dev, batch_size=8, crop=crop, grid=grid)
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


_GLOB_CHARS = frozenset("*?[")


def expand_image_inputs(items) -> list[tuple[str, str | None]]:
    """Files, folders and glob patterns -> ``[(path, error or None), ...]`` in the given order.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). A folder gives its image
    files (``gmiqa.images.IMAGE_SUFFIXES``, searched recursively, sorted); a pattern with
    ``*``, ``?`` or ``[`` that names no existing file is expanded with :func:`glob.glob`
    (``**`` recursive, sorted; matched files with an image extension, matched folders as
    folders). Anything else is taken as a file and read later, so a missing or unreadable
    file becomes that file's own error. A folder without images or a pattern without
    matches is an error entry naming it.
    """
    import glob

    from gmiqa.images import IMAGE_SUFFIXES, list_images

    out: list[tuple[str, str | None]] = []

    def add_folder(folder: Path) -> None:
        try:
            out.extend((str(p), None) for p in list_images(folder))
        except GMIQAError as exc:
            out.append((str(folder), str(exc)))

    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            add_folder(path)
        elif not path.exists() and any(c in _GLOB_CHARS for c in text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                out.append((text, f"{text}: no file matches this pattern"))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    add_folder(mp)
                elif mp.suffix.lower() in IMAGE_SUFFIXES:
                    out.append((m, None))
        else:
            out.append((text, None))
    return out


def fold_batch_norm(model):
    """A copy of ``model`` for inference with each BatchNorm folded into its convolution.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). In evaluation mode a
    BatchNorm after a convolution is an affine map per channel, so it can be merged into
    the convolution's weight and bias (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`):
    one pass over each feature map instead of two (about 12% of a CPU forward of
    SCNet-50). Pairs folded: consecutive ``Conv2d``, ``BatchNorm2d`` in an
    ``nn.Sequential``, and ``conv<X>`` / ``bn<X>`` attributes of one module applied as
    ``bn<X>(conv<X>(x))`` (SCNet's and torchvision's bottlenecks and stems; tests check
    every backbone). The copy is in evaluation mode; scores equal the unfolded model's to
    float rounding (tests: 1e-5).
    """
    import copy

    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()

    def foldable(conv, bn) -> bool:
        return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                and bn.track_running_stats and conv.out_channels == bn.num_features)  # fmt: skip

    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if foldable(module[i], module[i + 1]):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
        for name, child in list(module.named_children()):
            if name.startswith("conv"):
                bn_name = "bn" + name[len("conv") :]
                bn = getattr(module, bn_name, None)
                if foldable(child, bn):
                    setattr(module, name, fuse_conv_bn_eval(child, bn))
                    setattr(module, bn_name, nn.Identity())
    return model


def score_images(model, paths, device, batch_size: int = 16, workers: int = 4,
                 fold: bool = True, crop: int | None = None, grid: int = 0):  # fmt: skip
    """Score image files with ``model.score``, same-size images batched; yields in order.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). Yields
    ``(path, score, None)`` or ``(path, None, error message naming the file)`` for each
    path, in the order given. Files are decoded by ``workers`` threads
    (:func:`gmiqa.images.load_image`, a bounded window ahead of the model); decoded images
    wait in one bucket per size until ``batch_size`` of them are there (or too many wait
    in all: the oldest bucket goes first), and a bucket is scored with one
    ``model.score`` call at the native size. ``GMIQA.score`` in evaluation mode scores
    every image on its own, so the scores equal those of one image at a time (to float
    rounding of the batched kernels). ``fold``: score with :func:`fold_batch_norm`'s copy.
    ``crop``, ``grid``: score each image as the mean of a grid of windows
    (:func:`gmiqa.training.evaluate.score_images`; the fine-tuning recipe's, from
    :func:`gmiqa.training.evaluate.recipe_scoring`).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import torch

    from gmiqa.device import to_device_images
    from gmiqa.images import load_image
    from gmiqa.training.evaluate import score_images as score_batch

    paths = [str(p) for p in paths]
    if fold:
        model = fold_batch_norm(model)
    batch_size, workers = int(batch_size), int(workers)
    if batch_size < 1 or workers < 1:
        raise ConfigError(f"--batch-size and --workers must be >= 1, got {batch_size}, {workers}")
    window = 2 * batch_size + 2 * workers  # decoded or decoding images held at most
    max_waiting = max(2 * batch_size, 8)
    done: dict[int, tuple[float | None, str | None]] = {}
    buckets: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}

    def run(key) -> None:
        items = buckets.pop(key)
        x = torch.from_numpy(np.stack([img for _, img in items])).permute(0, 3, 1, 2)
        # uint8 to the device, then the same float().div_(255) as image_to_tensor
        x = to_device_images(x, device).float().div_(255.0)
        try:
            scores = score_batch(model, x, crop, grid).float().cpu().tolist()
        except GMIQAError as exc:  # e.g. smaller than the backbone's minimum size
            for i, _ in items:
                done[i] = (None, f"{paths[i]}: {' '.join(str(exc).split())}")
            return
        for (i, _), s in zip(items, scores):
            done[i] = (float(s), None)

    def decode(path: str):
        try:
            return load_image(path), None
        except GMIQAError as exc:
            return None, str(exc)

    emitted = 0
    futures = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gmiqa-decode")
    try:
        for i in range(min(window, len(paths))):
            futures[i] = pool.submit(decode, paths[i])
        for i in range(len(paths)):
            img, error = futures.pop(i).result()
            if i + window < len(paths):
                futures[i + window] = pool.submit(decode, paths[i + window])
            if error is not None:
                done[i] = (None, error)
            else:
                key = tuple(img.shape)
                buckets.setdefault(key, []).append((i, img))
                if len(buckets[key]) >= batch_size:
                    run(key)
                while sum(len(b) for b in buckets.values()) > max_waiting:
                    run(min(buckets, key=lambda k: buckets[k][0][0]))  # the oldest first
            while emitted in done:
                yield (paths[emitted], *done.pop(emitted))
                emitted += 1
        while buckets:
            run(min(buckets, key=lambda k: buckets[k][0][0]))
            while emitted in done:
                yield (paths[emitted], *done.pop(emitted))
                emitted += 1
    finally:  # also when the caller stops early: drop the decodes not started
        pool.shutdown(wait=True, cancel_futures=True)


def _write_scores(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    from gmiqa.atomic import atomic_write_json, atomic_write_text

    if path.suffix.lower() == ".json":
        atomic_write_json(path, rows)
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "score", "error"])
    for r in rows:
        score = r.get("score")
        writer.writerow([r["path"], "" if score is None else f"{score:.6f}", r.get("error", "")])
    atomic_write_text(path, buf.getvalue())


def cmd_score(args) -> int:
    from tqdm.auto import tqdm

    from gmiqa.device import resolve_device

    if args.out is not None and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"{args.out}: --out must name a .csv or .json file")
    if args.batch_size < 1 or args.workers < 1:
        raise ConfigError(
            f"--batch-size and --workers must be >= 1, got {args.batch_size}, {args.workers}"
        )
    dev = resolve_device(args.device)
    model, ck = model_from_checkpoint(args.checkpoint, dev)
    from gmiqa.training.evaluate import recipe_scoring

    crop, grid = recipe_scoring(ck.config)  # scored as the fine-tuning recipe scores
    entries = expand_image_inputs(args.images)
    # a bar only on an interactive stderr (never in logs or captured output)
    bar = tqdm(total=len(entries), unit="img", file=sys.stderr,
               disable=True if args.quiet else None, desc="scoring")  # fmt: skip

    def say(line: str, file) -> None:
        if bar.disable:
            print(line, file=file, flush=file is sys.stderr)
        else:
            bar.write(line, file=file)

    results, failed = [], 0

    def report(path: str, score: float | None, error: str | None) -> None:
        nonlocal failed
        if error is not None:
            failed += 1
            results.append({"path": path, "error": error})
            say(f"gmiqa: error: {error}", sys.stderr)
        else:
            results.append({"path": path, "score": score})
            if not args.json:
                say(f"{path}\t{score:.6f}", sys.stdout)
        bar.update(1)

    readable = [p for p, err in entries if err is None]
    scored = score_images(model, readable, dev, args.batch_size, args.workers, crop=crop,
                          grid=grid)  # fmt: skip
    try:
        for path, error in entries:
            report(*((path, None, error) if error is not None else next(scored)))
    finally:
        scored.close()
        bar.close()
    if args.json:
        print(json.dumps(results, indent=2))
    if args.out is not None:
        _write_scores(Path(args.out), results)
    return EXIT_USER_ERROR if failed else 0


def cmd_livec_dev(args) -> int:
    from gmiqa.datasets.livec_dev import build_livec_dev

    dest = build_livec_dev(args.release, args.out, args.names)
    print(f"written: {dest} (read it with --dataset livec --root {dest})")
    return 0


COMMANDS = {
    "pretrain": cmd_pretrain,
    "finetune": cmd_finetune,
    "ablation": cmd_ablation,
    "evaluate": cmd_evaluate,
    "score": cmd_score,
    "livec-dev": cmd_livec_dev,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gmiqa`` command; returns the exit status.

    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    args = build_parser().parse_args(argv)
    try:
        from gmiqa.profiles import get_profile

        get_profile(args.profile)  # an unknown profile fails before any work
        _apply_compile(args)
        return COMMANDS[args.command](args)
    except GMIQAError as exc:
        print(f"gmiqa: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gmiqa: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
