"""The ``gmiqa`` command line: pre-train, fine-tune, evaluate, compare, score.

Taught in ``notebooks/07_finetuning.ipynb``; ``gmiqa --help`` and ``gmiqa COMMAND --help``
list the subcommands (pretrain, finetune, ablation, evaluate, score, livec-dev) and their
options. This module parses and dispatches only: the work is the library's. Every subcommand takes ``--profile`` (smoke, cpu, gpu), ``--device`` (auto, cpu, cuda),
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

from gmiqa.datasets.livec_dev import build_livec_dev
from gmiqa.datasets.table import DATASETS
from gmiqa.device import resolve_device
from gmiqa.errors import ConfigError, GMIQAError
from gmiqa.images import LINK_RULE
from gmiqa.inference import expand_image_inputs, load_model
from gmiqa.profiles import PROFILES, get_profile
from gmiqa.runfolder import CommandInputs, PretrainingData, check_score_file, prepare_command
from gmiqa.score_output import print_pretraining_warning, score_with_progress, write_scores
from gmiqa.stages import PRETRAIN_CHOICES, PRETRAINING_STAGES, expand_stages, stages_read
from gmiqa.training import evaluate, finetune, pipeline, probe

EXIT_USER_ERROR = 2


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


def _pretrain_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pretrain-dataset", default=None,
                   help="kadid10k: the pre-training stages read KADID-10k (with --pretrain-root), "
                        "as 'gmiqa pretrain --dataset kadid10k' trains them; default: the "
                        "pre-training found in this run folder, else the synthetic set")  # fmt: skip
    p.add_argument("--pretrain-root", type=Path, default=None,
                   help="the --pretrain-dataset folder")  # fmt: skip


def _split_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the splits and of fine-tuning (default: --seed, which also "
                        "seeds pre-training); another value re-measures on other splits from "
                        "the same pre-training, into OUT/<profile>/results/split-seed-N")  # fmt: skip


def _score_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--score-range", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="--dataset folder: the scale of scores.csv (default: its dataset.json, "
                        "else the scores' own minimum and maximum)")  # fmt: skip


def _dataset(args, profile, run_dir: Path | None, seed: int):
    """``(key, dataset)`` of ``--dataset``/``--root``; a real set is loaded once, in ``main``
    before the run folder is touched, so that a bad one writes nothing."""
    if getattr(args, "loaded_dataset", None) is not None:
        return args.loaded_dataset
    options = {}
    if getattr(args, "score_range", None) is not None:
        if str(args.dataset).lower() != "folder":
            raise ConfigError("--score-range is for --dataset folder (the other sets' "
                              "scales are published)")  # fmt: skip
        options["score_range"] = tuple(args.score_range)
    return pipeline.named_dataset(args.dataset, args.root, profile, run_dir, seed,
                                  **options)  # fmt: skip


def _compile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the backbone of stages 2 and 3 (CUDA only; the "
                        "profile's 'compile' setting, off in every profile)")  # fmt: skip


def _common(p: argparse.ArgumentParser, run_folder: bool = True) -> None:
    p.add_argument("--profile", default=os.environ.get("GMIQA_PROFILE", "cpu"),
                   help=f"{', '.join(PROFILES)} (default: $GMIQA_PROFILE or cpu)")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    if run_folder:  # `score --out` is a result file instead
        p.add_argument("--out", type=Path, default=Path(os.environ.get("GMIQA_RUN_DIR", "runs")),
                       help="run folder root; files go to OUT/<profile> (default: runs)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmiqa", description="GMIQA no-reference image "
                                     "quality: training stages, evaluation and scoring.")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="stage 1 (meta-learning) and stage 2 (graph pre-training)")
    _common(p)
    p.add_argument("--stage", choices=PRETRAIN_CHOICES, default="both",
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
    p.add_argument("--dataset", required=True, help=", ".join(DATASETS))
    p.add_argument("--root", type=Path, default=None,
                   help="dataset folder (for synthetic: optional folder of pristine images)")  # fmt: skip
    p.add_argument("--init", default="graph",
                   help="checkpoint file, or none / meta / graph (this run folder's stages; default graph)")  # fmt: skip
    p.add_argument("--splits", type=positive_int, default=None,
                   help="number of splits (default: the profile's)")  # fmt: skip
    p.add_argument("--compare-init", default=None,
                   help="comma list of inits fine-tuned on the same splits, e.g. none,meta,graph")  # fmt: skip
    p.add_argument("--pristine", type=Path, default=None,
                   help="pristine folder for pre-training stages")  # fmt: skip
    _score_range(p)
    _pretrain_data(p)
    _split_seed(p)
    _backbone_weights(p)
    _compile(p)

    p = sub.add_parser(
        "ablation", help="fine-tune with and without pre-training on the same splits"
    )
    _common(p)
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--splits", type=positive_int, default=None)
    p.add_argument("--inits", default="none,meta,graph_nometa,graph",
                   help="rows: comma list of none, meta, graph_nometa, graph or checkpoint files")  # fmt: skip
    p.add_argument("--baselines", default="niqe,brisque",
                   help="baseline rows on the same splits (comma list of niqe, brisque; 'none' for none)")  # fmt: skip
    p.add_argument("--pristine", type=Path, default=None)
    _score_range(p)
    _pretrain_data(p)
    _split_seed(p)
    _backbone_weights(p)
    _compile(p)

    p = sub.add_parser("evaluate", help="score a labelled set with a checkpoint (or a "
                                        "baseline) and report metrics")  # fmt: skip
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
    _score_range(p)

    p = sub.add_parser("score", help="one quality score per image (higher = better): files, "
                       "folders, glob patterns", description="Score image files, folders (searched "
                       "recursively for image files) and glob patterns ('photos/**/*.jpg'). Images "
                       "of the same size are scored together in batches; each score equals the "
                       "image's score alone. " + LINK_RULE + " Paths in the path<TAB>score "
                       "lines and in a CSV are escaped when they hold a backslash, a tab, a "
                       "newline, another control character or bytes that are not UTF-8 "
                       "(gmiqa.names).")  # fmt: skip
    _common(p, run_folder=False)  # the model's settings come from the checkpoint
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of path<TAB>score lines")
    p.add_argument("--out", type=Path, default=None,
                   help="also write the scores to FILE.csv or FILE.json (by extension, atomically)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, default=16,
                   help="images of one size scored per model call (default 16)")  # fmt: skip
    p.add_argument("--workers", type=positive_int, default=min(4, os.cpu_count() or 1),
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


# -- from the command line to typed values ------------------------------------------------


def _comma_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _init_names(args) -> list[str] | None:
    """The inits fine-tuned on the same splits (``ablation --inits``, ``--compare-init``)."""
    text = args.inits if args.command == "ablation" else args.compare_init
    return _comma_list(text) if text else None


def _named_data(args) -> PretrainingData:
    """The pre-training data the options name: ``pretrain --dataset/--root/--pristine``,
    the others' ``--pretrain-dataset/--pretrain-root/--pristine``."""
    if args.command == "pretrain":
        names, explicit = ("--dataset", "--root"), True
        dataset, root = args.dataset, args.root
    else:
        names = ("--pretrain-dataset", "--pretrain-root")
        dataset, root = args.pretrain_dataset, args.pretrain_root
        explicit = dataset is not None or args.pristine is not None
    data = PretrainingData(dataset, root, args.pristine, explicit)
    if not data.synthetic and data.pristine is not None:
        raise ConfigError(f"give --pristine (synthetic distortions) or {names[0]}, not both")
    if not data.synthetic and data.root is None:
        raise ConfigError(f"{args.command} {names[0]} {dataset} needs {names[1]} DIR "
                          f"(the {dataset} folder)")  # fmt: skip
    return data


def command_inputs(args: argparse.Namespace, argv: list[str] | None = None) -> CommandInputs:
    """The typed values a parsed command line names: the one place where argparse's
    namespace becomes what the library takes (:class:`gmiqa.runfolder.CommandInputs`).

    The profile is resolved here once (``--compile`` switches its ``compile`` setting on)
    and the run folder ``OUT/<profile>`` named; an unknown profile fails before any work.
    """
    command = args.command
    profile = get_profile(args.profile)
    if command == "livec-dev":  # writes a dataset folder, not a run folder
        return CommandInputs(command, profile)
    if getattr(args, "compile", False):
        profile = profile.replace(compile=True)
        if resolve_device(args.device).type != "cuda":
            print("gmiqa: note: --compile is used on CUDA only; this run stays eager",
                  file=sys.stderr)  # fmt: skip
    words = " ".join(sys.argv[1:] if argv is None else argv) or command
    common = dict(command=command, profile=profile, device=args.device, seed=args.seed,
                  progress=not args.quiet, description=f"gmiqa {words}")  # fmt: skip
    if command == "score":
        out = None if args.out is None else check_score_file(Path(args.out))
        return CommandInputs(**common, score_out=out)
    if command == "pretrain":
        stages = stages_read(expand_stages(args.stage))
    elif command == "ablation" and not _init_names(args):
        raise ConfigError("ablation --inits names no row: give a comma list of none, "
                          f"{', '.join(PRETRAINING_STAGES)} or checkpoint files")  # fmt: skip
    elif command in ("finetune", "ablation"):
        stages = stages_read(_init_names(args) or [args.init])
    else:
        stages = []
    data = _named_data(args) if command in ("pretrain", "finetune", "ablation") else None
    return CommandInputs(**common, run_dir=Path(args.out) / profile.name, out=Path(args.out),
                         stages=tuple(stages), data=data or PretrainingData(explicit=False),
                         backbone_weights=getattr(args, "backbone_weights", None))  # fmt: skip


# -- the commands -------------------------------------------------------------------------


def _pretraining_set(inputs: CommandInputs):
    data = inputs.data
    return pipeline.pretraining_dataset(inputs.profile, inputs.run_dir, data.pristine,
                                        inputs.seed, data.dataset, data.root,
                                        inputs.progress)  # fmt: skip


def _resolve_init(init: str, inputs: CommandInputs, data=None):
    data = data if data is not None else (lambda: _pretraining_set(inputs))
    return pipeline.resolve_init(init, inputs.profile, inputs.run_dir, inputs.device,
                                 inputs.seed, inputs.data.pristine, inputs.progress, data,
                                 inputs.backbone_weights)  # fmt: skip


def cmd_pretrain(args, inputs: CommandInputs) -> int:
    data = _pretraining_set(inputs)
    for stage in expand_stages(args.stage):
        path = _resolve_init(stage, inputs, data)
        print(f"{stage}: {path}")
        for line in probe.probe_summary(path):
            print(line)
    return 0


def cmd_finetune(args, inputs: CommandInputs) -> int:
    """``finetune`` (one init, or ``--compare-init``) and ``ablation`` (``--inits``)."""
    run_dir, profile = inputs.run_dir, inputs.profile
    key, dataset = _dataset(args, profile, run_dir, inputs.seed)
    split_seed = inputs.seed if args.split_seed is None else int(args.split_seed)
    results = run_dir / "results"
    if split_seed != inputs.seed:  # other splits from the same pre-training: kept apart
        results = results / f"split-seed-{split_seed}"
    weights = inputs.backbone_weights
    names = _init_names(args)
    if names:
        data = _pretraining_set(inputs) if inputs.stages else None
        inits = {name: _resolve_init(name, inputs, data) for name in names}
        baselines = [b.lower() for b in _comma_list(getattr(args, "baselines", ""))
                     if b.lower() != "none"]  # fmt: skip
        summary = finetune.run_ablation(profile, dataset, key, inits, results, args.splits,
                                        inputs.device, split_seed, inputs.progress,
                                        baselines=baselines, backbone_weights=weights)  # fmt: skip
        print(*finetune.ablation_lines(summary), f"written: {results / f'ablation-{key}.json'}",
              sep="\n")  # fmt: skip
        return 0
    init = _resolve_init(args.init, inputs)
    named = args.init in PRETRAINING_STAGES
    label = "none" if init is None else (args.init if named else Path(init).stem)
    out = results / f"finetune-{key}-{label}.json"
    model = finetune.model_path_for(out)  # the results JSON must not be the checkpoint's sidecar
    res = finetune.run_finetune(profile, dataset, key, init, out, args.splits, inputs.device,
                                split_seed, inputs.progress, keep_model=model,
                                work_dir=results / "work", backbone_weights=weights)  # fmt: skip
    print(finetune.summary_line(f"{key} from {label}", res), f"written: {out}",
          f"model (split 0): {model}", sep="\n")  # fmt: skip
    return 0


def _method(args) -> str:
    """``evaluate --method``, checked (gmiqa needs ``--checkpoint``) before data is read."""
    method = args.method.lower()
    if method == "gmiqa" and args.checkpoint is None:
        raise ConfigError("evaluate --method gmiqa needs --checkpoint CKPT")
    if method not in ("gmiqa", "niqe", "brisque"):
        raise ConfigError(f"unknown method {method!r}: choose gmiqa, niqe or brisque")
    return method


def cmd_evaluate(args, inputs: CommandInputs) -> int:
    method = _method(args)
    dev = resolve_device(inputs.device)
    key, dataset = _dataset(args, inputs.profile, inputs.run_dir, inputs.seed)
    out = inputs.run_dir / "results" / f"evaluate-{key}-{method}.json"
    options = {name: getattr(args, name) for name in ("model_path", "range_path")
               if getattr(args, name, None) is not None}  # fmt: skip
    line = evaluate.evaluate_method(method, dataset, key, out, checkpoint=args.checkpoint,
                                    profile=inputs.profile, seed=inputs.seed,
                                    n_splits=args.splits, root=args.root, device=dev,
                                    **options)  # fmt: skip
    print(f"{line}\nwritten: {out}")
    return 0


def cmd_score(args, inputs: CommandInputs) -> int:
    scorer = load_model(args.checkpoint, inputs.device, args.batch_size, args.workers,
                        allow_pretraining=True)  # fmt: skip
    print_pretraining_warning(scorer.checkpoint)
    entries = expand_image_inputs(args.images)
    results = score_with_progress(scorer, entries, echo=not args.json, progress=inputs.progress)
    if args.json:
        print(json.dumps(results, indent=2))
    if inputs.score_out is not None:
        write_scores(inputs.score_out, results)
    return EXIT_USER_ERROR if any("error" in r for r in results) else 0


def cmd_livec_dev(args, inputs: CommandInputs) -> int:
    dest = build_livec_dev(args.release, args.out, args.names)
    print(f"written: {dest} (read it with --dataset livec --root {dest})")
    return 0


COMMANDS = {
    "pretrain": cmd_pretrain,
    "finetune": cmd_finetune,
    "ablation": cmd_finetune,
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
        inputs = command_inputs(args, argv)  # an unknown profile fails before any work
        if (
            args.command in ("finetune", "ablation", "evaluate")
            and args.dataset.lower() != "synthetic"
        ):  # a real set is read before the run folder is touched: a bad one writes nothing
            if args.command == "evaluate":
                _method(args)  # the command's own options first
            args.loaded_dataset = _dataset(args, inputs.profile, None, inputs.seed)
        with prepare_command(inputs) as ready:  # outputs checked, folder locked, data chosen
            return COMMANDS[args.command](args, ready)
    except GMIQAError as exc:
        print(f"gmiqa: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gmiqa: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
