"""Checkpoints: round trip, atomic pairs, safe loading and clear errors (gmiqa.checkpoint)."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from torch import nn

from gmiqa.checkpoint import (
    load_checkpoint,
    load_weights,
    read_sidecar,
    save_checkpoint,
    sidecar_path,
)
from gmiqa.errors import CheckpointError


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))


def _trained(net):
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 3)).pow(2).mean().backward()
        opt.step()
    return opt


def test_round_trip_weights_optimizer_and_state(tmp_path):
    net = _net()
    opt = _trained(net)
    lrs = {"inner_lr.0.weight": torch.full((4, 3), 0.01)}
    path = save_checkpoint(
        tmp_path / "a.safetensors", kind="meta", model=net, config={"fingerprint": "x", "n": 1},
        state={"step": 3, "done": False, "history": {"loss": [1.0, 0.5]}}, optimizer=opt, extra=lrs,
    )  # fmt: skip
    assert path.exists() and sidecar_path(path).exists()
    ck = load_checkpoint(path)
    assert ck.kind == "meta" and ck.step == 3 and not ck.done
    assert ck.config == {"fingerprint": "x", "n": 1}
    for key, value in net.state_dict().items():
        assert torch.equal(ck.model[key], value)
    assert torch.equal(ck.extra["inner_lr.0.weight"], lrs["inner_lr.0.weight"])
    # The optimizer state comes back exactly: a restored Adam takes the same next step.
    net2 = _net()
    net2.load_state_dict(ck.model)
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.1)
    opt2.load_state_dict(ck.optimizer)
    x = torch.randn(5, 3)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).mean().backward()
        o.step()
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)


def test_load_weights_into_module_and_shape_mismatch(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "w", kind="graph", model=net, config={})
    assert path.name == "w.safetensors"
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    load_weights(fresh, path)
    assert torch.equal(fresh[0].weight, net[0].weight)
    wrong = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 1))
    with pytest.raises(CheckpointError, match="w.safetensors.*do not fit"):
        load_weights(wrong, path)
    bigger = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Linear(1, 1))
    with pytest.raises(CheckpointError, match="missing"):
        load_weights(bigger, path)
    missing = load_weights(bigger, path, strict=False)["missing"]
    assert missing == ["3.weight", "3.bias"]


def test_missing_file_and_missing_sidecar(tmp_path):
    with pytest.raises(CheckpointError, match="nope.safetensors: no such checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")
    path = save_checkpoint(tmp_path / "a.safetensors", kind="x", model=_net(), config={})
    sidecar_path(path).unlink()
    with pytest.raises(CheckpointError, match="sidecar a.json is missing"):
        load_checkpoint(path)


def test_corrupt_weights_and_mismatched_pair(tmp_path):
    path = save_checkpoint(tmp_path / "a.safetensors", kind="x", model=_net(), config={})
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="a.safetensors: weights do not match"):
        load_checkpoint(path)
    # A sidecar whose hash matches but whose data is garbage is still caught.
    path.write_bytes(b"garbage, not safetensors")
    meta = json.loads(sidecar_path(path).read_text())
    import hashlib

    meta["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        load_checkpoint(path)


def test_pickle_file_is_refused_not_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(CheckpointError, match="evil.safetensors"):
        load_checkpoint(evil)
    torch_file = tmp_path / "model.pt"
    torch.save(_net().state_dict(), torch_file)
    with pytest.raises(CheckpointError, match="model"):
        load_checkpoint(torch_file)


def test_sidecar_checks(tmp_path):
    path = save_checkpoint(tmp_path / "a.safetensors", kind="x", model=_net(), config={})
    sidecar_path(path).write_text("{not json")
    with pytest.raises(CheckpointError, match="a.json: unreadable"):
        read_sidecar(path)
    sidecar_path(path).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a GMIQA checkpoint"):
        read_sidecar(path)


def test_interrupted_write_keeps_previous_pair(tmp_path, monkeypatch):
    net = _net()
    path = save_checkpoint(tmp_path / "a.safetensors", kind="x", model=net, config={"v": 1})
    before = path.read_bytes()
    import gmiqa.checkpoint as ckmod

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckmod, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, kind="x", model=net, config={"v": 2})
    assert path.read_bytes() == before
    assert load_checkpoint(path).config == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]


@pytest.mark.parametrize(
    "key, value",
    [
        ("config", "a string"),
        ("version", "1"),
        ("version", "one"),
        ("version", None),
        ("state", [1, 2]),
        ("kind", 3),
    ],
)
def test_sidecar_fields_of_the_wrong_type_name_the_file(tmp_path, key, value):
    path = save_checkpoint(tmp_path / "a.safetensors", kind="finetune", model=_net(), config={})
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    meta[key] = value
    side.write_text(json.dumps(meta))
    for load in (read_sidecar, load_checkpoint):
        with pytest.raises(CheckpointError) as info:
            load(path)
        assert str(side) in str(info.value) and repr(key) in str(info.value)
