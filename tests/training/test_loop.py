"""Shared training plumbing: per-step seeds, loss logging, generic resume (gmiqa.training.loop)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gmiqa.training.loop import LossLog, TrainingInterrupted, step_seed, train_steps


def test_step_seeds_are_distinct_and_stable():
    seeds = {step_seed(0, s) for s in range(1000)}
    assert len(seeds) == 1000
    assert step_seed(0, 5) == step_seed(0, 5) != step_seed(1, 5) != step_seed(0, 5, salt=1)


def test_loss_log_averages_per_interval_and_round_trips():
    log = LossLog(2)
    for step in range(5):
        log.add(step, {"loss": torch.tensor(float(step))})
    log.flush(4)
    assert log.steps == [2, 4, 5] and log.history["loss"] == [0.5, 2.5, 4.0]
    again = LossLog.from_dict(2, log.to_dict())
    assert again.to_dict() == log.to_dict()


def _run(path, stop_after=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.BatchNorm1d(8), nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)

    def step_fn(step):
        g = torch.Generator().manual_seed(step)  # the data of step s
        x, y = torch.randn(6, 4, generator=g), torch.randn(6, 1, generator=g)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()  # dropout draws from the per-step seeded RNG
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    return train_steps(kind="toy", path=path, config={"fingerprint": "toy"}, model=model,
                       optimizer=opt, total_steps=7, step_fn=step_fn, seed=3, log_every=2,
                       checkpoint_every=3, progress=False, stop_after=stop_after), model  # fmt: skip


def test_interrupted_run_resumes_bit_identically(tmp_path):
    whole, m1 = _run(tmp_path / "a.safetensors")
    with pytest.raises(TrainingInterrupted):
        _run(tmp_path / "b.safetensors", stop_after=5)
    resumed, m2 = _run(tmp_path / "b.safetensors")
    assert resumed.resumed_from == 3
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert whole.history == resumed.history


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    _run(tmp_path / "a.safetensors")
    from gmiqa.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(tmp_path / "a.safetensors")
    save_checkpoint(tmp_path / "a.safetensors", kind="toy", model=ck.model,
                    config={"fingerprint": "other"}, state={**ck.state, "done": False, "step": 6})  # fmt: skip
    result, _ = _run(tmp_path / "a.safetensors")
    assert result.resumed_from == 0
