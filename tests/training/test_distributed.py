"""Two processes under torchrun (gloo, CPU) train like one process with the same global batch.

One worker script runs graph pre-training (``train_graph``) and fine-tuning
(``finetune_split``) of the smoke profile on a small in-memory set: once as a plain
process and once as ``torchrun --nproc_per_node=2``. Each step's global batch is split
between the two ranks (``gmiqa.training.distributed``).

Tolerances, and why:

- **Step 0** (same initial weights, same images, same noise): the losses must agree to
  ``rtol=1e-5``. Only the order of float32 reductions differs (the features are gathered,
  BatchNorm statistics are all-reduced, DDP averages gradients); measured 3e-7.
  As a control, the same two-process step with per-rank BatchNorm statistics
  (``sync_batchnorm=False``) must differ by more than 1e-3 (measured 2e-2): the check can
  tell an exact data-parallel step from an approximate one.
- **Fine-tuning step 0** (the smoke recipe: random crops and flips drawn for the whole
  batch, then sharded; MSE plus the pairwise rank hinge over the gathered batch):
  ``rtol=1e-5``, as for pre-training. One step per epoch (batch 24 of 24 training
  images), so every logged fine-tuning loss is one step's.
- **The loss curves** (every logged loss of 4 pre-training steps and 2 fine-tuning
  steps): ``rtol=5e-3``; test predictions after fine-tuning: ``atol=5e-3`` (scores in
  [0, 1]). Adam divides each coordinate's update by its gradient's magnitude, so
  coordinates whose gradient is at float32's noise floor move by up to the learning
  rate (1e-3 in the smoke profile) with either sign: the weights drift apart by far more
  than the reduction noise within a few steps (measured: 1e-4 relative on the
  pre-training losses after 4 steps, 7e-5 on the fine-tuning losses, 4e-4 on the
  predictions; up to 2e-3 after 5 steps in other trials).
- Both ranks end with identical weights (DDP keeps them in step), and the checkpoint
  that rank 0 alone writes is visible to rank 1 when training returns (barrier).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    '''
    import hashlib, json, os, sys
    from pathlib import Path

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from gmiqa.device import seed_everything
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.training import distributed
    from gmiqa.training.finetune import finetune_split
    from gmiqa.training.loop import step_rng, step_seed
    from gmiqa.training.pretrain import graph_losses, train_graph
    from gmiqa.training.samplers import TypeTripletSampler, stack_items


    class Tiny(torch.utils.data.Dataset):
        """36 random 128x128 images: 6 contents x 3 types x 2 levels, seeded per item."""

        image_size = (128, 128)

        def __init__(self):
            g = np.random.default_rng(0)
            self.records = [
                {"name": f"img{i}", "ref_id": i % 6, "type": 1 + (i // 6) % 3,
                 "level": 1 + i % 5, "score": float(g.random())}
                for i in range(36)
            ]

        def __len__(self):
            return len(self.records)

        loaded = 0  # images decoded by this process

        def __getitem__(self, i):
            Tiny.loaded += 1
            g = torch.Generator().manual_seed(1000 + int(i))
            return {**self.records[int(i)], "image": torch.rand(3, 128, 128, generator=g)}


    out_dir = Path(sys.argv[1])
    ctx = distributed.setup("cpu")
    profile = get_profile("smoke").replace(
        # the paper's step (one triplet of three one-type batches) on whole images
        pretrain={"steps": 4, "batch_size": 6, "log_every": 1, "checkpoint_every": 2,
                  "types_per_step": 0, "holdout_references": 0, "type_proxy_weight": 0.0,
                  "crop": None, "flip": False, "margin": 0.1, "schedule": "constant",
                  "warmup_steps": 0, "weight_decay": 0.0},
        finetune={"epochs": 2, "batch_size": 24},  # one step per epoch
    )
    ds = Tiny()
    res = {"world_size": ctx.world_size}

    # the gather of unequal chunks: 5 rows over 2 ranks are 3 + 2, back in order
    rows = torch.arange(5.0)
    res["gathered"] = ctx.gather_rows(ctx.shard(rows)).tolist()

    # control: step 0 of pre-training with per-rank BatchNorm statistics
    seed_everything(0)
    control = build_model(profile.model).train()
    runner = ctx.wrap(control, sync_batchnorm=False)
    sampler = TypeTripletSampler(ds.records, 6)
    tri = sampler.sample(step_rng(0, 0))
    lv = np.array([r["level"] for r in ds.records], dtype=np.float32)
    batches = [(stack_items(ds, ctx.shard(ix))[0], torch.from_numpy(lv[ix]))
               for ix in (tri.anchor, tri.positive, tri.negative)]
    torch.manual_seed(step_seed(0, 0, salt=1))
    with torch.no_grad():
        loss = runner.run(graph_losses, *(b[0] for b in batches),
                          tuple(b[1] for b in batches), 0.1, 0.25)["loss"]
    res["control_step0"] = float(loss)

    Tiny.loaded = 0
    graph = train_graph(profile, ds, out_dir / "graph.safetensors", device="cpu", seed=0,
                        progress=False)
    res["graph"] = graph.history
    res["graph_images_loaded"] = Tiny.loaded
    res["graph_file_on_rank"] = (out_dir / "graph.safetensors").exists()

    split = finetune_split(profile, ds, np.arange(24), np.arange(24, 36), device="cpu",
                           seed=3, progress=False)
    res["finetune"] = split["history"]
    res["predictions"] = split["predictions"]["pred"]
    model = split["model"]
    digest = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        digest.update(k.encode() + v.detach().cpu().numpy().tobytes())
    res["weights_sha"] = digest.hexdigest()
    (out_dir / f"rank{ctx.rank}.json").write_text(json.dumps(res))
    distributed.teardown()
    '''
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait(proc: subprocess.Popen) -> None:
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, f"{proc.args} failed:\n{out[-3000:]}\n{err[-6000:]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun"
    )
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    root = tmp_path_factory.mktemp("ddp")
    script = root / "worker.py"
    script.write_text(WORKER)
    one, two = root / "one", root / "two"
    one.mkdir()
    two.mkdir()
    # the plain process and the two torchrun processes run at the same time
    procs = [
        _start([sys.executable, str(script), str(one)]),
        _start([torchrun, "--nproc_per_node=2", "--nnodes=1", f"--master_port={_free_port()}",
                str(script), str(two)]),
    ]  # fmt: skip
    for proc in procs:
        _wait(proc)
    load = lambda p: json.loads(p.read_text())  # noqa: E731
    return {"one": load(one / "rank0.json"), "two": [load(two / f"rank{r}.json") for r in (0, 1)],
            "two_dir": two}  # fmt: skip


def test_world_sizes_and_uneven_gather(runs):
    assert runs["one"]["world_size"] == 1
    assert [r["world_size"] for r in runs["two"]] == [2, 2]
    for res in (runs["one"], *runs["two"]):
        assert res["gathered"] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_ranks_share_the_images(runs):
    """Each rank loads its half of every batch: together exactly what one process loads."""
    one = runs["one"]["graph_images_loaded"]
    r0, r1 = (r["graph_images_loaded"] for r in runs["two"])
    assert one == 4 * 3 * 6  # 4 steps x 3 batches x 6 images
    assert (r0, r1) == (one // 2, one // 2)


def test_first_step_equals_one_process_and_control_does_not(runs):
    ref = runs["one"]["graph"]["loss"][0]
    got = runs["two"][0]["graph"]["loss"][0]
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    # one process: the control is the same computation as step 0
    np.testing.assert_allclose(runs["one"]["control_step0"], ref, rtol=1e-5)
    # per-rank BatchNorm statistics: a different (approximate) step
    assert abs(runs["two"][0]["control_step0"] - ref) > 1e-3 * abs(ref)


def test_first_finetuning_step_equals_one_process(runs):
    """The smoke recipe's step (random crops and flips, MSE + rank hinge over the
    gathered batch) on two ranks is the one-process step."""
    one, two = runs["one"]["finetune"], runs["two"][0]["finetune"]
    assert one["steps"][0] == 1  # logged after one step: the loss of step 0 alone
    np.testing.assert_allclose(two["loss"][0], one["loss"][0], rtol=1e-5)


def test_loss_curves_match_one_process(runs):
    one, two = runs["one"], runs["two"][0]
    for stage in ("graph", "finetune"):
        assert one[stage]["steps"] == two[stage]["steps"]
        for key in ("loss",) + (("triplet", "level") if stage == "graph" else ()):
            assert len(one[stage][key]) == len(one[stage]["steps"]) > 0
            np.testing.assert_allclose(two[stage][key], one[stage][key], rtol=5e-3, err_msg=stage)
    np.testing.assert_allclose(two["predictions"], one["predictions"], rtol=0, atol=5e-3)


def test_ranks_agree_and_checkpoint_visible_to_all(runs):
    r0, r1 = runs["two"]
    assert r0["weights_sha"] == r1["weights_sha"]
    assert r0["graph"] == r1["graph"]  # both ranks computed the same whole-batch losses
    assert r0["graph_file_on_rank"] and r1["graph_file_on_rank"]  # written, then barrier
    assert (runs["two_dir"] / "graph.safetensors").exists()
