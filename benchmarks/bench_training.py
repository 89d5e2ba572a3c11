"""Training and inference throughput of GMIQA next to the plain ResNet-50 step, one run.

Everything is measured in one process, on one device, side by side, and printed as
images/s and as a ratio to the plain torchvision ResNet-50 measured in the same run:

- ``plain_train``: torchvision ResNet-50 (1000-class head), cross-entropy, backward,
  Adam step: the ceiling every GMIQA training step is compared with;
- ``finetune``: GMIQA's stage-3 step (``finetune_forward``, MSE on ``mu``, backward,
  Adam), ratio = its images/s / the plain step's images/s, same batch and size;
- ``pretrain``: GMIQA's stage-2 step (anchor, positive and negative batches of
  ``--batch`` images each, ``gmiqa.training.pretrain.graph_losses``, backward, Adam);
  images/s counts every image forwarded (3 x batch per step);
- ``pretrain_two_pass``: the same step with ``pretrain.two_pass=True``
  (``gmiqa.training.pretrain.graph_step_two_pass``: a forward without gradient, then one
  forward and backward per batch); same gradient, one batch's activations at a time;
- ``meta_fo`` / ``meta_so``: one first-/second-order outer step of stage 1
  (``gmiqa.training.meta.MetaLearner.accumulate`` + Adam) with ``--meta-tasks`` tasks of
  ``--meta-shot`` support and ``--meta-shot`` query images; ratio = its time / the time
  of the same number of plain steps (tasks x (inner steps + 1) plain steps of
  ``--meta-shot`` images; lower is better);
- ``plain_infer`` / ``infer``: ResNet-50 and ``GMIQA.score`` in evaluation mode without
  gradients, at each ``--infer-sizes`` size (default: 512x384 KADID, 500x500 LIVEC,
  1024x768 KonIQ: the native sizes, never resized).

``meta_fo_vmap`` / ``meta_so_vmap`` (off with ``--no-meta-vmap``): the same outer steps with the
tasks run together (``MetaLearner(vmap_tasks=True)``,
``gmiqa.training.meta.meta_outer_loss_vmapped``), and their time over the sequential step's.
After each benchmark ``--profile-steps`` more steps run under ``torch.profiler``; the top
``--kernels`` operators by self time (device time on CUDA) and their share go into the
JSON rows (``profile_top``), so a result file says where each step's time goes.

On CUDA: bf16 autocast, channels_last, cuDNN benchmark, TF32 for float32 matmuls (both
models alike); times from CUDA events around ``--steps`` steps after ``--warmup`` steps,
peak memory from ``torch.cuda.max_memory_allocated`` per benchmark. On the CPU: float32,
``time.perf_counter``, no memory figure. Inputs are random tensors already on the
device: this measures the training step, not data loading.

Sizes are written WIDTHxHEIGHT (512x384 is KADID-10k's landscape 512 wide, 384 high).

Examples::

    # the issue's numbers, on one H100/H200 (about 5 minutes):
    python benchmarks/bench_training.py --profile gpu --batch 64 --sizes 224x224,512x384 \\
        --out data/results/bench_training_gpu.json
    # the same with torch.compile on the backbones:
    python benchmarks/bench_training.py --profile gpu --batch 64 --sizes 512x384 --compile \\
        --out data/results/bench_training_gpu_compile.json
    # the book's table from result files:
    python benchmarks/bench_training.py --table data/results/bench_training_*.json
    # CPU smoke run (small SCNet of the "cpu" profile):
    python benchmarks/bench_training.py --device cpu --profile cpu --batch 4 --sizes 224x160 \\
        --steps 3 --warmup 1 --meta-tasks 2 --meta-shot 4 --infer-sizes 224x160
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from gmiqa.device import autocast, resolve_device, seed_everything
from gmiqa.models import build_model, count_parameters
from gmiqa.profiles import get_profile
from gmiqa.provenance import provenance

GIB = 2**30
MEMORY_LIMIT_GIB = 24.0  # the issue: pre-training at batch 64, 512x384 must fit in 24 GB


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """ "512x384,224x224" -> [(384, 512), (224, 224)] as (height, width)."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            w, h = (int(v) for v in part.split("x"))
        except ValueError:
            raise SystemExit(f"bad size {part!r}: write WIDTHxHEIGHT, e.g. 512x384") from None
        sizes.append((h, w))
    return sizes


def label(hw: tuple[int, int]) -> str:
    return f"{hw[1]}x{hw[0]}"


class Timer:
    """Time ``steps`` calls of ``fn`` after ``warmup`` calls; CUDA events or perf_counter."""

    def __init__(self, dev: torch.device, warmup: int, steps: int) -> None:
        self.dev, self.warmup, self.steps = dev, warmup, steps

    def __call__(self, fn) -> dict:
        cuda = self.dev.type == "cuda"
        for _ in range(self.warmup):
            fn()
        if cuda:
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(self.steps):
                fn()
            end.record()
            torch.cuda.synchronize(self.dev)
            seconds = start.elapsed_time(end) / 1000.0
            peak = torch.cuda.max_memory_allocated(self.dev) / GIB
        else:
            t0 = time.perf_counter()
            for _ in range(self.steps):
                fn()
            seconds = time.perf_counter() - t0
            peak = None
        return {"step_ms": 1000.0 * seconds / self.steps, "peak_mem_gib": peak}


def saved_for_backward_gib(fn) -> float:
    """Peak GiB of distinct tensor storages autograd holds for backward during one ``fn()``.

    Activations plus the weights backward needs, counted with
    ``torch.autograd.graph.saved_tensors_hooks``: a device-independent measure of the
    training step's activation memory (it grows linearly with batch x pixels). A storage
    counts from the first time it is saved until the last graph holding it is freed, so a
    step with several backward passes (``pretrain_two_pass``) is measured at its worst
    moment; for a one-backward step this is every storage saved before the backward.
    """
    live: dict[tuple, list[int]] = {}  # storage -> [nbytes, holders]
    total = [0, 0]  # now, peak

    class Held:
        def __init__(self, t):
            st = t.untyped_storage()
            self.t, self.key = t, (str(t.device), st.data_ptr())
            entry = live.setdefault(self.key, [st.nbytes(), 0])
            if entry[1] == 0:
                total[0] += entry[0]
                total[1] = max(total)
            entry[1] += 1

        def __del__(self):
            entry = live[self.key]
            entry[1] -= 1
            if entry[1] == 0:
                total[0] -= entry[0]
                del live[self.key]

    with torch.autograd.graph.saved_tensors_hooks(Held, lambda h: h.t):
        fn()
    return total[1] / GIB


def images(n: int, hw: tuple[int, int], dev: torch.device, channels_last: bool) -> torch.Tensor:
    x = torch.rand(n, 3, *hw, device=dev)
    if channels_last and dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def prepare(model: torch.nn.Module, dev: torch.device, channels_last: bool) -> torch.nn.Module:
    model = model.to(dev)
    if channels_last and dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def free(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()


# ---- the steps ----------------------------------------------------------------------------
def plain_train_step(dev, amp, channels_last, batch, hw, compile_):
    model = prepare(torchvision.models.resnet50(weights=None), dev, channels_last).train()
    if compile_:
        model.compile()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=True)
    x = images(batch, hw, dev, channels_last)
    y = torch.randint(0, 1000, (batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def plain_infer_step(dev, amp, channels_last, batch, hw, compile_):
    model = prepare(torchvision.models.resnet50(weights=None), dev, channels_last).eval()
    if compile_:
        model.compile()
    x = images(batch, hw, dev, channels_last)

    @torch.no_grad()
    def step():
        with autocast(dev, amp):
            model(x)

    return step


def gmiqa_model(profile, dev, channels_last, compile_):
    seed_everything(0)
    model = prepare(build_model(profile.model), dev, channels_last).train()
    if compile_:
        model.backbone.compile()  # in place: parameter names unchanged
    return model


def finetune_step(profile, dev, amp, channels_last, batch, hw, compile_):
    model = gmiqa_model(profile, dev, channels_last, compile_)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5, foreach=True)
    x = images(batch, hw, dev, channels_last)
    y = torch.rand(batch, device=dev)

    def step():  # as gmiqa.training.finetune.finetune_split's step (default: MSE on mu)
        opt.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            mu, _ = model.finetune_forward(x)
        loss = torch.mean((mu.float() - y) ** 2)
        loss.backward()
        opt.step()

    return step


def _triplet(profile, dev, channels_last, batch, hw, compile_):
    """A stage-2 model, its optimizer, an anchor/positive/negative triplet and their levels."""
    model = gmiqa_model(profile, dev, channels_last, compile_)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5, foreach=True)
    xs = tuple(images(batch, hw, dev, channels_last) for _ in range(3))
    levels = tuple(torch.randint(1, 6, (batch,), device=dev).float() for _ in range(3))
    return model, opt, xs, levels


def pretrain_step(profile, dev, amp, channels_last, batch, hw, compile_):
    from gmiqa.training.pretrain import graph_losses

    model, opt, (xa, xp, xn), levels = _triplet(profile, dev, channels_last, batch, hw, compile_)
    s = profile.pretrain

    def step():  # as gmiqa.training.pretrain.train_graph's step
        opt.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            losses = graph_losses(model, xa, xp, xn, levels, s.margin, s.level_weight)
        losses["loss"].backward()
        opt.step()

    return step


def pretrain_two_pass_step(profile, dev, amp, channels_last, batch, hw, compile_):
    from gmiqa.training.pretrain import graph_step_two_pass

    model, opt, (xa, xp, xn), levels = _triplet(profile, dev, channels_last, batch, hw, compile_)
    s = profile.pretrain

    def step():  # as train_graph's step with pretrain.two_pass=True
        opt.zero_grad(set_to_none=True)
        graph_step_two_pass(
            model, xa, xp, xn, levels, s.margin, s.level_weight,
            autocast_ctx=partial(autocast, dev, amp),
        )  # fmt: skip
        opt.step()

    return step


def meta_step(profile, dev, amp, channels_last, tasks, shot, hw, first_order, vmap_tasks=False):
    from gmiqa.training.meta import MetaLearner, MethodModule, Task, mse

    model = gmiqa_model(profile, dev, channels_last, False)  # functional_call: not compiled
    m = profile.meta
    learner = MetaLearner(
        MethodModule(model, "meta_forward"), mse, inner_steps=m.inner_steps,
        inner_lr=m.inner_lr, first_order=first_order, learn_inner_lr=m.learn_inner_lr,
        device=dev, amp=amp, vmap_tasks=vmap_tasks,
    )  # fmt: skip
    opt = torch.optim.Adam(learner.outer_parameters(), lr=m.outer_lr, foreach=True)
    task_list = [
        Task(
            (images(shot, hw, dev, channels_last), torch.rand(shot, device=dev)),
            (images(shot, hw, dev, channels_last), torch.rand(shot, device=dev)),
        )
        for _ in range(tasks)
    ]

    def step():  # as gmiqa.training.meta.train_meta's step
        opt.zero_grad(set_to_none=True)
        learner.accumulate(task_list)
        opt.step()

    return step


def infer_step(profile, dev, amp, channels_last, batch, hw, compile_):
    model = gmiqa_model(profile, dev, channels_last, compile_).eval()
    x = images(batch, hw, dev, channels_last)

    def step():
        with autocast(dev, amp):
            model.score(x)

    return step


# ---- driver -------------------------------------------------------------------------------
def run(args) -> dict:
    dev = resolve_device(args.device)
    profile = get_profile(args.profile)
    amp = dev.type == "cuda" and not args.no_amp
    cl = dev.type == "cuda" and not args.no_channels_last
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    timer = Timer(dev, args.warmup, args.steps)
    rows: list[dict] = []
    skip = set(args.skip)

    def measure(name, size, batch, images_per_step, make, ratio_to=None, kind="throughput"):
        if name.split("@")[0] in skip:
            return None
        try:
            fn = make()
            t = timer(fn)
            if args.saved_memory and "infer" not in name:
                t["saved_gib"] = saved_for_backward_gib(fn)
            if args.kernels > 0:
                t["profile_top"] = profile_table(fn, dev, args.kernels, args.profile_steps)
            error = None
        except torch.OutOfMemoryError as exc:  # reported, not fatal: the table says so
            t, error = {"step_ms": None, "peak_mem_gib": None}, f"out of memory: {exc}"[:200]
        finally:
            fn = None
            free(dev)
        row = {"name": name, "size": size, "batch": batch, "images_per_step": images_per_step,
               **t, "error": error}  # fmt: skip
        row["images_per_s"] = images_per_step / (t["step_ms"] / 1000.0) if t["step_ms"] else None
        if ratio_to is not None and ratio_to.get("step_ms") and t["step_ms"]:
            if kind == "throughput":
                row["ratio"] = row["images_per_s"] / ratio_to["images_per_s"]
                row["ratio_meaning"] = f"images/s / {ratio_to['name']} images/s"
            else:  # time of the step / time of the same number of plain steps
                n_plain = kind
                row["ratio"] = t["step_ms"] / (n_plain * ratio_to["step_ms"])
                row["ratio_meaning"] = f"time / time of {n_plain} {ratio_to['name']} steps"
        else:
            row["ratio"] = None
        rows.append(row)
        print(format_row(row), flush=True)
        return row

    print(f"# device {dev} ({_device_name(dev)}), profile {profile.name} "
          f"({profile.model.backbone}), amp={amp}, channels_last={cl}, compile={args.compile}")  # fmt: skip
    print(HEADER)
    b, c = args.batch, args.compile
    for hw in parse_sizes(args.sizes):
        size = label(hw)
        plain = measure(f"plain_train@{size}", size, b, b,
                        partial(plain_train_step, dev, amp, cl, b, hw, c))  # fmt: skip
        measure(f"finetune@{size}", size, b, b,
                partial(finetune_step, profile, dev, amp, cl, b, hw, c), plain)  # fmt: skip
        measure(f"pretrain@{size}", size, b, 3 * b,
                partial(pretrain_step, profile, dev, amp, cl, b, hw, c), plain)  # fmt: skip
        measure(f"pretrain_two_pass@{size}", size, b, 3 * b,
                partial(pretrain_two_pass_step, profile, dev, amp, cl, b, hw, c), plain)  # fmt: skip
        if not ({"meta_fo", "meta_so"} <= skip):
            shot, tasks = args.meta_shot, args.meta_tasks
            passes = tasks * (profile.meta.inner_steps + 1)
            plain_small = measure(f"plain_train_b{shot}@{size}", size, shot, shot,
                                  partial(plain_train_step, dev, amp, cl, shot, hw, c))  # fmt: skip
            for name, fo in (("meta_fo", True), ("meta_so", False)):
                seq = measure(f"{name}@{size}", size, shot, 2 * shot * tasks,
                              partial(meta_step, profile, dev, amp, cl, tasks, shot, hw, fo),
                              plain_small, kind=passes)  # fmt: skip
                if args.meta_vmap:  # the tasks of the outer step together (torch.func.vmap)
                    vm = measure(f"{name}_vmap@{size}", size, shot, 2 * shot * tasks,
                                 partial(meta_step, profile, dev, amp, cl, tasks, shot, hw, fo,
                                         True), plain_small, kind=passes)  # fmt: skip
                    if seq and vm and seq["step_ms"] and vm["step_ms"]:
                        vm["time_vs_sequential"] = vm["step_ms"] / seq["step_ms"]
                        print(f"#   {name}: vmapped step time / sequential step time = "
                              f"{vm['time_vs_sequential']:.3f}")  # fmt: skip
    for hw in parse_sizes(args.infer_sizes):
        size = label(hw)
        bi = args.infer_batch or b
        plain = measure(f"plain_infer@{size}", size, bi, bi,
                        partial(plain_infer_step, dev, amp, cl, bi, hw, c))  # fmt: skip
        measure(f"infer@{size}", size, bi, bi,
                partial(infer_step, profile, dev, amp, cl, bi, hw, c), plain)  # fmt: skip
    return {"rows": rows, "device": dev, "amp": amp, "channels_last": cl, "profile": profile}


HEADER = (
    f"{'benchmark':<28}{'batch':>6}{'img/step':>9}{'ms/step':>11}{'images/s':>11}"
    f"{'ratio':>8}{'peak GiB':>10}"
)


def profile_table(fn, dev: torch.device, top: int, steps: int) -> dict:
    """The top ``top`` operators of ``steps`` calls of ``fn`` under torch.profiler.

    Sorted by self time on the device (CUDA kernels' time on a GPU, CPU time on the CPU);
    ``share`` is the fraction of the total self time of all operators, so the table says
    where a step's time goes (convolutions, batch norm, element-wise, the graph's
    matrix products, optimizer).
    """
    from torch.profiler import ProfilerActivity, profile

    cuda = dev.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        if cuda:
            torch.cuda.synchronize(dev)

    def self_us(evt) -> float:
        if cuda:
            for attr in ("self_device_time_total", "self_cuda_time_total"):
                if hasattr(evt, attr):
                    return float(getattr(evt, attr))
            return 0.0
        return float(evt.self_cpu_time_total)

    events = [e for e in prof.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.0
    events.sort(key=self_us, reverse=True)
    rows = [{"op": e.key, "calls": int(e.count) // steps, "self_ms_per_step": self_us(e) / 1e3 / steps,
             "share": self_us(e) / total} for e in events[:top]]  # fmt: skip
    print("    top ops: " + ", ".join(f"{r['op']} {100 * r['share']:.0f}%" for r in rows[:5]))
    return {"time": "device" if cuda else "cpu", "steps": steps, "operators": len(events),
            "calls_per_step": sum(int(e.count) for e in events) // steps,
            "total_self_ms_per_step": total / 1e3 / steps, "top": rows}  # fmt: skip


def format_row(row: dict) -> str:
    def f(v, spec):
        return format(v, spec) if v is not None else "-"

    text = (
        f"{row['name']:<28}{row['batch']:>6}{row['images_per_step']:>9}"
        f"{f(row['step_ms'], '.1f'):>11}{f(row['images_per_s'], '.1f'):>11}"
        f"{f(row['ratio'], '.3f'):>8}{f(row['peak_mem_gib'], '.2f'):>10}"
    )
    if row.get("saved_gib") is not None:
        text += f"  saved for backward {row['saved_gib']:.3f} GiB"
    return text + (f"  {row['error']}" if row.get("error") else "")


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform

    try:  # Linux: the CPU's model name
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {torch.get_num_threads()} threads"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def targets(rows: list[dict]) -> dict:
    """The issue's acceptance checks, evaluated on the measured rows (null = not measured)."""
    by = {r["name"]: r for r in rows}

    def ratio(prefix):
        return {r["size"]: r["ratio"] for r in rows if r["name"].startswith(prefix + "@")}

    out = {
        "finetune_ratio_min_0.8": ratio("finetune"),
        "pretrain_ratio_min_0.7": ratio("pretrain"),
        "meta_fo_time_ratio_max_1.5": ratio("meta_fo"),
        "meta_so_time_ratio_max_4": ratio("meta_so"),
        "meta_fo_vmap_time_ratio_max_1.5": ratio("meta_fo_vmap"),
        "meta_so_vmap_time_ratio_max_4": ratio("meta_so_vmap"),
        "infer_ratio_min_0.8": ratio("infer"),
    }
    mem = by.get("pretrain@512x384", {}).get("peak_mem_gib")
    out["pretrain_512x384_peak_gib"] = mem
    out["pretrain_512x384_fits_24gib"] = None if mem is None else bool(mem <= MEMORY_LIMIT_GIB)
    return out


def markdown_table(paths: list[Path]) -> str:
    """The book's table (``book/performance.md``) from result files written by ``--out``."""
    from gmiqa.results import load_result

    lines = []
    for path in paths:
        res = load_result(path)
        prov, metrics = res["provenance"], res["metrics"]
        kind = "GPU" if str(prov["device"]).startswith("cuda") else "CPU"
        lines += [
            f"**{kind}: {prov.get('device_label') or prov.get('device_name')}**, profile "
            f"`{prov['profile']}` ({metrics['settings']['backbone']}), torch {prov.get('torch')}, "
            f"bf16 {prov.get('amp_bf16')}, channels_last {prov.get('channels_last')}, "
            f"compile {prov.get('compile')}, commit `{prov['commit'][:12]}`, {prov['date']} "
            f"(`{path.as_posix()}`)",
            "",
        ]

        def f(v, spec):
            return "-" if v is None else format(v, spec)

        rows = metrics["rows"]
        # short headers, and no column that is empty on every row (peak memory on a CPU)
        # nor one that is the same on every row (said above the table): the table fits
        # the book's text column
        columns = [
            ("benchmark", lambda r: r["name"].split("@")[0], ""),
            ("WxH", lambda r: r["size"], ""),
            ("batch", lambda r: str(r["batch"]), ":"),
            ("images/step", lambda r: str(r["images_per_step"]), ":"),
            ("ms/step", lambda r: f(r["step_ms"], ".1f"), ":"),
            ("images/s", lambda r: f(r["images_per_s"], ".1f"), ":"),
            ("ratio", lambda r: f(r["ratio"], ".3f"), ":"),
            ("peak GiB", lambda r: f(r["peak_mem_gib"], ".2f"), ":"),
            ("saved GiB", lambda r: f(r.get("saved_gib"), ".3f"), ":"),
        ]
        cells = {name: [get(r) for r in rows] for name, get, _ in columns}
        same = [n for n in ("WxH", "batch") if len(set(cells[n])) == 1]
        kept = [(n, a) for n, _, a in columns
                if n not in same and any(v != "-" for v in cells[n])]  # fmt: skip
        if same:
            lines[-2] += ", " + ", ".join(f"{n} {cells[n][0]}" for n in same)
        lines += ["| " + " | ".join(n for n, _ in kept) + " |",
                  "|" + "|".join(f"---{a}" for _, a in kept) + "|"]  # fmt: skip
        for i in range(len(rows)):
            lines.append("| " + " | ".join(cells[n][i] for n, _ in kept) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ap.add_argument(
        "--profile", default=None, help="model settings: gpu (default on CUDA), cpu, smoke"
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument(
        "--sizes", default="224x224,512x384", help="training sizes WxH, comma-separated"
    )
    ap.add_argument("--infer-sizes", default="512x384,500x500,1024x768",
                    help="inference sizes WxH (KADID, LIVEC, KonIQ native)")  # fmt: skip
    ap.add_argument("--infer-batch", type=int, default=None, help="default: --batch")
    ap.add_argument("--meta-tasks", type=int, default=None, help="default: the profile's")
    ap.add_argument("--meta-shot", type=int, default=None,
                    help="support = query images per task (default: the profile's support size)")  # fmt: skip
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbones")
    ap.add_argument("--no-meta-vmap", dest="meta_vmap", action="store_false",
                    help="skip meta_fo_vmap / meta_so_vmap (the tasks of a meta step vmapped)")  # fmt: skip
    ap.add_argument("--kernels", type=int, default=15,
                    help="torch.profiler: the top N operators of each benchmark into the JSON (0: off)")  # fmt: skip
    ap.add_argument("--profile-steps", type=int, default=2,
                    help="steps run under torch.profiler for --kernels (after the timed ones)")  # fmt: skip
    ap.add_argument("--no-amp", action="store_true", help="float32 on CUDA too")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--saved-memory", action="store_true",
                    help="also measure the GiB autograd saves for backward (one more step)")  # fmt: skip
    ap.add_argument("--skip", default="", help="comma-separated benchmarks to skip, e.g. meta_so")
    ap.add_argument("--out", type=Path, default=None,
                    help="write a gmiqa-result/1 JSON here (default on CUDA: "
                    "data/results/bench_training_gpu[_compile].json; on the CPU: none)")  # fmt: skip
    ap.add_argument("--table", type=Path, nargs="+", default=None,
                    help="print the markdown table of these result files and exit")  # fmt: skip
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_table(args.table))
        return 0
    args.skip = [s.strip() for s in args.skip.split(",") if s.strip()]
    dev = resolve_device(args.device)
    if args.profile is None:
        args.profile = "gpu" if dev.type == "cuda" else "cpu"
    profile = get_profile(args.profile)
    args.meta_tasks = args.meta_tasks or profile.meta.tasks_per_step
    args.meta_shot = args.meta_shot or profile.meta.support_size

    if args.out is None and dev.type == "cuda":  # the issue's one command leaves its JSON
        suffix = "_compile" if args.compile else ""
        args.out = (
            Path(__file__).resolve().parent.parent
            / "data"
            / "results"
            / (f"bench_training_gpu{suffix}.json")
        )
    res = run(args)
    rows = res["rows"]
    checks = targets(rows)
    print("# acceptance checks (ratios measured above, same device, same run):")
    for key, value in checks.items():
        print(f"#   {key}: {value}")
    if args.out is not None:
        from gmiqa.results import make_result, script_command, write_result

        dev = res["device"]
        model = build_model(profile.model)
        block = provenance(
            device=str(dev),
            device_label=_device_name(dev),
            amp_bf16=res["amp"],
            channels_last=res["channels_last"],
            compile=bool(args.compile),
            cpu_threads=torch.get_num_threads(),
            gmiqa_parameters=int(count_parameters(model)),
        )
        metrics = {
            # first: one entry per benchmark (the results chapter shows these numbers)
            "summary": {
                r["name"]: {"images_per_s": r["images_per_s"], "ratio": r["ratio"]} for r in rows
            },
            "rows": rows,
            "checks": checks,
            "settings": {
                "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
                "meta_tasks": args.meta_tasks, "meta_shot": args.meta_shot,
                "meta_inner_steps": profile.meta.inner_steps, "backbone": profile.model.backbone,
            },
        }  # fmt: skip
        kind = "GPU" if dev.type == "cuda" else "CPU"
        result = make_result(
            metrics,
            profile=profile.name,
            dataset="random-tensors",
            command=script_command("benchmarks/bench_training.py"),
            title=f"Training/inference throughput vs plain ResNet-50 ({kind}, {_device_name(dev)})",
            notes=(
                f"Measured on {kind} ({_device_name(dev)}), one run, side by side. Ratios compare "
                "GMIQA with torchvision's ResNet-50 measured in the same run on the same device."
                + ("" if dev.type == "cuda" else " CPU numbers say nothing about GPU ratios.")
            ),
            provenance_block=block,
        )
        print(f"# wrote {write_result(args.out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
