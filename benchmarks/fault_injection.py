"""Fault injection: SIGKILL each stage at random moments, rerun, compare with an unkilled run.

Not a benchmark of speed: a check others can run (``book/reproduce.md``, *When a run is
killed*)::

    python benchmarks/fault_injection.py                  # 5 kills per stage, smoke profile
    python benchmarks/fault_injection.py --kills 20 --stages meta,graph --seed 3

Stages, each a command in one run folder (``WORK/run``) of the smoke profile, on a few
pristine photos made here:

    bank      gmiqa pretrain --stage meta, killed while the image bank is made
    meta      gmiqa pretrain --stage meta    (stage 1, the bank already made)
    graph     gmiqa pretrain --stage graph   (stage 2, from stage 1)
    finetune  gmiqa finetune --dataset synthetic --init graph --splits 2
    score     gmiqa score --out WORK/run/smoke/scores.csv PHOTOS

First every stage runs once, unkilled, from the state the previous one left (the
reference; its folder is kept after each stage). Then, for each stage and each of
``--kills`` trials: the folder is put back to the state before the stage, the stage's
command starts, gets SIGKILL (to the command's process only, as an OOM kill does) at a
moment drawn uniformly from [0, the reference's duration of the stage] (when the command
ended before it, again with a moment drawn before that one, up to 3 times), and the same
command runs again to its end. A trial passes when

- the rerun exits 0 and the stage's outputs (checkpoint weights, bank arrays, results
  without their provenance, scores) have the sha256 of the reference's;
- no process started by the killed command is left 3 s after the kill (found by an
  environment variable that only its processes carry; checked every 0.1 s until then);
- no temporary file (``gmiqa.atomic``'s ``.NAME.XXXXXX.tmp``, output probes) is left in
  the run folder.

Prints one line per trial and a table per stage; exits 1 when a trial fails. ``--json``
writes the trials to a file. The test suite runs one kill per stage
(``tests/test_fault_injection.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gmiqa.atomic import TEMPORARY_NAME

STAGES = ("bank", "meta", "graph", "finetune", "score")
PROFILE = "smoke"


def make_photos(folder: Path, n: int = 3, seed: int = 0) -> Path:
    """``n`` smooth random photos of 150x170 pixels (enough for the smoke crops)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((170, 150), Image.Resampling.BICUBIC)
        img.save(folder / f"p{i}.png")
    return folder


def commands(work: Path, photos: Path) -> dict[str, list[str]]:
    out = str(work / "run")
    gm = [sys.executable, "-m", "gmiqa"]
    common = ["--profile", PROFILE, "--out", out, "--device", "cpu", "--quiet"]
    pre = [*gm, "pretrain", *common, "--pristine", str(photos)]
    model = work / "run" / PROFILE / "results" / "finetune-synthetic-graph-model.safetensors"
    return {
        "bank": [*pre, "--stage", "meta"],
        "meta": [*pre, "--stage", "meta"],
        "graph": [*pre, "--stage", "graph"],
        "finetune": [*gm, "finetune", *common, "--dataset", "synthetic", "--root", str(photos),
                     "--pristine", str(photos), "--init", "graph", "--splits", "2"],
        "score": [*gm, "score", "--profile", PROFILE, "--device", "cpu", "--quiet",
                  "--checkpoint", str(model), "--workers", "1",
                  "--out", str(work / "run" / PROFILE / "scores.csv"), str(photos)],
    }  # fmt: skip


# the bank alone (for the reference: the state "bank made, stage 1 not started")
BANK_ONLY = (
    "import sys; from gmiqa.training.pipeline import pretraining_dataset; "
    "pretraining_dataset(sys.argv[1], sys.argv[2], sys.argv[3], 0, progress=False)"
)


def _strip(obj):
    """A result JSON without what differs between identical runs (provenance, timings)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items()
                if k not in ("provenance", "seconds", "elapsed", "wall_s", "time")}  # fmt: skip
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def outputs(run: Path, stage: str) -> dict[str, str]:
    """sha256 of each output of ``stage`` under ``run`` (``OUT/<profile>``)."""
    files: list[Path] = []
    if stage == "bank":
        files = [p for b in sorted((run / "cache").glob("bank-*"))
                 for p in (b / "images.u8", b / "labels.npz", b / "bank.json")]  # fmt: skip
        files.append(run / "checkpoints" / "meta.safetensors")
    elif stage in ("meta", "graph"):
        files = [run / "checkpoints" / f"{stage}.safetensors"]
        if stage == "graph":
            files.append(run / "checkpoints" / "graph.probe.json")
    elif stage == "finetune":
        files = [run / "results" / "finetune-synthetic-graph-model.safetensors",
                 run / "results" / "finetune-synthetic-graph.json"]  # fmt: skip
    elif stage == "score":
        files = [run / "scores.csv"]
    digests = {}
    for f in files:
        if not f.is_file():
            digests[str(f.relative_to(run))] = "missing"
            continue
        if f.suffix == ".json":
            data = json.dumps(_strip(json.loads(f.read_text())), sort_keys=True).encode()
        else:
            data = f.read_bytes()
        digests[str(f.relative_to(run))] = hashlib.sha256(data).hexdigest()
    return digests


def temporaries(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*")
                  if TEMPORARY_NAME.match(p.name) or p.name.startswith(".gmiqa-probe-"))  # fmt: skip


def marked_processes(token: str) -> list[int]:
    """Live processes whose environment carries ``GMIQA_FAULT_TRIAL=token``."""
    needle = f"GMIQA_FAULT_TRIAL={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/status") as fh:
                state = next(line for line in fh if line.startswith("State:"))
            if "\tZ" not in state:
                found.append(int(entry))
        except (OSError, StopIteration):
            continue
    return found


def _env(token: str) -> dict:
    env = dict(os.environ, GMIQA_FAULT_TRIAL=token, PYTHONUNBUFFERED="1")
    env.pop("GMIQA_PROFILE", None)
    return env


def _run(argv: list[str], token: str, log: Path) -> tuple[int, float]:
    start = time.monotonic()
    with open(log, "ab") as fh:
        rc = subprocess.call(argv, env=_env(token), stdout=fh, stderr=fh)
    return rc, time.monotonic() - start


def _restore(snapshot: Path, run_root: Path) -> None:
    shutil.rmtree(run_root, ignore_errors=True)
    if snapshot.exists():
        shutil.copytree(snapshot, run_root, symlinks=True)


def reference(work: Path, photos: Path, stages) -> dict:
    """Run every stage unkilled; keep the folder before each stage; durations, digests."""
    cmds = commands(work, photos)
    run_root, run = work / "run", work / "run" / PROFILE
    shutil.rmtree(run_root, ignore_errors=True)
    ref = {"durations": {}, "digests": {}, "before": {}}
    log = work / "reference.log"
    bank_argv = [sys.executable, "-c", BANK_ONLY, PROFILE, str(run), str(photos)]
    for stage in STAGES:
        snap = work / "snapshots" / stage
        shutil.rmtree(snap, ignore_errors=True)
        if run_root.exists():
            shutil.copytree(run_root, snap, symlinks=True)
        ref["before"][stage] = snap
        if stage == "bank":  # timed alone; its outputs are compared after the meta run
            rc, seconds = _run(bank_argv, "reference", log)
        else:
            rc, seconds = _run(cmds[stage], "reference", log)
        if rc != 0:
            raise SystemExit(f"reference run of {stage} failed (exit {rc}); see {log}")
        ref["durations"][stage] = seconds
    for stage in STAGES:
        ref["digests"][stage] = outputs(run, stage)
    return ref


def trial(work: Path, photos: Path, stage: str, ref: dict, moment: float, n: int) -> dict:
    cmds = commands(work, photos)
    run_root, run = work / "run", work / "run" / PROFILE
    _restore(ref["before"][stage], run_root)
    token = f"{os.getpid()}-{stage}-{n}"
    log = work / f"trial-{stage}-{n}.log"
    with open(log, "wb") as fh:
        child = subprocess.Popen(cmds[stage], env=_env(token), stdout=fh, stderr=subprocess.STDOUT)
        try:
            child.wait(timeout=moment)
            killed = False  # it ended before the moment
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            killed = True
    deadline = time.monotonic() + 3.0  # processes it started have 3 s to end
    while (orphans := marked_processes(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in orphans:  # leave nothing behind for the next trial
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    rc, _ = _run(cmds[stage], token + "-rerun", log)
    digests = outputs(run, stage)
    temps = temporaries(run)
    ok = rc == 0 and digests == ref["digests"][stage] and not orphans and not temps
    return {"stage": stage, "trial": n, "moment_s": round(moment, 2), "killed": killed,
            "rerun_exit": rc, "identical": digests == ref["digests"][stage],
            "orphans": orphans, "temporaries": temps, "ok": ok,
            "differs": sorted(k for k in digests if digests[k] != ref["digests"][stage].get(k)),
            "log": str(log)}  # fmt: skip


def run_all(work: Path, kills: int = 5, seed: int = 0, stages=STAGES, echo=print) -> list[dict]:
    """The whole check in ``work``: the reference, then ``kills`` trials per stage."""
    work.mkdir(parents=True, exist_ok=True)
    photos = make_photos(work / "photos")
    ref = reference(work, photos, stages)
    echo("reference durations: " + ", ".join(f"{s} {t:.1f}s" for s, t in ref["durations"].items()))
    rng = random.Random(seed)
    results = []
    for stage in stages:
        span = ref["durations"][stage]
        for n in range(kills):
            moment = rng.uniform(0.0, span)
            for attempt in range(4):  # it ended before the moment: draw an earlier one
                r = trial(work, photos, stage, ref, moment, n)
                if r["killed"] or attempt == 3:
                    break
                moment = rng.uniform(0.0, moment)
            results.append(r)
            echo(f"{stage:8s} kill at {r['moment_s']:6.2f}s ({'killed' if r['killed'] else 'ended first'}): "
                 f"rerun exit {r['rerun_exit']}, {'identical' if r['identical'] else 'DIFFERS ' + str(r['differs'])}, "
                 f"orphans {len(r['orphans'])}, temporaries {len(r['temporaries'])} -> "
                 f"{'ok' if r['ok'] else 'FAIL'}")  # fmt: skip
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=5, help="SIGKILLs per stage (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma list of " + ", ".join(STAGES))
    ap.add_argument("--work", type=Path, default=None, help="folder to work in (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="write the trials to this file")
    args = ap.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if unknown := set(stages) - set(STAGES):
        ap.error(f"unknown stages {sorted(unknown)}: choose from {', '.join(STAGES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="gmiqa-faults-"))
    results = run_all(work, args.kills, args.seed, stages)
    print("\n| stage | kills | killed before the end | reruns identical | orphans | temporaries |")
    print("|---|---|---|---|---|---|")
    for stage in stages:
        rows = [r for r in results if r["stage"] == stage]
        print(f"| {stage} | {len(rows)} | {sum(r['killed'] for r in rows)} | "
              f"{sum(r['identical'] and r['rerun_exit'] == 0 for r in rows)}/{len(rows)} | "
              f"{sum(len(r['orphans']) for r in rows)} | "
              f"{sum(len(r['temporaries']) for r in rows)} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(failed)}/{len(results)} trials passed (work folder {work})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
